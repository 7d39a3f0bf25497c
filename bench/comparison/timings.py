"""What a record timed, as sample series `bench compare` can judge, and its calibration peak.

Every series is a time, lower is better, so one rule judges them all: the per-call latency of
each input shape (`latency.<shape>`), and for generation cells the time to first token and the
decode time per generated token at each batch size (bench/generation/measure.py stores tokens/s
per run; 1000 / tokens/s is the same run's ms per token, and the ratio of medians of one is the
inverse of the other's).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.storage.record import Record, latency_key


@dataclass(frozen=True)
class Timing:
    p50: float | None  # the recorded median (ms)
    samples: list  # the raw samples (ms); [] where the record kept none (older records)


def _latency(record: Record) -> dict[str, Timing]:
    return {f"latency.{latency_key(*shape)}.p50": Timing(stats.get("p50"), stats.get("samples_ms") or [])
            for shape, stats in record.latency.items()}


def _ms_per_token(tokens_per_s) -> float | None:
    return 1e3 / tokens_per_s if tokens_per_s and math.isfinite(tokens_per_s) and tokens_per_s > 0 else None


def _generation(record: Record) -> dict[str, Timing]:
    section = record.section("generation")
    out = {}
    ttft = section.get("ttft") or {}
    if ttft.get("p50"):
        out["generation.ttft.p50"] = Timing(ttft["p50"], ttft.get("samples_ms") or [])
    for batch, runs in sorted((section.get("runs") or {}).items(), key=lambda item: int(item[0])):
        per_run = [_ms_per_token(rate) for rate in runs.get("decode_tokens_per_s") or []]
        out[f"generation.decode_b{batch}.ms_per_token"] = Timing(
            _ms_per_token(runs.get("decode_tokens_per_s_median")), [ms for ms in per_run if ms is not None])
    return out


def timings(record: Record) -> dict[str, Timing]:
    """{quantity: timing} of every series the record holds."""
    return {**_latency(record), **_generation(record)}


def matmul_peak(record: Record) -> tuple[float, str] | None:
    """(GFLOP/s, what it is) of the fp32 matmul peak measured in the cell's own process, for the
    runtime that served the cell (bench/measure/peak.py); older records hold torch's one-run p50."""
    from bench.measure.peak import peak_runtime

    machine = record.section("machine")
    runtime = peak_runtime(record.runtime)
    peak = (machine.get("matmul_peaks") or {}).get(runtime)
    if peak and peak.get("gflops"):
        return peak["gflops"], f"{runtime} best of {len(peak.get('trials_gflops') or []) or 'several'} trials"
    old = machine.get("matmul_peak")
    if old and old.get("gflops_p50"):
        return old["gflops_p50"], "torch one-run p50 (older record)"
    return None
