"""Records: one JSON file per cell, written atomically; a loader gives a pandas DataFrame.

A records folder also holds dotfiles that are never records: a writer's temporary file
(`.tmp-<host>-<pid>-<random>.json`, renamed onto the record when complete; one is left
behind when the writer is killed) and a cell's lock (`.lock-<record name>`, while a run
computes it). `record_paths` is the one listing of records that skips them.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

TEMP_PREFIX = ".tmp-"
LOCK_PREFIX = ".lock-"
STALE_TEMP_S = 3600.0  # no record takes an hour to serialise: an older temporary file lost its writer


def record_path(records_dir: str | Path, cell, key: str) -> Path:
    return Path(records_dir) / f"{cell.slug()}__{key[:12]}.json"


def lock_path(record: Path) -> Path:
    """The lock a run holds on a cell while it computes the cell's record (bench/storage/lock.py)."""
    return record.with_name(LOCK_PREFIX + record.name)


def record_paths(records_dir: str | Path) -> list[Path]:
    """The records of a folder, sorted; temporary files and locks (dotfiles) are not records.

    pathlib's `*.json` matches dotfiles, so a bare glob would read a killed writer's partial
    temporary file (and crash) or its complete one (and count the cell twice).
    """
    return sorted(p for p in Path(records_dir).glob("*.json") if not p.name.startswith("."))


def write_record(path: str | Path, record: dict) -> None:
    """Write to a temporary file in the same folder and rename: never a half-written record.

    The temporary file is named after its writer (host, pid), so a later run can tell that a
    leftover one is stale (`clean_stale_temps`).
    """
    from bench.storage.lock import this_host

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{this_host()}-{os.getpid()}-", suffix=".json", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a record is shared like any file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle, indent=1, sort_keys=True, default=_jsonable)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value):
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def read_record(path: str | Path) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_records(records_dir: str | Path) -> list[dict]:
    directory = Path(records_dir)
    if not directory.is_dir():
        from bench.errors import UsageError

        raise UsageError(f"no records directory at {directory}")
    return [read_record(p) for p in record_paths(directory)]


def clean_stale_temps(records_dir: str | Path, max_age_s: float = STALE_TEMP_S) -> list[Path]:
    """Delete the temporary files of writers that are gone (this host, pid not alive) or that are old."""
    from bench.storage.lock import process_gone

    removed = []
    for path in Path(records_dir).glob(TEMP_PREFIX + "*"):
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            continue  # its writer renamed it meanwhile
        writer = _temp_writer(path.name)
        if age > max_age_s or (writer is not None and process_gone(*writer)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _temp_writer(name: str) -> tuple[str, int] | None:
    """(host, pid) from `.tmp-<host>-<pid>-<random>.json`; None for names without them (older writers).

    mkstemp's random part has no '-', so the last two dashes split it off whatever the host name holds.
    """
    parts = name[len(TEMP_PREFIX):].removesuffix(".json").rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def flatten(record: dict) -> dict:
    """One flat row of a record: config columns, then dotted metric and measurement columns."""
    cell = record["config"]
    row = {
        "key": record["key"],
        "identity": record.get("identity"),
        "status": record["status"],
        "task": cell["task"],
        "model": cell["model"],
        "chain": record.get("chain_label"),
        "seed": cell["seed"],
        "device": cell["device"],
        "arch_only": cell["arch_only"],
        "train_limit": cell["budget"]["train_limit"],
        "epochs": cell["budget"]["epochs"],
        "max_steps": cell["budget"]["max_steps"],
        "eval_limit": cell["budget"]["eval_limit"],
    }
    for section in ("metrics", "params", "flops", "size", "memory"):
        for name, value in (record.get(section) or {}).items():
            if not isinstance(value, (dict, list)):
                row[f"{section}.{name}"] = value
    for shape, stats in (record.get("latency") or {}).items():
        for stat in ("p50", "p90", "mean", "std", "n"):
            row[f"latency.{shape}.{stat}"] = stats.get(stat)
    training = record.get("training") or []
    if training:
        row["training.wall_s"] = sum(t["wall_s"] for t in training)
        row["training.s_per_step"] = training[-1]["s_per_step"]
    return row


def records_frame(records_dir: str | Path):
    """All records of a directory as a pandas DataFrame, one row per cell."""
    import pandas as pd

    return pd.DataFrame([flatten(r) for r in load_records(records_dir)])
