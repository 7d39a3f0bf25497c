"""One process per cell on this machine, with a timeout, resume, cell locks and a progress bar.

A finished cell (a success record at its content-addressed path) is skipped; a failed,
timed-out or killed cell gets a record with its status and error, and the matrix goes on.
Several runs may share a records folder: each cell is locked while a run computes it
(bench/storage/lock.py). A run skips the cells another live run holds, runs the rest, then waits
for those and reports the other run's records as its own outcomes. Ctrl-C stops the run:
the interrupted cell is left without a record (the next run computes it) and its lock is
released; the cell process reports its phase for the progress line (bench/progress.py).
"""

from __future__ import annotations

import dataclasses
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.cell import Cell, result_versions
from bench.errors import INTERRUPTED
from bench.executors.process import run_process as _run_process
from bench.storage.store import lock_path, read_record, record_path, write_record

POLL_S = 0.5  # how often a run waiting for another run's cell looks at its lock


@dataclass(frozen=True)
class Outcome:
    cell: Cell
    path: Path
    status: str
    cached: bool  # this run computed nothing: the record was there, or another run computed it
    by_other_run: bool = False  # another run on the same folder computed it while this one waited


@dataclass(frozen=True)
class Job:
    """A cell with what a run needs to compute it (the same for every cell of a matrix)."""

    cell: Cell
    key: str
    path: Path
    versions: dict
    data_dir: str | None
    timeout: float | None
    workdir: str | None
    on_phase: Callable | None = None  # shows what the cell process reports (the progress line)

    @property
    def recorded(self) -> bool:
        return _finished(self.path)


