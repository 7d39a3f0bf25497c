"""Post-training table: what quantisation, pruning and inference runtimes buy on this machine.

Rows are the post-training variants of one fine-tuned model per task; speedups and accuracy
retention are against that task's fp32 eager row, measured in the same records.
"""

from __future__ import annotations

from collections import defaultdict

from bench.registry import TABLES
from bench.report import Table, fmt, p50, describe_budget, describe_hardware, mean_std, successful

# The tutorial's MiniLM-L6 figures at batch 1, sequence 128, on its CPU (REPRODUCTION.md).
PUBLISHED_P50_B1_MS = {"fp32 eager": 21, "int8-dynamic": 8, "onnx": 11, "ort-int8-dynamic": 6, "ort-int8-static": 6}
FP32 = "fp32 eager"


def _variant(record: dict) -> str:
    """The chain after its training stages, each with its sparsity or fraction (default or not)
    and the options it changed from their defaults (a backend, an engine); the fp32 eager
    model when nothing follows them."""
    import dataclasses

    from bench.registry import METHODS

    labels = []
    for stage in record["config"]["chain"]:
        entry = METHODS.get(stage["method"])
        if entry.meta.stage != "post":
            continue
        # Records hold JSON: tuples come back as lists.
        defaults = {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                    for f in dataclasses.fields(entry.meta.options)}
        shown = [f"{k}={v}" for k, v in stage["options"]
                 if k in ("sparsity", "fraction") or (k in defaults and v != defaults[k])]
        labels.append(stage["method"] + (f"({','.join(shown)})" if shown else ""))
    return " -> ".join(labels) or FP32




@TABLES.register("post-training", title="Post-training optimisation and inference formats", paper="tutorial; MLPerf")
def post_training(records: list[dict], arch_only: bool = False) -> Table:
    groups = defaultdict(list)
    for record in successful(records):
        groups[(record["config"]["task"], _variant(record))].append(record)
    rows = []
    for task in sorted({task for task, _ in groups}):
        base = groups.get((task, FP32), [None])[0]
        variants = sorted((v for t, v in groups if t == task), key=lambda v: (v != FP32, v))
        for variant in variants:
            group = groups[(task, variant)]
            first = group[0]
            metric = first["task_meta"]["metric"]
            keys = [k for k in first["metrics"] if k == metric or k.startswith(metric + "_")]
            kept = [r["retention"]["retention"] for r in group if r.get("retention")]
            tags = {r["retention"]["tag"] for r in group if r.get("retention")}
            row = {"task": task, "variant": variant,
                   "size (MB)": fmt((first.get("size") or {}).get("model_bytes", 0) / 1e6, ".1f")}
            for batch_size in (1, 32):
                ours, ref = p50(first, batch_size), (p50(base, batch_size) if base else None)
                row[f"p50 b{batch_size} (ms)"] = fmt(ours, ".1f")
                row[f"speedup b{batch_size}"] = fmt(ref / ours if ours and ref else None, ".2f")
            pub = PUBLISHED_P50_B1_MS.get(variant.split("(")[0] if variant != FP32 else FP32)
            row["p50 b1 pub. (ms)"] = fmt(pub, "d")
            for key in keys:
                row[key] = mean_std([r["metrics"][key] for r in group])
            row["retention"] = fmt(min(kept), ".4f") if kept else ("1 (reference)" if variant == FP32 else "-")
            row["tag"] = ",".join(sorted(t or "none" for t in tags)) if tags else "-"
            flops, b1 = (first.get("flops") or {}).get("flops"), p50(first, 1)
            row["GFLOP/s b1"] = fmt(flops / (b1 / 1e3) / 1e9 if flops and b1 else None, ".1f")
            peak = ((first.get("machine") or {}).get("matmul_peak") or {}).get("gflops_p50")
            row["matmul peak GFLOP/s"] = fmt(peak, ".1f")
            rows.append(row)
    all_records = successful(records)
    notes = [describe_hardware(all_records), describe_budget(all_records),
             "Speedup and retention against the same task's fp32 eager row; tag -99 / -99.9 when at least "
             "99% / 99.9% of the fp32 metric is kept (the worst metric for MNLI-style multi-split tasks).",
             "GFLOP/s: reference-graph FLOPs (batch 1, sequence 128) over p50 latency; matmul peak: a 2048^3 fp32 "
             "matmul timed on the same machine. Published p50: the tutorial's MiniLM-L6 figures on its CPU.",
             "Metric x100 as mean ± std over seeds (n < 3 shown as such)."]
    compiled = sorted({_variant(r) for r in all_records if r["model_meta"].get("runtime") == "torch.compile"})
    if compiled:
        notes.append(f"Run through torch.compile (Inductor, frozen weights): {', '.join(compiled)}. Each new input "
                     "shape compiles on its first call (tens of seconds on this CPU); the latency warm-up absorbs "
                     "it, so p50 is the steady state a served model reaches.")
    return Table("Post-training (MiniLM-L6)", rows, notes)
