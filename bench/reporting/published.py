"""Published points: the figures the table modules already hold, read where they are defined.

A published point needs a task of ours, the primary metric on the tables' scale and a cost
the plots have. The papers give trainable (or total, for models trained whole) parameter
counts, never a latency or a memory figure measured like ours, so published points appear on
the parameter plots only. Tables whose figures have no such count (BitFit's %Param, CoT
distillation's model names, LoRA-rank's GPT-3 grid, post-training's latency without accuracy)
give no point.
"""

from __future__ import annotations

import statistics

from bench.reporting.points import Point


def _glue_task(column: str) -> str | None:
    """Our GLUE task for a paper's column name ('SST-2' -> 'glue-sst2')."""
    from bench.registry import TASKS
    from bench.tables._runs import task_column

    return next((e.name for e in TASKS.entries() if e.meta.get("family") == "glue" and task_column(e.name) == column),
                None)


def tinybert_points() -> list[Point]:
    """Jiao et al.'s systems (each trained whole: every parameter counts) on MNLI (mean of m/mm) and QQP."""
    from bench.tables.tinybert import PUBLISHED

    points = []
    for system, _, params, _, _, mnli, qqp in PUBLISHED:
        mnli_mean = statistics.fmean(float(v) for v in mnli.split("/"))
        for task, value in (("glue-mnli", mnli_mean), ("glue-qqp", qqp)):
            points.append(Point(task, system, value, published=True, source="tinybert", trainable=params * 1e6))
    return points


def lora_points() -> list[Point]:
    """Hu et al.'s RoBERTa-base rows: trainable parameters without the head, eight GLUE tasks."""
    from bench.report import printed
    from bench.tables._runs import row_name
    from bench.tables.lora import PUBLISHED, TASK_ORDER

    points = []
    for (model, method), (trainable, scores, _) in PUBLISHED.items():
        for column, value in zip(TASK_ORDER, scores, strict=True):
            task = _glue_task(column)
            if task:
                points.append(Point(task, f"{row_name(method)} ({model})", value, published=True, source="lora",
                                    trainable=printed(trainable).value))
    return points


def seq_kd_points() -> list[Point]:
    """Kim and Rush's WMT14 En-De rows (greedy BLEU); LSTMs trained from scratch: every parameter counts."""
    from bench.tables.seq_kd import PUBLISHED, PUBLISHED_MODELS

    return [Point("mt-wmt14-en-de", f"{row} ({PUBLISHED_MODELS[role]})", bleu, published=True, source="seq-kd",
                  trainable=params * 1e6)
            for role, row, _, bleu, _, params in PUBLISHED]


def published_points() -> list[Point]:
    return [*tinybert_points(), *lora_points(), *seq_kd_points()]
