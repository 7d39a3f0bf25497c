"""Summary of any records: one row per (task, model, chain), seeds aggregated."""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.registry import TABLES
from bench.report import Table, describe_budget, describe_hardware, mean_std, successful


def _mb(value) -> str:
    return f"{value / 2**20:.0f}" if value else "-"


@TABLES.register("summary", title="Summary of a records directory", paper="-")
def summary(records: list[dict], arch_only: bool = False) -> Table:
    groups = defaultdict(list)
    for record in successful(records):
        cell = record["config"]
        groups[(cell["task"], cell["model"], record["chain_label"])].append(record)
    rows = []
    for (task, model, chain), group in sorted(groups.items()):
        first = group[-1]
        metric = first["task_meta"]["metric"]
        metric_key = next((k for k in first["metrics"] if k.startswith(metric)), metric)
        b1 = [v["p50"] for r in group for k, v in (r.get("latency") or {}).items() if k.startswith("b1_")]
        train_s = [sum(t["wall_s"] for t in r["training"]) for r in group if r["training"]]
        rows.append({
            "task": task,
            "model": model,
            "method": chain,
            metric_key if first["metrics"] else "metric": mean_std([r["metrics"].get(metric_key) for r in group]) if first["metrics"] else "-",
            "seeds": len(group),
            "params": f"{first['params']['total'] / 1e6:.2f}M",
            "trainable %": f"{first['params']['trainable_pct']:.2f}",
            "GFLOPs (b1)": f"{first['flops']['flops'] / 1e9:.2f}" if first.get("flops") else "-",
            "p50 b1 (ms)": f"{statistics.median(b1):.1f}" if b1 else "-",
            "train (s)": f"{statistics.median(train_s):.0f}" if train_s else "-",
            "train peak RSS (MiB)": _mb(first["memory"]["train_peak_rss_bytes"]),
            "infer peak RSS (MiB)": _mb(first["memory"]["inference_peak_rss_bytes"]),
        })
    failed = [r for r in records if r.get("status") != "success"]
    notes = [describe_hardware(records), describe_budget(records),
             "Metric shown x100 as mean ± std over seeds (n < 3 shown as such); latency p50 and training "
             "time are medians over seeds; memory is the last seed's."]
    if failed:
        notes.append(f"{len(failed)} cell(s) did not succeed: " + ", ".join(f"{r['chain_label']} on {r['config']['task']} ({r['status']})" for r in failed))
    return Table("Summary", rows, notes)
