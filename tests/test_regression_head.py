"""A regression head starts at the mean training label, and regression cells say so in their key."""

from __future__ import annotations

import pytest
import torch

from bench.modeling.regression_head import RECIPE, recipe, start_at_label_mean
from bench.registry import TASKS


def test_the_heads_bias_starts_at_the_mean_label_and_nothing_else_moves(tiny_model_dir):
    from bench.modeling.load import load_model, resolve

    stsb = TASKS.get("glue-stsb").obj
    torch.manual_seed(0)
    model = load_model(resolve(str(tiny_model_dir)), stsb)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    rng_before = torch.random.get_rng_state()
    assert start_at_label_mean(model, stsb, [{"labels": 1.0}, {"labels": 2.0}, {"labels": 4.5}]) == pytest.approx(2.5)
    changed = [name for name, p in model.named_parameters() if not torch.equal(p, before[name])]
    assert changed == ["classifier.bias"] and model.classifier.bias.item() == pytest.approx(2.5)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # no random numbers drawn


def test_a_classifier_is_left_as_it_is(tiny_model_dir):
    from bench.modeling.load import load_model, resolve

    rte = TASKS.get("glue-rte").obj
    model = load_model(resolve(str(tiny_model_dir)), rte)
    bias = model.classifier.bias.detach().clone()
    assert start_at_label_mean(model, rte, [{"labels": 1}, {"labels": 0}]) is None
    assert torch.equal(model.classifier.bias, bias)


def test_only_regression_cells_carry_the_recipe_in_their_key():
    from bench.spec import expand

    def cell(task):
        (only,) = expand({"tasks": [task], "methods": ["full-ft"], "models": ["minilm-l6"], "device": "cpu"})
        return only

    assert recipe("glue-stsb") == RECIPE and recipe("glue-rte") is None and recipe("no-such-task") is None
    assert cell("glue-stsb")._hashed()["recipe"] == RECIPE
    assert "recipe" not in cell("glue-rte")._hashed()  # classification keys are as they were
