"""`bench speed train`: each path trains the same examples with the same schedule, and the
summary's ratios are read off the runs (not timed here: timings are the benchmark's business)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from bench.speed.compare_training import summarise, table
from bench.speed.train_paths import Setup, _pad, load, run_path

pytest.importorskip("torch")


def a_run(path: str, precision: str, s_per_step: float, repeat: int = 0) -> dict:
    return {"path": path, "precision": precision, "steps": 3, "step_ends_s": [1.0, 2.0, 3.0],
            "s_per_step": s_per_step, "median_step_s": s_per_step, "final_loss": 0.5, "padded_tokens": None,
            "repeat": repeat}


def test_ratios_are_against_the_best_fp32_trainer_path():
    runs = [a_run("harness", "fp32", 0.27), a_run("trainer-grouped", "fp32", 0.30), a_run("trainer-padded", "fp32", 0.60),
            a_run("harness", "fp32", 0.29, 1), a_run("trainer-grouped", "fp32", 0.28, 1),
            a_run("trainer-padded", "fp32", 0.62, 1), a_run("harness", "bf16", 0.14)]
    summary = summarise(runs)
    assert summary["harness (fp32)"]["s_per_step"] == pytest.approx(0.28)  # median of its repeats
    assert summary["trainer-grouped (fp32)"]["s_per_step"] == pytest.approx(0.29)
    assert summary["harness (fp32)"]["vs_best_trainer"] == pytest.approx(0.28 / 0.29)
    assert summary["trainer-padded (fp32)"]["vs_best_trainer"] == pytest.approx(0.61 / 0.29)
    assert summary["harness (bf16)"]["speedup_vs_own_fp32"] == pytest.approx(0.28 / 0.14)
    text = table({"setup": dataclasses.asdict(Setup("glue-sst2", "minilm-l6", None, 2000, 32, 128, 2)), "repeats": 2,
                  "machine": {"model": "x", "usable_cores": 2}, "summary": summary})
    assert "| harness (bf16)" in text and "2.00x" in text and "0.97x" in text


def test_reduced_precision_runs_record_each_precisions_matmul_peak_and_the_table_reads_it(monkeypatch):
    from bench.measure import peak
    from bench.speed import compare_training

    monkeypatch.setattr(peak, "SIZE", 64)
    peaks = compare_training.precision_peaks(("fp32", "bf16"), threads=None)
    assert list(peaks) == ["fp32", "bf16"]
    assert (peaks["fp32"]["dtype"], peaks["bf16"]["dtype"]) == ("float32", "bfloat16")
    assert all(p["gflops"] == max(p["trials_gflops"]) > 0 for p in peaks.values())
    peaks["fp32"]["gflops"], peaks["bf16"]["gflops"] = 100.0, 220.0
    summary = summarise([a_run("harness", "fp32", 0.28), a_run("harness", "bf16", 0.2)])
    text = table({"setup": dataclasses.asdict(Setup("glue-sst2", "minilm-l6", None, 2000, 32, 128, 2)), "repeats": 1,
                  "machine": {}, "summary": summary, "matmul_peaks": peaks})
    assert "- bf16: 220.0 GFLOP/s (2.20x fp32's 100.0" in text
    assert "Matmul peak" not in table({"setup": dataclasses.asdict(Setup("glue-sst2", "m", None, 2000, 32, 128, 2)),
                                       "repeats": 1, "machine": {}, "summary": summary})


def test_run_glue_padding_pads_every_example_to_the_maximum_length():
    padded = _pad({"input_ids": [101, 7, 102], "token_type_ids": [0, 0, 0], "attention_mask": [1, 1, 1], "labels": 1},
                  6, pad_id=0)
    assert padded == {"input_ids": [101, 7, 102, 0, 0, 0], "attention_mask": [1, 1, 1, 0, 0, 0],
                      "token_type_ids": [0, 0, 0, 0, 0, 0], "labels": 1}


@pytest.mark.parametrize("path", ["harness", "trainer-grouped", "trainer-padded"])
def test_every_path_trains_one_epoch_of_the_same_batches(path, tiny_model_dir, tiny_glue_dir):
    setup = Setup(task="glue-sst2", model=str(tiny_model_dir), data_dir=str(tiny_glue_dir), train_limit=16,
                  batch_size=4, max_seq_len=32, threads=None)
    run = run_path(path, setup)
    assert run.steps == 4 == len(run.step_ends_s)  # 16 examples, batch 4, one epoch: every path alike
    assert run.step_ends_s == sorted(run.step_ends_s) and run.s_per_step > 0
    assert run.final_loss == run.final_loss  # a number
    real = sum(len(f["input_ids"]) for f in load(setup)[2])
    assert real <= run.padded_tokens <= 16 * 32  # every path counts what it fed the model
    if path == "trainer-padded":
        assert run.padded_tokens == 16 * 32


def test_bad_arguments_are_refused_before_any_run(capsys):
    from bench.cli import main

    assert main(["speed", "train", "--precision", "bf61"]) == 2
    assert "unknown precision 'bf61'. Did you mean 'bf16'? Valid precisions: bf16, fp32" in capsys.readouterr().err
    assert main(["speed", "train", "--task", "glue-sst3"]) == 2
    assert "glue-sst2" in capsys.readouterr().err


def test_latency_rules_side_by_side_on_a_tiny_model(tiny_model_dir):
    from bench.speed.compare_latency import compare_rules, table

    result = compare_rules(str(tiny_model_dir), "glue-sst2", repeats=2, batch_sizes=(1,), say=lambda line: None)
    assert [(r["rule"], r["repeat"]) for r in result["runs"]] == [("fixed", 0), ("default", 0), ("default", 1),
                                                                    ("fixed", 1)]  # alternating order
    fixed, adaptive = result["summary"]["fixed"], result["summary"]["default"]
    assert fixed["shapes"]["b1_s128"]["n"] >= 50  # fixed: >= 50 calls and >= 2 s
    assert all(r["shapes"]["b1_s128"]["stopped_by"] in ("interval", "time_cap")
               for r in result["runs"] if r["rule"] == "default")
    assert adaptive["time_vs_first"] == pytest.approx(adaptive["wall_s"] / fixed["wall_s"])
    assert "| default | b1_s128" in table(result)


def test_detection_counts_false_alarms_and_flagged_slowdowns(tiny_model_dir, tmp_path):
    from bench.speed.detection import ab_mode, records_mode, table, variant

    dirs = {n: variant(tiny_model_dir, n, tmp_path) for n in (2, 12)}
    assert json_layers(dirs[12]) == 12 and (dirs[12] / "vocab.txt").is_symlink()
    records = records_mode(dirs, 2, 12, pairs=1, threshold=1.10, say=lambda line: None)
    ab = ab_mode(dirs, 2, 12, pairs=1, threshold=1.05, rounds=20, calls=3, say=lambda line: None)
    for mode in (records, ab):
        assert (mode["identical_pairs"], mode["slowdown_pairs"]) == (1, 1)
        assert mode["slower"][0][0] > 1.5  # six times the layers
        # A flag is an interval wholly above the threshold, counted as such (bench ab's per-round
        # interval on a 1 ms model widens a lot when the machine is busy: its power is judged on
        # MiniLM in results/speed/detection.md, not here).
        assert mode["detected"] == sum(low > mode["threshold"] for _, low, _ in mode["slower"])
        assert mode["false_alarms"] == sum(low > mode["threshold"] for _, low, _ in mode["identical"])
        assert len(mode["identical"][0]) == 3
    text = table({"model": "tiny", "machine": {}, "pairs": 1, "records_mode": records, "ab_mode": ab})
    assert "| bench compare (two runs)" in text and "1 of 1" in text


def json_layers(model_dir) -> int:
    import json

    return json.loads((model_dir / "config.json").read_text())["num_hidden_layers"]


def test_executors_benchmark_runs_a_matrix_and_tables_cells_per_hour(tiny_model_dir, tiny_glue_dir, tmp_path):
    import yaml

    from bench.speed.executors import EXECUTORS, matrix_spec, run_once, table

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(matrix_spec(2, str(tiny_model_dir), "glue-rte")))
    env = dict(os.environ, BENCH_DATA_DIR=str(tiny_glue_dir), HF_HUB_OFFLINE="1")
    run = run_once("local", spec, tmp_path, env)
    assert run["cells"] == 2 and len(set(run["identities"])) == 2 and run["wall_s"] > 0
    assert list(tmp_path.iterdir()) == [spec]  # the run's records, cache and logs are gone
    runs = [dict(run, executor=name, wall_s=wall) for name, wall in zip(EXECUTORS, (100.0, 50.0, 40.0), strict=True)]
    text = table({"cells": 2, "repeats": 1, "spec": matrix_spec(2, "m", "glue-rte"), "machine": {}, "runs": runs,
                  "same_identities": True})
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in text.splitlines() if line.startswith("| ")}
    assert rows["local"] == ["100", "72", "1.00x"] and rows["ray"] == ["40", "180", "2.50x"]
    assert "same identities" in text
