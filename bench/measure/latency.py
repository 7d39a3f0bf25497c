"""Per-call latency with warm-up and a count-and-time stopping rule (PROTOCOL: Latency).

Stopping only after N calls AND T seconds keeps fast models from being
measured over a few milliseconds and slow ones from being measured by a
handful of calls. CUDA calls are timed with events because the host returns
before the kernels finish.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter  # bound here so tests can substitute a fake clock

from bench.measure.result import Result

LATENCY_PRESETS = {
    "default": dict(min_iters=50, min_seconds=2.0),
    "publish": dict(min_iters=100, min_seconds=10.0),
    "quick": dict(min_iters=5, min_seconds=0.0),  # tests/smoke runs only; callers mark it
}

P99_MIN_SAMPLES = 1000  # below this the 99th percentile rests on < 10 samples


@dataclass(frozen=True)
class LatencyResult(Result):
    samples_ms: list
    n: int
    p50: float
    p90: float
    p95: float
    p99: float | None
    mean: float
    std: float
    iqr: float
    min: float
    max: float
    timer: str
    warmup: int
    unit: str = "ms"


def summarise(samples_ms: list[float], *, timer: str, warmup: int) -> LatencyResult:
    """Statistics of raw per-call samples (kept in the result for re-analysis)."""
    import numpy as np

    samples = np.asarray(samples_ms, dtype=float)
    if samples.size == 0:
        raise ValueError("no latency samples")
    p25, p50, p75, p90, p95 = np.percentile(samples, [25, 50, 75, 90, 95])
    p99 = float(np.percentile(samples, 99)) if samples.size >= P99_MIN_SAMPLES else None
    std = float(samples.std(ddof=1)) if samples.size > 1 else 0.0
    return LatencyResult(
        samples_ms=[float(s) for s in samples],
        n=int(samples.size),
        p50=float(p50),
        p90=float(p90),
        p95=float(p95),
        p99=p99,
        mean=float(samples.mean()),
        std=std,
        iqr=float(p75 - p25),
        min=float(samples.min()),
        max=float(samples.max()),
        timer=timer,
        warmup=warmup,
    )


def _cpu_timer(fn: Callable[[], object]) -> float:
    start = perf_counter()
    fn()
    return (perf_counter() - start) * 1e3


def _cuda_timer(fn: Callable[[], object]) -> float:
    import torch

    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()  # the call is over only when its kernels are
    return start.elapsed_time(end)


def measure_latency(
    fn: Callable[[], object],
    *,
    warmup: int = 10,
    min_iters: int = 50,
    min_seconds: float = 2.0,
    device: str = "cpu",
) -> LatencyResult:
    """Time `fn()` after `warmup` calls until >= min_iters calls and >= min_seconds."""
    on_cuda = str(device).startswith("cuda")
    if not on_cuda:
        return _run(fn, _cpu_timer, "perf_counter", warmup, min_iters, min_seconds, sync=lambda: None)
    import torch

    # Events are recorded on the current device, so make `device` current.
    with torch.cuda.device(torch.device(device)):
        sync = functools.partial(torch.cuda.synchronize, device)
        return _run(fn, _cuda_timer, "cuda_event", warmup, min_iters, min_seconds, sync=sync)


def _run(fn, time_call, timer, warmup, min_iters, min_seconds, sync) -> LatencyResult:
    """Warm up, then sample until both stopping minimums are met."""
    sync()
    for _ in range(warmup):
        fn()
    sync()  # warm-up work must not leak into the first sample
    samples: list[float] = []
    started = perf_counter()
    while len(samples) < min_iters or perf_counter() - started < min_seconds:
        samples.append(time_call(fn))
    return summarise(samples, timer=timer, warmup=warmup)
