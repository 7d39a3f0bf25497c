"""`bench compare` verdicts and table rendering, on hand-written records (no model runs)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest

from bench.cli import main

PROVENANCE = {
    "date": "2026-01-01T00:00:00+00:00",
    "cpu": {"model": "Test CPU 9000", "usable_cores": 2},
    "threads": {"torch_num_threads": 2},
    "gpu": None,
}


def make_record(task="glue-rte", model="tiny", seed=0, chain="full-ft", arch_only=False, *,
                metric="accuracy", metrics=None, higher_is_better=True, total=1000, trainable=1000,
                flops=2_000_000, p50=10.0, latency_shape="b1_s128", train_peak=100 * 2**20,
                inference_peak=80 * 2**20, model_bytes=4000, status="success") -> dict:
    """The fields of a runner record that compare, store.flatten and the tables read."""
    budget = {"train_limit": None, "epochs": 3.0, "max_steps": None if arch_only else 2, "eval_limit": None,
              "batch_size": 4, "grad_accum": 1, "max_seq_len": 128, "eval_batch_size": 64}
    identity = f"{task}|{model}|{chain}|{seed}|{arch_only}"
    record = {
        "schema_version": 1,
        "key": identity + "|key",
        "identity": identity,
        "config": {"task": task, "model": model, "seed": seed, "device": "cpu", "arch_only": arch_only,
                   "budget": budget, "chain": []},
        "chain_label": chain,
        "status": status,
        "error": None if status == "success" else "boom",
        "device": "cpu",
        "provenance": PROVENANCE,
    }
    if status != "success":
        return record
    record.update({
        "task_meta": {"metric": metric, "higher_is_better": higher_is_better, "kind": "classification"},
        "metrics": {} if arch_only else (metrics if metrics is not None else {metric: 0.75}),
        "params": {"total": total, "trainable": trainable, "trainable_pct": 100.0 * trainable / total,
                   "base_total": total},
        "flops": {"flops": flops, "batch_size": 1, "seq_len": 128, "tool": "FlopCounterMode",
                  "convention": "matmuls, 2 x MACs"},
        "latency": {latency_shape: {"p50": p50, "p90": p50 * 1.1, "mean": p50, "std": 0.1, "n": 50}},
        "memory": {"train_peak_rss_bytes": None if arch_only else train_peak,
                   "inference_peak_rss_bytes": inference_peak},
        "size": {"model_bytes": model_bytes},
        "training": [] if arch_only else [{"wall_s": 12.0, "s_per_step": 6.0}],
    })
    return record


def write_records(directory: Path, records: list[dict]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for i, record in enumerate(records):
        (directory / f"r{i:03d}.json").write_text(json.dumps(record))
    return directory


def compare_cli(tmp_path, base: list[dict], new: list[dict], *flags) -> int:
    base_dir = write_records(tmp_path / "base", base)
    new_dir = write_records(tmp_path / "new", new)
    return main(["compare", str(base_dir), str(new_dir), *flags])


# --- compare -------------------------------------------------------------------------


def test_identical_records_compare_clean(tmp_path, capsys):
    records = [make_record(seed=0), make_record(seed=1), make_record(task="glue-sst2")]
    assert compare_cli(tmp_path, records, copy.deepcopy(records)) == 0
    out = capsys.readouterr().out
    # Timings are always listed as ratios; nothing else differs.
    assert "0 regression(s) in 3 difference(s)" in out and "REGRESSION" not in out
    assert out.count("x1.000") == 3


def test_small_latency_change_is_not_a_regression(tmp_path, capsys):
    assert compare_cli(tmp_path, [make_record(p50=10.0)], [make_record(p50=10.5)]) == 0
    out = capsys.readouterr().out
    assert "x1.050" in out and "REGRESSION" not in out


@pytest.mark.parametrize(
    "changes, quantity",
    [
        ({"p50": 12.0}, "latency.b1_s128.p50"),
        ({"metrics": {"accuracy": 0.70}}, "metrics.accuracy"),
        ({"total": 1001}, "params.total"),
        ({"trainable": 10}, "params.trainable"),
        ({"flops": 2_000_002}, "flops.flops"),
        ({"model_bytes": 4001}, "size.model_bytes"),
        ({"inference_peak": int(80 * 2**20 * 1.10)}, "memory.inference_peak_rss_bytes"),
        ({"train_peak": int(100 * 2**20 * 1.10)}, "memory.train_peak_rss_bytes"),
        ({"status": "failed"}, "status"),
    ],
)
def test_regressions_exit_1(tmp_path, capsys, changes, quantity):
    assert compare_cli(tmp_path, [make_record()], [make_record(**changes)]) == 1
    rows = [line for line in capsys.readouterr().out.splitlines() if "REGRESSION" in line]
    assert len(rows) == 1 and quantity in rows[0]


def test_improvements_are_not_regressions(tmp_path):
    better = make_record(p50=5.0, metrics={"accuracy": 0.9}, train_peak=50 * 2**20, inference_peak=40 * 2**20)
    assert compare_cli(tmp_path, [make_record()], [better]) == 0


def test_lower_is_better_metric_direction(tmp_path):
    base = make_record(metric="loss", metrics={"loss": 1.0}, higher_is_better=False)
    assert compare_cli(tmp_path / "a", [base], [make_record(metric="loss", metrics={"loss": 0.9}, higher_is_better=False)]) == 0
    assert compare_cli(tmp_path / "b", [base], [make_record(metric="loss", metrics={"loss": 1.1}, higher_is_better=False)]) == 1


@pytest.mark.parametrize(
    "changes, flag, value",
    [
        ({"p50": 12.0}, "--latency-threshold", "1.3"),
        ({"inference_peak": int(80 * 2**20 * 1.10)}, "--memory-threshold", "0.2"),
        ({"metrics": {"accuracy": 0.74}}, "--metric-tolerance", "0.05"),
    ],
)
def test_threshold_flags_change_the_verdict(tmp_path, changes, flag, value):
    assert compare_cli(tmp_path / "default", [make_record()], [make_record(**changes)]) == 1
    assert compare_cli(tmp_path / "loose", [make_record()], [make_record(**changes)], flag, value) == 0


def test_stricter_latency_threshold_flags_a_small_change(tmp_path):
    assert compare_cli(tmp_path, [make_record(p50=10.0)], [make_record(p50=10.5)], "--latency-threshold", "1.01") == 1


def test_cells_are_matched_by_identity_and_unmatched_ones_are_noted(tmp_path, capsys):
    base = [make_record(seed=0), make_record(seed=1)]
    new = [make_record(seed=0), make_record(seed=1), make_record(seed=2, p50=100.0)]
    for record in new:  # another package version: another key, the same identity
        record["key"] += "-v2"
    assert compare_cli(tmp_path, base, new) == 0  # a cell NEW adds is noted, not a failure
    out = capsys.readouterr().out
    assert "only in NEW: glue-rte | tiny | full-ft | seed 2" in out
    assert "over 2 of 2 matched cell(s)" in out


def test_a_cell_missing_from_new_fails_the_gate(tmp_path, capsys):
    base = [make_record(seed=0), make_record(seed=1)]
    assert compare_cli(tmp_path, base, [make_record(seed=0)]) == 1
    out = capsys.readouterr().out
    assert "MISSING (only in BASE): glue-rte | tiny | full-ft | seed 1" in out
    assert out.splitlines()[-1] == ("FAIL: 0 regression(s) in 1 difference(s) over 1 of 2 matched cell(s), "
                                    "1 BASE cell(s) missing from NEW")


@pytest.mark.parametrize("new", [[], [make_record(task="glue-sst2"), make_record(model="other")]],
                         ids=["empty", "no-match"])
def test_new_without_a_matching_cell_fails_with_one_line(tmp_path, capsys, new):
    base = [make_record(seed=s) for s in range(3)]
    base_dir, new_dir = write_records(tmp_path / "base", base), write_records(tmp_path / "new", new)
    assert main(["compare", str(base_dir), str(new_dir)]) == 1
    out = capsys.readouterr().out
    verdict = out.splitlines()[-1]
    assert verdict.startswith("FAIL: no cell of NEW matches BASE (0 of 3 matched;")
    assert ("NEW holds no records" if not new else "NEW holds 2 record(s)") in verdict
    assert out.count("MISSING (only in BASE):") == 3  # every lost cell is named


def test_metric_missing_from_new_is_a_regression(tmp_path):
    base = make_record(metrics={"accuracy": 0.75, "f1": 0.7})
    new = make_record(metrics={"accuracy": 0.75})
    assert compare_cli(tmp_path, [base], [new]) == 1


def test_missing_records_directory_exits_2(tmp_path, capsys):
    write_records(tmp_path / "base", [make_record()])
    assert main(["compare", str(tmp_path / "base"), str(tmp_path / "nothing")]) == 2
    assert "no records directory" in capsys.readouterr().err


# --- tables --------------------------------------------------------------------------


def tinybert_records() -> list[dict]:
    arch = dict(task="glue-mnli", chain="none", arch_only=True, latency_shape="b1_s128")
    return [
        make_record(model="bert-base", total=109_000_000, trainable=109_000_000, flops=11_250_000_000, p50=100.0, **arch),
        make_record(model="tinybert4", total=14_500_000, trainable=14_500_000, flops=1_200_000_000, p50=10.0, **arch),
        make_record(model="bert-small", total=29_200_000, trainable=29_200_000, flops=3_400_000_000, p50=20.0, **arch),
        make_record(model="glue-trained", status="failed", **arch),
    ]


def test_tinybert_table_renders_published_columns_and_ratios(tmp_path, capsys):
    records = write_records(tmp_path / "records", tinybert_records())
    assert main(["table", "tinybert", "--records", str(records)]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("| System"))
    columns = [c.strip() for c in header.split("|")[1:-1]]
    for column in ("Config", "#Params", "#Params pub.", "#FLOPs", "#FLOPs pub.", "Speedup pub.", "MNLI-m/mm pub.",
                   "QQP pub."):
        assert column in columns, column
    assert sum("ratio" in c for c in columns) == 2 and any(c.startswith("Speedup") and "b1" in c for c in columns)
    assert "ratio 0.500" in out and "Test CPU 9000" in out  # the FLOPs note: 11.25B against 22.5B

    assert main(["table", "tinybert", "--records", str(records), "--format", "json"]) == 0
    # json carries numbers: counts as whole integers, ratios and speedups as plain numbers.
    rows = {row["System"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    params_ratio, flops_ratio = [c for c in columns if "ratio" in c]
    speedup_b1 = next(c for c in columns if c.startswith("Speedup") and "b1" in c)

    base, tiny, small = rows["BERT-base (teacher)"], rows["TinyBERT4"], rows["BERT-small"]
    assert base["Config"] == "bert-base" and base["#Params pub."] == 109_000_000 and base["#FLOPs pub."] == 22_500_000_000
    assert base["#Params"] == 109_000_000 and base[params_ratio] == pytest.approx(1.0)
    assert base["#FLOPs"] == 11_250_000_000 and base[flops_ratio] == pytest.approx(0.5)
    assert base[speedup_b1] == pytest.approx(1.0)
    assert tiny["#Params"] == 14_500_000 and tiny[params_ratio] == pytest.approx(1.0)
    assert tiny[flops_ratio] == pytest.approx(1.0) and tiny[speedup_b1] == pytest.approx(10.0)
    assert tiny["Speedup pub."] == pytest.approx(9.4)
    assert small[speedup_b1] == pytest.approx(5.0) and rows["BERT-tiny"][speedup_b1] == pytest.approx(10.0)
    assert rows["MobileBERT-tiny"]["Config"].startswith("not reproduced")
    assert rows["BERT4-PKD"]["#Params"] is None and rows["BERT4-PKD"][speedup_b1] is None  # no bert-4l-768 record
    assert all(r["MNLI-m/mm pub."] for r in rows.values())


def summary_records() -> list[dict]:
    three = [make_record(seed=s, metrics={"accuracy": a}) for s, a in ((0, 0.80), (1, 0.82), (2, 0.84))]
    one = [make_record(model="other", metrics={"accuracy": 0.5})]
    mnli = [make_record(task="glue-mnli", metrics={"accuracy_m": 0.6, "accuracy_mm": 0.7})]
    return three + one + mnli + [make_record(model="broken", status="failed")]


def test_summary_table_mean_std_and_small_n(tmp_path, capsys):
    records = write_records(tmp_path / "records", summary_records())
    assert main(["table", "summary", "--records", str(records)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    tiny = next(line for line in lines if "| glue-rte" in line and "| tiny " in line)
    assert "82.0 ± 2.0" in tiny
    other = next(line for line in lines if "| other " in line)
    assert "50.0 (n=1)" in other
    mnli = next(line for line in lines if "| glue-mnli" in line)
    assert "60.0 (n=1)" in mnli
    assert "broken" not in "\n".join(line for line in lines if line.startswith("|"))
    assert "1 cell(s) did not succeed" in out and "Hardware: Test CPU 9000" in out
    assert "Budget:" in out and "max 2 steps" in out


def test_table_formats_parse(tmp_path, capsys):
    import pandas as pd

    records = write_records(tmp_path / "records", summary_records())
    assert main(["table", "summary", "--records", str(records), "--format", "csv"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(frame) == 3 and {"task", "model", "method", "seeds", "params"} <= set(frame.columns)
    assert sorted(frame["seeds"]) == [1, 1, 3]
    assert main(["table", "summary", "--records", str(records), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["title"] == "Summary" and len(data["rows"]) == 3 and data["notes"]
    assert main(["table", "summary", "--records", str(records), "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("## Summary") and md.count("\n| glue-") == 3


def test_markdown_keeps_the_formatted_numbers(tmp_path, capsys):
    # Builders format numbers as text ("100.00", "0.50"); the renderer must not re-parse them.
    records = write_records(tmp_path / "records", [make_record(total=1000, trainable=5)])
    assert main(["table", "summary", "--records", str(records)]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = [c.strip() for c in next(line for line in lines if line.startswith("| task")).split("|")]
    row = [c.strip() for c in next(line for line in lines if line.startswith("| glue-rte")).split("|")]
    assert row[header.index("trainable %")] == "0.50"
    assert row[header.index("p50 b1 (ms)")] == "10.0"


def test_unknown_table_exits_2_with_suggestion(tmp_path, capsys):
    records = write_records(tmp_path / "records", summary_records())
    assert main(["table", "summay", "--records", str(records)]) == 2
    assert "Did you mean 'summary'?" in capsys.readouterr().err


def test_flatten_gives_dotted_columns(tmp_path):
    from bench.storage.store import records_frame

    frame = records_frame(write_records(tmp_path / "records", summary_records()))
    assert len(frame) == 6
    assert {"metrics.accuracy", "params.total", "flops.flops", "latency.b1_s128.p50", "memory.train_peak_rss_bytes",
            "size.model_bytes", "training.wall_s"} <= set(frame.columns)
    assert sorted(frame["status"]) == ["failed"] + ["success"] * 5
