"""Post-training table: what quantisation, pruning and inference runtimes buy on this machine.

Rows are the post-training variants of one fine-tuned model per task; speedups and accuracy
retention are against that task's fp32 eager row, measured in the same records.
"""

from __future__ import annotations

from collections import defaultdict

from bench.measure.peak import CALLS_PER_TRIAL, INT8_SUFFIX, SIZE, TRIALS, peak_runtime
from bench.registry import TABLES
from bench.report import Num, Table, describe_budget, describe_hardware, fmt, mean_std, successful

# The tutorial's MiniLM-L6 figures at batch 1, sequence 128, on its CPU (REPRODUCTION.md).
PUBLISHED_P50_B1_MS = {"fp32 eager": 21, "int8-dynamic": 8, "onnx": 11, "ort-int8-dynamic": 6, "ort-int8-static": 6}
FP32 = "fp32 eager"
# Whose GEMM a peak measured.
PEAK_NAMES = {"torch": "torch", "onnxruntime": "MLAS", "onnxruntime" + INT8_SUFFIX: "MLAS int8",
              "openvino": "OpenVINO", "openvino" + INT8_SUFFIX: "OpenVINO int8"}
INT8_PEAK_NAMES = {name for key, name in PEAK_NAMES.items() if key.endswith(INT8_SUFFIX)}
OLD_PEAK = "torch (one run, p50)"  # records written before peaks were per runtime and best-of-trials
DEPLOY_FAMILIES = {"inference-format"}  # stages that serve the same fp32 model another way (ONNX)
ROOFLINE_GOAL = 0.70  # issue 16: the fastest fp32 deploy path at batch 32 reaches 70% of its peak


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


def _families(record) -> set[str]:
    """The method families of the chain's post-training stages."""
    from bench.registry import METHODS

    infos = [METHODS.get(stage.method).meta for stage in record.chain]
    return {info.family for info in infos if info.stage == "post"}


def _fp32_arithmetic(record) -> bool:
    """No quantisation stage and no reduced precision: int8, bf16 and fp16 kernels have other
    ceilings than the fp32 peak (records from before the precision option are fp32)."""
    return "quantization" not in _families(record) and record.config.get("precision", "fp32") == "fp32"


def _achieved_gflops(record, batch_size: int) -> float | None:
    """Reference-graph FLOPs over p50 at `batch_size` and the FLOPs' sequence length.

    FLOPs are counted once, at batch 1 (PROTOCOL: FLOPs); every op of an encoder, attention
    included, acts on one sequence at a time, so batch b at the same length is b times them.
    """
    flops = record.flops
    stats = record.latency.get((batch_size, flops.get("seq_len")))
    if not flops.get("flops") or not stats or not stats.get("p50"):
        return None
    per_sequence = flops["flops"] / flops.get("batch_size", 1)
    return per_sequence * batch_size / (stats["p50"] / 1e3) / 1e9


def _peak_key(record, peaks: dict) -> str:
    """Which recorded peak holds the cell: its runtime's int8 GEMM for an int8 cell that recorded
    it (ONNX Runtime's MLAS, OpenVINO), else its runtime's fp32 GEMM."""
    runtime = peak_runtime(record.runtime)
    if "quantization" in _families(record) and runtime + INT8_SUFFIX in peaks:
        return runtime + INT8_SUFFIX
    return runtime


def _peak(record) -> tuple[float | None, str, float | None]:
    """(GFLOP/s, whose, spread) of the peak that holds this cell: its runtime's best-of-trials
    peak; older records hold only torch's one-run p50 under `matmul_peak`."""
    machine = record.section("machine")
    peaks = machine.get("matmul_peaks") or {}
    runtime = _peak_key(record, peaks)
    peak = peaks.get(runtime)
    if peak:
        return peak["gflops"], PEAK_NAMES[runtime], peak["spread"]
    old = machine.get("matmul_peak")
    if old and old.get("gflops_p50"):
        return old["gflops_p50"], OLD_PEAK, None
    return None, "-", None


