"""ONNX Runtime stages: `onnx` parity, int8 quantisation end to end, inputs left untouched."""

from __future__ import annotations

import shutil

import pytest

from bench.registry import METHODS, TASKS
from bench.spec import expand

TASK = "glue-sst2"


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    # Trained weights are cached by content key; tests must not write to the user's cache.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def wider_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny tokenizer with a 128-wide BERT: weights dominate the file, so int8 must shrink it."""
    import torch
    import transformers

    directory = tmp_path_factory.mktemp("wider-bert") / "model"
    shutil.copytree(tiny_model_dir, directory)
    config = transformers.BertConfig.from_pretrained(str(tiny_model_dir))
    config.update(dict(hidden_size=128, num_attention_heads=4, intermediate_size=512))
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="module")
def wider_fp32_record(wider_model_dir, tiny_glue_dir, fast_spec):
    return run(fast_spec, tiny_glue_dir, "full-ft -> onnx", model=wider_model_dir)


def run(fast_spec, data_dir, chain: str, model=None) -> dict:
    from bench.runner import run_cell

    overrides = {"tasks": [TASK], "methods": [chain]}
    if model is not None:
        overrides["models"] = [str(model)]
    (cell,) = expand(fast_spec(**overrides))
    return run_cell(cell, data_dir=str(data_dir))


def stage_context(model_dir, data_dir, fast_spec):
    """A loaded model with its head and a StageContext holding the tiny training split."""
    from bench.data import encode
    from bench.method import StageContext
    from bench.modeling.load import load_model, load_tokenizer, resolve

    (cell,) = expand(fast_spec(tasks=[TASK], models=[str(model_dir)]))
    task = TASKS.get(TASK).obj
    source = resolve(cell.model)
    tokenizer = load_tokenizer(source)
    features = encode(tokenizer, task.load("train", str(data_dir)), cell.budget.max_seq_len)
    ctx = StageContext(cell=cell, task=task, tokenizer=tokenizer, device="cpu", train_features=features)
    return load_model(source, task).eval(), ctx


def run_stage(name: str, model, ctx):
    entry = METHODS.get(name)
    return entry.obj(model, entry.meta.options(), ctx)


def test_stages_are_registered_as_post_training():
    for name in ("onnx", "ort-int8-dynamic", "ort-int8-static"):
        entry = METHODS.get(name)
        assert entry.stage == "post" and entry.paper and entry.options, name


def test_full_ft_then_onnx_cell(fast_spec, tiny_glue_dir):
    record = run(fast_spec, tiny_glue_dir, "full-ft -> onnx")
    assert record["status"] == "success", record.get("error")
    assert record["model_meta"]["runtime"] == "onnxruntime"
    assert record["flops"]["flops_source"] == "reference" and record["flops"]["flops"] > 0
    assert record["retention"] is not None and record["retention"]["retention"] > 0
    assert record["latency"]["b1_s16"]["p50"] > 0
    onnx = record["stages"]["onnx"]
    assert onnx["max_abs_diff"] <= 1e-4 and onnx["atol"] == 1e-4
    assert onnx["exporter"] == "torchscript" and onnx["providers"] == ["CPUExecutionProvider"]
    assert onnx["intra_op_num_threads"] >= 1
    assert record["params"]["trainable"] == 0 and record["params"]["packed"] == 0
    assert record["params"]["total"] == record["params"]["base_total"]  # same weights, other runtime
    assert record["size"]["model_bytes"] > 0


def test_onnx_logits_match_pytorch_and_input_is_unchanged(tiny_model_dir, tiny_glue_dir, fast_spec):
    import numpy as np
    import torch

    from bench.data import collate
    from bench.runtime.ort_artifact import OrtArtifact
    from bench.runtime.predict import torch_predictor

    model, ctx = stage_context(tiny_model_dir, tiny_glue_dir, fast_spec)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    artifact = run_stage("onnx", model, ctx)
    assert isinstance(artifact, OrtArtifact) and artifact.runtime == "onnxruntime"
    assert ctx.records["onnx"]["max_abs_diff"] <= 1e-4
    # Recompute on a batch the parity check did not see: other batch size, other padding.
    batch = collate(ctx.tokenizer, ctx.train_features[-5:], "cpu")
    assert batch["attention_mask"].min() == 0  # padding is exercised
    diff = np.abs(torch_predictor(model)(batch) - artifact.predictor()(batch)).max()
    assert diff <= 1e-4
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert run_stage("onnx", artifact, ctx) is artifact  # already ONNX: passes through


