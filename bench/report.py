"""A rendered table: title, rows, and the notes every published table must state."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field


@dataclass
class Table:
    title: str
    rows: list[dict]
    notes: list[str] = field(default_factory=list)

    def frame(self):
        import pandas as pd

        return pd.DataFrame(self.rows)

    def render(self, fmt: str = "md") -> str:
        if fmt == "csv":
            return self.frame().to_csv(index=False)
        if fmt == "json":
            import json

            return json.dumps({"title": self.title, "rows": self.rows, "notes": self.notes}, indent=1, default=str)
        from tabulate import tabulate

        body = tabulate(self.rows, headers="keys", tablefmt="github", disable_numparse=True) if self.rows else "(no rows)"
        notes = "\n".join(f"- {note}" for note in self.notes)
        return f"## {self.title}\n\n{body}\n\n{notes}\n"


def mean_std(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std (n=k)' as PROTOCOL asks: n >= 3 shows mean ± std, fewer say so."""
    values = [v * scale for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    if len(values) >= 3:
        return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"
    return f"{mean:.{digits}f} (n={len(values)})"


def describe_hardware(records: list[dict]) -> str:
    """One line naming the CPUs/GPUs, threads and devices the records were measured on."""
    machines = set()
    for record in records:
        prov = record.get("provenance") or {}
        cpu = (prov.get("cpu") or {}).get("model")
        cores = (prov.get("cpu") or {}).get("usable_cores")
        gpu = (prov.get("gpu") or {}).get("name") if record.get("device") == "cuda" else None
        threads = (prov.get("threads") or {}).get("torch_num_threads")
        machines.add(f"{gpu or cpu} ({cores} cores, torch threads {threads}, device {record.get('device')})")
    return "Hardware: " + "; ".join(sorted(machines)) if machines else "Hardware: -"


def describe_budget(records: list[dict]) -> str:
    budgets = set()
    for record in records:
        b = record["config"]["budget"]
        if record["config"]["arch_only"]:
            budgets.add("architecture only (random init, no training)")
        else:
            steps = f"max {b['max_steps']} steps" if b["max_steps"] else f"{b['epochs']} epochs"
            limit = b["train_limit"] or "all"
            evals = f", eval limited to {b['eval_limit']} (NOT full-scale)" if b["eval_limit"] else ", full dev set"
            budgets.add(f"{limit} training examples, {steps}, batch {b['batch_size']}{evals}")
    return "Budget: " + "; ".join(sorted(budgets)) if budgets else "Budget: -"


def successful(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "success"]


def with_stage(records: list[dict], stage: str) -> list[tuple[dict, dict]]:
    """(record, what the stage recorded) for each successful record in which `stage` ran."""
    return [(r, r["stages"][stage]) for r in successful(records) if (r.get("stages") or {}).get(stage)]


def p50(record: dict | None, batch_size: int) -> float | None:
    """The record's median latency at a batch size, or None when it was not timed."""
    for shape, stats in ((record or {}).get("latency") or {}).items():
        if shape.startswith(f"b{batch_size}_"):
            return stats["p50"]
    return None


def fmt(value, spec: str, suffix: str = "") -> str:
    """A number for a table cell; '-' where there is none."""
    return "-" if value is None else f"{value:{spec}}{suffix}"
