"""The TinyBERT table's accuracy rows: teacher, students without and with KD, published rows beside."""

from __future__ import annotations

import pytest

from bench.spec import expand

PROVENANCE = {"date": "2026-01-01T00:00:00", "cpu": {"model": "Test CPU", "usable_cores": 2},
              "threads": {"torch_num_threads": 2}, "gpu": None}


def record(fast_spec, task, method, seed, metrics, total, p50, kd=None) -> dict:
    (cell,) = expand(fast_spec(tasks=[task], methods=[method], seeds=[seed], models=["minilm-l6"]))
    return {
        "status": "success", "config": cell.to_dict(), "chain_label": cell.chain_label, "device": "cpu",
        "seed": seed, "provenance": PROVENANCE, "task_meta": {"metric": "accuracy"}, "metrics": metrics,
        "params": {"total": total}, "flops": {"flops": total * 100, "tool": "FlopCounterMode", "convention": "2 x MACs",
                                              "batch_size": 1, "seq_len": 128},
        "latency": {"b1_s128": {"p50": p50, "preset": "quick"}}, "stages": {"distillation": kd} if kd else {},
        # A KD step costs 10% more than the undistilled student's; the teacher row's steps are its own.
        "training": [{"s_per_step": p50 / 10 * (1.1 if method.startswith("kd-") else 1.0), "from_cache": False}],
    }


ROWS = [  # method, params, p50 (ms), SST-2 accuracy per seed, STS-B (pearson, spearman) offset
    ("full-ft", 22_700_000, 30.0, [0.90, 0.91, 0.92], 0.30),
    ("student-only(student=truncate:2)", 15_600_000, 10.0, [0.80, 0.80, 0.80], 0.0),
    ("kd-soft(student=truncate:2)", 15_600_000, 10.0, [0.82, 0.83, 0.84], 0.10),
    ("kd-feature(student=truncate:2)", 15_600_000, 10.0, [0.79, 0.79, 0.79], 0.05),
    ("student-only(student=lstm)", 13_000_000, 5.0, [0.70, 0.70, 0.70], 0.0),
    ("kd-soft(student=lstm)", 13_000_000, 5.0, [0.75, 0.76, 0.77], -0.1),
]


@pytest.fixture
def kd_records(fast_spec):
    records = []
    for method, total, p50, sst2, stsb in ROWS:
        kd = None
        if method.startswith("kd-"):
            kd = {"mode": "offline", "teachers": [{"key": "teacher-key", "train_wall_s": 10.0}],
                  "teacher_forward_passes": 0, "targets": [{"outputs": ["logits"], "cache_bytes": 2**20}]}
        for seed, value in enumerate(sst2):
            records.append(record(fast_spec, "glue-sst2", method, seed, {"accuracy": value}, total, p50, kd))
            records.append(record(fast_spec, "glue-stsb", method, seed, {"pearson": 0.5, "spearman": 0.5 + stsb},
                                  total, p50, kd))
    return records


def test_rows_are_teacher_then_students_without_and_with_kd(kd_records):
    from bench.registry import TABLES

    table = TABLES.get("tinybert").obj(kd_records)
    ours = [r for r in table.rows if r["Source"] == "ours (dev)"]
    assert [(r["System"], r["Distillation"].split(" (")[0].split(" [")[0]) for r in ours] == [
        ("minilm-l6 (teacher)", "-"),
        ("2-layer minilm-l6", "none"),
        ("2-layer minilm-l6", "soft targets"),
        ("2-layer minilm-l6", "soft targets + hidden/attention"),
        ("BiLSTM", "none"),
        ("BiLSTM", "soft targets"),
    ]
    teacher, none, soft = ours[0], ours[1], ours[2]
    assert teacher["SST-2 (acc)"] == "91.0 ± 1.0" and soft["SST-2 (acc)"] == "83.0 ± 1.0"
    assert soft["STS-B (Spearman)"] == "60.0 ± 0.0"  # the paper's STS-B metric, not Pearson
    assert teacher["#Params"] == "22.70M" and none["#FLOPs"] == "1.56B"
    assert teacher["Speedup cpu b1"] == "1.0x" and none["Speedup cpu b1"] == "3.0x" and ours[4]["Speedup cpu b1"] == "6.0x"
    assert all(r["Seeds"] == "3" for r in ours)


def test_published_rows_follow_ours_with_their_columns(kd_records):
    from bench.registry import TABLES

    table = TABLES.get("tinybert").obj(kd_records)
    published = {r["System"]: r for r in table.rows if r["Source"] == "published (test)"}
    assert published["TinyBERT4"]["#Params"] == "14.5M"
    # Only the columns the tutorial prints (MNLI, QQP) carry published figures.
    assert published["TinyBERT4"]["SST-2 (acc)"] == "-"
    assert table.rows[-1]["Source"] == "published (test)"


def test_notes_say_whether_distillation_helped(kd_records):
    from bench.registry import TABLES

    notes = "\n".join(TABLES.get("tinybert").obj(kd_records).notes)
    # kd-soft: 2-layer beats on SST-2 and STS-B, BiLSTM beats on SST-2 only; kd-feature loses on SST-2.
    assert "kd-soft beats the undistilled student (same student, same budget) on 3 of 4" in notes
    assert "kd-feature beats the undistilled student (same student, same budget) on 1 of 2" in notes
    assert "1 teacher(s)" in notes and "served from the cache" in notes
    assert "Budget:" in notes and "Hardware: Test CPU" in notes
    assert "median): kd-soft 1.10x, kd-feature 1.10x." in notes


def test_arch_only_flag_keeps_the_architecture_table(kd_records):
    from bench.registry import TABLES

    table = TABLES.get("tinybert").obj(kd_records, arch_only=True)
    assert table.title == "TinyBERT (architecture columns)"


def test_teacher_output_cache_counts_each_stored_output_once():
    from bench.tables._distilled import _cache_mib

    mib = 2**20
    two_layers = {"teachers": [{"key": "t"}], "targets": [
        {"outputs": ["logits", "hidden-6"], "cache_bytes": 3 * mib, "entry": "targets-a",
         "entry_bytes": {"logits": mib, "hidden-6": 2 * mib}}]}
    three_layers = {"teachers": [{"key": "t"}], "targets": [
        {"outputs": ["logits", "hidden-3", "hidden-6"], "cache_bytes": 5 * mib, "entry": "targets-a",
         "entry_bytes": {"logits": mib, "hidden-3": 2 * mib, "hidden-6": 2 * mib}}]}
    assert _cache_mib([two_layers, three_layers, three_layers]) == (5.0, True)  # logits and hidden-6 once
    older = {"teachers": [{"key": "t"}], "targets": [{"outputs": ["logits"], "cache_bytes": mib}]}
    assert _cache_mib([two_layers, older]) == (4.0, False)  # without per-output sizes: an upper bound