@pytest.mark.parametrize("stage", ["ort-int8-dynamic", "ort-int8-static"])
def test_int8_cell_runs_and_shrinks_the_graph(stage, wider_model_dir, wider_fp32_record, tiny_glue_dir, fast_spec):
    fp32 = wider_fp32_record
    record = run(fast_spec, tiny_glue_dir, f"full-ft -> {stage}", model=wider_model_dir)
    assert record["status"] == "success", record.get("error")
    assert record["model_meta"]["runtime"] == "onnxruntime"
    assert record["flops"]["flops_source"] == "reference"
    assert record["retention"] is not None and record["latency"]["b1_s16"]["p50"] > 0
    assert record["size"]["model_bytes"] < 0.6 * fp32["size"]["model_bytes"]
    assert record["params"]["packed"] > 0  # int8 weights counted by element
    section = record["stages"][stage]
    assert section["quantized_bytes"] < section["fp32_onnx_bytes"]
    assert section["weight_type"] == "qint8"


@pytest.mark.parametrize("stage", ["ort-int8-dynamic", "ort-int8-static"])
def test_int8_stage_leaves_its_input_alone(stage, wider_model_dir, tiny_glue_dir, fast_spec):
    import torch

    model, ctx = stage_context(wider_model_dir, tiny_glue_dir, fast_spec)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantised = run_stage(stage, model, ctx)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert quantised.parameters().packed > 0
    # An ONNX artifact as input: quantised from its file, which stays as it was.
    fp32 = run_stage("onnx", model, ctx)
    data = fp32.path.read_bytes()
    again = run_stage(stage, fp32, ctx)
    assert again.path != fp32.path and fp32.path.read_bytes() == data


def test_dynamo_exporter_passes_parity_and_saves_its_external_data(tiny_model_dir, tiny_glue_dir, fast_spec, tmp_path):
    model, ctx = stage_context(tiny_model_dir, tiny_glue_dir, fast_spec)
    entry = METHODS.get("onnx")
    artifact = entry.obj(model, entry.meta.options(dynamo=True), ctx)
    assert ctx.records["onnx"]["exporter"] == "dynamo" and ctx.records["onnx"]["max_abs_diff"] <= 1e-4
    saved = artifact.save(tmp_path / "saved")
    assert saved == sum(p.stat().st_size for p in (tmp_path / "saved").iterdir()) > 0


def test_lora_merge_onnx_int8_chain_runs_as_one_cell(fast_spec, tiny_glue_dir):
    """Train LoRA, fold it in, export, quantise to int8 in ONNX Runtime: one cell, one record."""
    from bench.runner import run_cell
    from bench.spec import expand

    (cell,) = expand(fast_spec(tasks=["glue-sst2"], methods=["lora(r=2) -> merge-lora -> onnx -> ort-int8-dynamic"]))
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert record["status"] == "success", record.get("error")
    assert record["model_meta"]["runtime"] == "onnxruntime"
    assert record["retention"] is not None and record["training"][0]["trainable_parameters"] > 0
    assert record["stages"]["merge_lora"]["max_abs_logit_diff"] <= 1e-4


@pytest.mark.parametrize("options", [{}, {"compile": False}, {"backend": "torch.ao"}])
def test_exporting_torch_int8_layers_names_the_chain_that_works(options, stage_inputs):
    from bench.errors import UsageError
    from bench.registry import METHODS
    from bench.typed import build

    model, ctx = stage_inputs("glue-sst2")
    quantised = METHODS.get("int8-dynamic").obj(model, build(METHODS.get("int8-dynamic").meta.options, options, where="q"), ctx)
    with pytest.raises(UsageError, match="-> onnx -> ort-int8-dynamic"):
        METHODS.get("onnx").obj(quantised, build(METHODS.get("onnx").meta.options, {}, where="onnx"), ctx)
