"""Runs sharing a records folder compute every cell once: cells are locked while computed, a run
waits for the cells another run holds, and a holder that dies leaves its cell to the others.

The cell process is replaced by a fake (it logs its call, sleeps and writes a success
record), so these tests exercise the executor's claims in real processes in seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bench.storage.lock import this_host
from bench.storage.store import lock_path, read_record, write_record

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import json, os, sys, time
from pathlib import Path
import bench.executors.local as local
from bench.cell import Cell
from bench.storage.store import write_record

cells_file, log, records, data, ready, peers = sys.argv[1:7]

def fake(cell, key, path, data_dir, timeout, workdir, on_phase=None):
    with open(log, "a") as handle:  # O_APPEND: lines of both runs never mix
        handle.write(json.dumps({"pid": os.getpid(), "slug": cell.slug()}) + "\\n")
    time.sleep(1.0)
    write_record(path, {"status": "success", "key": key, "config": cell.to_dict(), "computed_by": os.getpid()})
    return 0, ""

local._run_process = fake
cells = [Cell.from_dict(c) for c in json.loads(Path(cells_file).read_text())]
Path(ready, str(os.getpid())).touch()
while len(list(Path(ready).iterdir())) < int(peers):  # start together, imports done
    time.sleep(0.01)
outcomes = local.run_matrix(cells, records, data_dir=data, progress=False)
print(json.dumps([[o.status, o.cached, o.by_other_run, o.path.name] for o in outcomes]))
"""


def fake_runner(log: Path, seconds: float = 0.0):
    """An in-process stand-in for the cell process: logs the cell, writes a success record."""

    def fake(cell, key, path, data_dir, timeout, workdir, on_phase=None):
        with open(log, "a") as handle:
            handle.write(cell.slug() + "\n")
        time.sleep(seconds)
        write_record(path, {"status": "success", "key": key, "config": cell.to_dict()})
        return 0, ""

    return fake


@pytest.fixture
def three_cells(fast_spec):
    from bench.spec import expand

    return expand(fast_spec(seeds=[0, 1, 2]))


def test_two_runs_on_one_folder_compute_every_cell_once(tmp_path, three_cells, tiny_glue_dir):
    cells_file, log, records, ready = (tmp_path / name for name in ("cells.json", "calls.log", "records", "ready"))
    cells_file.write_text(json.dumps([c.to_dict() for c in three_cells]))
    ready.mkdir()
    argv = [sys.executable, "-c", RUN, cells_file, log, records, tiny_glue_dir, ready, "2"]
    runs = [subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT) for _ in range(2)]
    done = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in done]
    outcomes = [json.loads(out.strip().splitlines()[-1]) for out, _ in done]

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    slugs = sorted(c["slug"] for c in calls)
    assert slugs == sorted(c.slug() for c in three_cells)  # each cell computed exactly once
    assert {c["pid"] for c in calls} == {run.pid for run in runs}  # the work was shared
    # Both runs report all three cells, in the matrix's order, at the same paths.
    names = [o[3] for o in outcomes[0]]
    assert [o[3] for o in outcomes[1]] == names
    computed = []
    for run, outcome in zip(runs, outcomes, strict=False):
        assert [status for status, *_ in outcome] == ["success"] * 3
        mine = [name for _, cached, _, name in outcome if not cached]
        assert all(read_record(records / name)["computed_by"] == run.pid for name in mine)
        computed += mine
    assert sorted(computed) == sorted(names)  # what each run says it computed: every cell, once
    # The two runs arrive at the last free cell together: the one that loses waits for it.
    assert any(by_other for outcome in outcomes for _, _, by_other, _ in outcome)
    assert sorted(p.name for p in records.iterdir()) == sorted(o[3] for o in outcomes[0])  # no lock left


@pytest.fixture
def other_run(monkeypatch):
    """A live process that "holds" the first cell: its lock appears as the executor first looks at it."""
    from bench.executors import local

    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    real_try, held = local._try, {}

    def try_but_first_is_held(job):
        if "lock" not in held:
            held["lock"], held["record"] = lock_path(job.path), job.path
            held["lock"].write_text(json.dumps({"pid": holder.pid, "host": this_host(), "started": time.time(),
                                                "timeout": None}))
        return real_try(job)

    monkeypatch.setattr(local, "_try", try_but_first_is_held)
    held["process"] = holder
    yield held
    holder.kill()
    holder.wait()


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_locked_cell_waits_until_the_end_and_a_dead_holder_leaves_it_to_us(
        tmp_path, three_cells, tiny_glue_dir, monkeypatch, other_run):
    from bench.executors import local

    log, records = tmp_path / "calls.log", tmp_path / "records"
    monkeypatch.setattr(local, "_run_process", fake_runner(log))
    outcomes = []
    runner = threading.Thread(target=lambda: outcomes.extend(
        local.run_matrix(three_cells, records, data_dir=tiny_glue_dir, progress=False)))
    runner.start()
    deadline = time.time() + 30
    while len(calls(log)) < 2 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert runner.is_alive() and other_run["lock"].exists()  # the other cells done, it waits for the held one
    other_run["process"].kill()
    other_run["process"].wait()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert calls(log) == [c.slug() for c in three_cells[1:]] + [three_cells[0].slug()]
    assert [(o.status, o.cached, o.by_other_run) for o in outcomes] == [("success", False, False)] * 3
    assert not other_run["lock"].exists()


def test_the_holders_record_is_the_waiting_runs_outcome(tmp_path, three_cells, tiny_glue_dir, monkeypatch,
                                                        other_run):
    from bench.executors import local

    log, records = tmp_path / "calls.log", tmp_path / "records"
    monkeypatch.setattr(local, "_run_process", fake_runner(log))

    def other_run_finishes():  # ... the first cell, which fails, then releases it
        while len(calls(log)) < 2:
            time.sleep(0.05)
        write_record(other_run["record"], {"status": "failed", "error": "boom"})
        other_run["lock"].unlink()

    finisher = threading.Thread(target=other_run_finishes)
    finisher.start()
    outcomes = local.run_matrix(three_cells, records, data_dir=tiny_glue_dir, progress=False)
    finisher.join(timeout=30)
    assert [(o.status, o.cached, o.by_other_run) for o in outcomes] == [
        ("failed", True, True), ("success", False, False), ("success", False, False)]
    assert len(calls(log)) == 2  # the failed cell was not computed again here


def test_locks_are_released_when_the_run_is_interrupted(tmp_path, three_cells, tiny_glue_dir, monkeypatch):
    from bench.executors import local

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(local, "_run_process", interrupted)
    with pytest.raises(KeyboardInterrupt):
        local.run_matrix(three_cells, tmp_path, data_dir=tiny_glue_dir, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_relative_paths_are_the_callers_not_the_checkouts(tmp_path, fast_spec, tiny_model_dir, tiny_glue_dir,
                                                         monkeypatch):
    """A real cell whose model, data and records are given relative to the caller's folder."""
    import shutil

    from bench.executors.local import run_matrix
    from bench.spec import expand

    shutil.copytree(tiny_model_dir, tmp_path / "models" / "tiny")
    shutil.copytree(tiny_glue_dir, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    (outcome,) = run_matrix(expand(fast_spec(models=["models/tiny"])), "records", data_dir="data", progress=False)
    assert outcome.status == "success", read_record(outcome.path).get("error")
    assert outcome.path.is_absolute() and outcome.path.parent == tmp_path / "records"
    assert read_record(outcome.path)["config"]["model"] == "models/tiny"
