"""The trivial score of a dev set and the sanity table that holds each row against it."""

from __future__ import annotations

import pytest

from bench.registry import TASKS
from bench.tables.sanity import sanity
from bench.trivial import clearly_beats, trivial_scores


def test_a_constant_prediction_scores_what_glue_s_trivial_baselines_are():
    mrpc = trivial_scores(TASKS.get("glue-mrpc").obj, [1, 1, 1, 0])  # 3 of 4 positive
    assert mrpc["accuracy"] == pytest.approx(0.75)  # the majority class
    assert mrpc["f1"] == pytest.approx(2 * 0.75 / 1.75)  # all-positive: precision 3/4, recall 1
    assert trivial_scores(TASKS.get("glue-cola").obj, [0, 1, 1, 1, 0])["matthews_corr"] == 0.0
    assert trivial_scores(TASKS.get("glue-stsb").obj, [0.5, 4.2, 3.0]) == {"pearson": 0.0, "spearman": 0.0}
    assert trivial_scores(TASKS.get("glue-rte").obj, []) is None


def test_learned_means_every_seed_clears_the_margin():
    assert clearly_beats([0.80, 0.74], trivial=0.70)
    assert not clearly_beats([0.80, 0.71], trivial=0.70)  # one seed within 2 points
    assert not clearly_beats([], trivial=0.0)


def record(task: str, metric: str, value: float, seed: int, trivial: dict | None, chain: str = "full-ft") -> dict:
    return {"status": "success", "chain_label": chain, "seed": seed, "metrics": {metric: value},
            "task_meta": {"metric": metric, "higher_is_better": True, "kind": "classification"},
            "config": {"task": task, "model": "m", "seed": seed, "chain": [{"method": chain, "options": []}],
                       "budget": {"train_limit": 100, "epochs": 3, "max_steps": None, "batch_size": 16,
                                  "eval_limit": None}},
            "evaluated": {"dev": {"examples": 10, "limited": False, **({"trivial": trivial} if trivial else {})}}}


def test_the_sanity_table_says_which_rows_learned_their_task():
    records = [record("glue-mrpc", "f1", v, s, {"f1": 0.812, "accuracy": 0.684}) for s, v in enumerate((0.81, 0.82))]
    records += [record("glue-sst2", "accuracy", v, s, {"accuracy": 0.509}) for s, v in enumerate((0.80, 0.82))]
    records += [record("glue-cola", "matthews_corr", 0.3, 0, None)]  # a record from before trivial scores
    rows = {row["task"]: row for row in sanity(records).rows}
    assert rows["glue-mrpc"]["verdict"] == "NOT learned: worst seed 81.0 vs trivial 81.2"
    assert str(rows["glue-mrpc"]["margin (worst seed)"]) == "-0.2"
    assert rows["glue-sst2"]["verdict"] == "learned" and str(rows["glue-sst2"]["trivial"]) == "50.9"
    assert rows["glue-cola"]["verdict"].startswith("unknown")


def test_a_task_with_two_dev_sets_is_held_against_the_mean_of_their_trivial_scores():
    mnli = record("glue-mnli", "accuracy", 0.0, 0, None)
    mnli["metrics"] = {"accuracy_m": 0.60, "accuracy_mm": 0.62}
    mnli["evaluated"] = {"dev_matched": {"trivial": {"accuracy": 0.36}}, "dev_mismatched": {"trivial": {"accuracy": 0.34}}}
    (row,) = sanity([mnli]).rows
    assert str(row["trivial"]) == "35.0" and row["verdict"] == "learned"
    generated = record("mt-multi30k-de-en", "bleu", 0.2, 0, None)
    generated["task_meta"]["kind"] = "generation"
    assert sanity([generated]).rows[0]["verdict"].startswith("n/a (generation")
