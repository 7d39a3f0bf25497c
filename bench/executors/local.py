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

import signal
import sys
import time
from pathlib import Path

from bench.cell import Cell, result_versions  # noqa: F401 - tests read local.result_versions
from bench.errors import INTERRUPTED
from bench.executors.planning import Job, Outcome, absolute, crash_record, crash_status, finished, last_error_line, plan
from bench.executors.process import run_process as _run_process
from bench.storage.store import lock_path, read_record, write_record

POLL_S = 0.5  # how often a run waiting for another run's cell looks at its lock


def _record_crash(cell, key, path, versions, returncode, stderr, timeout, wall) -> str:
    """The runner died before writing its record (timeout, OOM kill, crash): record why."""
    status, error = crash_status(returncode, timeout)
    write_record(path, crash_record(cell, key, versions, status, error, stderr, wall))
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
        tqdm.write(f"cell {job.cell.slug()} {status}: {last_error_line(read_record(job.path))}", file=sys.stderr)
    return Outcome(job.cell, job.path, status, cached=False)


def _try(job: Job) -> Outcome | None:
    """The cell's outcome, computed here unless its record is there; None while another run holds it."""
    from bench.storage.lock import acquire, release

    if finished(job.path):
        return Outcome(job.cell, job.path, "success", cached=True)
    lock = lock_path(job.path)
    if not acquire(lock, job.timeout):
        return None
    try:
        if finished(job.path):  # another run finished it between the check and the lock
            return Outcome(job.cell, job.path, "success", cached=True)
        return _compute(job)
    finally:
        release(lock)  # also on KeyboardInterrupt


def wait_for_other_run(job: Job) -> Outcome:
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


def run_matrix(cells: list[Cell], records_dir, *, data_dir=None, timeout: float | None = None,
               workdir=None, progress: bool = True) -> list[Outcome]:
    """Run every cell not yet recorded in `records_dir`; the outcomes in the order of `cells`."""
    from tqdm import tqdm

    from bench.progress import progress_line
    from bench.storage.store import clean_stale_temps

    bar = tqdm(total=len(cells), disable=not progress, unit="cell", file=sys.stderr, dynamic_ncols=True)
    jobs = plan(cells, records_dir, data_dir=data_dir, timeout=timeout, workdir=workdir,
                on_phase=progress_line(bar, sys.stderr.isatty()) if progress else None)
    records_dir = Path(absolute(records_dir))
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
            outcomes[index] = wait_for_other_run(jobs[index])
            bar.update(1)
    finally:
        bar.close()
    return [outcomes[i] for i in range(len(jobs))]
