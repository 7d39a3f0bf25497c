"""`bench run --dry-run` estimates the cells still to run from similar records of the folder."""

from __future__ import annotations

import re

from bench.storage.store import load_records
from tests.test_executor_cli import FAST, run_cli


def test_dry_run_estimates_from_similar_records(tmp_path, tiny_model_dir, tiny_glue_dir):
    from bench.cli.run import _duration

    records = tmp_path / "records"
    common = ["--model", tiny_model_dir, "--data-dir", tiny_glue_dir, "--records", records, "--device", "cpu", *FAST]
    code, _, err = run_cli(["run", "--task", "glue-rte", "--method", "full-ft", "--seed", "0", *common])
    assert code == 0, err
    (record,) = load_records(records)
    wall = record["wall_s"]

    code, out, err = run_cli(["run", "--task", "glue-rte,glue-sst2", "--method", "full-ft;bitfit", "--seed", "0,1",
                              *common, "--dry-run"])
    assert code == 0, err
    lines = out.splitlines()
    rows = {line.split()[1] if line.startswith("recorded") else line.split()[2]: line for line in lines[:8]}
    assert sum(line.startswith("recorded") for line in lines[:8]) == 1  # seed 0 of the run cell
    guess = f"[~{_duration(wall)} (1 record(s) of this chain)]"
    same_chain = [line for slug, line in rows.items() if "glue-rte" in slug and "full-ft" in slug and "__s1" in slug]
    assert len(same_chain) == 1 and guess in same_chain[0]  # another seed: estimated from seed 0
    same_model = [line for slug, line in rows.items() if "glue-rte" in slug and "bitfit" in slug]
    assert len(same_model) == 2 and all(f"[~{_duration(wall)} (1 record(s) of this task and model)]" in line
                                        for line in same_model)
    unknown = [line for slug, line in rows.items() if "glue-sst2" in slug]
    assert len(unknown) == 4 and all("[no estimate]" in line for line in unknown)
    assert lines[8] == f"8 cell(s): 1 already recorded, 7 to run -> {records}"
    assert lines[9] == f"~{_duration(3 * wall)} for 7 cell(s), 4 without an estimate"
    assert len(lines) == 10


def test_dry_run_without_records_says_there_is_no_estimate(tmp_path, tiny_model_dir):
    records = tmp_path / "none"
    code, out, err = run_cli(["run", "--task", "glue-rte", "--method", "full-ft", "--model", tiny_model_dir,
                              "--seed", "0,1", "--records", records, "--dry-run"])
    assert code == 0, err
    assert all(re.search(r"\[no estimate\]", line) for line in out.splitlines()[:2])
    assert out.splitlines()[-1] == f"no estimate for the 2 cell(s) to run: no similar records in {records}"
    assert not records.exists()


def test_durations_read_as_a_person_says_them():
    from bench.cli.run import _duration

    assert [_duration(s) for s in (4.2, 89, 95, 720, 5399, 9000)] == ["4 s", "89 s", "2 min", "12 min", "90 min", "2.5 h"]
