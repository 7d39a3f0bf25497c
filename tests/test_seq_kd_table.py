"""The sequence-level KD table from synthetic records: Kim and Rush's rows, Δ, speed, published figures."""

from __future__ import annotations

import dataclasses

import pytest

from bench.cell import Budget, Cell, Stage

TEACHER, STUDENT, TASK = "lstm-4x1000", "lstm-2x500", "mt-multi30k-en-de"
PROVENANCE = {"date": "2026-01-01T00:00:00", "cpu": {"model": "Test CPU", "usable_cores": 2},
              "threads": {"torch_num_threads": 2}, "gpu": None}
SIGNATURE = "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"


def stage(method: str, **options) -> Stage:
    from bench.registry import METHODS

    defaults = dataclasses.asdict(METHODS.get(method).meta.options())  # teacher None: nothing to resolve
    return Stage(method, tuple(sorted({**defaults, **options}.items())))


def record(model, chain, seed, bleu, tokens_per_s, params, beam=1, stages=None) -> dict:
    cell = Cell(task=TASK, chain=tuple(chain), model=model, seed=seed, budget=Budget(train_limit=2000, epochs=3))
    speed = {"runs": {"1": {"decode_tokens_per_s_median": tokens_per_s}}, "preset": "quick"}
    return {"status": "success", "config": cell.to_dict(), "device": "cpu", "seed": seed, "provenance": PROVENANCE,
            "task_meta": {"metric": "bleu", "higher_is_better": True, "kind": "generation"},
            "metrics": {"bleu": bleu, "chrf": bleu + 30}, "params": {"total": params}, "generation": speed,
            "evaluation": {"decoding": {"search": "greedy" if beam == 1 else "beam", "beam": beam},
                           "metric_signatures": {"bleu": SIGNATURE}},
            "stages": stages or {}, "training": [{"wall_s": 1.0, "from_cache": False}]}


def kd_sections(chain, seed) -> dict:
    """What the KD stages record: the first seed decodes, the others read the cache."""
    sections = {}
    for s in chain:
        if s.method in ("seq-kd", "seq-inter"):
            sections[s.method.replace("-", "_")] = {
                "mode": "offline", "student_from_cache": False, "teacher_passes": 3 if seed == 0 else 0,
                "teacher": {"model": TEACHER, "key": "teacher-key", "loaded": seed == 0, "trained_in_this_cell": False},
                "decode": {"from_cache": seed > 0, "sentences": 100, "sentences_decoded": 100 if seed == 0 else 0,
                           "decode_s": 5.0 if seed == 0 else 0.0, "cache_entry": "beams-1", "cache_bytes": 2**20}}
        elif s.method == "word-kd":
            sections["word_kd"] = {"mode": "offline", "teacher": {"key": "teacher-key"},
                                   "word_kd": {"from_cache": seed > 0, "cache_entry": "topk-1", "cache_bytes": 2**19}}
    return sections


ROWS = [  # model, chain, mean BLEU, decode tokens/s at batch 1, parameters
    (TEACHER, [stage("full-ft")], 17.5, 100.0, 221_000_000),
    (TEACHER, [stage("full-ft"), stage("seq-inter")], 19.5, 100.0, 221_000_000),
    (STUDENT, [stage("full-ft")], 14.5, 400.0, 84_000_000),
    (STUDENT, [stage("word-kd", teacher=TEACHER)], 15.0, 400.0, 84_000_000),
    (STUDENT, [stage("seq-kd", teacher=TEACHER)], 18.5, 400.0, 84_000_000),
    (STUDENT, [stage("full-ft"), stage("seq-inter", teacher=TEACHER)], 18.0, 400.0, 84_000_000),
    (STUDENT, [stage("seq-kd", teacher=TEACHER), stage("seq-inter", teacher=TEACHER)], 18.6, 400.0, 84_000_000),
    (STUDENT, [stage("seq-kd", teacher=TEACHER, word_kd=True)], 18.2, 400.0, 84_000_000),
    (STUDENT, [stage("seq-kd", teacher=TEACHER, word_kd=True), stage("seq-inter", teacher=TEACHER)], 18.4, 400.0,
     84_000_000),
]  # Word-KD + Seq-Inter is not run: the table shows its published row alone


@pytest.fixture
def records():
    out = []
    for model, chain, bleu, speed, params in ROWS:
        for seed, offset in enumerate((-0.5, 0.0, 0.5)):
            out.append(record(model, chain, seed, bleu + offset, speed, params, stages=kd_sections(chain, seed)))
    out.append(record(STUDENT, [stage("full-ft")], 0, 16.0, 400.0, 84_000_000, beam=5))  # a K=5 evaluation
    out.append({"status": "failed", "config": out[0]["config"], "error": "boom"})
    return out


def table(records):
    from bench.registry import TABLES

    return TABLES.get("seq-kd").obj(records)


