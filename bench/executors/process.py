"""The process of one cell: started with its payload, watched while it runs, killed on a
timeout or Ctrl-C. Its phase (bench/progress.py) is read between waits for the progress line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

POLL_S = 0.5  # how often the cell's reported phase is read while it runs


def run_process(cell, key: str, path: Path, data_dir, timeout, workdir,
                 on_phase: Callable | None = None) -> tuple[int | None, str]:
    """The cell process's exit status (None past `timeout`) and the tail of its stderr; while it
    runs, `on_phase(state)` gets the phase it reports (bench/progress.py)."""
    from bench import progress

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, dir=workdir) as handle:
        json.dump({"cell": cell.to_dict(), "key": key}, handle)
    phase_file = handle.name + ".progress"
    command = [sys.executable, "-m", "bench.runner", handle.name, str(path)]
    if on_phase:  # with --quiet nobody reads the phase: the cell writes none
        command += ["--progress", phase_file]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    if workdir:
        command += ["--workdir", str(workdir)]
    try:
        # stderr goes to a file, not a pipe: nobody reads a pipe while we poll, and a full one
        # would block the cell.
        with tempfile.TemporaryFile("w+", dir=workdir) as stderr:
            # The child keeps the caller's working directory: relative model paths in the cell
            # are the user's, and `bench` is imported from wherever it is installed.
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
            returncode = _wait(process, timeout, lambda: on_phase and on_phase(progress.read(phase_file)))
            stderr.seek(0)
            return returncode, stderr.read()[-4000:]
    finally:
        os.unlink(handle.name)
        Path(phase_file).unlink(missing_ok=True)


def _wait(process: subprocess.Popen, timeout: float | None, poll: Callable) -> int | None:
    """The process's exit status, polling between waits; None when it ran past `timeout`.

    The process is killed on a timeout and on Ctrl-C (or any error here): a cell process never
    outlives the run that started it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            try:
                return process.wait(timeout=POLL_S)
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    process.kill()
                    process.wait()
                    return None
                poll()
    except BaseException:
        process.kill()
        process.wait()
        raise
