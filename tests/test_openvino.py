"""OpenVINO stages: `openvino` parity with ONNX Runtime, `ov-int8` end to end, its peaks."""

from __future__ import annotations

import pytest

from bench.registry import METHODS
from bench.spec import expand

pytest.importorskip("openvino", reason="the openvino extra is not installed")
pytest.importorskip("nncf", reason="the openvino extra is not installed")

TASK = "glue-sst2"


def run_stage(name: str, model, ctx, **options):
    entry = METHODS.get(name)
    return entry.obj(model, entry.meta.options(**options), ctx)


def test_stages_are_registered_as_post_training():
    assert METHODS.get("openvino").meta.family == "inference-format"
    assert METHODS.get("ov-int8").meta.family == "quantization"
    for name in ("openvino", "ov-int8"):
        entry = METHODS.get(name)
        assert entry.stage == "post" and entry.meta.accepts_artifacts and entry.paper, name


def test_openvino_logits_match_onnxruntime_and_input_is_unchanged(stage_inputs, tmp_path):
    import numpy as np
    import torch

    from bench.data import collate
    from bench.runtime.ov_artifact import OvArtifact

    model, ctx = stage_inputs(TASK)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    artifact = run_stage("openvino", model, ctx)
    assert isinstance(artifact, OvArtifact) and artifact.runtime == "openvino" and artifact.arithmetic == "fp32"
    section = ctx.records["openvino"]
    assert section["max_abs_diff_vs_onnxruntime"] <= section["atol"] == 1e-4
    assert section["inference_precision_hint"] == "f32"  # no silent bf16 on CPUs with AMX
    onnx = run_stage("onnx", model, ctx)
    # A batch the parity check did not see: another size, with padding.
    batch = collate(ctx.tokenizer, ctx.train_features[-5:], "cpu")
    assert batch["attention_mask"].min() == 0
    assert np.abs(onnx.predictor()(batch) - artifact.predictor()(batch)).max() <= 1e-4
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # Same weights as the exported graph, counted the same way; saved as IR (.xml and .bin).
    assert artifact.parameters().total == onnx.parameters().total and artifact.parameters().packed == 0
    saved = artifact.save(tmp_path / "ir")
    assert saved == sum(p.stat().st_size for p in (tmp_path / "ir").iterdir()) > 0
    assert {p.suffix for p in (tmp_path / "ir").iterdir()} == {".xml", ".bin"}


def test_openvino_refuses_a_graph_that_computes_something_else(stage_inputs, monkeypatch):
    import methods.openvino

    model, ctx = stage_inputs(TASK)
    monkeypatch.setattr(methods.openvino, "max_abs_diff", lambda *args: 0.5)  # as if the logits moved by 0.5
    with pytest.raises(RuntimeError, match=r"OpenVINO parity check failed: max \|logit diff\| 0.5 > atol 0.0001"):
        run_stage("openvino", model, ctx)


@pytest.mark.parametrize("stage", ["openvino", "ov-int8"])
def test_a_missing_extra_is_named_with_its_pip_command(stage, stage_inputs, monkeypatch):
    import importlib.util

    from bench.errors import UsageError

    model, ctx = stage_inputs(TASK)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nncf" else find_spec(name, *a))
    with pytest.raises(UsageError, match=rf"the {stage} stage needs nncf, which is not installed: "
                                         r"pip install 'efficient-nlp-bench\[openvino\]'"):
        run_stage(stage, model, ctx)


@pytest.mark.parametrize("stage", ["openvino", "ov-int8"])
def test_a_cuda_cell_is_refused_rather_than_timed_on_the_cpu(stage, stage_inputs):
    import dataclasses

    from bench.errors import UsageError

    model, ctx = stage_inputs(TASK)
    with pytest.raises(UsageError, match=rf"the {stage} stage serves the model with OpenVINO's CPU plugin, but this "
                                         r"cell runs on cuda:0: run it with --device cpu"):
        run_stage(stage, model, dataclasses.replace(ctx, device="cuda:0"))


def test_ov_int8_cell_runs_end_to_end_with_its_runtimes_peaks(fast_spec, tiny_glue_dir, monkeypatch):
    from bench.measure import peak
    from bench.runner import run_cell

    monkeypatch.setattr(peak, "SIZE", 64)  # the cell's peaks in milliseconds
    spec = fast_spec(tasks=[TASK], methods=["full-ft -> ov-int8"])
    spec["measure"]["matmul_peak"] = True
    (cell,) = expand(spec)
    record = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert record["status"] == "success", record.get("error")
    assert record["model_meta"]["runtime"] == "openvino"
    assert record["flops"]["flops_source"] == "reference" and record["flops"]["flops"] > 0
    assert record["retention"] is not None and record["retention"]["retention"] > 0
    assert record["latency"]["b1_s16"]["p50"] > 0
    assert record["params"]["packed"] > 0  # int8 weight constants counted by element
    section = record["stages"]["ov-int8"]
    assert section["preset"] == "transformer" and section["calibration_size"] >= 1
    assert section["max_abs_diff_vs_fp32"] > 0  # the served graph really is the quantised one
    peaks = record["machine"]["matmul_peaks"]
    assert set(peaks) == {"torch", "openvino", "openvino-int8"}
    assert peaks["openvino-int8"]["threads"] == record["model_meta"]["runtime_info"]["inference_num_threads"]


def test_ov_int8_leaves_its_input_alone(stage_inputs):
    import torch

    model, ctx = stage_inputs(TASK)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    quantised = run_stage("ov-int8", model, ctx, calibration_size=4)
    assert quantised.arithmetic == "int8" and ctx.records["ov-int8"]["calibration_size"] == 4
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    fp32 = run_stage("onnx", model, ctx)
    data = fp32.path.read_bytes()
    run_stage("ov-int8", fp32, ctx, calibration_size=4)  # an ONNX artifact as input: its file is not touched
    assert fp32.path.read_bytes() == data


@pytest.mark.parametrize("int8", [False, True])
def test_peak_graphs_compute_the_matmul_they_time(int8):
    import numpy as np
    import openvino as ov

    from bench.measure.peak import ov_matmul_model
    from bench.runtime.ov_artifact import compile_config

    model, feed = ov_matmul_model(64, int8)
    (y,) = ov.Core().compile_model(model, "CPU", compile_config(1)).create_infer_request().infer(feed).values()
    b = next(op for op in model.get_ops() if op.get_type_name() == "Constant" and list(op.get_output_shape(0)) == [64, 64])
    weight = b.get_data().astype(np.float64) * (0.01 if int8 else 1.0)
    a = np.round(feed["A"]) if int8 else feed["A"]  # the FakeQuantize's 256 levels over [0, 255]
    np.testing.assert_allclose(y, a.astype(np.float64) @ weight.T, rtol=1e-3, atol=1e-2)


def test_openvino_peaks_are_named_and_positive():
    from bench.measure.peak import ov_int8_matmul_peak, ov_matmul_peak

    fp32, int8 = ov_matmul_peak(size=64, trials=2, calls=1, threads=1), ov_int8_matmul_peak(size=64, trials=2, calls=1)
    assert (fp32.runtime, fp32.unit, fp32.threads) == ("openvino", "GFLOP/s", 1) and fp32.gflops > 0
    assert (int8.runtime, int8.unit, int8.dtype) == ("openvino-int8", "GOP/s", "int8") and int8.gflops > 0
    assert len(fp32.trials_gflops) == 2 and 0 <= fp32.spread < 1
