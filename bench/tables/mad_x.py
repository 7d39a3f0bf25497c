"""MAD-X table: zero-shot cross-lingual transfer, English training -> another language's dev set.

Rows: full fine-tuning and a task adapter alone (both zero-shot), MAD-X (task adapter on the
English language adapter, the target language's adapter swapped in), MAD-X without the
swap (ablation), and models trained in the target language itself where those runs exist.
"""

from __future__ import annotations

import statistics

from bench.registry import TABLES
from bench.report import Table, count, describe_budget, describe_hardware, fmt, mean_std
from bench.tables._runs import method_info, row_name, sweep_note, trainable_without_head, trained_runs

# The transfer setting of each row variant; other methods are named by their metadata label.
DESCRIPTIONS = {
    "full-ft": "full fine-tuning on English, zero-shot",
    "adapter(config=pfeiffer)": "task adapter alone on English, zero-shot",
    "adapter": "Houlsby task adapter on English, zero-shot",
    "mad-x": "MAD-X: task adapter on the en language adapter; pt language adapter swapped in",
    "mad-x(swap=False)": "MAD-X without the swap (en language adapter kept): ablation",
}
VARIANTS = list(DESCRIPTIONS)


def _order(item):
    """By task, then the methods' table order (metadata), then the variants in the order above."""
    (_, task, method) = item
    info = method_info(method)
    variant = VARIANTS.index(method) if method in VARIANTS else len(VARIANTS)
    return (task, info.order if info else float("inf"), variant, method)


@TABLES.register("mad-x", results="mad-x", title="MAD-X: cross-lingual transfer with adapters",
                 paper="Pfeiffer et al. 2020, MAD-X")
def mad_x(records, arch_only: bool = False) -> Table:
    runs, swept = trained_runs(records)
    rows = []
    for key in sorted(runs, key=_order):
        model, task, method = key
        group = runs[key]
        in_language = not task.startswith("xling-")
        mlm = [s for r in group for s in (r.stage("mad_x") or {}).get("language_adapters", {}).values()]
        rows.append({
            "Task": task,
            "Model": model,
            "Method": method,
            "Setting": ("trained in the target language (upper reference)" if in_language
                        else DESCRIPTIONS.get(method) or row_name(method)),
            "Target dev accuracy": mean_std([r.primary_value for r in group]),
            "# Trainable": count(trainable_without_head(group[0])),
            "Train s (task)": fmt(statistics.median(r.last_training["wall_s"] for r in group), ".0f"),
            "Train s (language adapters)": fmt(statistics.median(s["wall_s"] for s in mlm if "wall_s" in s), ".0f")
            if any("wall_s" in s for s in mlm) else "-",
        })
    notes = [describe_hardware(records), describe_budget(records),
             "Target dev accuracy x100, mean ± std over seeds, on the Portuguese SST-2 dev set (PLUE, machine-"
             "translated GLUE) for xling-* tasks. Language adapters: Pfeiffer bottlenecks (reduction 2) trained "
             "with masked-LM on each language's unlabelled SST-2 training sentences; the invertible embedding "
             "adapters of the paper are not reproduced. The tokenizer is MiniLM's English WordPiece vocabulary.",
             "No published figures for this analog: the MAD-X paper reports NER, XCOPA and QA, not SST-2."]
    note = sweep_note(swept)
    if note:
        notes.append(note)
    return Table("MAD-X (small scale)", rows, notes)
