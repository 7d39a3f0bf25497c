"""One process per cell on this machine, with a timeout, resume and a progress bar.

A finished cell (a success record at its content-addressed path) is skipped; a failed,
timed-out or killed cell gets a record with its status and error, and the matrix goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.cell import Cell, result_versions
from bench.store import read_record, record_path, write_record


@dataclass(frozen=True)
class Outcome:
    cell: Cell
    path: Path
    status: str
    cached: bool


def _finished(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return read_record(path).get("status") == "success"
    except (OSError, ValueError):
        return False  # unreadable: run it again


def _run_process(cell: Cell, key: str, path: Path, data_dir, timeout, workdir) -> tuple[int | None, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=workdir) as handle:
        json.dump({"cell": cell.to_dict(), "key": key}, handle)
    command = [sys.executable, "-m", "bench.runner", handle.name, str(path)]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    if workdir:
        command += ["--workdir", str(workdir)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[2])
        return done.returncode, (done.stderr or "")[-4000:]
    except subprocess.TimeoutExpired as expired:
        stderr = expired.stderr.decode(errors="replace") if isinstance(expired.stderr, bytes) else (expired.stderr or "")
        return None, stderr[-4000:]
    finally:
        os.unlink(handle.name)


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


def run_matrix(cells: list[Cell], records_dir, *, data_dir=None, timeout: float | None = None,
               workdir=None, progress: bool = True) -> list[Outcome]:
    from tqdm import tqdm

    versions = result_versions()
    outcomes = []
    bar = tqdm(total=len(cells), disable=not progress, unit="cell", file=sys.stderr, dynamic_ncols=True)
    for cell in cells:
        key = cell.key(versions)
        path = record_path(records_dir, cell, key)
        bar.set_description(cell.slug()[:60])
        if _finished(path):
            outcomes.append(Outcome(cell, path, "success", cached=True))
            bar.update(1)
            continue
        path.unlink(missing_ok=True)  # a stale failure record is replaced by this run's
        started = time.time()
        returncode, stderr = _run_process(cell, key, path, data_dir, timeout, workdir)
        if path.exists():
            status = read_record(path)["status"]
        else:
            status = _record_crash(cell, key, path, versions, returncode, stderr, timeout, time.time() - started)
        if status != "success":
            tqdm.write(f"cell {cell.slug()} {status}: {_last_line(path)}", file=sys.stderr)
        outcomes.append(Outcome(cell, path, status, cached=False))
        bar.update(1)
    bar.close()
    return outcomes


def _last_line(path: Path) -> str:
    error = read_record(path).get("error") or ""
    return error.strip().splitlines()[-1] if error.strip() else ""
