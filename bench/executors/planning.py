"""What every executor shares: a matrix planned into jobs (key, record path, whether it is
recorded), estimates from similar records, and the record of a cell whose process died.

The local and the Ray executor both plan here, so a cell has the same key, record path and
crash record whichever runs it.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.cell import Cell, result_versions
from bench.storage.store import read_record, record_path


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
        return finished(self.path)


def finished(path: Path) -> bool:
    """Whether a success record is at `path` (an unreadable one is not: the cell runs again)."""
    if not path.exists():
        return False
    try:
        return read_record(path).get("status") == "success"
    except (OSError, ValueError):
        return False  # unreadable: run it again


def absolute(path) -> str | None:
    """An absolute path (not resolving links): the cell process gets no relative path to misread."""
    from bench.preflight import absolute as absolute_path

    return str(absolute_path(path)) if path else None


def plan(cells: list[Cell], records_dir, *, data_dir=None, timeout: float | None = None,
         workdir=None, on_phase: Callable | None = None) -> list[Job]:
    """Each cell with its inputs' fingerprints, its key and its record path (nothing is written).

    `job.recorded` says whether a success record is already there: `--dry-run` reports it."""
    from bench.storage.fingerprint import cell_inputs
    from bench.task import data_dir_from_env

    records_dir = Path(absolute(records_dir))
    data_dir, workdir = absolute(data_dir_from_env(data_dir)), absolute(workdir)
    versions = result_versions()
    jobs = []
    for cell in cells:
        # The content of the files the cell reads is part of its key: an edited file is a new cell.
        cell = dataclasses.replace(cell, inputs=cell_inputs(cell, data_dir))
        key = cell.key(versions)
        jobs.append(Job(cell, key, record_path(records_dir, cell, key), versions, data_dir, timeout, workdir,
                        on_phase))
    return jobs


def similar_records(cells: list[Cell], records_dir, value: Callable[[dict], object],
                    *, same_chain_only: bool = False) -> list[tuple[list[float], str] | None]:
    """For each cell, the `value`s of similar success records in `records_dir` and what matched.

    Similar: the same task, model and chain label (the seed aside), else (unless
    `same_chain_only`) the same task and model; None where no record is similar (or the folder
    has no records). Arch-only cells are compared with arch-only records only: they neither
    train nor evaluate. Records whose `value` is not a number are no help.
    """
    from bench.storage.store import record_paths

    by_chain: dict[tuple, list[float]] = {}
    by_model: dict[tuple, list[float]] = {}
    paths = record_paths(records_dir) if Path(records_dir).is_dir() else []
    for path in paths:
        try:
            record = read_record(path)
            config = record["config"]
            number = value(record)
            task, model, arch_only, label = config["task"], config["model"], bool(config.get("arch_only")), \
                record["chain_label"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # unreadable or from another layout: no help for an estimate
        if record.get("status") != "success" or not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        by_chain.setdefault((task, model, arch_only, label), []).append(float(number))
        by_model.setdefault((task, model, arch_only), []).append(float(number))
    found: list[tuple[list[float], str] | None] = []
    for cell in cells:
        same = (cell.task, cell.model, cell.arch_only)
        if (values := by_chain.get((*same, cell.chain_label))):
            found.append((values, f"{len(values)} record(s) of this chain"))
        elif not same_chain_only and (values := by_model.get(same)):
            found.append((values, f"{len(values)} record(s) of this task and model"))
        else:
            found.append(None)
    return found


def estimate_wall_s(cells: list[Cell], records_dir) -> list[tuple[float, str] | None]:
    """For each cell, (median wall_s, what it matched) of similar success records in `records_dir`
    (see `similar_records`); None where no record is similar."""
    return [found and (statistics.median(found[0]), found[1])
            for found in similar_records(cells, records_dir, lambda record: record["wall_s"])]


def crash_status(returncode: int | None, timeout: float | None) -> tuple[str, str]:
    """(status, error) of a cell process that died without writing its record."""
    if returncode is None:
        return "timeout", f"cell exceeded --timeout {timeout} s"
    if returncode in (-9, 137):
        return "oom", "killed by SIGKILL (most often the out-of-memory killer)"
    return "failed", f"runner exited with status {returncode} without a record"


def crash_record(cell: Cell, key: str, versions: dict, status: str, error: str, stderr: str, wall: float) -> dict:
    """The record of a cell that ended without one of its own: what every record has, and why."""
    from bench.runner import envelope

    record = envelope(cell, key, versions)
    record.update(status=status, error=error, stderr_tail=stderr, wall_s=wall, durations={"total_s": wall})
    return record


def last_error_line(record: dict) -> str:
    """The last line of a record's error: what a failure line on the console says."""
    error = record.get("error") or ""
    return error.strip().splitlines()[-1] if error.strip() else ""