def test_rows_follow_kim_and_rush_with_the_published_figures(records):
    rows = table(records).rows
    assert [(r["Model"], r["System"]) for r in rows] == [
        (f"{TEACHER} (teacher)", "Teacher Baseline"),
        (f"{TEACHER} (teacher)", "Baseline + Seq-Inter"),
        (f"{STUDENT} (student)", "Student Baseline"),
        (f"{STUDENT} (student)", "Word-KD"),
        (f"{STUDENT} (student)", "Seq-KD"),
        (f"{STUDENT} (student)", "Baseline + Seq-Inter"),
        (f"{STUDENT} (student)", "Seq-KD + Seq-Inter"),
        (f"{STUDENT} (student)", "Seq-KD + Word-KD"),
        (f"{STUDENT} (student)", "Seq-KD + Seq-Inter + Word-KD"),
        (f"{STUDENT} (student)", "full-ft (K=5)"),
        ("LSTM 2x500 (student)", "Word-KD + Seq-Inter"),
    ]
    by = {(r["Model"].rsplit(" ", 1)[1], r["System"]): r for r in rows}
    teacher, inter = by[("(teacher)", "Teacher Baseline")], by[("(teacher)", "Baseline + Seq-Inter")]
    assert [teacher[c] for c in ("BLEU", "Δ", "BLEU pub.", "Δ pub.")] == ["17.5 ± 0.5", "—", "17.7", "—"]
    assert [inter[c] for c in ("Δ", "BLEU pub.", "Δ pub.")] == ["+2.0", "19.6", "+1.9"]
    assert inter["Chain"] == "full-ft -> seq-inter"
    seq = by[("(student)", "Seq-KD")]
    assert (seq["BLEU"], seq["Δ"], seq["BLEU pub."], seq["Δ pub."], seq["#Params"], seq["#Params pub."]) == (
        "18.5 ± 0.5", "+4.0", "18.9", "+4.2", "84.0M", "84M")
    assert seq["Chain"] == f"seq-kd(teacher={TEACHER})" and seq["Seeds"] == "3" and seq["chrF"] == "48.5 ± 0.5"
    assert (seq["Decode tok/s (b1)"], seq["Speedup"], teacher["Speedup"]) == ("400", "4.00x", "1.00x")
    assert by[("(student)", "Baseline + Seq-Inter")]["Δ pub."] == "+3.6"  # as printed (18.5 - 14.7 is 3.8)
    both = by[("(student)", "Seq-KD + Word-KD")]
    assert both["Chain"] == f"seq-kd(teacher={TEACHER},word_kd=True)" and both["Δ pub."] == "+4.0"
    beam5 = by[("(student)", "full-ft (K=5)")]
    assert (beam5["BLEU"], beam5["BLEU pub."], beam5["Δ"]) == ("16.0 (n=1)", "-", "-")
    missing = by[("(student)", "Word-KD + Seq-Inter")]
    assert [missing[c] for c in ("Task", "BLEU", "BLEU pub.", "Δ pub.")] == ["not run here", "-", "18.3", "+3.6"]


def test_notes_state_protocol_cost_and_finding(records):
    rendered = table(records).render("md")
    notes = "\n".join(table(records).notes)
    assert "Hardware: Test CPU" in notes and "Budget: 2000 training examples" in notes
    assert SIGNATURE in notes and "WMT14" in notes and "221M" in notes and TASK in notes
    assert "beam search ran in 8 of 24 (800 sentences, 40.0 s)" in notes and "Cache: 2 entries" in notes
    assert f"on {TASK}, {STUDENT}: Seq-KD 18.5, Word-KD 15.0, baseline 14.5 BLEU: holds." in notes
    assert "| Teacher Baseline" in rendered and "BLEU pub." in rendered


def test_without_speed_or_teacher_rows_the_columns_say_so(records):
    students = [r for r in records if r.get("config", {}).get("model") == STUDENT]
    for r in students:
        r.pop("generation")
    rows = table(students).rows
    assert all(r["Speedup"] == "-" for r in rows) and all(r["Decode tok/s (b1)"] == "-" for r in rows)
    assert {r["System"] for r in rows if r["Task"] == "not run here"} == {"Teacher Baseline", "Baseline + Seq-Inter",
                                                                          "Word-KD + Seq-Inter"}
    assert table([]).rows[0]["Task"] == "not run here" and "KD cost: no KD records." in table([]).notes


def test_a_learning_rate_sweep_keeps_the_best_rate(records):
    chain = [stage("seq-kd", teacher=TEACHER, lr=1e-3)]
    records += [record(STUDENT, chain, seed, 17.0, 400.0, 84_000_000) for seed in range(3)]
    result = table(records)
    (seq,) = [r for r in result.rows if r["System"] == "Seq-KD"]
    assert seq["BLEU"] == "18.5 ± 0.5" and seq["Seeds"] == "3"
    assert "Learning rates swept (mean BLEU per rate; rows show the best): Seq-KD (lstm-2x500, " \
           "mt-multi30k-en-de): default=18.5, 0.001=17.0" in "\n".join(result.notes)
