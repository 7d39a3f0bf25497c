"""Sanity: did each row learn its task at all? Every (task, model, chain) against the trivial score.

The check issue 13 asks for before a matrix's PEFT and KD rows are read: full fine-tuning must
clearly beat what a model that learned nothing gets (bench/trivial.py: majority class, the
all-positive F1, MCC 0, no correlation). A row learned its task when every seed is at least
MARGIN above the trivial score of its dev set; records from before the trivial score was kept
show it as unknown.
"""

from __future__ import annotations

from collections import defaultdict

from bench.metrics import display_scale
from bench.registry import TABLES
from bench.report import Table, describe_budget, describe_hardware, fmt, mean_std, successful
from bench.storage.record import Record
from bench.trivial import MARGIN, clearly_beats


def _trivial(record: Record) -> float | None:
    """The trivial score of the record's primary metric, as the metric itself is taken: the mean
    over the dev splits it is the mean of (MNLI: accuracy_m on dev_matched, accuracy_mm on
    dev_mismatched); None when a split kept none."""
    from bench.registry import TASKS

    if record.task not in TASKS or not record.primary_keys:
        return None
    splits = TASKS.get(record.task).obj.eval_splits
    evaluated = record.data.get("evaluated") or {}
    values = []
    for suffix, split in splits.items():
        key = f"{record.metric}_{suffix}" if suffix else record.metric
        if key not in record.primary_keys:
            continue
        trivial = (evaluated.get(split) or {}).get("trivial") or {}
        if record.metric not in trivial:
            return None
        values.append(trivial[record.metric])
    return sum(values) / len(values) if values else None


def _verdict(scores: list[float], trivial: float | None, scale: float, kind: str | None) -> str:
    if kind == "generation":
        return "n/a (generation: no constant answer to hold it against)"
    if trivial is None:
        return "unknown (no trivial score in the records)"
    if clearly_beats(scores, trivial):
        return "learned"
    worst = min(scores)
    return f"NOT learned: worst seed {worst * scale:.1f} vs trivial {trivial * scale:.1f}"


@TABLES.register("sanity", title="Did each row learn its task? Dev scores against the trivial score", paper="-")
def sanity(records, arch_only: bool = False) -> Table:
    groups = defaultdict(list)
    for record in successful(Record.all(records)):
        if not record.arch_only and record.primary_value is not None:
            groups[(record.task, record.model, record.chain_label)].append(record)
    rows = []
    for (task, model, chain), group in sorted(groups.items()):
        key = group[0].primary_keys[0]
        scale = display_scale(key)
        scores = [r.primary_value for r in group]
        trivial = _trivial(group[0])
        rows.append({"task": task, "model": model, "method": chain, "metric": key,
                     "score": mean_std(scores, scale=scale), "seeds": len(scores),
                     "trivial": fmt(trivial * scale, ".1f") if trivial is not None else "-",
                     "margin (worst seed)": fmt((min(scores) - trivial) * scale, "+.1f") if trivial is not None
                     else "-",
                     "verdict": _verdict(scores, trivial, scale, (group[0].data.get("task_meta") or {}).get("kind"))})
    notes = [describe_hardware(records), describe_budget(records),
             "trivial: the best a constant prediction scores on the dev set (majority class for accuracy, "
             "all-positive F1 on MRPC, MCC 0, no correlation on STS-B); learned: every seed at least "
             f"{MARGIN * 100:.0f} points above it. Scores x100, mean ± std over seeds."]
    return Table("Sanity", rows, notes)
