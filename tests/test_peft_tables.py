"""The PEFT tables (bitfit, lora, lora-rank, mad-x) rendered from hand-made records."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.registry import TABLES
from bench.spec import expand
from tests.test_compare_tables import PROVENANCE

RESULTS = Path(__file__).resolve().parents[1] / "results"


def records_for(spec: dict, value_of, trainable=1000, head=10, total=100_000, s_per_step=1.0) -> list[dict]:
    """Records of every cell of `spec`, the metric given by value_of(cell)."""
    records = []
    for cell in expand(dict({"models": ["bert-base"], "device": "cpu"}, **spec)):
        count = trainable(cell) if callable(trainable) else trainable
        records.append({
            "status": "success", "config": cell.to_dict(), "chain_label": cell.chain_label, "device": "cpu",
            "provenance": PROVENANCE,
            "task_meta": {"metric": "accuracy", "higher_is_better": True, "kind": "classification"},
            "metrics": {} if cell.arch_only else {"accuracy": value_of(cell)},
            "params": {"total": total, "trainable": count + head, "trainable_head": head, "base_total": total,
                       "trainable_pct": 100.0 * (count + head) / total},
            "memory": {"train_peak_rss_bytes": None if cell.arch_only else 2**30},
            "training": [{"trainable_parameters": count + head, "steps": 0}] if cell.arch_only else
                        [{"wall_s": 10.0, "s_per_step": s_per_step if cell.chain[0].method != "full-ft" else 2.0}],
            "stages": {},
        })
    return records


def test_bitfit_arch_only_shows_percent_param_against_published():
    records = records_for({"tasks": ["glue-sst2"], "methods": ["full-ft", "bitfit"], "arch_only": True},
                          None, trainable=lambda c: 94 if c.chain[0].method == "bitfit" else 99_990, head=10)
    table = TABLES.get("bitfit").obj(records, arch_only=True)
    bitfit_row = next(r for r in table.rows if r["Method"] == "BitFit")
    assert bitfit_row["%Param"] == "0.09%" and bitfit_row["%Param pub."] == "0.09%"
    assert set(bitfit_row) == {"Model", "Method", "%Param", "%Param pub."}  # no accuracy columns


def test_bitfit_table_aggregates_seeds_and_keeps_the_best_learning_rate():
    def value(cell):
        lr = cell.chain[0].options_dict()["lr"]
        return (0.80 if lr == 1e-3 else 0.60) + 0.01 * cell.seed

    spec = {"tasks": ["glue-sst2", "glue-rte"], "methods": ["full-ft", "bitfit"], "seeds": [0, 1, 2],
            "lr_sweep": [1e-4, 1e-3]}
    table = TABLES.get("bitfit").obj(records_for(spec, value))
    ours = next(r for r in table.rows if r["Method"] == "BitFit" and r["Model"] == "bert-base")
    assert ours["SST-2"] == "81.0 ± 1.0" and ours["RTE"] == "81.0 ± 1.0" and ours["Avg"] == "81.0"
    published = next(r for r in table.rows if r["Model"] == "bert-base (published)" and r["Method"] == "BitFit")
    assert published["SST-2"] == "92.1" and published["RTE"] == "72.3" and published["Avg"] == "82.2"
    assert any("Learning rates swept" in note and "0.001=81.0" in note for note in table.notes)


def test_lora_table_rows_follow_the_paper_and_count_without_the_head():
    spec = {"tasks": ["glue-sst2"], "methods": ["full-ft", "lora", "bitfit", "adapter(size=8)", "ia3", "top-k"],
            "seeds": [0, 1, 2]}
    records = records_for(spec, lambda cell: 0.7, trainable=294_912, s_per_step=0.5)
    table = TABLES.get("lora").obj(records)
    ours = [r["Method"] for r in table.rows if "(published)" not in r["Model"]]
    # Names and order are each method's metadata (MethodInfo.label, .order); options mark a variant.
    assert ours == ["Full-FT", "BitFit", "Adapter(size=8)", "LoRA", "(IA)^3", "top-k"]
    lora_row = next(r for r in table.rows if r["Method"] == "LoRA")
    assert lora_row["# Trainable"] == "0.29M" and lora_row["s/step vs FT"] == "0.25"
    assert lora_row["SST-2"] == "70.0 ± 0.0"


def test_lora_rank_table_is_a_grid_of_ranks_and_targets():
    methods = [f"lora(r={r},targets={t})" for r in (1, 64) for t in ("q", "qv")]
    records = records_for({"tasks": ["glue-sst2"], "methods": methods, "seeds": [0, 1, 2]},
                          lambda cell: cell.chain[0].options_dict()["r"] / 100,
                          trainable=lambda cell: cell.chain[0].options_dict()["r"] * 1000)
    table = TABLES.get("lora-rank").obj(records)
    row = next(r for r in table.rows if r["Task"] == "SST-2" and r["Weight type"] == "Wq,Wv")
    assert row["r=1"] == "1.0 ± 0.0" and row["r=64"] == "64.0 ± 0.0" and row["r=8"] == "-"
    counts = next(r for r in table.rows if r["Task"] == "# trainable" and r["Weight type"] == "Wq")
    assert counts["r=64"] == "64.0K"
    published = next(r for r in table.rows if r["Task"] == "MultiNLI" and r["Weight type"] == "Wq,Wv")
    assert [published[f"r={r}"] for r in (1, 2, 4, 8, 64)] == ["91.3", "91.4", "91.3", "91.6", "91.4"]


def test_mad_x_table_describes_each_transfer_setting():
    spec = {"tasks": ["xling-sst2-en-pt"], "methods": ["full-ft", "mad-x", "mad-x(swap=false)"], "seeds": [0, 1, 2]}
    records = records_for(spec, lambda cell: 0.6 if cell.chain[0].method == "full-ft" else 0.65)
    table = TABLES.get("mad-x").obj(records)
    settings = [r["Setting"] for r in table.rows]
    assert settings[0].startswith("full fine-tuning") and "swapped in" in settings[1] and "ablation" in settings[2]
    assert table.rows[1]["Target dev accuracy"] == "65.0 ± 0.0"


@pytest.mark.skipif(not (RESULTS / "peft" / "records").is_dir(), reason="no committed PEFT records")
def test_committed_arch_records_give_the_published_parameter_columns():
    from bench.storage.store import load_records

    records = load_records(RESULTS / "peft" / "records")
    bitfit = {(r["Model"], r["Method"]): r["%Param"] for r in TABLES.get("bitfit").obj(records, arch_only=True).rows}
    assert bitfit[("bert-base", "BitFit")] == "0.09%" and bitfit[("bert-large", "BitFit")] == "0.08%"
    lora = {(r["Model"], r["Method"]): r["# Trainable"] for r in TABLES.get("lora").obj(records, arch_only=True).rows}
    assert abs(float(lora[("roberta-base", "LoRA")].rstrip("M")) - 0.3) <= 0.02


def test_adapter_swap_table_reports_bytes_and_times_per_task():
    records = records_for({"tasks": ["glue-sst2"], "methods": ["lora -> adapter-swap"]}, lambda cell: 0.8)
    records[0]["stages"]["adapter_swap"] = {"tasks": 4, "delta_parameters": 296_066, "bytes_per_task": 1_186_000,
                                            "load_ms_p50": 0.8, "switch_ms_p50": 0.12, "restored_exactly": True}
    records[0]["size"] = {"model_bytes": 90_900_000}
    (row,) = TABLES.get("adapter-swap").obj(records).rows
    assert row["Method"] == "lora" and row["Bytes per task (MB)"] == "1.19" and row["Whole model (MB)"] == "90.9"
    assert row["Switch in memory (ms)"] == "0.12" and row["Restored exactly"] == "yes"
