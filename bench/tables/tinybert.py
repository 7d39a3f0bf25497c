"""TinyBERT table (Jiao et al. 2020, Table 1): size, FLOPs and speed of BERT students.

The architecture columns come from architecture-only cells (random init from each config),
since parameters, FLOPs and speed do not depend on weight values.
"""

from __future__ import annotations

from bench.registry import TABLES
from bench.report import Table, count, describe_hardware, fmt, printed, successful

# System, our model alias (None: no config here), published #Params (M), #FLOPs (B), speedup,
# MNLI-m/mm, QQP, as printed in the tutorial. MobileBERT-tiny's figures are those of its own paper
# (Sun et al. 2020); bench/modeling/zoo/architectures.py says how its config meets them.
PUBLISHED = [
    ("BERT-base (teacher)", "bert-base", 109.0, 22.5, 1.0, "83.9/83.4", 71.1),
    ("BERT-tiny", "tinybert4", 14.5, 1.2, 9.4, "75.4/74.9", 66.5),
    ("BERT-small", "bert-small", 29.2, 3.4, 5.7, "77.6/77.0", 68.1),
    ("BERT4-PKD", "bert-4l-768", 52.2, 7.6, 3.0, "79.9/79.3", 70.2),
    ("DistilBERT4", "bert-4l-768", 52.2, 7.6, 3.0, "78.9/78.0", 68.5),
    ("MobileBERT-tiny", "mobilebert-tiny", 15.1, 3.1, None, "81.5/81.6", 68.9),
    ("TinyBERT4", "tinybert4", 14.5, 1.2, 9.4, "82.5/81.8", 71.3),
]
TEACHER = "bert-base"
# How each published system was distilled. Only the MNLI and QQP columns are published
# figures we hold (REPRODUCTION.md); the paper's other GLUE columns are left out rather
# than quoted from memory.
PUBLISHED_DISTILLATION = {
    "BERT-base (teacher)": "-",
    "BERT-tiny": "none (pre-trained small BERT, fine-tuned)",
    "BERT-small": "none (pre-trained small BERT, fine-tuned)",
    "BERT4-PKD": "soft targets + patient hidden states",
    "DistilBERT4": "soft targets (pre-training distillation)",
    "MobileBERT-tiny": "feature + attention transfer",
    "TinyBERT4": "soft targets + hidden/attention (two-stage, augmented data)",
}


def published_rows() -> list[dict]:
    """Every published system with its size, speed and GLUE scores, for the accuracy table."""
    rows = []
    for system, _, params, flops, speedup, mnli, qqp in PUBLISHED:
        distillation = PUBLISHED_DISTILLATION[system]
        glue = {"glue-mnli": mnli.replace("/", " / "), "glue-qqp": str(qqp)}
        rows.append({"system": system, "distillation": distillation, "params": params, "flops": flops,
                     "speedup": speedup, "glue": glue})
    return rows


def _architecture_records(records) -> dict:
    """The newest successful architecture-only record per (device, model)."""
    chosen = {}
    for record in sorted(successful(records), key=lambda r: r.date):
        if record.arch_only:
            chosen[(record.device, record.model)] = record
    return chosen


def _config_cell(alias: str | None, record) -> str:
    """The alias whose record fills the row, or why the row is empty: no config, or not run yet."""
    if alias is None:
        return "not reproduced (no config here)"
    return alias if record else f"not reproduced (no {alias} record)"


def _speedup_columns(arch: dict) -> list[tuple[str, int]]:
    """(device, batch size) pairs the records timed; speedups only compare within one pair."""
    pairs = set()
    for (device, _), record in arch.items():
        pairs.update((device, batch_size) for batch_size, _ in record.latency)
    return sorted(pairs)




@TABLES.register("tinybert", results="tinybert-arch", title="TinyBERT: size, FLOPs and speed of distilled BERT students", paper="Jiao et al. 2020, TinyBERT")
def tinybert(records, arch_only: bool = False) -> Table:
    """The accuracy table when the records hold trained cells (KD runs), else the architecture table."""
    trained = [r for r in successful(records) if not r.arch_only]
    if trained and not arch_only:
        from bench.tables._distilled import distilled_table

        return distilled_table(trained, published_rows())
    return _architecture_table(records)


def _architecture_table(records) -> Table:
    arch = _architecture_records(records)
    by_model = {model: record for (_, model), record in arch.items()}
    teacher = by_model.get(TEACHER)
    rows = []
    for system, alias, pub_params, pub_flops, pub_speedup, pub_mnli, pub_qqp in PUBLISHED:
        record = by_model.get(alias) if alias else None
        params = record.params["total"] / 1e6 if record else None
        flops = record.flops["flops"] / 1e9 if record and record.flops else None
        row = {
            "System": system,
            "Config": _config_cell(alias, record),
            "#Params": count(record.params["total"] if record else None),
            "#Params pub.": printed(f"{pub_params}M"),
            "#Params ratio": fmt(params / pub_params if params else None, ".3f"),
            "#FLOPs": count(record.flops["flops"] if record and record.flops else None, 1e9, ".2f", "B"),
            "#FLOPs pub.": printed(f"{pub_flops}B"),
            "#FLOPs ratio": fmt(flops / pub_flops if flops else None, ".3f"),
        }
        for device, batch_size in _speedup_columns(arch):
            ours = arch[(device, alias)].p50(batch_size) if (device, alias) in arch else None
            base = arch[(device, TEACHER)].p50(batch_size) if (device, TEACHER) in arch else None
            row[f"Speedup {device} b{batch_size}"] = fmt(base / ours if ours and base else None, ".1f", "x")
        row.update({"Speedup pub.": fmt(pub_speedup, ".1f", "x"), "MNLI-m/mm pub.": pub_mnli, "QQP pub.": printed(pub_qqp)})
        rows.append(row)
    notes = [describe_hardware(list(arch.values()))]
    if teacher and teacher.flops:
        f = teacher.flops
        notes.append(f"FLOPs: {f['tool']}, {f['convention']}, batch {f['batch_size']}, sequence length "
                     f"{f['seq_len']}; it counts matmuls only, so BERT-base gives {f['flops'] / 1e9:.2f}B "
                     f"against the published 22.5B (ratio {f['flops'] / 22.5e9:.3f}).")
    notes.append("#Params: every parameter of the model with a 3-way classification head and the pooler.")
    notes.append("Speedup: p50 latency of BERT-base over the model's at sequence length 128 on the same "
                 "device and batch size, measured here; the paper measured on its own hardware.")
    outside = [r["System"] for r in rows if r["#Params ratio"] != "-" and abs(float(r["#Params ratio"]) - 1) > 0.01]
    if outside:
        notes.append("#Params more than 1% from the published figure: " + ", ".join(outside) + ". The published "
                     "figures come from different papers with different counting (pooler, head, projections).")
    notes.append("Architecture-only cells (random init from configs); MNLI/QQP columns are the published "
                 "figures (accuracy rows come from the KD issue's runs).")
    return Table("TinyBERT (architecture columns)", rows, notes)
