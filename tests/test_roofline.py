"""Roofline (issue 16): per-runtime matmul peaks, best of short trials, and the post-training
table's achieved GFLOP/s and % of peak at batch 1 and 32, from hand-made records."""

from __future__ import annotations

import importlib.util

import pytest

from bench.measure import peak
from bench.registry import TABLES
from bench.spec import expand
from tests.test_compare_tables import PROVENANCE

SMALL = {"size": 64, "trials": 3, "calls": 2}  # milliseconds, not the default's seconds
needs_ort = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None or
                               importlib.util.find_spec("onnx") is None,
                               reason="onnxruntime and onnx are needed for the MLAS peak")


def check_trials(result: peak.MatmulPeak, runtime: str, dtype: str = "float32", unit: str = "GFLOP/s") -> None:
    assert result.runtime == runtime and result.size == 64 and result.dtype == dtype
    assert len(result.trials_gflops) == 3 and result.calls_per_trial == 2
    assert result.gflops == max(result.trials_gflops) > 0
    worst = min(result.trials_gflops)
    assert result.spread == pytest.approx((result.gflops - worst) / result.gflops) and 0 <= result.spread < 1
    assert result.to_dict()["unit"] == unit


def test_torch_peak_is_the_best_of_its_trials_with_their_spread():
    result = peak.torch_matmul_peak("cpu", **SMALL)
    check_trials(result, "torch")
    assert result.threads >= 1 and result.providers is None


@needs_ort
def test_ort_peak_runs_a_one_node_matmul_with_the_cells_threads():
    import numpy as np
    import onnxruntime as ort

    result = peak.ort_matmul_peak("cpu", threads=1, **SMALL)
    check_trials(result, "onnxruntime")
    assert result.threads == 1 and result.providers == ["CPUExecutionProvider"]
    # The graph built in memory is the matmul it claims to time.
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((8, 8), dtype=np.float32) for _ in range(2))
    (y,) = ort.InferenceSession(peak._matmul_graph(b), providers=["CPUExecutionProvider"]).run(None, {"A": a})
    np.testing.assert_allclose(y, a @ b, rtol=1e-5, atol=1e-5)


@needs_ort
def test_ort_int8_peak_runs_a_one_node_u8s8_matmul_counting_two_ops_per_multiply_add():
    import numpy as np
    import onnxruntime as ort

    result = peak.ort_int8_matmul_peak("cpu", threads=1, **SMALL)
    check_trials(result, "onnxruntime-int8", dtype="int8", unit="GOP/s")
    assert result.threads == 1 and result.providers == ["CPUExecutionProvider"]
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    b = rng.integers(-128, 128, (8, 8), dtype=np.int8)
    session = ort.InferenceSession(peak._matmul_graph(b, "MatMulInteger"), providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"A": a})
    np.testing.assert_array_equal(y, a.astype(np.int32) @ b.astype(np.int32))


@pytest.mark.parametrize("runtime, arithmetic, expected", [
    ("torch", "fp32", {"torch"}), ("torch.compile", "fp32", {"torch"}),
    ("onnxruntime", "fp32", {"torch", "onnxruntime"}),
    ("onnxruntime", "int8", {"torch", "onnxruntime", "onnxruntime-int8"}),
    ("openvino", "fp32", {"torch", "openvino"}),
    ("openvino", "int8", {"torch", "openvino", "openvino-int8"}),
    ("torch", "int8", {"torch"}),  # torch's int8 kernels: no peak of theirs is measured
])
def test_a_cell_records_its_runtimes_peak_beside_torchs(runtime, arithmetic, expected, monkeypatch):
    calls = {}

    def fake(name):
        def measure(device, threads=None):
            calls[name] = threads
            return peak.MatmulPeak(name, 1.0, [1.0], 0.0, 64, "float32", threads or 2, 1, device)
        return measure

    monkeypatch.setattr(peak, "torch_matmul_peak", fake("torch"))
    monkeypatch.setattr(peak, "ort_matmul_peak", fake("onnxruntime"))
    monkeypatch.setattr(peak, "ort_int8_matmul_peak", fake("onnxruntime-int8"))
    monkeypatch.setattr(peak, "ov_matmul_peak", fake("openvino"))
    monkeypatch.setattr(peak, "ov_int8_matmul_peak", fake("openvino-int8"))
    peaks = peak.matmul_peaks(runtime, "cpu", runtime_threads=3, arithmetic=arithmetic)
    assert set(peaks) == expected and all(peaks[name]["runtime"] == name for name in expected)
    for name in expected - {"torch"}:
        assert calls[name] == 3  # the runtime's own threads (ORT's intra-op, OpenVINO's inference)


