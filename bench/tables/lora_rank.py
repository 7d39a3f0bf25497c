"""LoRA rank table (Hu et al. 2021, Table 6): rank r against the weight types adapted."""

from __future__ import annotations

from bench.registry import TABLES
from bench.report import Table, count, describe_budget, describe_hardware, mean_std, printed
from bench.tables._runs import sweep_note, task_column, trainable_without_head, trained_runs

RANKS = (1, 2, 4, 8, 64)
TARGETS = {"q": "Wq", "qv": "Wq,Wv", "qkvo": "Wq,Wk,Wv,Wo"}
# GPT-3 175B, as printed in the tutorial (WikiSQL ±0.5%, MultiNLI ±0.1%).
PUBLISHED = {
    ("WikiSQL", "q"): (68.8, 69.6, 70.5, 70.4, 70.0),
    ("WikiSQL", "qv"): (73.4, 73.3, 73.7, 73.8, 73.5),
    ("WikiSQL", "qkvo"): (74.1, 73.7, 74.0, 74.0, 73.9),
    ("MultiNLI", "q"): (90.7, 90.9, 91.1, 90.7, 90.7),
    ("MultiNLI", "qv"): (91.3, 91.4, 91.3, 91.6, 91.4),
    ("MultiNLI", "qkvo"): (91.2, 91.7, 91.7, 91.5, 91.4),
}


def lora_options(record) -> dict | None:
    """The options of a lone lora stage, or None for any other chain."""
    chain = record.chain
    if len(chain) != 1 or chain[0].method != "lora":
        return None
    return chain[0].options_dict()


@TABLES.register("lora-rank", results="lora-rank", title="LoRA rank against adapted weight types",
                 paper="Hu et al. 2021, LoRA (Table 6)")
def lora_rank(records, arch_only: bool = False) -> Table:
    runs, swept = trained_runs(records)
    cells: dict = {}
    trainable: dict = {}
    for (model, task, _), group in runs.items():
        options = lora_options(group[0])
        if options is None or options["targets"] not in TARGETS:
            continue
        cells[(model, task, options["targets"], options["r"])] = group
        trainable[(model, options["targets"], options["r"])] = trainable_without_head(group[0])
    ranks = sorted({r for *_, r in cells} | set(RANKS))
    rows = []
    for model, task in sorted({(m, t) for m, t, _, _ in cells}):
        for targets, shown in TARGETS.items():
            row = {"Model": model, "Task": task_column(task), "Weight type": shown}
            for r in ranks:
                group = cells.get((model, task, targets, r), [])
                row[f"r={r}"] = mean_std([x.primary_value for x in group])
            rows.append(row)
    for model in sorted({m for m, _, _ in trainable}):
        for targets, shown in TARGETS.items():
            row = {"Model": model, "Task": "# trainable", "Weight type": shown}
            row.update({f"r={r}": count(trainable[(model, targets, r)], 1e3, ".1f", "K") if (model, targets, r) in trainable
                        else "-" for r in ranks})
            rows.append(row)
    for (task, targets), values in PUBLISHED.items():
        row = {"Model": "GPT-3 175B (published)", "Task": task, "Weight type": TARGETS[targets]}
        row.update({f"r={r}": printed(v) for r, v in zip(RANKS, values, strict=False)})
        row.update({f"r={r}": "-" for r in ranks if r not in RANKS})
        rows.append(row)
    notes = [describe_hardware(records), describe_budget(records),
             "Dev metric x100 (accuracy; F1 for MRPC; Matthews for CoLA; Pearson for STS-B), mean ± std over "
             "seeds; '# trainable' rows: LoRA parameters without the task head. alpha is fixed (16), so the "
             "update's scale alpha/r shrinks as r grows, as in the paper."]
    note = sweep_note(swept)
    if note:
        notes.append(note)
    return Table("LoRA rank r x adapted weights", rows, notes)