def _roofline(record) -> dict:
    """Achieved GFLOP/s at batch 1 and 32, the peak of the runtime that ran the cell, and the
    share of it reached (fp32 arithmetic only)."""
    peak, whose, spread = _peak(record)
    achieved = {batch_size: _achieved_gflops(record, batch_size) for batch_size in (1, 32)}
    row = {f"GFLOP/s b{b}": fmt(value, ".1f") for b, value in achieved.items()}
    row.update({"matmul peak GFLOP/s": fmt(peak, ".1f"), "peak of": whose,
                "peak spread": fmt(spread and spread * 100, ".1f", "%")})
    for batch_size, value in achieved.items():
        # A share only against the ceiling of the cell's own arithmetic: fp32, or its runtime's int8.
        same_arithmetic = _fp32_arithmetic(record) or whose in INT8_PEAK_NAMES
        share = value / peak * 100 if value and peak and same_arithmetic else None
        row[f"% of peak b{batch_size}"] = fmt(share, ".0f", "%")
    return row


def _best_fp32_deploy(task: str, records: list) -> str | None:
    """The note on the fastest fp32 way to serve the task's model at batch 32 (eager or ONNX),
    against its runtime's peak: what issue 16's roofline goal reads."""
    candidates = [r for r in records
                  if r.task == task and _families(r) <= DEPLOY_FAMILIES and _fp32_arithmetic(r) and r.p50(32)]
    if not candidates:
        return None
    best = min(candidates, key=lambda r: r.p50(32))
    achieved, (peak, whose, _) = _achieved_gflops(best, 32), _peak(best)
    if not achieved or not peak:
        return None
    share = achieved / peak
    if whose == OLD_PEAK:  # one run of torch's GEMM, whatever served the cell: no verdict on it
        verdict = f"no verdict on the {ROOFLINE_GOAL:.0%} goal: not its runtime's best-of-trials peak"
    else:
        verdict = f"{'meets' if share >= ROOFLINE_GOAL else 'misses'} the {ROOFLINE_GOAL:.0%} goal"
    return (f"{task}: the fastest fp32 deploy path at batch 32 is {_variant(best)} ({best.p50(32):.1f} ms, "
            f"{achieved:.1f} GFLOP/s), {share:.0%} of the {whose} peak; {verdict}.")


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
            row.update(_roofline(first))
            rows.append(row)
    all_records = successful(records)
    notes = [describe_hardware(all_records), describe_budget(all_records),
             "Speedup and retention against the same task's fp32 eager row; tag -99 / -99.9 when at least "
             "99% / 99.9% of the fp32 metric is kept (the worst metric for MNLI-style multi-split tasks).",
             "GFLOP/s b1 / b32: reference-graph FLOPs (counted at batch 1, sequence 128; times 32 at batch 32, "
             "since every op of the encoder acts on one sequence) over p50 latency. Matmul peak: a square fp32 "
             f"matmul ({SIZE}^3) run in the cell's process after its timings, by the runtime that served the cell "
             "(torch: torch.mm, for torch.compile too; MLAS: a one-node ONNX Runtime MatMul with the cells' "
             "session options and threads; OpenVINO: a one-node MatMul compiled with the cells' settings), "
             f"the best of {TRIALS} trials of {CALLS_PER_TRIAL} calls (each trial "
             "in the record); spread: (best - worst) / best over the trials. For int8 rows the peak is their "
             "runtime's int8 GEMM (MLAS: a one-node MatMulInteger, uint8 x int8; OpenVINO: a uint8 FakeQuantize "
             "into a MatMul with an int8 weight; same size, trials and threads; "
             "G integer ops/s, 2 per multiply-add, as FLOPs count 2 per fp32 one). % of peak: achieved over the "
             "peak of the cell's own arithmetic, shown for fp32 and ONNX Runtime or OpenVINO int8 rows (torch "
             "int8, bf16 and fp16 kernels have other ceilings, not measured). Published p50: the tutorial's "
             "MiniLM-L6 figures on its CPU.",
             "Metric x100 as mean ± std over seeds (n < 3 shown as such)."]
    if any(row["peak of"] == OLD_PEAK for row in rows):
        notes.append(f"Peak of '{OLD_PEAK}': records written before peaks were per runtime keep the p50 of one "
                     "run of torch's matmul, whichever runtime served the cell (ONNX Runtime rows included).")
    notes.extend(filter(None, (_best_fp32_deploy(task, all_records) for task in sorted({t for t, _ in groups}))))
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
