"""The report's matplotlib figures, drawn with the Agg canvas (no display, no pyplot state).

Each figure carries a numbered key beside its panels, so a PNG copied into a results folder
or a README reads on its own. Points are numbered 1, 2, ... (ours) and P1, P2, ... (published).
"""

from __future__ import annotations

import io
import textwrap

from bench.errors import UsageError
from bench.metrics import display_scale
from bench.reporting.points import Axis, TaskPoints, pareto_front, value_of
from bench.reporting.samples import TaskSamples

MAX_PNG_BYTES = 200_000  # each plot stays small enough to commit and to embed
DPI = 100
LABEL_CHARS = 52
OURS, FRONT, PUBLISHED = "ours", "Pareto front (ours)", "published"


def _figure(width: float, height: float):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError("bench report draws with matplotlib: pip install 'efficient-nlp-bench[report]'") from None
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def png(figure) -> bytes:
    """The figure as PNG bytes, at a lower resolution if needed to stay under MAX_PNG_BYTES."""
    for dpi in (DPI, 80, 60, 45):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        if buffer.tell() <= MAX_PNG_BYTES:
            break
    return buffer.getvalue()


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def _log_x_if_spread(ax, values) -> None:
    """A log x axis where the values span more than 30x (parameter counts: thousands to millions)."""
    values = [v for v in values if v]
    if values and min(values) > 0 and max(values) / min(values) > 30:
        ax.set_xscale("log")


def _key(ax, lines: list[str], common: str) -> None:
    ax.axis("off")
    head = textwrap.fill(f"All: {common}", 46) + "\n\n" if common else ""
    ax.text(0, 1, head + "\n".join(lines), va="top", ha="left", fontsize=7, family="monospace",
            transform=ax.transAxes)


def metric_label(metric: str, higher_is_better: bool) -> str:
    scale = " x100" if display_scale(metric) == 100 else ""
    return f"{metric}{scale} ({'higher' if higher_is_better else 'lower'} is better)"


def _pareto_panel(ax, task: TaskPoints, axis: Axis, numbers: dict) -> None:
    ours = [p for p in task.ours if value_of(p, axis) is not None]
    published = [p for p in task.published if value_of(p, axis) is not None]
    front = sorted(pareto_front(task.ours, axis, task.higher_is_better), key=lambda p: value_of(p, axis))
    ax.plot([value_of(p, axis) for p in front], [p.value for p in front], "--", color="C3", linewidth=1, zorder=2)
    for points, style in ((ours, dict(marker="o", s=30, color="C0", label=OURS, zorder=3)),
                          (front, dict(marker="o", s=120, facecolors="none", edgecolors="C3", linewidths=1.5,
                                       label=FRONT, zorder=4)),
                          (published, dict(marker="^", s=45, facecolors="none", edgecolors="C1", linewidths=1.3,
                                           label=PUBLISHED, zorder=3))):
        if points:
            ax.scatter([value_of(p, axis) for p in points], [p.value for p in points], **style)
    for point in ours + published:
        ax.annotate(numbers[id(point)], (value_of(point, axis), point.value), xytext=(4, 3),
                    textcoords="offset points", fontsize=7, color="C1" if point.published else "black")
    _log_x_if_spread(ax, [value_of(p, axis) for p in ours + published])
    if axis.attribute == "trainable":
        from matplotlib.ticker import EngFormatter

        ax.xaxis.set_major_formatter(EngFormatter())  # 10k, 1M: no '1e6' offset under the axis
    better = "higher" if axis.higher_is_better else "lower"
    ax.set_xlabel(f"{axis.label}\n({better} is better)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def pareto_figure(task: TaskPoints):
    """One panel per cost the task's points have (latency or decode speed, trainable parameters, memory),
    each with its own metric range (published points may sit far from ours), and the numbered key."""
    axes = task.axes()
    numbered = task.numbered()
    numbers = {id(p): number for number, p in numbered}
    lines = [f"{number:>3} {_short(p.label)}" + (f" [{p.source}]" if p.published else "") for number, p in numbered]
    height = max(3.6, 0.13 * len(lines) + 1.6)
    figure = _figure(3.6 * len(axes) + 3.6, height)
    panels = figure.subplots(1, len(axes) + 1)
    for ax, axis in zip(panels, axes, strict=False):
        _pareto_panel(ax, task, axis, numbers)
    panels[0].set_ylabel(metric_label(task.metric, task.higher_is_better), fontsize=8)
    panels[0].legend(fontsize=7, loc="best")
    _key(panels[-1], lines, task.common)
    figure.suptitle(f"{task.task}: {task.metric} against cost", fontsize=10)
    figure.tight_layout()
    return figure


def latency_figure(task: TaskSamples):
    """Horizontal box plots of every method's timed calls, one panel per timed shape."""
    labels = list(task.groups)
    panels = task.panels()
    figure = _figure(4.6 * len(panels) + 2.6, 0.3 * len(labels) + 1.5)
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, title in zip(axes, panels, strict=True):
        rows = [(i, task.groups[label][title]) for i, label in enumerate(labels) if task.groups[label].get(title)]
        ax.boxplot([samples for _, samples in rows], positions=[i for i, _ in rows], orientation="horizontal",
                   widths=0.6, patch_artist=True, boxprops=dict(facecolor="#cfe0f3"), flierprops=dict(markersize=2),
                   medianprops=dict(color="C3"))
        _log_x_if_spread(ax, [min(s) for _, s in rows] + [max(s) for _, s in rows])
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("ms per call", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(range(len(labels)), [_short(label) for label in labels])
    axes[0].set_ylim(-0.7, len(labels) - 0.3)
    axes[0].invert_yaxis()
    common = f"\n{textwrap.shorten(task.common, 150)}" if task.common else ""
    figure.suptitle(f"{task.task}: latency per call{common}", fontsize=9)
    figure.tight_layout()
    return figure
