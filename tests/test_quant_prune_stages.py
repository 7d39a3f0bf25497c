"""Contract of the PyTorch post-training stages (issue 5) on the tiny random BERT.

Each stage runs as `full-ft -> STAGE` through the runner (the trained-weights cache trains
`full-ft` once); direct calls check outputs, exact shapes, and an untouched input module.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from bench.errors import UsageError
from bench.measure.flops import reference_inputs
from bench.quant.affine import quantize_tensor
from bench.registry import METHODS
from bench.runner import envelope, run_cell
from bench.spec import expand
from tests.hardware import refused_where_not_native

# Tiny model (conftest): 2 layers, hidden 32, 2 heads of 16, intermediate 37.
LAYERS, HIDDEN, HEAD_SIZE, INTERMEDIATE = 2, 32, 16, 37


@pytest.fixture(scope="module")
def run(fast_spec, tiny_glue_dir):
    records = {}  # chain -> record, so tests that read the same cell run it once

    def run_chain(chain: str) -> dict:
        if chain not in records:
            (cell,) = expand(fast_spec(tasks=["glue-sst2"], methods=[chain]))
            record = run_cell(cell, data_dir=str(tiny_glue_dir))
            assert record["status"] == "success", record["error"]
            records[chain] = {**envelope(cell, "test", {}), **record}  # as the store writes it
        return records[chain]

    return run_chain


@pytest.fixture(scope="module")
def fp32(run) -> dict:
    return run("full-ft")


def fresh(stage_inputs):
    model, ctx = stage_inputs()
    return model.eval(), ctx


def call(name: str, model, ctx, **options):
    entry = METHODS.get(name)
    return entry.obj(model, entry.meta.options(**options), ctx)


def logits(model, seq_len: int = 16):
    with torch.inference_mode():
        return model(**reference_inputs(model.config.vocab_size, 2, seq_len)).logits.float()


def check_post_record(record: dict, fp32: dict, flops_source: str) -> None:
    assert record["retention"] is not None and record["retention"]["retention"] > 0
    assert record["flops"]["flops_source"] == flops_source
    assert record["params"]["base_total"] == fp32["params"]["total"]


@pytest.mark.parametrize("stage", ["int8-dynamic", "int8-dynamic(backend=torch.ao)", "bf16", "fp16"])
def test_quantised_cells_keep_the_parameter_count(stage, run, fp32):
    with refused_where_not_native(stage) as native:
        record = run(f"full-ft -> {stage}")
    if not native:
        return
    check_post_record(record, fp32, "reference")
    assert record["params"]["total"] == fp32["params"]["total"]
    assert record["flops"]["flops"] == fp32["flops"]["flops"]
    assert record["size"]["model_bytes"] < fp32["size"]["model_bytes"]
    assert record["size"]["delta_bytes"] is None  # nothing trained after full-ft: no delta to ship
    if stage.startswith("int8-dynamic"):
        info = record["stages"]["int8_dynamic"]
        assert info["quantized_modules"] == 6 * LAYERS + 2  # + pooler, classifier
    if stage == "int8-dynamic":  # torchao, compiled: the compiled graph predicted and was timed
        assert info["compiled"] and record["model_meta"]["runtime"] == "torch.compile"
        assert record["latency"] and record["retention"]["retention"] > 0.9
    elif stage.startswith("int8-dynamic"):
        assert record["params"]["packed"] > 0  # int8 weights live in packed params
        assert info["engine"] and not info["compiled"] and record["model_meta"]["runtime"] == "torch"
    else:
        assert record["stages"]["cast"]["dtype"] in ("bfloat16", "float16")


def test_post_training_table_names_each_int8_backend(run):
    from bench.registry import TABLES

    chains = ["full-ft", "full-ft -> int8-dynamic", "full-ft -> int8-dynamic(backend=torch.ao)"]
    table = TABLES.get("post-training").obj([run(chain) for chain in chains])
    rows = {row["variant"]: row for row in table.rows}
    assert set(rows) == {"fp32 eager", "int8-dynamic", "int8-dynamic(backend=torch.ao)"}
    assert rows["fp32 eager"]["retention"] == "1 (reference)"
    # Every variant gets a speedup (a number; a tiny int8 model under load may round to 0.00).
    assert all(float(rows[v]["speedup b1"]) >= 0 for v in rows)
    assert any("torch.compile" in note and "int8-dynamic" in note for note in table.notes)


@pytest.mark.parametrize("options", [{"backend": "torch.ao"}, {"compile": False}])
def test_int8_dynamic_outputs_stay_close_to_fp32(options, stage_inputs):
    model, ctx = fresh(stage_inputs)
    quantized = call("int8-dynamic", model, ctx, **options)
    reference, result = logits(model), logits(quantized)
    assert (result - reference).abs().max() <= 0.05 * reference.abs().max() + 1e-3


def test_torchao_int8_weights_follow_the_affine_mapping(stage_inputs):
    """torchao's int8 weights are bench.quant.affine's symmetric per-channel mapping of the fp32 ones."""
    model, ctx = fresh(stage_inputs)
    quantized = call("int8-dynamic", model, ctx, compile=False)
    fp32_weight = model.bert.encoder.layer[0].intermediate.dense.weight.detach().numpy()
    weight = quantized.bert.encoder.layer[0].intermediate.dense.weight
    ours = quantize_tensor(fp32_weight, symmetric=True, axis=0)
    difference = weight.qdata.numpy().astype(int) - ours.values
    assert np.abs(difference).max() <= 1 and (difference != 0).mean() < 0.01  # ties and float rounding only
    assert np.allclose(weight.scale.numpy().ravel(), np.ravel(ours.scale), rtol=1e-6)


@pytest.mark.parametrize("per_channel", [True, False])
def test_int8_dynamic_weights_follow_the_affine_mapping(per_channel, stage_inputs):
    """torch's packed int8 weights are exactly bench.quant.affine's symmetric mapping of the fp32 ones."""
    model, ctx = fresh(stage_inputs)
    quantized = call("int8-dynamic", model, ctx, backend="torch.ao", per_channel=per_channel)
    fp32_weight = model.bert.encoder.layer[0].intermediate.dense.weight.detach().numpy()
    packed = quantized.bert.encoder.layer[0].intermediate.dense.weight()
    ours = quantize_tensor(fp32_weight, symmetric=True, axis=0 if per_channel else None)
    difference = packed.int_repr().numpy().astype(int) - ours.values
    # Only exact ties may round apart (torch multiplies by 1/s in float32, numpy divides).
    steps = fp32_weight / np.broadcast_to(ours.scale, fp32_weight.shape)
    assert np.abs(difference).max() <= 1 and np.allclose(np.abs(steps[difference != 0] % 1), 0.5, atol=1e-4)
    scales = packed.q_per_channel_scales().numpy() if per_channel else packed.q_scale()
    assert np.allclose(scales, np.ravel(ours.scale), rtol=1e-6)


@pytest.mark.parametrize("sparsity", [0.3, 0.9])
def test_prune_magnitude_reaches_the_target_sparsity(sparsity, run, fp32):
    record = run(f"full-ft -> prune-magnitude(sparsity={sparsity})")
    check_post_record(record, fp32, "reference")
    assert record["params"]["total"] == fp32["params"]["total"]
    report = record["stages"]["prune_magnitude"]
    assert abs(report["overall"] - sparsity) <= 0.01
    assert report["pruned_weights"] == LAYERS * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * INTERMEDIATE)
    assert {"attention.self.query", "intermediate.dense", "output.dense"} <= set(report["per_type"])


def test_prune_magnitude_leaves_head_and_embeddings_dense(stage_inputs):
    model, ctx = fresh(stage_inputs)
    pruned = call("prune-magnitude", model, ctx, sparsity=0.9)
    for name in ("classifier", "bert.pooler.dense", "bert.embeddings.word_embeddings"):
        assert torch.equal(pruned.get_submodule(name).weight, model.get_submodule(name).weight), name
    query = pruned.bert.encoder.layer[0].attention.self.query.weight
    assert float((query == 0).float().mean()) > 0.5


@pytest.mark.parametrize("stage, removed_per_layer", [
    ("prune-heads", 3 * (HEAD_SIZE * HIDDEN + HEAD_SIZE) + HIDDEN * HEAD_SIZE),  # q, k, v rows; o columns
    ("prune-ffn", INTERMEDIATE // 2 * (2 * HIDDEN + 1)),  # intermediate rows and biases; output columns
])
def test_structured_pruning_shrinks_parameters_and_flops(stage, removed_per_layer, run, fp32):
    record = run(f"full-ft -> {stage}(fraction=0.5)")
    check_post_record(record, fp32, "final")
    assert record["params"]["total"] == fp32["params"]["total"] - LAYERS * removed_per_layer
    assert record["flops"]["flops"] < fp32["flops"]["flops"]
    if stage == "prune-heads":
        info = record["stages"]["prune_heads"]
        assert info["importance"] == "gradient" and (info["heads_before"], info["heads_after"]) == (4, 2)
    else:
        assert record["stages"]["prune_ffn"]["intermediate_after"] == [INTERMEDIATE - INTERMEDIATE // 2] * LAYERS


def test_recovery_fine_tuning_after_pruning(run, fp32):
    record = run("full-ft -> prune-heads -> full-ft")
    assert [t["steps"] for t in record["training"]] == [2, 2]
    assert record["params"]["total"] < fp32["params"]["total"]
    assert record["params"]["trainable"] == record["params"]["total"]
    assert record["retention"] is not None


@pytest.mark.parametrize("importance", ["gradient", "weight", "no data"])
def test_pruned_heads_equal_masking_those_heads(importance, stage_inputs):
    model, ctx = fresh(stage_inputs)
    # Silence head 1 of layer 0: both importance measures must find it and drop it.
    with torch.no_grad():
        model.bert.encoder.layer[0].attention.output.dense.weight[:, HEAD_SIZE:] = 0
    if importance == "no data":  # an architecture-only cell: gradient importance falls back
        ctx.train_features, importance = None, "gradient"
    pruned = call("prune-heads", model, ctx, importance=importance)
    assert ctx.records["prune_heads"]["importance"] == ("weight" if ctx.train_features is None else importance)
    dropped = ctx.records["prune_heads"]["pruned"]
    assert dropped[0] == [1]
    # Removing a head's rows/columns computes exactly what zeroing its output columns does.
    masked = copy.deepcopy(model)
    with torch.no_grad():
        for layer, head in ((layer, head) for layer, heads in dropped.items() for head in heads):
            masked.bert.encoder.layer[layer].attention.output.dense.weight[:, head * HEAD_SIZE:(head + 1) * HEAD_SIZE] = 0
    torch.testing.assert_close(logits(pruned), logits(masked), rtol=1e-5, atol=1e-5)
    assert pruned.bert.encoder.layer[1].attention.self.query.out_features == HEAD_SIZE


def test_pruned_ffn_equals_zeroing_the_dropped_neurons(stage_inputs):
    model, ctx = fresh(stage_inputs)
    pruned = call("prune-ffn", model, ctx, fraction=0.5)
    masked = copy.deepcopy(model)
    with torch.no_grad():
        for old, new in zip(masked.bert.encoder.layer, pruned.bert.encoder.layer, strict=False):
            kept = {tuple(row.tolist()) for row in new.intermediate.dense.weight}
            for j, row in enumerate(old.intermediate.dense.weight):
                if tuple(row.tolist()) not in kept:
                    old.output.dense.weight[:, j] = 0
    torch.testing.assert_close(logits(pruned), logits(masked), rtol=1e-5, atol=1e-5)
    assert pruned.config.intermediate_size == INTERMEDIATE - INTERMEDIATE // 2


@pytest.mark.parametrize("stage", ["int8-dynamic", "bf16", "fp16", "prune-magnitude", "prune-heads", "prune-ffn"])
def test_stage_leaves_its_input_module_untouched(stage, stage_inputs):
    model, ctx = fresh(stage_inputs)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with refused_where_not_native(stage) as native:
        output = call(stage, model, ctx)
    if not native:
        return
    assert output is not model
    after = model.state_dict()
    assert set(after) == set(before)
    for name, tensor in after.items():
        assert tensor.dtype == before[name].dtype and torch.equal(tensor, before[name]), name
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("chain", [
    "prune-magnitude(sparsity=1.0)", "prune-magnitude(sparsity=-0.1)", "prune-heads(fraction=1.0)",
    "prune-ffn(fraction=1.5)", "int8-dynamic(dtype=quint4)", "prune-heads(importance=random)",
    "int8-dynamic(backend=torch.ao,compile=true)", "int8-dynamic(per_channel=false)",
    "int8-dynamic(engine=onednn)", "int8-dynamic(backend=tensorrt)",
])
def test_bad_options_are_usage_errors_before_any_run(chain, fast_spec):
    with pytest.raises(UsageError):
        expand(fast_spec(methods=[f"full-ft -> {chain}"]))


def test_a_module_stage_after_an_artifact_names_the_order_that_works(fast_spec):
    """Refused when the matrix is validated, not after the training before it."""
    with pytest.raises(UsageError, match="put prune-heads before int8-dynamic"):
        expand(fast_spec(tasks=["glue-sst2"], methods=["full-ft -> int8-dynamic -> prune-heads(fraction=0.5)"]))


def backend_dequantised(quantized, name: str) -> np.ndarray:
    """The weights a backend computes with, back in float: torch.ao's packed ones or torchao's int8 tensor."""
    weight = quantized.get_submodule(name).weight
    if callable(weight):  # torch.ao: a method returning the packed quantised tensor
        return weight().dequantize().double().numpy()
    return (weight.qdata.double() * weight.scale.double().reshape(-1, 1)).numpy()


@pytest.mark.parametrize("options", [{"compile": False}, {"backend": "torch.ao"},
                                     {"backend": "torch.ao", "per_channel": False}],
                         ids=["torchao", "torch.ao", "torch.ao-per-tensor"])
def test_int8_dynamic_records_each_layers_weight_round_trip(options, stage_inputs):
    """The per-layer facts equal a direct computation of the symmetric int8 mapping, and the
    backend's own int8 weights have exactly the round-trip error recorded."""
    model, ctx = fresh(stage_inputs)
    quantized = call("int8-dynamic", model, ctx, **options)
    info = ctx.records["int8_dynamic"]
    assert len(info["layers"]) == info["quantized_modules"] == 6 * LAYERS + 2
    name = "bert.encoder.layer.0.intermediate.dense"
    layer = info["layers"][name]

    w = model.get_submodule(name).weight.detach().double().numpy()
    # s = (beta - alpha) / (beta_q - alpha_q) on [-max|w|, max|w|] -> [-128, 127]; z = 0.
    bound = np.abs(w).max(axis=1, keepdims=True) if options.get("per_channel", True) else np.abs(w).max()
    scale = np.broadcast_to(2 * bound / 255, (w.shape[0], 1))
    error = np.abs(w - scale * np.clip(np.round(w / scale), -128, 127))
    assert layer["zero_point"] == 0
    assert [layer["scale"][k] for k in ("min", "median", "max")] == pytest.approx(
        [scale.min(), np.median(scale), scale.max()])
    assert layer["rel_err_max"] == pytest.approx(error.max() / np.abs(w).max())
    assert layer["rel_err_mean"] == pytest.approx(error.mean() / np.abs(w).max())
    assert layer["rel_err_max"] == pytest.approx(1 / 255)  # max |w| lands on 127.5 and is clipped: s/2

    backend = np.abs(w - backend_dequantised(quantized, name))
    assert backend.max() / np.abs(w).max() == pytest.approx(layer["rel_err_max"], rel=1e-3)
    assert backend.mean() / np.abs(w).max() == pytest.approx(layer["rel_err_mean"], rel=1e-3)

    summary = info["weight_round_trip"]
    assert summary["max_rel_err"] == max(x["rel_err_max"] for x in info["layers"].values())
    assert summary["mean_rel_err"] == pytest.approx(np.mean([x["rel_err_mean"] for x in info["layers"].values()]))
    assert info["layers"][summary["worst_layer"]]["rel_err_mean"] == max(
        x["rel_err_mean"] for x in info["layers"].values())


def test_post_training_table_shows_the_weight_round_trip(run):
    from bench.registry import TABLES

    chains = ["full-ft", "full-ft -> int8-dynamic(backend=torch.ao)", "full-ft -> prune-magnitude"]
    table = TABLES.get("post-training").obj([run(chain) for chain in chains])
    rows = {row["variant"]: row for row in table.rows}
    summary = run(chains[1])["stages"]["int8_dynamic"]["weight_round_trip"]
    assert rows["int8-dynamic(backend=torch.ao)"]["w rt err max / mean"] == (
        f"{summary['max_rel_err']:.3%} / {summary['mean_rel_err']:.3%}")
    assert rows["fp32 eager"]["w rt err max / mean"] == rows["prune-magnitude(sparsity=0.5)"]["w rt err max / mean"] == "-"
    assert any(note.startswith("w rt err:") and "bench/quant/affine.py" in note for note in table.notes)
