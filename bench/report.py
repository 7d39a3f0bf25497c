"""A rendered table: title, rows, and the notes every published table must state.

Builders take records as dicts or `bench.record.Record`s and read them through `Record`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.record import Record


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


def describe_hardware(records) -> str:
    """One line naming the CPUs/GPUs, threads and devices the records were measured on."""
    machines = set()
    for record in Record.all(records):
        prov = record.provenance
        cpu = (prov.get("cpu") or {}).get("model")
        cores = (prov.get("cpu") or {}).get("usable_cores")
        gpu = (prov.get("gpu") or {}).get("name") if record.device == "cuda" else None
        threads = (prov.get("threads") or {}).get("torch_num_threads")
        machines.add(f"{gpu or cpu} ({cores} cores, torch threads {threads}, device {record.device})")
    return "Hardware: " + "; ".join(sorted(machines)) if machines else "Hardware: -"


def describe_budget(records) -> str:
    budgets = set()
    for record in Record.all(records):
        b = record.budget
        if record.arch_only:
            budgets.add("architecture only (random init, no training)")
        else:
            steps = f"max {b['max_steps']} steps" if b["max_steps"] else f"{b['epochs']} epochs"
            limit = b["train_limit"] or "all"
            evals = f", eval limited to {b['eval_limit']} (NOT full-scale)" if b["eval_limit"] else ", full dev set"
            budgets.add(f"{limit} training examples, {steps}, batch {b['batch_size']}{evals}")
    return "Budget: " + "; ".join(sorted(budgets)) if budgets else "Budget: -"


def successful(records) -> list[Record]:
    return [r for r in Record.all(records) if r.succeeded]


def with_stage(records, stage: str) -> list[tuple[Record, dict]]:
    """(record, what the stage recorded) for each successful record in which `stage` ran."""
    return [(r, r.stage(stage)) for r in successful(records) if r.stage(stage)]


def fmt(value, spec: str, suffix: str = "") -> str:
    """A number for a table cell; '-' where there is none."""
    return "-" if value is None else f"{value:{spec}}{suffix}"
