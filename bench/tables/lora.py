"""LoRA table (Hu et al. 2021, Table 2): PEFT methods side by side on GLUE.

'# Trainable' comes from architecture-only cells where present (`--arch-only` renders the
parameter columns alone) and leaves out the task head, as the paper counts.
"""

from __future__ import annotations

import statistics

from bench.registry import TABLES
from bench.report import Table, count, describe_budget, describe_hardware, fmt, printed
from bench.tables._runs import (
    method_info,
    ordered_tasks,
    parameter_records,
    published_columns,
    row_name,
    score_columns,
    sweep_note,
    trainable_without_head,
    trained_runs,
)

TASK_ORDER = ("MNLI", "SST-2", "MRPC", "CoLA", "QNLI", "QQP", "RTE", "STS-B")
# RoBERTa-base rows as printed in the tutorial: trainable (M) and the 8 task columns, Avg.
# Our Houlsby adapters of bottleneck 8 and 24 have the parameter counts of the paper's
# Adapter^D rows (0.3M, 0.9M), which are AdapterDrop adapters (Ruckle et al. 2020).
PUBLISHED = {
    ("roberta-base", "full-ft"): ("125.0M", (87.6, 94.8, 90.2, 63.6, 92.8, 91.9, 78.7, 91.2), 86.4),
    ("roberta-base", "bitfit"): ("0.1M", (84.7, 93.7, 92.7, 62.0, 91.8, 84.0, 81.5, 90.8), 85.2),
    ("roberta-base", "adapter(size=8)"): ("0.3M", (87.1, 94.2, 88.5, 60.8, 93.1, 90.2, 71.5, 89.7), 84.4),
    ("roberta-base", "adapter(size=24)"): ("0.9M", (87.3, 94.7, 88.4, 62.6, 93.0, 90.6, 75.9, 90.3), 85.4),
    ("roberta-base", "lora"): ("0.3M", (87.5, 95.1, 89.7, 63.4, 93.3, 90.8, 86.6, 91.5), 87.2),
}


def _order(method: str) -> tuple:
    """The methods' table order (their metadata); within a method by its numbers (size=8 before size=24)."""
    import re

    info = method_info(method)
    numbers = tuple(float(n) for n in re.findall(r"\d+(?:\.\d+)?", method))
    return (info.order if info else float("inf"), numbers, method)


def _median(values):
    values = [v for v in values if v]
    return statistics.median(values) if values else None


@TABLES.register("lora", results="peft", title="LoRA and the PEFT comparison", paper="Hu et al. 2021, LoRA")
def lora(records, arch_only: bool = False) -> Table:
    params = parameter_records(records)
    runs, swept = ({}, {}) if arch_only else trained_runs(records)
    tasks = ordered_tasks({t for _, t, _ in runs}, TASK_ORDER)
    chained = {m for _, m in params if "->" in m}  # post-training chains belong to other tables
    rows = []
    for model in sorted({m for m, _ in params}):
        full_ft_step = _median(r.s_per_step for (m, _, meth), rs in runs.items() if m == model and meth == "full-ft"
                               for r in rs)
        for method in sorted({meth for m, meth in params if m == model and meth not in chained}, key=_order):
            record = params[(model, method)]
            pub = PUBLISHED.get((model, method))
            row = {"Model": model, "Method": row_name(method),
                   "# Trainable": count(trainable_without_head(record)), "# Trainable pub.": printed(pub[0]) if pub else "-"}
            if not arch_only:
                row.update(score_columns(runs, model, method, tasks))
                mine = [r for (m, _, meth), rs in runs.items() if m == model and meth == method for r in rs]
                step = _median(r.s_per_step for r in mine)
                rss = _median(r.memory.get("train_peak_rss_bytes") for r in mine)
                row["s/step vs FT"] = fmt(step / full_ft_step, ".2f") if step and full_ft_step else "-"
                row["train peak RSS (MiB)"] = fmt(rss / 2**20, ".0f") if rss else "-"
            rows.append(row)
            if pub and not arch_only:
                rows.append(dict({"Model": f"{model} (published)", "Method": row_name(method), "# Trainable": printed(pub[0]),
                                  "# Trainable pub.": printed(pub[0])}, **published_columns(dict(zip(TASK_ORDER, pub[1], strict=False)), tasks)))
    notes = [describe_hardware(records), describe_budget(records),
             "# Trainable: parameters the method trains, without the task head (every method trains it), "
             "from architecture-only cells where present. Adapter rows: Houlsby adapters (two per layer) of the "
             "bottleneck size shown; the paper's Adapter^D rows are AdapterDrop adapters of the same sizes."]
    if not arch_only:
        notes.append("Task columns: dev metric x100 (accuracy; F1 for MRPC; Matthews for CoLA; Pearson for STS-B), "
                     "mean ± std over seeds; Avg over the columns shown (published rows: the paper's figures for the "
                     "same columns; its own 8-column averages: " + ", ".join(
                         f"{row_name(k[1])} {v[2]}" for k, v in PUBLISHED.items()) + "). s/step vs FT: median "
                     "training time per optimiser step over the method's cells, relative to full fine-tuning's; "
                     "train peak RSS: median peak resident memory while training.")
        note = sweep_note(swept)
        if note:
            notes.append(note)
    return Table("LoRA and PEFT methods" + (" (parameter columns)" if arch_only else ""), rows, notes)
