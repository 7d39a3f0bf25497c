"""Summary of any records: one row per (task, model, chain), seeds aggregated.

It renders every valid record: architecture-only cells (no metrics, no training time) show
'-' in those columns, and cells that did not succeed (only the envelope) are listed in a note.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.metrics import display_scale
from bench.registry import TABLES
from bench.report import Table, count, describe_budget, describe_hardware, fmt, mean_std, successful
from bench.storage.record import Record


def _mb(value) -> str:
    return fmt(value / 2**20, ".0f") if value else "-"


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _row(task: str, model: str, chain: str, group: list[Record]) -> dict:
    last = group[-1]
    # The first key of the primary metric: MNLI shows its matched dev set.
    metric_key = last.primary_keys[0] if last.primary_keys else None
    params, flops = last.params, last.flops.get("flops")
    return {
        "task": task,
        "model": model,
        "method": chain,
        metric_key or "metric": (mean_std([r.metrics.get(metric_key) for r in group], scale=display_scale(metric_key))
                                 if metric_key else "-"),
        "seeds": len(group),
        "params": count(params.get("total")),
        "trainable %": fmt(params.get("trainable_pct"), ".2f"),
        "GFLOPs (b1)": fmt(flops and flops / 1e9, ".2f"),
        "p50 b1 (ms)": fmt(_median(r.p50(1) for r in group), ".1f"),
        "train (s)": fmt(_median(r.train_wall_s for r in group), ".0f", "*" if any(r.gpu_shared for r in group)
                                                                            else ""),
        "train peak RSS (MiB)": _mb(last.memory.get("train_peak_rss_bytes")),
        "infer peak RSS (MiB)": _mb(last.memory.get("inference_peak_rss_bytes")),
    }


@TABLES.register("summary", title="Summary of a records directory", paper="-")
def summary(records, arch_only: bool = False) -> Table:
    records = Record.all(records)
    groups = defaultdict(list)
    for record in successful(records):
        groups[(record.task, record.model, record.chain_label)].append(record)
    rows = [_row(*key, group) for key, group in sorted(groups.items())]
    failed = [r for r in records if not r.succeeded]
    notes = [describe_hardware(records), describe_budget(records),
             "Metric shown x100 (BLEU and chrF on their own 0-100 scale) as mean ± std over seeds (n < 3 shown as such); latency p50 and training "
             "time are medians over seeds; memory is the last seed's."]
    if any(r.gpu_shared for r in records):
        notes.append("* training time of cells that asked for a share of a GPU (Ray, --cells-per-gpu): other cells "
                     "may have run beside them, so it need not be the method's cost alone (cells that time latency "
                     "get a GPU alone)")
    if failed:
        notes.append(f"{len(failed)} cell(s) did not succeed: "
                     + ", ".join(f"{r.chain_label} on {r.task} ({r.status})" for r in failed))
    return Table("Summary", rows, notes)