def _finished(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return read_record(path).get("status") == "success"
    except (OSError, ValueError):
        return False  # unreadable: run it again


def _record_crash(cell, key, path, versions, returncode, stderr, timeout, wall) -> str:
    """The runner died before writing its record (timeout, OOM kill, crash): record why."""
    from bench.runner import envelope

    if returncode is None:
        status, error = "timeout", f"cell exceeded --timeout {timeout} s"
    elif returncode in (-9, 137):
        status, error = "oom", "killed by SIGKILL (most often the out-of-memory killer)"
    else:
        status, error = "failed", f"runner exited with status {returncode} without a record"
    record = envelope(cell, key, versions)
    record.update(status=status, error=error, stderr_tail=stderr, wall_s=wall, durations={"total_s": wall})
    write_record(path, record)
    return status


def _compute(job: Job) -> Outcome:
    """Run the cell's process (this run holds its lock) and make sure a record is left."""
    from tqdm import tqdm

    job.path.unlink(missing_ok=True)  # a stale failure record is replaced by this run's
    started = time.time()
    returncode, stderr = _run_process(job.cell, job.key, job.path, job.data_dir, job.timeout, job.workdir,
                                      on_phase=job.on_phase)
    if returncode in (INTERRUPTED, -signal.SIGINT) and not job.path.exists():
        raise KeyboardInterrupt  # the cell was interrupted (Ctrl-C reaches it too): no record, stop the run
    if job.path.exists():
        status = read_record(job.path)["status"]
    else:
        status = _record_crash(job.cell, job.key, job.path, job.versions, returncode, stderr, job.timeout,
                               time.time() - started)
    if status != "success":
        tqdm.write(f"cell {job.cell.slug()} {status}: {_last_line(job.path)}", file=sys.stderr)
    return Outcome(job.cell, job.path, status, cached=False)


def _try(job: Job) -> Outcome | None:
    """The cell's outcome, computed here unless its record is there; None while another run holds it."""
    from bench.storage.lock import acquire, release

    if _finished(job.path):
        return Outcome(job.cell, job.path, "success", cached=True)
    lock = lock_path(job.path)
    if not acquire(lock, job.timeout):
        return None
    try:
        if _finished(job.path):  # another run finished it between the check and the lock
            return Outcome(job.cell, job.path, "success", cached=True)
        return _compute(job)
    finally:
        release(lock)  # also on KeyboardInterrupt


def _await(job: Job) -> Outcome:
    """Wait until the run holding the cell releases it, or is gone; its record is the outcome.

    The wait is bounded by the holder's life on this host and by its cell timeout (bench/storage/lock.py).
    A holder that died without a record leaves the cell to this run, which computes it.
    """
    from bench.storage.lock import acquire, release

    lock = lock_path(job.path)
    while not acquire(lock, job.timeout):
        time.sleep(POLL_S)
    try:
        # The holder removed any older record before computing, so a record here is its outcome.
        try:
            status = read_record(job.path)["status"]
        except (OSError, ValueError, KeyError):
            return _compute(job)
        return Outcome(job.cell, job.path, status, cached=True, by_other_run=True)
    finally:
        release(lock)


def _absolute(path) -> str | None:
    """An absolute path (not resolving links): the cell process gets no relative path to misread."""
    from bench.preflight import absolute

    return str(absolute(path)) if path else None


def plan(cells: list[Cell], records_dir, *, data_dir=None, timeout: float | None = None,
         workdir=None, on_phase: Callable | None = None) -> list[Job]:
    """Each cell with its inputs' fingerprints, its key and its record path (nothing is written).

    `job.recorded` says whether a success record is already there: `--dry-run` reports it."""
    from bench.storage.fingerprint import cell_inputs
    from bench.task import data_dir_from_env

    records_dir = Path(_absolute(records_dir))
    data_dir, workdir = _absolute(data_dir_from_env(data_dir)), _absolute(workdir)
    versions = result_versions()
    jobs = []
    for cell in cells:
        # The content of the files the cell reads is part of its key: an edited file is a new cell.
        cell = dataclasses.replace(cell, inputs=cell_inputs(cell, data_dir))
        key = cell.key(versions)
        jobs.append(Job(cell, key, record_path(records_dir, cell, key), versions, data_dir, timeout, workdir,
                        on_phase))
    return jobs


def estimate_wall_s(cells: list[Cell], records_dir) -> list[tuple[float, str] | None]:
    """For each cell, (median wall_s, what it matched) of similar success records in `records_dir`.

    Similar: the same task, model and chain label (the seed aside), else the same task and
    model; None where no record is similar (or the folder has no records). Arch-only cells
    are compared with arch-only records only: they neither train nor evaluate.
    """
    import statistics

    from bench.storage.store import record_paths

    by_chain: dict[tuple, list[float]] = {}
    by_model: dict[tuple, list[float]] = {}
    paths = record_paths(records_dir) if Path(records_dir).is_dir() else []
    for path in paths:
        try:
            record = read_record(path)
            config = record["config"]
            wall = record["wall_s"]
            task, model, arch_only, label = config["task"], config["model"], bool(config.get("arch_only")), \
                record["chain_label"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable or from another layout: no help for an estimate
        if record.get("status") != "success" or not isinstance(wall, (int, float)) or isinstance(wall, bool):
            continue
        by_chain.setdefault((task, model, arch_only, label), []).append(float(wall))
        by_model.setdefault((task, model, arch_only), []).append(float(wall))
    estimates: list[tuple[float, str] | None] = []
    for cell in cells:
        same = (cell.task, cell.model, cell.arch_only)
        if (walls := by_chain.get((*same, cell.chain_label))):
            estimates.append((statistics.median(walls), f"{len(walls)} record(s) of this chain"))
        elif (walls := by_model.get(same)):
            estimates.append((statistics.median(walls), f"{len(walls)} record(s) of this task and model"))
        else:
            estimates.append(None)
    return estimates


def run_matrix(cells: list[Cell], records_dir, *, data_dir=None, timeout: float | None = None,
               workdir=None, progress: bool = True) -> list[Outcome]:
    """Run every cell not yet recorded in `records_dir`; the outcomes in the order of `cells`."""
    from tqdm import tqdm

    from bench.progress import progress_line
    from bench.storage.store import clean_stale_temps

    bar = tqdm(total=len(cells), disable=not progress, unit="cell", file=sys.stderr, dynamic_ncols=True)
    jobs = plan(cells, records_dir, data_dir=data_dir, timeout=timeout, workdir=workdir,
                on_phase=progress_line(bar, sys.stderr.isatty()) if progress else None)
    records_dir = Path(_absolute(records_dir))
    records_dir.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(records_dir)
    outcomes: dict[int, Outcome] = {}
    try:
        for index, job in enumerate(jobs):
            bar.set_description(job.cell.slug()[:60])
            bar.set_postfix_str("", refresh=False)
            outcome = _try(job)
            if outcome is not None:
                outcomes[index] = outcome
                bar.update(1)
        waiting = [i for i in range(len(jobs)) if i not in outcomes]
        if waiting:
            tqdm.write(f"waiting for {len(waiting)} cell(s) that another run on {records_dir} is computing",
                       file=sys.stderr)
        for index in waiting:
            bar.set_description(f"waiting: {jobs[index].cell.slug()[:51]}")
            outcomes[index] = _await(jobs[index])
            bar.update(1)
    finally:
        bar.close()
    return [outcomes[i] for i in range(len(jobs))]


def _last_line(path: Path) -> str:
    error = read_record(path).get("error") or ""
    return error.strip().splitlines()[-1] if error.strip() else ""