# --- the table ----------------------------------------------------------------------------------

FLOPS = 2_000_000_000  # per sequence of 128 tokens


def record(cell, p50_b1, p50_b32, runtime, machine, metric=0.9) -> dict:
    return {
        "status": "success", "config": cell.to_dict(), "chain_label": cell.chain_label, "device": "cpu",
        "provenance": PROVENANCE, "task_meta": {"metric": "accuracy", "higher_is_better": True,
                                                "kind": "classification"},
        "metrics": {"accuracy": metric}, "retention": None, "size": {"model_bytes": 90_000_000},
        "flops": {"flops": FLOPS, "batch_size": 1, "seq_len": 128},
        "latency": {"b1_s128": {"p50": p50_b1}, "b32_s128": {"p50": p50_b32}},
        "model_meta": {"runtime": runtime}, "machine": machine, "stages": {},
    }


def peaks(**gflops) -> dict:
    return {"matmul_peaks": {name: {"runtime": name, "gflops": value, "spread": 0.05}
                             for name, value in gflops.items()}}


@pytest.fixture(scope="module")
def table():
    spec = {"tasks": ["glue-sst2"], "models": ["bert-base"], "device": "cpu",
            "methods": ["full-ft", "full-ft -> onnx", "full-ft -> ort-int8-dynamic"]}
    cells = {cell.chain_label: cell for cell in expand(spec)}
    (old_cell,) = expand(dict(spec, tasks=["glue-mrpc"], methods=["full-ft"]))
    (int8_cell,) = expand(dict(spec, tasks=["glue-rte"], methods=["full-ft -> ort-int8-dynamic"]))
    ov_fp32, ov_int8 = expand(dict(spec, tasks=["glue-qnli"], methods=["full-ft -> openvino", "full-ft -> ov-int8"]))
    records = [
        # 2e9 FLOPs in 20 ms = 100 GFLOP/s; 32 x 2e9 in 400 ms = 160 GFLOP/s: 50% and 80% of 200.
        record(cells["full-ft"], 20.0, 400.0, "torch", peaks(torch=200.0)),
        # 200 GFLOP/s at both batches, against MLAS's 250 (80%), not torch's 200.
        record(cells["full-ft -> onnx"], 10.0, 320.0, "onnxruntime", peaks(torch=200.0, onnxruntime=250.0)),
        # Written before int8 peaks: no share of the fp32 peak is shown for it.
        record(cells["full-ft -> ort-int8-dynamic"], 5.0, 160.0, "onnxruntime", peaks(torch=200.0, onnxruntime=250.0)),
        # 400 G ops/s at both batches against MLAS's int8 peak of 800: 50%.
        record(int8_cell, 5.0, 160.0, "onnxruntime", peaks(torch=200.0, onnxruntime=250.0, **{"onnxruntime-int8": 800.0})),
        # OpenVINO: 250 GFLOP/s at batch 32 against its own fp32 peak of 500 (50%); int8 400 G ops/s
        # against its int8 peak of 1000 (40%).
        record(ov_fp32, 10.0, 256.0, "openvino", peaks(torch=200.0, openvino=500.0)),
        record(ov_int8, 5.0, 160.0, "openvino", peaks(torch=200.0, openvino=500.0, **{"openvino-int8": 1000.0})),
        # Written before per-runtime peaks: one run of torch's matmul, p50.
        record(old_cell, 20.0, 400.0, "torch", {"matmul_peak": {"gflops_p50": 320.0, "gflops_best": 350.0}}),
    ]
    return TABLES.get("post-training").obj(records)


def rows_of(table) -> dict:
    return {(row["task"], row["variant"]): row for row in table.rows}


