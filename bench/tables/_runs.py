"""Grouping records into table cells: one value per (model, task, method) over seeds.

Methods are compared at their best learning rate when a spec swept several (`lr_sweep`):
the rate with the best mean dev metric is kept, as the papers choose theirs, and the
table says so. Helpers shared by the PEFT tables.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.report import fmt, mean_std, printed, successful


def task_column(task_name: str) -> str:
    """GLUE's short name (SST-2, MRPC) where the task has one."""
    from bench.registry import TASKS

    return getattr(TASKS.get(task_name).obj, "folder", task_name) if task_name in TASKS else task_name


def ordered_tasks(tasks, order: tuple[str, ...]) -> list[str]:
    """Tasks in the paper's column order; others after them, by name."""
    rank = {column: i for i, column in enumerate(order)}
    return sorted(tasks, key=lambda t: (rank.get(task_column(t), len(order)), t))


def method_info(method: str):
    """The registered metadata of a row's method ('adapter(size=8)' -> adapter's), or None."""
    from bench.registry import METHODS

    base = method.split("(")[0]
    return METHODS.get(base).meta if base in METHODS else None


def row_name(method: str) -> str:
    """A method's table label from its metadata, with the options that make the row a variant:
    'adapter(size=8)' -> 'Adapter(size=8)'."""
    info, base = method_info(method), method.split("(")[0]
    return (info.label if info else base) + method[len(base):]


def trained_runs(records) -> tuple[dict, dict]:
    """({(model, task, method): [records of the best rate]}, {same key: {lr: mean}})."""
    groups = defaultdict(lambda: defaultdict(list))
    for record in successful(records):
        if record.arch_only or record.primary_value is None:
            continue
        groups[(record.model, record.task, record.method_label)][record.learning_rate].append(record)
    best, swept = {}, {}
    for key, by_lr in groups.items():
        chosen, swept[key] = best_rate(by_lr)
        best[key] = by_lr[chosen]
    return best, swept


def best_rate(by_lr: dict) -> tuple:
    """(the learning rate whose runs have the best mean primary metric, {lr: that mean})."""
    means = {lr: statistics.fmean(r.primary_value for r in runs) for lr, runs in by_lr.items()}
    sign = 1 if next(iter(by_lr.values()))[0].higher_is_better else -1
    return max(means, key=lambda lr: sign * means[lr]), means


def parameter_records(records) -> dict:
    """{(model, method): record} for trainable counts, architecture-only cells preferred."""
    chosen = {}
    for record in sorted(successful(records), key=lambda r: not r.arch_only):
        chosen.setdefault((record.model, record.method_label), record)
    return chosen


def trainable_without_head(record) -> int:
    params = record.params
    return params["trainable"] - params.get("trainable_head", 0)


def sweep_note(swept: dict) -> str | None:
    multi = {k: v for k, v in swept.items() if len(v) > 1}
    if not multi:
        return None
    parts = [f"{m} on {task_column(t)}: " + ", ".join(f"{lr:g}={100 * v:.1f}" for lr, v in sorted(means.items()))
             for (_, t, m), means in sorted(multi.items())]
    return "Learning rates swept (mean dev metric x100 per rate; the best is shown): " + "; ".join(parts)


def _average(values: list) -> str:
    return fmt(statistics.fmean(values), ".1f") if values and None not in values else "-"


def score_columns(runs: dict, model: str, method: str, tasks: list[str]) -> dict:
    """Each task's metric x100 as mean ± std over seeds, and their average ('Avg')."""
    columns, means = {}, []
    for task in tasks:
        values = [r.primary_value for r in runs.get((model, task, method), [])]
        columns[task_column(task)] = mean_std(values)
        means.append(100 * statistics.fmean(values) if values else None)
    columns["Avg"] = _average(means)
    return columns


def published_columns(by_column: dict, tasks: list[str]) -> dict:
    """A paper's figures for the task columns shown, and their average over those columns."""
    columns = {task_column(t): printed(by_column.get(task_column(t), "-")) for t in tasks}
    columns["Avg"] = _average([by_column.get(task_column(t)) for t in tasks])
    return columns
