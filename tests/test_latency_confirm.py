"""bench baseline check's latency gate: a slowdown between two runs is timed again with bench ab,
the baseline's own revision against this checkout, and fails only when that confirms it."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest

from bench.baseline import _confirmed_by_ab
from bench.compare import Comparison, label
from bench.comparison.confirm import CHECKOUT, baseline_revision, confirm, flagged_latency
from bench.comparison.difference import WARNING, Difference
from bench.storage.record import Record
from tests.test_ab import arch_cell
from tests.test_compare_tables import make_record, write_records


def at_revision(record: dict, sha: str | None, dirty: bool = False) -> dict:
    record = copy.deepcopy(record)
    record["provenance"] = dict(record["provenance"], git={"sha": sha, "dirty": dirty})
    return record


def head() -> str | None:
    done = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


def test_the_baseline_names_one_clean_revision_or_says_why_not():
    one = Record.all([at_revision(make_record(seed=s), "abc123") for s in (0, 1)])
    assert baseline_revision(one) == ("abc123", None)
    assert baseline_revision(Record.all([at_revision(make_record(), "abc123", dirty=True)]))[1] == (
        "the baseline was made from uncommitted changes on abc123")
    mixed = Record.all([at_revision(make_record(seed=0), "a"), at_revision(make_record(seed=1), "b")])
    assert baseline_revision(mixed)[1] == "the baseline records name 2 revisions"
    assert baseline_revision(Record.all([make_record()]))[1] == "the baseline records name no git revision"


def test_only_latency_warnings_are_timed_again_at_their_batch_sizes():
    result = Comparison(differences=[
        Difference("c1", "latency.b1_s128.p50", 1.0, 1.3, "x1.3", False, WARNING),
        Difference("c1", "latency.b32_s128.p50", 1.0, 1.3, "x1.3", False, WARNING),
        Difference("c2", "latency.b1_s128.p50", 1.0, 1.0, "x1.0", False),
        Difference("c3", "metrics.accuracy", 0.7, 0.6, "(other machine)", False, WARNING),
    ], matched=3)
    assert flagged_latency(result) == {"c1": {1, 32}}


def test_a_warning_that_cannot_be_timed_again_stays_a_warning(tmp_path, tiny_model_dir):
    baseline = write_records(tmp_path / "base", [at_revision(make_record(), "f" * 40, dirty=True)])
    result = Comparison(differences=[Difference(label(Record.of(make_record())), "latency.b1_s128.p50", 1.0, 1.3,
                                                "x1.3", False, WARNING)], matched=1)
    said = []
    assert _confirmed_by_ab(result, baseline, said.append) is False
    assert said[-1] == ("latency: not confirmed, the baseline was made from uncommitted changes on "
                        f"{'f' * 12}; the slowdown stays a warning")
    cell = arch_cell(tiny_model_dir)
    missing = Record.all([at_revision(dict(make_record(), config=cell.to_dict()), "0" * 40)])
    assert confirm({label(missing[0]): {1}}, missing)[1].startswith("the baseline's revision cannot be built here")


@pytest.mark.skipif(head() is None, reason="not a git checkout: the baseline's revision cannot be built")
def test_the_same_code_at_the_baselines_revision_is_not_a_regression(tiny_model_dir):
    cell = arch_cell(tiny_model_dir)
    record = at_revision(dict(make_record(), config=cell.to_dict(), chain_label=cell.chain_label), head())
    results, why = confirm({label(Record.of(record)): {1}}, Record.all([record]), say=lambda line: None)
    assert why is None and len(results) == 1 and results[0].shape == "b1_s32"
    # Identical code: a ratio near 1 (a 1 ms model's verdict at 1.05 is left to the machine's noise).
    assert 0.8 < results[0].ratio < 1.25 and results[0].samples == 40 * 5
    assert not list(Path(CHECKOUT).glob("bench-ab-base-*"))


@pytest.mark.skipif(head() is None, reason="not a git checkout: the baseline's revision cannot be built")
def test_the_gate_prints_bench_abs_verdict_on_a_warned_slowdown(tiny_model_dir, tmp_path):
    cell = arch_cell(tiny_model_dir)
    record = at_revision(dict(make_record(), config=cell.to_dict(), chain_label=cell.chain_label), head())
    baseline = write_records(tmp_path / "base", [record])
    result = Comparison(differences=[Difference(label(Record.of(record)), "latency.b1_s32.p50", 1.0, 1.3, "x1.3",
                                                False, WARNING)], matched=1)
    said = []
    confirmed = _confirmed_by_ab(result, baseline, said.append)
    lines = said[-1].splitlines()  # bench ab's table, and the gate follows its verdict
    assert lines[0].startswith("BASE:") and "over 1 timing(s)" in lines[-1]
    assert confirmed == lines[-1].startswith("FAIL")
