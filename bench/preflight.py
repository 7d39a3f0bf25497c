"""Checks made before any cell runs: where records go, and the data every cell will read.

A matrix that fails on its first cell after minutes of training, or after every cell has
run (a records folder it cannot write), wastes the run. What can be checked up front is
checked here, and each problem is one UsageError (exit 2) before anything runs or is written.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bench.errors import UsageError


def absolute(path: str | Path | None) -> Path | None:
    """A user's path against the folder the user ran `bench` from (cells run elsewhere)."""
    return None if path is None else Path(path).expanduser().absolute()


def check_records_dir(directory: Path) -> None:
    """The folder exists and takes a file, or can be created: records are never lost at the end."""
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"--records {str(directory)!r} is a file, not a folder: name a folder for the records")
    if directory.is_dir():
        try:
            with tempfile.TemporaryFile(dir=directory):
                pass
        except OSError as error:
            raise UsageError(f"cannot write records into {str(directory)!r}: {error.strerror}") from None
        return
    parent = next(p for p in directory.parents if p.exists())
    if not parent.is_dir():
        raise UsageError(f"cannot create the records folder {str(directory)!r}: {str(parent)!r} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot create the records folder {str(directory)!r}: {str(parent)!r} is not writable")


def data_dir_or_env(data_dir: str | None) -> Path | None:
    """--data-dir, else BENCH_DATA_DIR, as an absolute folder that exists; None means the hub."""
    from bench.task import data_dir_from_env

    given = data_dir_from_env(data_dir)
    if given is None:
        return None
    where = "--data-dir" if data_dir else "BENCH_DATA_DIR"
    path = absolute(given)
    if not path.is_dir():
        raise UsageError(f"{where} {given!r} is not a folder (resolved to {str(path)!r})")
    return path


def check_data(cells, data_dir: Path | None) -> None:
    """Load every split each task of the matrix reads, so a missing folder, a missing file or a
    corrupt row fails now rather than after the training before its evaluation.

    Tasks read from the hub (no data folder) are not fetched here: that is the cell's work.
    """
    from bench.registry import TASKS

    if data_dir is None:
        return
    for name in sorted({cell.task for cell in cells if not cell.arch_only}):
        task = TASKS.get(name).obj
        for split in dict.fromkeys((task.train_split, *task.eval_splits.values())):
            if not task.load(split, str(data_dir)):
                raise UsageError(f"{name}: split {split!r} in {data_dir} has no rows")