def test_each_cell_is_held_against_its_own_runtimes_peak_at_batch_1_and_32(table):
    rows = rows_of(table)
    eager, onnx = rows[("glue-sst2", "fp32 eager")], rows[("glue-sst2", "onnx")]
    assert (eager["GFLOP/s b1"], eager["GFLOP/s b32"]) == ("100.0", "160.0")
    assert (eager["matmul peak GFLOP/s"], eager["peak of"], eager["peak spread"]) == ("200.0", "torch", "5.0%")
    assert (eager["% of peak b1"], eager["% of peak b32"]) == ("50%", "80%")
    assert (onnx["GFLOP/s b32"], onnx["matmul peak GFLOP/s"], onnx["peak of"]) == ("200.0", "250.0", "MLAS")
    assert (onnx["% of peak b1"], onnx["% of peak b32"]) == ("80%", "80%")
    assert onnx["% of peak b32"].value == pytest.approx(80.0)  # csv and json get the number


def test_quantised_rows_show_their_rate_but_no_share_of_the_fp32_peak(table):
    int8 = rows_of(table)[("glue-sst2", "ort-int8-dynamic")]
    assert int8["GFLOP/s b32"] == "400.0" and int8["peak of"] == "MLAS"
    assert int8["% of peak b1"] == int8["% of peak b32"] == "-"


def test_an_ort_int8_row_with_its_int8_peak_shows_its_share_of_that_peak(table):
    int8 = rows_of(table)[("glue-rte", "ort-int8-dynamic")]
    assert (int8["matmul peak GFLOP/s"], int8["peak of"]) == ("800.0", "MLAS int8")
    assert (int8["% of peak b1"], int8["% of peak b32"]) == ("50%", "50%")


def test_openvino_rows_are_held_against_openvinos_own_peaks(table):
    rows = rows_of(table)
    fp32, int8 = rows[("glue-qnli", "openvino")], rows[("glue-qnli", "ov-int8")]
    assert (fp32["matmul peak GFLOP/s"], fp32["peak of"], fp32["% of peak b32"]) == ("500.0", "OpenVINO", "50%")
    assert (int8["matmul peak GFLOP/s"], int8["peak of"], int8["% of peak b1"]) == ("1000.0", "OpenVINO int8", "40%")
    (note,) = [note for note in table.notes if note.startswith("glue-qnli:")]
    assert "is openvino (256.0 ms, 250.0 GFLOP/s), 50% of the OpenVINO peak; misses the 70% goal" in note


def test_older_records_render_with_their_one_run_torch_peak_so_labelled(table):
    old = rows_of(table)[("glue-mrpc", "fp32 eager")]
    assert (old["matmul peak GFLOP/s"], old["peak of"], old["peak spread"]) == ("320.0", peak_old(), "-")
    assert old["% of peak b32"] == "50%"
    assert any(note.startswith(f"Peak of '{peak_old()}'") for note in table.notes)
    assert any(note.startswith("glue-mrpc:") and "no verdict" in note for note in table.notes)


def test_the_fastest_fp32_deploy_path_at_batch_32_is_named_with_its_verdict(table):
    (note,) = [note for note in table.notes if note.startswith("glue-sst2:")]
    assert "is onnx (320.0 ms, 200.0 GFLOP/s), 80% of the MLAS peak; meets the 70% goal" in note


def peak_old() -> str:
    from bench.tables.post_training import OLD_PEAK

    return OLD_PEAK


# --- through a cell -----------------------------------------------------------------------------

@needs_ort
@pytest.mark.parametrize("method, expected", [
    ("full-ft -> onnx", {"torch", "onnxruntime"}),
    ("full-ft -> ort-int8-dynamic", {"torch", "onnxruntime", "onnxruntime-int8"}),
])
def test_an_onnx_cell_records_its_peaks_with_its_session_threads(method, expected, fast_spec, tiny_glue_dir,
                                                                 monkeypatch):
    from bench.runner import run_cell

    monkeypatch.setattr(peak, "SIZE", 64)  # the cell's peaks in milliseconds
    spec = fast_spec(tasks=["glue-sst2"], methods=[method])
    spec["measure"]["matmul_peak"] = True
    (cell,) = expand(spec)
    result = run_cell(cell, data_dir=str(tiny_glue_dir))
    assert result["status"] == "success", result["error"]
    peaks_recorded = result["machine"]["matmul_peaks"]
    assert set(peaks_recorded) == expected
    threads = result["model_meta"]["runtime_info"]["intra_op_num_threads"]
    assert peaks_recorded["onnxruntime"]["threads"] == threads
    assert all(p["size"] == 64 and len(p["trials_gflops"]) == peak.TRIALS for p in peaks_recorded.values())
