"""Per-call latency with warm-up and a stopping rule (PROTOCOL: Latency).

The fixed rule (`publish`, `fixed`) stops only after N calls AND T seconds, which keeps fast
models from being measured over a few milliseconds and slow ones from being measured by a
handful of calls. The adaptive rule (`default`) stops as soon as the 95% interval of the p50
is within +-ci_target of it, or at a time cap: a quiet shape is done in a few calls and a
noisy one gets the time it needs, so the phase costs what the noise demands rather than a
fixed 50 calls. Every result records its p50 interval and why sampling stopped, whatever
the rule. CUDA calls are timed with events because the host returns before the kernels finish.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter  # bound here so tests can substitute a fake clock

from bench.measure.interval import median_interval, relative_halfwidth
from bench.measure.result import Result

LATENCY_PRESETS = {
    # Stop when the p50's 95% interval is within +-2%, after >= 10 calls and 0.2 s (so a 1 ms
    # call is not judged on a 10 ms window), and at 10 s whatever the noise.
    "default": dict(min_iters=10, min_seconds=0.2, ci_target=0.02, max_seconds=10.0),
    "fixed": dict(min_iters=50, min_seconds=2.0),  # the default before the adaptive rule, for comparison
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
    p50_ci95: list | None = None  # [low, high] ms; None below 6 samples
    p50_ci95_halfwidth: float | None = None  # the interval's larger side / p50
    stopped_by: str | None = None  # "minimums", "interval" or "time_cap"
    unit: str = "ms"


def summarise(samples_ms: list[float], *, timer: str, warmup: int, stopped_by: str | None = None) -> LatencyResult:
    """Statistics of raw per-call samples (kept in the result for re-analysis)."""
    import numpy as np

    samples = np.asarray(samples_ms, dtype=float)
    if samples.size == 0:
        raise ValueError("no latency samples")
    p25, p50, p75, p90, p95 = np.percentile(samples, [25, 50, 75, 90, 95])
    p99 = float(np.percentile(samples, 99)) if samples.size >= P99_MIN_SAMPLES else None
    std = float(samples.std(ddof=1)) if samples.size > 1 else 0.0
    interval = median_interval(samples.tolist())
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
        p50_ci95=[float(interval[0]), float(interval[1])] if interval else None,
        p50_ci95_halfwidth=relative_halfwidth(samples.tolist(), float(p50)),
        stopped_by=stopped_by,
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


@dataclass(frozen=True)
class StoppingRule:
    """When to stop sampling: after min_iters AND min_seconds; then, if ci_target is set, once the
    p50's interval is within +-ci_target, or at max_seconds."""

    min_iters: int
    min_seconds: float
    ci_target: float | None = None
    max_seconds: float | None = None

    def __post_init__(self):
        if self.ci_target is not None and self.max_seconds is None:
            raise ValueError("an adaptive rule (ci_target) needs a time cap (max_seconds)")


def sample_until(rule: StoppingRule, take_sample: Callable[[], float]) -> tuple[list[float], str]:
    """Samples of `take_sample()` until `rule` stops them, and why it stopped."""
    import statistics

    samples: list[float] = []
    started = perf_counter()
    next_check = rule.min_iters
    while True:
        samples.append(take_sample())
        elapsed = perf_counter() - started
        if len(samples) < rule.min_iters or elapsed < rule.min_seconds:
            continue
        if rule.ci_target is None:
            return samples, "minimums"
        if len(samples) >= next_check:
            # Sorting every sample each call would cost more than a fast call: check as n grows by 5%.
            width = relative_halfwidth(samples, statistics.median(samples))
            if width is not None and width <= rule.ci_target:
                return samples, "interval"
            next_check = max(len(samples) + 1, math.ceil(len(samples) * 1.05))
        if elapsed >= rule.max_seconds:
            return samples, "time_cap"


def measure_latency(
    fn: Callable[[], object],
    *,
    warmup: int = 10,
    min_iters: int = 50,
    min_seconds: float = 2.0,
    ci_target: float | None = None,
    max_seconds: float | None = None,
    device: str = "cpu",
) -> LatencyResult:
    """Time `fn()` after `warmup` calls until the stopping rule of the other arguments ends it."""
    rule = StoppingRule(min_iters, min_seconds, ci_target, max_seconds)
    on_cuda = str(device).startswith("cuda")
    if not on_cuda:
        return _run(fn, _cpu_timer, "perf_counter", warmup, rule, sync=lambda: None)
    import torch

    # Events are recorded on the current device, so make `device` current.
    with torch.cuda.device(torch.device(device)):
        sync = functools.partial(torch.cuda.synchronize, device)
        return _run(fn, _cuda_timer, "cuda_event", warmup, rule, sync=sync)


def _run(fn, time_call, timer, warmup, rule: StoppingRule, sync) -> LatencyResult:
    """Warm up, then sample until the rule stops."""
    sync()
    for _ in range(warmup):
        fn()
    sync()  # warm-up work must not leak into the first sample
    samples, stopped_by = sample_until(rule, lambda: time_call(fn))
    return summarise(samples, timer=timer, warmup=warmup, stopped_by=stopped_by)
