"""bench/storage/record.py reads what the runner writes: real records, stored and loaded, through `Record`."""

from __future__ import annotations

import json
import statistics

import pytest

from bench.cli import main
from bench.spec import expand
from bench.storage.record import Record, latency_key, parse_latency_key, primary_keys


def run_and_store(cell, records_dir, data_dir=None) -> int:
    """`python -m bench.runner` in this process: the record as the store writes it (or its failure)."""
    from bench.runner import main as runner_main

    cell_json = records_dir.parent / f"{cell.slug()}.cell.json"
    cell_json.write_text(json.dumps({"cell": cell.to_dict(), "key": cell.slug()}))
    argv = [str(cell_json), str(records_dir / f"{cell.slug()}.json")]
    return runner_main(argv + (["--data-dir", str(data_dir)] if data_dir else []))


@pytest.fixture(scope="module")
def records_dir(fast_spec, tiny_glue_dir, tmp_path_factory):
    """A trained MNLI cell, an architecture-only LoRA cell without latency, and a failed cell."""
    root = tmp_path_factory.mktemp("records")
    records = root / "records"
    (trained,) = expand(fast_spec(tasks=["glue-mnli"], methods=["full-ft(lr=5e-5)"]))
    (arch,) = expand(fast_spec(tasks=["glue-sst2"], methods=["lora"], arch_only=True,
                               measure={"latency": "off", "batch_sizes": [1]}))
    (broken,) = expand(fast_spec(tasks=["glue-rte"], seeds=[7]))
    assert run_and_store(trained, records, tiny_glue_dir) == 0
    assert run_and_store(arch, records) == 0
    assert run_and_store(broken, records, root / "no-data-here") == 1  # its task cannot load: a failed record
    return records


@pytest.fixture(scope="module")
def by_task(records_dir) -> dict:
    return {record.task: record for record in Record.load_all(records_dir)}


def test_latency_keys_are_named_and_parsed_in_one_place():
    assert latency_key(32, 128) == "b32_s128" and parse_latency_key("b32_s128") == (32, 128)
    assert primary_keys({"accuracy_m": 1, "accuracy_mm": 0, "f1": 2, "accuracy_top": 3}, "accuracy") == [
        "accuracy_m", "accuracy_mm", "accuracy_top"]


def test_a_trained_record_reads_through_its_accessors(by_task, fast_spec):
    record = by_task["glue-mnli"]
    (cell,) = expand(fast_spec(tasks=["glue-mnli"], methods=["full-ft(lr=5e-5)"]))
    assert record.succeeded and record.status == "success" and record.error is None
    assert record.cell == cell and record.chain == cell.chain  # JSON lists come back as the cell's tuples
    assert record.chain_label == "full-ft(lr=5e-05)" and record.method_label == "full-ft"
    assert record.learning_rate == 5e-5
    assert (record.task, record.model, record.seed, record.arch_only) == ("glue-mnli", cell.model, 0, False)
    assert record.budget["max_steps"] == 2 and record.device == "cpu" and record.date
    # MNLI: one key per dev set, the primary value their mean.
    assert record.metric == "accuracy" and record.higher_is_better
    assert record.primary_keys == ["accuracy_m", "accuracy_mm"]
    assert record.primary_value == pytest.approx(statistics.fmean(
        [record.metrics["accuracy_m"], record.metrics["accuracy_mm"]]))
    stored = record.data["latency"]["b1_s16"]
    assert record.latency == {(1, 16): stored} and record.p50(1) == stored["p50"] and record.p50(32) is None
    assert record.last_training["steps"] == 2 and record.s_per_step == record.data["training"][-1]["s_per_step"]
    assert record.train_wall_s == sum(t["wall_s"] for t in record.data["training"]) > 0
    assert record.params["total"] > 0 and record.flops["flops"] > 0 and record.size["model_bytes"] > 0
    assert record.memory["train_peak_rss_bytes"] > 0 and record.runtime == "torch"
    assert record.stage("int8_dynamic") is None and record.retention is None


def test_arch_only_and_failed_records_read_as_empty_sections(by_task):
    arch, failed = by_task["glue-sst2"], by_task["glue-rte"]
    assert arch.succeeded and arch.arch_only and arch.latency == {} and arch.p50(1) is None
    assert arch.metrics == {} and arch.primary_value is None
    assert arch.training and arch.train_wall_s is None  # set up, not trained: no wall time
    assert not failed.succeeded and failed.status == "failed" and failed.error
    assert failed.chain_label == "full-ft" and failed.seed == 7  # the envelope is all it has
    assert failed.metrics == {} and failed.params == {} and failed.training == [] and failed.primary_value is None
    assert failed.stage("distillation") is None and failed.s_per_step is None


def test_summary_renders_arch_only_and_failed_records(records_dir, capsys):
    """`bench table summary` on what `bench run --arch-only --latency off` writes (once a KeyError)."""
    assert main(["table", "summary", "--records", str(records_dir)]) == 0
    out = capsys.readouterr().out
    header = [c.strip() for c in next(line for line in out.splitlines() if line.startswith("| task")).split("|")[1:-1]]
    arch = next(line for line in out.splitlines() if line.startswith("| glue-sst2"))
    row = dict(zip(header, (c.strip() for c in arch.split("|")[1:-1]), strict=False))
    assert row["method"] == "lora" and row["metric"] == "-" and row["params"].endswith("M")
    assert row["train (s)"] == "-" and row["p50 b1 (ms)"] == "-"
    assert "1 cell(s) did not succeed: full-ft on glue-rte (failed)" in out
