"""`bench baseline update|check`: a baseline made from a fresh run matches a fresh run; a changed
deterministic quantity fails the check; no data skips it, saying so; a failed update keeps the
baseline as it was."""

from __future__ import annotations

import json

import pytest

from bench.baseline import check, update
from bench.errors import BenchError

pytest.importorskip("torch")


@pytest.fixture()
def preset(tmp_path, tiny_model_dir, monkeypatch):
    results = tmp_path / "results"
    (results / "reg").mkdir(parents=True)
    (results / "reg" / "spec.yaml").write_text(json.dumps({
        "name": "reg", "tasks": ["glue-rte"], "models": [str(tiny_model_dir)], "methods": ["full-ft"], "seeds": [0],
        "device": "cpu", "budget": {"max_steps": 2, "batch_size": 4, "max_seq_len": 32},
        "measure": {"latency": "off", "batch_sizes": [1]},  # timings are not this test's business
    }))
    monkeypatch.setenv("BENCH_RESULTS", str(results))
    return results / "reg" / "records"


def test_a_fresh_run_matches_its_baseline_and_a_changed_one_fails(preset, tiny_glue_dir):
    said = []
    assert update("reg", str(tiny_glue_dir), say=said.append) == 0
    (record_path,) = preset.glob("*.json")
    assert "baseline updated: 1 record(s)" in said[-1]
    assert check("reg", str(tiny_glue_dir), say=said.append) == 0
    assert said[-1].splitlines()[-1].startswith("ok:")
    record = json.loads(record_path.read_text())
    record["params"]["total"] += 1  # as if the code had changed the model without updating the baseline
    record_path.write_text(json.dumps(record))
    assert check("reg", str(tiny_glue_dir), say=said.append) == 1
    assert "params.total" in said[-1] and said[-1].splitlines()[-1].startswith("FAIL")


def test_without_data_the_check_is_skipped_and_says_why(preset, tiny_glue_dir, tmp_path):
    update("reg", str(tiny_glue_dir), say=lambda line: None)
    said = []
    assert check("reg", str(tmp_path / "no-such-data"), say=said.append) == 0
    assert said == [f"bench baseline check: skipped, data folder {tmp_path / 'no-such-data'} does not exist"]


def test_a_failed_update_keeps_the_baseline(preset, tiny_glue_dir):
    update("reg", str(tiny_glue_dir), say=lambda line: None)
    before = {p.name: p.read_text() for p in preset.glob("*.json")}
    with pytest.raises(BenchError, match="left as it was"):
        update("reg", str(tiny_glue_dir), timeout=0.01, say=lambda line: None)  # every cell times out
    assert {p.name: p.read_text() for p in preset.glob("*.json")} == before
    assert not list(preset.parent.glob(".baseline-*"))  # no staging left behind
