"""A rendered table: title, rows, and the notes every published table must state.

Builders take records as dicts or `bench.storage.record.Record`s and read them through `Record`.
Cells are text as a reader sees it ('80.7 ± 1.1', '22.71M'); numeric cells are `Num` and
`Stat`, str subclasses that also carry their numbers, so Markdown shows the text while csv
and json carry numbers pandas can read (`machine_rows`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from bench.storage.record import Record


class Num(str):
    """A number shown as text ('22.71M', '1.8x', '0.09%'); machine formats carry `value`."""

    def __new__(cls, text: str, value):
        cell = super().__new__(cls, text)
        cell.value = value
        return cell


class Stat(str):
    """A mean over seeds shown as '80.7 ± 1.1' or '81.9 (n=2)'; machine formats carry the mean,
    the standard deviation (None for one value) and n in columns COL, COL_std and COL_n."""

    def __new__(cls, text: str, mean: float, std: float | None, n: int):
        cell = super().__new__(cls, text)
        cell.mean, cell.std, cell.n = mean, std, n
        return cell


def _number(value):
    """A machine value: NaN and infinities become None (JSON has no NaN); '-' is no value."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return None if value == "-" else value


def machine_rows(rows: list[dict]) -> list[dict]:
    """Rows with numbers instead of display text: a column holding a `Stat` anywhere becomes
    COL (mean), COL_std and COL_n; `Num` cells become their value; other text stays text."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    stats = {c for c in columns if any(isinstance(row.get(c), Stat) for row in rows)}
    out = []
    for row in rows:
        flat = {}
        for column in columns:
            cell = row.get(column)
            if column in stats:
                mean, std, n = ((cell.mean, cell.std, cell.n) if isinstance(cell, Stat)
                                else (getattr(cell, "value", cell), None, None))
                flat.update({column: _number(mean), f"{column}_std": _number(std), f"{column}_n": n})
            else:
                flat[column] = _number(cell.value if isinstance(cell, Num) else cell)
        out.append(flat)
    return out


@dataclass
class Table:
    title: str
    rows: list[dict]
    notes: list[str] = field(default_factory=list)

    def frame(self):
        """The rows as a DataFrame of numbers (see `machine_rows`)."""
        import pandas as pd

        # object dtype: integer counts stay integers in the csv even where a row has none.
        return pd.DataFrame(machine_rows(self.rows), dtype=object)

    def render(self, fmt: str = "md") -> str:
        if fmt == "csv":
            return self.frame().to_csv(index=False)
        if fmt == "json":
            import json

            return json.dumps({"title": self.title, "rows": machine_rows(self.rows), "notes": self.notes}, indent=1,
                              default=str)
        from tabulate import tabulate

        body = tabulate(self.rows, headers="keys", tablefmt="github", disable_numparse=True) if self.rows else "(no rows)"
        notes = "\n".join(f"- {note}" for note in self.notes)
        return f"## {self.title}\n\n{body}\n\n{notes}\n"

    def save(self, directory, name: str, asked: str = "md") -> list:
        """Write DIR/NAME.md and .csv (the committed pair), and the asked format when it is another."""
        from pathlib import Path

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for fmt in dict.fromkeys(("md", "csv", asked)):
            path = directory / f"{name}.{fmt}"
            path.write_text(self.render(fmt), encoding="utf-8")
            written.append(path)
        return written


def mean_std(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    """'mean ± std (n=k)' as PROTOCOL asks: n >= 3 shows mean ± std, fewer say so."""
    values = [v * scale for v in values if v is not None]
    if not values:
        return "-"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) >= 2 else None
    if len(values) >= 3:
        return Stat(f"{mean:.{digits}f} ± {std:.{digits}f}", mean, std, len(values))
    return Stat(f"{mean:.{digits}f} (n={len(values)})", mean, std, len(values))


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
    """A number for a table cell (csv and json get the number itself); '-' where there is none."""
    return "-" if value is None else Num(f"{value:{spec}}{suffix}", value)


_UNITS = {"%": 1, "K": 1e3, "M": 1e6, "B": 1e9}


def printed(text: str) -> str:
    """A figure as a paper prints it ('0.09%', '0.3M', '92.0'): shown as is, its number (a whole
    count for K/M/B) for machine formats; text that is not one figure ('83.9/83.4') stays text."""
    text = str(text)
    unit = text[-1:] if text[-1:] in _UNITS else ""
    try:
        value = float(text[: len(text) - len(unit)]) * _UNITS.get(unit, 1)
    except ValueError:
        return text
    return Num(text, round(value) if unit in ("K", "M", "B") else value)


def count(value, scale: float = 1e6, spec: str = ".2f", suffix: str = "M") -> str:
    """A count shown scaled ('22.71M'); csv and json get the whole integer (22713218)."""
    return "-" if value is None else Num(f"{value / scale:{spec}}{suffix}", round(value))
