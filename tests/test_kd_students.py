"""Students: truncation keeps the chosen layers' weights; the BiLSTM works with the harness's
predictor, parameter, FLOPs, latency and size code like any transformer."""

import pytest
import torch

from bench.distill.students import kept_layers, parse_student, truncate
from bench.errors import UsageError


def test_kept_layers_are_evenly_spaced_from_the_bottom():
    assert kept_layers(6, 2) == [0, 3]
    assert kept_layers(6, 3) == [0, 2, 4]
    assert kept_layers(12, 4) == [0, 3, 6, 9]
    assert kept_layers(2, 2) == [0, 1]
    with pytest.raises(UsageError, match="only 6 layers"):
        kept_layers(6, 7)


def test_parse_student_forms_and_errors(tiny_model_dir):
    assert parse_student("truncate:3").layers == 3
    assert parse_student("lstm").kind == "lstm" and not parse_student("lstm").transformer
    assert parse_student("tinybert4").model == "tinybert4"
    assert parse_student(str(tiny_model_dir)).kind == "model"
    with pytest.raises(UsageError, match="Did you mean 'truncate'"):
        parse_student("truncat:2")
    with pytest.raises(UsageError, match="positive layer count"):
        parse_student("truncate:two")
    with pytest.raises(UsageError, match="truncate:K, lstm"):
        parse_student("no-such-model")


def test_truncated_student_keeps_the_chosen_layers_weights(stage_inputs):
    model, _ = stage_inputs("glue-sst2")
    layer_1 = {k: v.clone() for k, v in model.bert.encoder.layer[1].state_dict().items()}
    embeddings = model.bert.embeddings.word_embeddings.weight.clone()
    assert truncate(model, 1) == [0]
    truncate_again = len(model.bert.encoder.layer)
    assert truncate_again == 1 and model.config.num_hidden_layers == 1
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, embeddings)
    assert not all(torch.equal(v, layer_1[k]) for k, v in model.bert.encoder.layer[0].state_dict().items())
    out = model(input_ids=torch.tensor([[2, 10, 11, 3]]), output_hidden_states=True)
    assert out.logits.shape == (1, 2) and len(out.hidden_states) == 2


@pytest.fixture
def lstm(stage_inputs):
    from bench.distill.lstm import lstm_student

    model, ctx = stage_inputs("glue-sst2")
    student = lstm_student(model, ctx.task)
    assert torch.equal(student.embeddings.weight, model.get_input_embeddings().weight)  # starts from the teacher's
    return student.eval(), ctx


def test_lstm_ignores_padding(lstm):
    student, _ = lstm
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    padded = torch.tensor([[2, 10, 11, 12, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 0, 0]])
    with torch.no_grad():
        alone = student(input_ids=ids).logits
        with_padding = student(input_ids=padded, attention_mask=mask, token_type_ids=torch.zeros_like(padded)).logits
    assert torch.allclose(alone, with_padding, atol=1e-6)


def test_lstm_has_the_hugging_face_calling_convention(lstm):
    student, _ = lstm
    out = student(input_ids=torch.tensor([[2, 10, 3], [2, 11, 3]]), labels=torch.tensor([0, 1]))
    assert out.logits.shape == (2, 2) and out.loss.ndim == 0 and out.loss.requires_grad


def test_lstm_is_measured_like_any_model(lstm, tmp_path):
    from bench.data import encode
    from bench.measure.flops import count_flops, reference_inputs
    from bench.runtime.artifact import TorchArtifact
    from bench.runtime.predict import predict
    from bench.task import Example

    student, ctx = lstm
    artifact = TorchArtifact(student)
    features = encode(ctx.tokenizer, [Example("the cat sits .", None, 0), Example("a dog", None, 1)], 16)
    predictions = predict(artifact.predictor(), ctx.tokenizer, features, "classification", 8, "cpu")
    assert all(p in (0, 1) for p in predictions)
    counts = artifact.parameters()
    assert counts.total == sum(p.numel() for p in student.parameters())
    flops = count_flops(student, reference_inputs(artifact.vocab_size, 1, 16))
    # Per token and direction the LSTM's input and recurrent projections to 4 gates, then the MLP
    # (2 x MACs): the fused CPU recurrent kernel is counted as its matmuls.
    config = student.config
    lstm = 2 * 16 * 2 * (config.embedding_size + config.hidden_size) * 4 * config.hidden_size
    mlp = 2 * (2 * config.hidden_size * config.classifier_size + config.classifier_size * 2)
    assert flops.flops == lstm + mlp
    artifact.timed_call(reference_inputs(artifact.vocab_size, 1, 16))()
    assert artifact.save(tmp_path / "saved") > 4 * counts.total * 0.99


def test_regression_lstm_has_one_output_and_mse(stage_inputs):
    from bench.distill.lstm import lstm_student

    model, ctx = stage_inputs("glue-stsb")
    student = lstm_student(model, ctx.task)
    out = student(input_ids=torch.tensor([[2, 10, 3]]), labels=torch.tensor([2.5]))
    assert out.logits.shape == (1, 1)
    assert out.loss.item() == pytest.approx((out.logits[0, 0].item() - 2.5) ** 2, rel=1e-5)


def test_cuda_lstm_kernel_is_counted_like_the_cpu_one():
    # No GPU here: the formula for cuDNN's fused RNN is checked on shapes, as FlopCounterMode passes them.
    from bench.measure.flops import _rnn_formulas

    formula = _rnn_formulas()[torch.ops.aten._cudnn_rnn]
    direction = [(24, 8), (24, 6), (24,), (24,)]  # w_ih, w_hh, b_ih, b_hh of an LSTM with E=8, H=6
    flops = formula((2, 5, 8), direction * 2, 4)  # batch 2 x 5 steps, bidirectional
    assert flops == 2 * 10 * 2 * (24 * 8 + 24 * 6)
