"""KD losses against values computed by hand on small tensors."""

import math

import pytest
import torch

from bench.distill import losses

LN3 = math.log(3.0)


def kl(p, q):
    return sum(a * math.log(a / b) for a, b in zip(p, q, strict=False) if a > 0)


def test_temperature_flattens_the_distribution():
    logits = torch.tensor([[0.0, LN3]])
    assert losses.soften(logits, 1.0).tolist()[0] == pytest.approx([0.25, 0.75])
    root3 = math.sqrt(3.0)  # at T=2 the odds 3:1 become sqrt(3):1
    assert losses.soften(logits, 2.0).tolist()[0] == pytest.approx([1 / (1 + root3), root3 / (1 + root3)])


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_soft_kl_is_t_squared_times_kl_of_softened_distributions(temperature):
    student = torch.tensor([[0.0, 0.0], [0.0, LN3]])
    teacher = torch.tensor([[0.0, LN3], [0.0, LN3]])  # the second row matches: KL 0
    odds = 3.0 ** (1 / temperature)
    p = [1 / (1 + odds), odds / (1 + odds)]
    expected = temperature**2 * (kl(p, [0.5, 0.5]) + 0.0) / 2  # batch mean over two rows
    assert losses.soft_kl(student, teacher, temperature).item() == pytest.approx(expected, rel=1e-5)


def test_t_squared_keeps_the_gradient_scale():
    # The soft term's gradient shrinks like 1/T^2 for large T; the T^2 factor undoes it.
    teacher = torch.tensor([[0.0, 1.0, 2.0]])
    grads = []
    for temperature in (5.0, 10.0):
        student = torch.zeros(1, 3, requires_grad=True)
        losses.soft_kl(student, teacher, temperature).backward()
        grads.append(student.grad.norm().item())
    assert grads[0] == pytest.approx(grads[1], rel=0.05)


def test_alpha_mixes_soft_and_hard_terms():
    assert losses.mix(torch.tensor(2.0), torch.tensor(4.0), alpha=0.25).item() == pytest.approx(0.25 * 4 + 0.75 * 2)
    assert losses.mix(torch.tensor(2.0), torch.tensor(4.0), alpha=1.0).item() == pytest.approx(4.0)


def test_hard_loss_skips_unlabelled_examples():
    logits = torch.tensor([[0.0, LN3], [5.0, -5.0]])
    labels = torch.tensor([1, losses.IGNORE])
    assert losses.hard_loss(logits, labels, "classification").item() == pytest.approx(-math.log(0.75))
    none = torch.tensor([losses.IGNORE, losses.IGNORE])
    assert losses.hard_loss(logits, none, "classification").item() == 0.0
    scores = torch.tensor([[1.0], [3.0]])
    assert losses.hard_loss(scores, torch.tensor([2.0, math.nan]), "regression").item() == pytest.approx(1.0)
    assert losses.hard_loss(scores, torch.tensor([math.nan, math.nan]), "regression").item() == 0.0


def test_soft_objective_combines_alpha_temperature_and_labels():
    student = torch.tensor([[0.0, 0.0]])
    teacher = torch.tensor([[0.0, LN3]])
    labels = torch.tensor([1])
    value = losses.soft_objective(student, [teacher], labels, "classification", temperature=1.0, alpha=0.5)
    expected = 0.5 * kl([0.25, 0.75], [0.5, 0.5]) + 0.5 * math.log(2.0)
    assert value.item() == pytest.approx(expected, rel=1e-5)
    mse = losses.soft_objective(student, [teacher], labels, "classification", temperature=1.0, alpha=1.0, soft_loss="mse")
    assert mse.item() == pytest.approx(LN3**2 / 2)


def test_regression_distils_by_mse_whatever_the_soft_loss():
    student = torch.tensor([[1.0], [2.0]])
    teacher = torch.tensor([[0.0], [0.0]])
    labels = torch.tensor([1.0, math.nan])  # gold loss (1 - 1)^2 = 0 on the labelled row only
    value = losses.soft_objective(student, [teacher], labels, "regression", temperature=3.0, alpha=0.5, soft_loss="kl")
    assert value.item() == pytest.approx(0.5 * (1 + 4) / 2)


def test_teacher_labels_are_its_argmax():
    student = torch.tensor([[0.0, LN3]])
    teacher = torch.tensor([[2.0, 1.0]])  # predicts class 0
    value = losses.teacher_label_objective(student, teacher, torch.tensor([losses.IGNORE]), "classification", alpha=1.0)
    assert value.item() == pytest.approx(-math.log(0.25))


def test_ensemble_weights_average_the_softened_targets():
    a = torch.tensor([[0.0, LN3]])  # [0.25, 0.75]
    b = torch.tensor([[LN3, 0.0]])  # [0.75, 0.25]
    assert losses.ensemble_targets([a, b], (1.0, 3.0), 1.0).tolist()[0] == pytest.approx([0.625, 0.375])
    assert losses.ensemble_targets([a, b], (), 1.0).tolist()[0] == pytest.approx([0.5, 0.5])
    assert losses.ensemble_logits([a, b], (1.0, 1.0)).tolist()[0] == pytest.approx([LN3 / 2, LN3 / 2])


def test_hidden_mse_counts_real_tokens_only():
    student = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # the third token is padding
    teacher = torch.zeros(1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    assert losses.hidden_mse(student, teacher, mask).item() == pytest.approx((1 + 4 + 9 + 16) / 4)


def test_attention_mse_counts_real_query_and_key_positions():
    student = torch.tensor([[[[0.5, 0.5], [0.5, 0.5]]]])  # [B=1, heads=1, 2, 2]; position 1 is padding
    teacher = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    mask = torch.tensor([[1, 0]])
    assert losses.attention_mse(student, teacher, mask).item() == pytest.approx(0.25)
    full = torch.tensor([[1, 1]])
    assert losses.attention_mse(student, teacher, full).item() == pytest.approx(0.25)
    # Two student heads against one teacher head: compared head-averaged.
    two_heads = torch.cat([student, teacher], dim=1)
    averaged = (student + teacher) / 2
    assert losses.attention_mse(two_heads, teacher, full).item() == pytest.approx(((averaged - teacher) ** 2).mean().item())


@pytest.mark.parametrize("student, teacher, expected", [(2, 6, [3, 6]), (3, 6, [2, 4, 6]), (4, 12, [3, 6, 9, 12]),
                                                        (1, 2, [2]), (2, 2, [1, 2])])
def test_uniform_layer_mapping(student, teacher, expected):
    assert losses.layer_map(student, teacher) == expected
