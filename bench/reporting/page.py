"""`bench report RECORDS_DIR -o report.html [--base BASE] [--plots DIR]`: the page and its plots.

The page is one file: plots are embedded as base64 PNG, styles are inline, there is no
script, so it opens from disk, from a CI artifact or an e-mail with no server and no network.
"""

from __future__ import annotations

import base64
import datetime
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

from bench.errors import UsageError
from bench.report import count, describe_hardware, fmt
from bench.reporting.points import TaskPoints, pareto_front

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; } h3 { margin-bottom: .3em; }
img { max-width: 100%; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 12px; margin: .4em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
thead th { background: #f3f3f3; position: sticky; top: 0; } tbody tr:nth-child(even) { background: #fafafa; }
.scroll { overflow-x: auto; } .nw { white-space: nowrap; } .notes { font-size: 12px; color: #555; } .n { color: #888; }
.provenance th { background: #f3f3f3; white-space: nowrap; }
.fail { color: #b00; font-weight: bold; } .ok { color: #070; font-weight: bold; }
nav a { margin-right: 1em; } caption, .caption { font-size: 12px; color: #555; text-align: left; }
"""


@dataclass
class Report:
    html: str
    plots: dict[str, bytes]  # file name -> PNG
    figures: dict[str, object] = field(default_factory=dict)  # file name -> the matplotlib Figure drawn
    tables: int = 0


def _records_folder(path: Path, what: str) -> Path:
    from bench.storage.store import record_paths

    if not path.is_dir():
        raise UsageError(f"{what} {path}: no such folder")
    if not record_paths(path):
        raise UsageError(f"{what} {path} holds no records (no *.json files)")
    return path


def _in_existing_folder(path: Path, flag: str) -> Path:
    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: folder {path.parent} does not exist")
    if path.is_dir() and flag == "-o":
        raise UsageError(f"-o {path} is a folder; name the HTML file to write")
    if path.exists() and not path.is_dir() and flag == "--plots":
        raise UsageError(f"--plots {path} is a file; name a folder for the PNGs")
    return path


def _image(name: str, data: bytes) -> str:
    return f'<img alt="{escape(name)}" src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">\n'


def _trainable_text(value) -> str:
    return count(value, 1e3, ".1f", "K") if value is not None and value < 1e6 else count(value)


def _points_table(task: TaskPoints) -> str:
    """Every numbered point with its values (columns no point has left out), and the plots on
    whose Pareto front it lies."""
    fronts = {axis.name: {id(p) for p in pareto_front(task.ours, axis, task.higher_is_better)} for axis in task.axes()}
    columns = {"#": lambda n, p: n, "system": lambda n, p: p.label,
               "source": lambda n, p: f"published ({p.source})" if p.published else f"ours, {p.seeds} seed(s)",
               task.metric: lambda n, p: fmt(p.value, ".1f"),
               "p50 b1 (ms)": lambda n, p: fmt(p.latency_ms, ".2f"),
               "decode tok/s b1": lambda n, p: fmt(p.decode_tokens_per_s, ".0f"),
               "trainable": lambda n, p: _trainable_text(p.trainable),
               "infer. RSS (MiB)": lambda n, p: fmt(p.memory_mib, ".0f"),
               "on the front of": lambda n, p: ", ".join(a for a, ids in fronts.items() if id(p) in ids) or "-"}
    rows = [[cell(number, p) for cell in columns.values()] for number, p in task.numbered()]
    shown = [i for i, _ in enumerate(columns) if any(row[i] != "-" for row in rows)]
    head = "".join(f"<th>{escape(name)}</th>" for i, name in enumerate(columns) if i in shown)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(row[i]))}</td>" for i in shown) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>\n"


def build_report(records_dir: Path, base_dir: Path | None = None) -> Report:
    from bench.reporting.figures import latency_figure, pareto_figure, png
    from bench.reporting.points import task_points
    from bench.reporting.published import published_points
    from bench.reporting.samples import task_samples
    from bench.reporting.sections import diff_section, provenance_section, tables_section
    from bench.storage.record import Record

    records = Record.load_all(records_dir)
    tasks, latency = task_points(records, published_points()), task_samples(records)
    uncosted = [t.task for t in tasks if not t.axes()]  # metrics but no latency, parameters or memory
    tasks = [t for t in tasks if t.axes()]
    figures = {f"pareto-{t.task}.png": pareto_figure(t) for t in tasks}
    figures.update({f"latency-{t.task}.png": latency_figure(t) for t in latency})
    plots = {name: png(figure) for name, figure in figures.items()}
    tables, table_count = tables_section(records, records_dir)
    failed = sum(not r.succeeded for r in records)

    parts = [f"<h1>bench report: {escape(str(records_dir))}</h1>\n<p>{len(records)} records ({failed} not "
             f"successful), written {datetime.datetime.now().isoformat(timespec='seconds')}. "
             f"{escape(describe_hardware(records))}.</p>\n<nav><a href=#pareto>Accuracy against cost</a>"
             "<a href=#latency>Latency distributions</a><a href=#tables>Tables</a><a href=#provenance>Provenance</a>"
             + ("<a href=#diff>Difference from BASE</a>" if base_dir else "") + "</nav>\n",
             "<h2 id=pareto>Accuracy against cost</h2>\n<p class=caption>One point per model and method: the "
             "primary metric, mean over seeds (at the best learning rate where a spec swept several), against "
             "its median p50 latency at batch 1 (decode speed for generation cells), its trainable parameters "
             "and its inference peak memory. Circled: our points that no other of ours beats on both axes (the "
             "Pareto front). Triangles: published figures from the tables' papers, on their models, data and "
             "hardware; papers give parameter counts only, so they appear on that plot alone. Chains with a "
             "post-training stage (quantisation, pruning, export) have no point there: their artifact's parameter "
             "count no longer says what was trained.</p>\n"]
    if not tasks:
        parts.append("<p>No successful trained record with a metric and a cost: nothing to plot.</p>\n")
    if uncosted:
        parts.append(f"<p>Not plotted, no cost recorded: {escape(', '.join(uncosted))}.</p>\n")
    for task in tasks:
        name = f"pareto-{task.task}.png"
        parts += [f"<h3>{escape(task.task)}</h3>\n", _image(name, plots[name]), _points_table(task)]
    parts.append("<h2 id=latency>Latency distributions</h2>\n<p class=caption>Every timed call of each method "
                 "(seeds pooled): box from the first to the third quartile, red line at the median, whiskers to "
                 "1.5 IQR, dots beyond.</p>\n")
    if not latency:
        parts.append("<p>No record keeps latency samples (cells run with <code>--latency off</code>).</p>\n")
    for task in latency:
        name = f"latency-{task.task}.png"
        parts += [f"<h3>{escape(task.task)}</h3>\n", _image(name, plots[name])]
    parts += [f"<h2 id=tables>Tables ({table_count})</h2>\n", tables,
              "<h2 id=provenance>Provenance</h2>\n", provenance_section(records)]
    if base_dir:
        parts += ["<h2 id=diff>Difference from BASE</h2>\n", diff_section(base_dir, records_dir)]
    html = (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><title>bench report: "
            f"{escape(str(records_dir))}</title><style>{STYLE}</style></head><body>\n{''.join(parts)}</body></html>\n")
    return Report(html, plots, figures, table_count)


def write_report(records_dir, out, base_dir=None, plots_dir=None) -> Report:
    """Check every path before any work, then write the page (and the PNGs into `plots_dir`)."""
    records_dir = _records_folder(Path(records_dir), "records folder")
    base_dir = _records_folder(Path(base_dir), "--base") if base_dir else None
    out = _in_existing_folder(Path(out), "-o")
    plots_dir = _in_existing_folder(Path(plots_dir), "--plots") if plots_dir else None
    report = build_report(records_dir, base_dir)
    out.write_text(report.html, encoding="utf-8")
    if plots_dir:
        plots_dir.mkdir(exist_ok=True)
        for name, data in report.plots.items():
            (plots_dir / name).write_bytes(data)
    return report


def write_folder_plots(results_root: Path) -> list[tuple[str, int]]:
    """Every results folder's plots as PNGs in FOLDER/plots (old ones replaced): (folder, count)."""
    written = []
    for records in sorted(Path(results_root).glob("*/records")):
        if not any(records.glob("*.json")):
            continue
        plots = records.parent / "plots"
        report = build_report(records, None)
        for stale in plots.glob("*.png"):
            stale.unlink()
        if report.plots:
            plots.mkdir(exist_ok=True)
        for name, data in report.plots.items():
            (plots / name).write_bytes(data)
        written.append((records.parent.name, len(report.plots)))
    return written

