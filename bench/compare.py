"""`bench compare BASE NEW`: differences per cell and metric, with PROTOCOL thresholds.

Cells are matched by their config identity (not by package versions, which is what a
regression check compares). Deterministic quantities must match exactly, whatever machines
the records come from; timings are judged by a bootstrap interval of their p50 ratio, on the
footing the two machines allow (bench/comparison/latency.py); peak memory may grow by at most
a fraction. A gate must also fail when cells disappear: a BASE cell missing from NEW is a
failure, and so is a NEW that matches nothing (a run that lost every cell would otherwise pass
with no differences).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field

from bench.comparison.difference import NOT_COMPARED, WARNING, Difference
from bench.comparison.fingerprint import machine_differences
from bench.comparison.latency import latency_differences
from bench.storage.record import Record

EXACT = (("params", "total"), ("params", "trainable"), ("flops", "flops"), ("size", "model_bytes"))
MEMORY = ("train_peak_rss_bytes", "inference_peak_rss_bytes")


@dataclass(frozen=True)
class Thresholds:
    latency_ratio: float = 1.10  # the bound a timing's whole 95% interval must pass to be a regression
    memory_growth: float = 0.05
    metric_drop: float = 0.0  # fixed-seed CPU cells are deterministic: any drop is a regression
    latency_fails: bool = True  # False: a latency slowdown is a warning (bench baseline check's default)
    calibrate: bool = False  # on one machine too, a run whose matmul peak moved only warns (comparison/latency.py)


@dataclass(frozen=True)
class Comparison:
    """What `bench compare` found: differences of matched cells and the cells of one side only."""

    differences: list[Difference]
    only_in_base: list[str] = field(default_factory=list)  # failures: cells NEW lost
    only_in_new: list[str] = field(default_factory=list)  # notes: cells BASE did not have
    matched: int = 0
    base_cells: int = 0
    new_cells: int = 0
    notes: list[str] = field(default_factory=list)  # how timings were compared, one entry per cell

    @property
    def regressions(self) -> int:
        return sum(d.regression for d in self.differences)

    def flagged(self, flag: str) -> int:
        return sum(d.flag == flag for d in self.differences)

    @property
    def failed(self) -> bool:
        return bool(self.regressions or self.only_in_base or not self.matched)

    def verdict(self) -> str:
        """One line: why the gate failed, or that it passed."""
        if not self.matched:
            empty = "NEW holds no records" if not self.new_cells else f"NEW holds {self.new_cells} record(s)"
            return f"FAIL: no cell of NEW matches BASE (0 of {self.base_cells} matched; {empty})"
        lost = f", {len(self.only_in_base)} BASE cell(s) missing from NEW" if self.only_in_base else ""
        head = "FAIL" if self.failed else "ok"
        warned = f", {self.flagged(WARNING)} warning(s)" if self.flagged(WARNING) else ""
        skipped = self.flagged(NOT_COMPARED)
        skipped = f", {skipped} timing(s) not compared (see the notes)" if skipped else ""
        return (f"{head}: {self.regressions} regression(s) in {len(self.differences)} difference(s) over "
                f"{self.matched} of {self.base_cells} matched cell(s){lost}{warned}{skipped}")


def label(record: Record) -> str:
    return f"{record.task} | {record.model} | {record.chain_label} | seed {record.seed}"


def _compare_pair(base: Record, new: Record, limits: Thresholds) -> tuple[list[Difference], list[str]]:
    """The differences of one matched cell, and the notes on how its timings were compared."""
    cell = label(new)
    out = []
    if not (new.succeeded and base.succeeded):
        if base.status != new.status:
            out.append(Difference(cell, "status", base.status, new.status, "changed", base.succeeded))
        return out, []
    for section, name in EXACT:
        b, n = base.section(section).get(name), new.section(section).get(name)
        if b != n:
            out.append(Difference(cell, f"{section}.{name}", b, n, "must match exactly", True))
    # Fixed-seed accuracy is bit-reproducible on one kind of CPU only: another model or ISA rounds
    # the float sums differently, so there a change is shown as a warning, not a failure.
    other_machine = [d for d in machine_differences(base, new) if d.startswith(("CPU", "GPU"))]
    for name, b in base.metrics.items():
        n = new.metrics.get(name)
        if n is None and b is not None:
            out.append(Difference(cell, f"metrics.{name}", b, None, "missing in NEW", True))
            continue
        if b is None or n == b:
            continue
        drop = (b - n) if new.higher_is_better else (n - b)
        if other_machine and drop > limits.metric_drop:
            out.append(Difference(cell, f"metrics.{name}", b, n, f"{n - b:+.4f} (other machine)", False, WARNING))
            continue
        out.append(Difference(cell, f"metrics.{name}", b, n, f"{n - b:+.4f}", drop > limits.metric_drop))
    timed, notes = latency_differences(cell, base, new, limits.latency_ratio, limits.calibrate)
    if not limits.latency_fails:
        timed = [dataclasses.replace(d, regression=False, flag=WARNING) if d.regression else d for d in timed]
    out += timed
    for name in MEMORY:
        b, n = base.memory.get(name), new.memory.get(name)
        if b and n and b != n:
            growth = n / b - 1
            out.append(Difference(cell, f"memory.{name}", b, n, f"{growth:+.1%}", growth > limits.memory_growth))
    return out, notes


def compare(base_dir, new_dir, limits: Thresholds = Thresholds()) -> Comparison:
    """Compare every cell of BASE with the NEW cell of the same identity."""
    base = {r.identity: r for r in Record.load_all(base_dir)}
    new = {r.identity: r for r in Record.load_all(new_dir)}
    pairs = [_compare_pair(base[identity], record, limits) for identity, record in new.items() if identity in base]
    return Comparison(
        differences=[d for differences, _ in pairs for d in differences],
        notes=[note for _, notes in pairs for note in notes],
        only_in_base=[label(r) for i, r in base.items() if i not in new],
        only_in_new=[label(r) for i, r in new.items() if i not in base],
        matched=sum(identity in base for identity in new),
        base_cells=len(base),
        new_cells=len(new),
    )


def _shown(quantity: str, value):
    """A value for the table: memory in MiB (bytes are unreadable at this size)."""
    if quantity.startswith("memory.") and isinstance(value, (int, float)):
        return f"{value / 2**20:.1f} MiB"
    return value


def _notes(notes: list[str]) -> list[str]:
    """Each note once, with how many cells it holds for (a whole directory from another machine
    gives every cell the same one)."""
    return [f"note: {note}" + (f" ({n} cells)" if n > 1 else "") for note, n in Counter(notes).items()]


def render(result: Comparison) -> str:
    """The differences as a Markdown table, the notes on how timings were compared, the cells of
    one side only, then the verdict."""
    from tabulate import tabulate

    # A cell is 'task | model | chain | seed': its bars would split the Markdown row.
    rows = [{"cell": d.cell.replace("|", "\\|"), "quantity": d.quantity, "base": _shown(d.quantity, d.base),
             "new": _shown(d.quantity, d.new), "change": d.change, "verdict": d.verdict}
            for d in result.differences]
    lines = [tabulate(rows, headers="keys", tablefmt="github") if rows else "no differences in matched cells"]
    lines += _notes(result.notes)
    lines += [f"MISSING (only in BASE): {cell}" for cell in result.only_in_base]
    lines += [f"only in NEW: {cell}" for cell in result.only_in_new]
    return "\n".join([*lines, result.verdict()])
