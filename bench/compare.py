"""`bench compare BASE NEW`: differences per cell and metric, with PROTOCOL thresholds.

Cells are matched by their config identity (not by package versions, which is what a
regression check compares). Deterministic quantities must match exactly; timings are p50
ratios against a threshold; peak memory may grow by at most a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.store import load_records

EXACT = (("params", "total"), ("params", "trainable"), ("flops", "flops"), ("size", "model_bytes"))
MEMORY = ("train_peak_rss_bytes", "inference_peak_rss_bytes")


@dataclass(frozen=True)
class Thresholds:
    latency_ratio: float = 1.10
    memory_growth: float = 0.05
    metric_drop: float = 0.0  # fixed-seed CPU cells are deterministic: any drop is a regression


@dataclass(frozen=True)
class Difference:
    cell: str
    quantity: str
    base: object
    new: object
    change: str
    regression: bool


def _by_identity(records: list[dict]) -> dict[str, dict]:
    return {r.get("identity") or r["key"]: r for r in records}


def _label(record: dict) -> str:
    c = record["config"]
    return f"{c['task']} | {c['model']} | {record.get('chain_label')} | seed {c['seed']}"


def _section(record: dict, section: str, name: str):
    return (record.get(section) or {}).get(name)


def _compare_pair(base: dict, new: dict, limits: Thresholds) -> list[Difference]:
    label = _label(new)
    out = []
    if new["status"] != "success" or base["status"] != "success":
        bad = base["status"] == "success" and new["status"] != "success"
        if base["status"] != new["status"]:
            out.append(Difference(label, "status", base["status"], new["status"], "changed", bad))
        return out
    for section, name in EXACT:
        b, n = _section(base, section, name), _section(new, section, name)
        if b != n:
            out.append(Difference(label, f"{section}.{name}", b, n, "must match exactly", True))
    higher_is_better = (new.get("task_meta") or {}).get("higher_is_better", True)
    for name, b in (base.get("metrics") or {}).items():
        n = (new.get("metrics") or {}).get(name)
        if n is None and b is not None:
            out.append(Difference(label, f"metrics.{name}", b, None, "missing in NEW", True))
            continue
        if b is None or n == b:
            continue
        drop = (b - n) if higher_is_better else (n - b)
        out.append(Difference(label, f"metrics.{name}", b, n, f"{n - b:+.4f}", drop > limits.metric_drop))
    for shape, stats in (base.get("latency") or {}).items():
        n = (new.get("latency") or {}).get(shape)
        if n and stats.get("p50"):
            ratio = n["p50"] / stats["p50"]
            out.append(Difference(label, f"latency.{shape}.p50", round(stats["p50"], 3), round(n["p50"], 3),
                                  f"x{ratio:.3f}", ratio > limits.latency_ratio))
    for name in MEMORY:
        b, n = _section(base, "memory", name), _section(new, "memory", name)
        if b and n and b != n:
            growth = n / b - 1
            out.append(Difference(label, f"memory.{name}", b, n, f"{growth:+.1%}", growth > limits.memory_growth))
    return out


def compare(base_dir, new_dir, limits: Thresholds = Thresholds()) -> tuple[list[Difference], list[str]]:
    """Differences of matched cells, and notes on cells present on one side only."""
    base, new = _by_identity(load_records(base_dir)), _by_identity(load_records(new_dir))
    differences, notes = [], []
    for identity, record in new.items():
        if identity in base:
            differences.extend(_compare_pair(base[identity], record, limits))
        else:
            notes.append(f"only in NEW: {_label(record)}")
    notes.extend(f"only in BASE: {_label(r)}" for i, r in base.items() if i not in new)
    return differences, notes
