"""Post-training table: what quantisation, pruning and inference runtimes buy on this machine.

Rows are the post-training variants of one fine-tuned model per task; speedups and accuracy
retention are against that task's fp32 eager row, measured in the same records.
"""

from __future__ import annotations

from collections import defaultdict

from bench.registry import TABLES
from bench.report import Num, Table, describe_budget, describe_hardware, fmt, mean_std, successful

# The tutorial's MiniLM-L6 figures at batch 1, sequence 128, on its CPU (REPRODUCTION.md).
PUBLISHED_P50_B1_MS = {"fp32 eager": 21, "int8-dynamic": 8, "onnx": 11, "ort-int8-dynamic": 6, "ort-int8-static": 6}
FP32 = "fp32 eager"


def _variant(record) -> str:
    """The chain after its training stages, each with its sparsity or fraction (default or not)
    and the options it changed from their defaults (a backend, an engine); the fp32 eager
    model when nothing follows them."""
    import dataclasses

    from bench.registry import METHODS

    labels = []
    for stage in record.chain:
        info = METHODS.get(stage.method).meta
        if info.stage != "post":
            continue
        defaults = dataclasses.asdict(info.options())
        shown = [f"{k}={v}" for k, v in stage.options
                 if k in ("sparsity", "fraction") or (k in defaults and v != defaults[k])]
        labels.append(stage.method + (f"({','.join(shown)})" if shown else ""))
    return " -> ".join(labels) or FP32


def _weight_round_trip(group) -> str | None:
    """The worst weight round-trip errors (max / mean over max |w|) int8-dynamic recorded, or None."""
    summaries = [(r.stage("int8_dynamic") or {}).get("weight_round_trip") for r in group]
    summaries = [s for s in summaries if s]
    if not summaries:
        return None
    return (f"{max(s['max_rel_err'] for s in summaries):.3%} / "
            f"{max(s['mean_rel_err'] for s in summaries):.3%}")


@TABLES.register("post-training", title="Post-training optimisation and inference formats", paper="tutorial; MLPerf")
def post_training(records, arch_only: bool = False) -> Table:
    groups = defaultdict(list)
    for record in successful(records):
        groups[(record.task, _variant(record))].append(record)
    # Only records written since int8-dynamic records its weights' round trip have the column.
    round_trip = any(_weight_round_trip(group) is not None for group in groups.values())
    rows = []
    for task in sorted({task for task, _ in groups}):
        base = groups.get((task, FP32), [None])[0]
        variants = sorted((v for t, v in groups if t == task), key=lambda v: (v != FP32, v))
        for variant in variants:
            group = groups[(task, variant)]
            first = group[0]
            kept = [r.retention["retention"] for r in group if r.retention]
            tags = {r.retention["tag"] for r in group if r.retention}
            row = {"task": task, "variant": variant, "size (MB)": fmt(first.size.get("model_bytes", 0) / 1e6, ".1f")}
            for batch_size in (1, 32):
                ours, ref = first.p50(batch_size), (base.p50(batch_size) if base else None)
                row[f"p50 b{batch_size} (ms)"] = fmt(ours, ".1f")
                row[f"speedup b{batch_size}"] = fmt(ref / ours if ours and ref else None, ".2f")
            pub = PUBLISHED_P50_B1_MS.get(variant.split("(")[0] if variant != FP32 else FP32)
            row["p50 b1 pub. (ms)"] = fmt(pub, "d")
            for key in first.primary_keys:
                row[key] = mean_std([r.metrics[key] for r in group])
            row["retention"] = fmt(min(kept), ".4f") if kept else (Num("1 (reference)", 1.0) if variant == FP32 else "-")
            row["tag"] = ",".join(sorted(t or "none" for t in tags)) if tags else "-"
            if round_trip:
                row["w rt err max / mean"] = _weight_round_trip(group) or "-"
            flops, b1 = first.flops.get("flops"), first.p50(1)
            row["GFLOP/s b1"] = fmt(flops / (b1 / 1e3) / 1e9 if flops and b1 else None, ".1f")
            peak = (first.section("machine").get("matmul_peak") or {}).get("gflops_p50")
            row["matmul peak GFLOP/s"] = fmt(peak, ".1f")
            rows.append(row)
    all_records = successful(records)
    notes = [describe_hardware(all_records), describe_budget(all_records),
             "Speedup and retention against the same task's fp32 eager row; tag -99 / -99.9 when at least "
             "99% / 99.9% of the fp32 metric is kept (the worst metric for MNLI-style multi-split tasks).",
             "GFLOP/s: reference-graph FLOPs (batch 1, sequence 128) over p50 latency; matmul peak: a 2048^3 fp32 "
             "matmul timed on the same machine. Published p50: the tutorial's MiniLM-L6 figures on its CPU.",
             "Metric x100 as mean ± std over seeds (n < 3 shown as such)."]
    if round_trip:
        notes.append("w rt err: int8-dynamic's weight round trip |w - s * (w_q - z)| over max |w| per Linear layer, "
                     "its max and its mean (mean over layers), computed with bench/quant/affine.py for the mapping "
                     "both backends use: symmetric int8, s = 2 max|w| / 255 per output channel (per tensor with "
                     "per_channel=false), z = 0, w_q = clip(round(w / s), -128, 127). The max is s/2 where max |w| "
                     "lands on 127.5 and is clipped (1/255 = 0.392%); the mean shows how well the scales fit the "
                     "weights. Per-layer scales and errors are in the records (stages.int8_dynamic.layers).")
    compiled = sorted({_variant(r) for r in all_records if r.runtime == "torch.compile"})
    if compiled:
        notes.append(f"Run through torch.compile (Inductor, frozen weights): {', '.join(compiled)}. Each new input "
                     "shape compiles on its first call (tens of seconds on this CPU); the latency warm-up absorbs "
                     "it, so p50 is the steady state a served model reaches.")
    return Table("Post-training (MiniLM-L6)", rows, notes)
