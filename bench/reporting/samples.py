"""Latency distributions: the raw timing samples records keep, per task and method.

A p50 hides how a method's latency spreads (a long tail, two modes after a recompile); the
records keep every timed call (`latency.<shape>.samples_ms`, and `generation.ttft.samples_ms`
for generation cells), so the report can show the whole distribution. Seeds of one method on one
device are pooled: they time the same computation.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from bench.report import successful
from bench.reporting.points import labelled

TTFT = "time to first token, batch 1"


def panel_title(batch_size: int, seq_len: int) -> str:
    return f"batch {batch_size}, sequence {seq_len}"


def record_samples(record) -> dict[str, list[float]]:
    """{panel title: samples in ms} of one record: each timed shape, and the time to first token."""
    out = {panel_title(*shape): stats["samples_ms"] for shape, stats in sorted(record.latency.items())
           if stats.get("samples_ms")}
    ttft = record.section("generation").get("ttft") or {}
    if ttft.get("samples_ms"):
        out[TTFT] = ttft["samples_ms"]
    return out


@dataclass
class TaskSamples:
    task: str
    groups: dict[str, dict[str, list[float]]]  # method label -> panel title -> pooled samples (ms)
    common: str = ""

    def panels(self) -> list[str]:
        titles = {title for panels in self.groups.values() for title in panels}
        return sorted(titles, key=lambda t: (t == TTFT, [int(n) for n in re.findall(r"\d+", t)]))


def task_samples(records) -> list[TaskSamples]:
    """Per task (sorted), the pooled samples of every (model, method) that has any."""
    by_task = defaultdict(lambda: defaultdict(list))
    for record in successful(records):
        if record_samples(record):
            by_task[record.task][(record.model, record.method_label, record.device)].append(record)
    out = []
    for task, groups in sorted(by_task.items()):
        labels, common = labelled(groups)
        pooled = {}
        for key in sorted(groups):
            panels = defaultdict(list)
            for record in groups[key]:
                for title, samples in record_samples(record).items():
                    panels[title].extend(samples)
            pooled[labels[key]] = dict(panels)
        out.append(TaskSamples(task, pooled, common))
    return out
