"""Plot points of a task: one per (model, method) of our records, beside the published figures.

A point is the primary metric, mean over seeds, on the scale the tables show (x100; BLEU as
is), at the best learning rate where a spec swept several (the tables' rule,
bench/tables/_runs.py), against what the method costs: p50 latency at batch 1 (decode speed
for generation cells, which have no fixed-shape latency), trainable parameters and peak memory.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from bench.metrics import display_scale
from bench.tables._runs import trainable_without_head, trained_runs


@dataclass(frozen=True)
class Point:
    task: str
    label: str
    value: float  # the primary metric as the tables show it
    published: bool = False
    source: str = ""  # the table whose published figures a published point comes from
    latency_ms: float | None = None
    decode_tokens_per_s: float | None = None
    trainable: float | None = None
    memory_mib: float | None = None
    seeds: int = 0


@dataclass(frozen=True)
class Axis:
    """A cost a point is plotted against; its attribute on `Point` and which way is better."""

    attribute: str
    name: str
    label: str
    higher_is_better: bool = False


AXES = (
    Axis("latency_ms", "latency", "p50 latency, batch 1 (ms)"),
    Axis("decode_tokens_per_s", "decode speed", "decode tokens/s, batch 1", higher_is_better=True),
    Axis("trainable", "trainable parameters", "trainable parameters (without the task head)"),
    Axis("memory_mib", "memory", "inference peak RSS (MiB)"),
)


def value_of(point: Point, axis: Axis) -> float | None:
    return getattr(point, axis.attribute)


@dataclass
class TaskPoints:
    """Everything a task's Pareto plots show."""

    task: str
    metric: str
    higher_is_better: bool
    ours: list[Point]
    published: list[Point] = field(default_factory=list)
    common: str = ""  # what every chain shares, stated once instead of in every label

    def axes(self) -> list[Axis]:
        """The costs at least one of our points has (published points alone make no plot)."""
        return [axis for axis in AXES if any(value_of(p, axis) is not None for p in self.ours)]

    def numbered(self) -> list[tuple[str, Point]]:
        """The points as the plots number them: ours 1, 2, ...; then the published points that
        some plot places (a cost of the plots' own), P1, P2, ..."""
        axes = self.axes()
        placed = [p for p in self.published if any(value_of(p, axis) is not None for axis in axes)]
        return [(str(i), p) for i, p in enumerate(self.ours, 1)] + [(f"P{i}", p) for i, p in enumerate(placed, 1)]


def pareto_front(points: list[Point], axis: Axis, higher_is_better: bool) -> list[Point]:
    """The points no other point beats on both the metric and the cost (ties stay on the front)."""
    placed = [p for p in points if value_of(p, axis) is not None]
    x_sign = 1 if axis.higher_is_better else -1
    y_sign = 1 if higher_is_better else -1

    def dominates(q: Point, p: Point) -> bool:
        qx, px = x_sign * value_of(q, axis), x_sign * value_of(p, axis)
        qy, py = y_sign * q.value, y_sign * p.value
        return qx >= px and qy >= py and (qx > px or qy > py)

    return [p for p in placed if not any(dominates(q, p) for q in placed)]


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _shown_options(stage) -> list[tuple[str, object]]:
    """The options a stage's label shows (those that differ from the method's defaults), lr aside."""
    from bench.cell import Stage

    return [(k, v) for k, v in stage.options if k != "lr" and Stage(stage.method, ((k, v),)).label() != stage.method]


def _shared_options(chains: list[tuple]) -> dict[tuple[str, str], str]:
    """Options that two or more chains set to one value and no stage has otherwise (a KD teacher),
    as {(key, repr of value): 'key=value'}: said once under the plot rather than in every label."""
    holders, values, shown = defaultdict(set), defaultdict(set), {}
    for index, chain in enumerate(chains):
        for stage in chain:
            for key, value in stage.options:  # defaults too: word_kd=True is not shared where others say False
                values[key].add(repr(value))
            for key, value in _shown_options(stage):
                holders[(key, repr(value))].add(index)
                shown[(key, repr(value))] = f"{key}={value}"
    return {kv: shown[kv] for kv, users in holders.items() if len(users) >= 2 and len(values[kv[0]]) == 1}


def _label(chain: tuple, shared: dict) -> str:
    """The chain as the tables name it (no learning rate), without the shared options."""
    from bench.cell import Stage

    stages = [Stage(s.method, tuple(kv for kv in _shown_options(s) if (kv[0], repr(kv[1])) not in shared))
              for s in chain]
    return " -> ".join(stage.label() for stage in stages) or "none"


def _trainable(record) -> float | None:
    """Trainable parameters without the task head, as the PEFT tables count them; none after a
    post-training stage, whose artifact's count no longer says what was trained (packed int8
    weights are not parameters, an ONNX graph has none)."""
    from bench.registry import METHODS

    post = any(s.method not in METHODS or METHODS.get(s.method).meta.stage == "post" for s in record.chain)
    return None if post or "trainable" not in record.params else trainable_without_head(record)


def _point(task: str, label: str, group: list) -> Point:
    first = group[0]
    scale = display_scale(first.metric)
    return Point(
        task=task, label=label, value=statistics.fmean(r.primary_value for r in group) * scale,
        latency_ms=_median(r.p50(1) for r in group),
        decode_tokens_per_s=_median(r.decode_tokens_per_s(1) for r in group),
        trainable=_trainable(first),
        memory_mib=_median(r.memory["inference_peak_rss_bytes"] / 2**20 for r in group
                           if r.memory.get("inference_peak_rss_bytes")),
        seeds=len(group),
    )


def labelled(groups: dict) -> tuple[dict, str]:
    """Short labels of {(model, method, device): records}, naming the model and the device only
    where the groups hold several (an architecture-only cell, chain 'none', is its model), and
    what they all share ('model minilm-l6, teacher=marian-4x256'), said once."""
    models, devices = {key[0] for key in groups}, {key[2] for key in groups}
    shared = _shared_options([records[0].chain for records in groups.values()])
    labels = {}
    for (model, method, device), records in groups.items():
        label = _label(records[0].chain, shared) if records[0].chain else method
        label = model if label == "none" else f"{label} ({model})" if len(models) > 1 else label
        labels[(model, method, device)] = f"{label} [{device}]" if len(devices) > 1 else label
    common = (([f"model {next(iter(models))}"] if len(models) == 1 else [])
              + ([f"device {next(iter(devices))}"] if len(devices) == 1 else []) + sorted(shared.values()))
    return labels, ", ".join(common)


def by_device(groups: dict) -> dict:
    """{(model, method): records} split by device: a latency is only a latency on one device."""
    out = defaultdict(list)
    for (model, method), records in groups.items():
        for record in records:
            out[(model, method, record.device)].append(record)
    return dict(out)


def task_points(records, published: list[Point]) -> list[TaskPoints]:
    """Per task of the trained records (sorted), our points and the published ones for that task."""
    runs, _ = trained_runs(records)
    by_task = defaultdict(dict)
    for (model, task, method), group in runs.items():
        by_task[task][(model, method)] = group
    out = []
    for task, groups in sorted(by_task.items()):
        groups = by_device(groups)
        labels, common = labelled(groups)
        points = [_point(task, labels[key], groups[key]) for key in sorted(groups)]
        first = next(iter(groups.values()))[0]
        out.append(TaskPoints(task, first.metric, first.higher_is_better, points,
                              [p for p in published if p.task == task], common))
    return out
