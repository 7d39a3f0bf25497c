"""Records: one JSON file per cell, written atomically; a loader gives a pandas DataFrame."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path



def record_path(records_dir: str | Path, cell, key: str) -> Path:
    return Path(records_dir) / f"{cell.slug()}__{key[:12]}.json"


def write_record(path: str | Path, record: dict) -> None:
    """Write to a temporary file in the same folder and rename: never a half-written record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    try:
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
    return [read_record(p) for p in sorted(directory.glob("*.json"))]


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
