"""Generation measurements (PROTOCOL: Latency, Generation): time to first token, decode
tokens/s and sentences/s, peak memory; FLOPs per generated token are in `flops.py`.

Like bench/measure/, these return plain dataclasses with raw samples and units, and nothing
else times generation. Time to first token is one call (prefill: encoder plus first decoder
step, or the prompt's forward, and picking the token), timed with the per-call protocol of
bench/measure/latency.py. Decode speed needs whole runs: each run is timestamped where the
prefill returns, so the same run gives its first-token time and the time of the tokens
after it. CUDA runs are timed with events, as every CUDA latency is.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from time import perf_counter

from bench.generation.decoding import DecodeSettings, decode
from bench.measure.interval import median_interval
from bench.measure.latency import LATENCY_PRESETS, LatencyResult, StoppingRule, measure_latency, sample_until
from bench.measure.memory import MemoryPeaks, memory_peaks, reset_cuda_peaks
from bench.measure.result import Result

# A decode run is max_new_tokens model calls, so runs are fewer than per-call latency samples.
# `default` stops once the 95% interval of the median run time is within +-2% (6 runs at least:
# fewer give no interval), or at 30 s; the others stop after both minimums.
RUN_PRESETS = {
    "default": dict(warmup=2, min_runs=6, min_seconds=0.0, ci_target=0.02, max_seconds=30.0),
    "fixed": dict(warmup=2, min_runs=10, min_seconds=2.0),
    "publish": dict(warmup=3, min_runs=20, min_seconds=10.0),
    "quick": dict(warmup=1, min_runs=2, min_seconds=0.0),  # tests/smoke runs only; callers mark it
}


@dataclass(frozen=True)
class DecodeRuns(Result):
    """Whole decoding runs at one batch shape; per-run samples, then their medians."""

    batch_size: int
    prompt_tokens: int  # padded prompt (or source) length
    fixed_length: bool  # EOS ignored: every row decodes max_new_tokens, so runs compare across models
    settings: dict
    first_token_ms: list  # per run: from the call to the prefill's scores (the first token's)
    rest_ms: list  # per run: after that to the end of the run
    tokens_after_first: list  # per run: best hypotheses' generated tokens beyond each row's first
    decode_tokens_per_s: list  # per run: tokens_after_first / rest
    sentences_per_s: list  # per run: batch_size / whole run
    decode_tokens_per_s_median: float
    sentences_per_s_median: float
    timer: str
    warmup: int
    run_ms_ci95: list | None = None  # 95% interval of the median whole-run time; None below 6 runs
    stopped_by: str | None = None  # "minimums", "interval" or "time_cap"
    unit: str = "ms; tokens/s; sentences/s"


@dataclass(frozen=True)
class GenerationMeasurements(Result):
    ttft: LatencyResult  # batch 1, beam as set, ms
    runs: dict = field(default_factory=dict)  # str(batch size) -> DecodeRuns.to_dict() (JSON keys are strings)
    memory: dict = field(default_factory=dict)  # MemoryPeaks.to_dict() after every run above


def time_to_first_token(model, input_ids, attention_mask, *, beams: int = 1, preset: str = "default",
                        device: str = "cpu") -> LatencyResult:
    """Per-call latency of the prefill and the choice of the first token (PROTOCOL: time to first token)."""
    import torch

    def first_token():
        with torch.inference_mode():
            logits, _ = model.prefill(input_ids, attention_mask, beams=beams)
            return logits.argmax(-1)

    return measure_latency(first_token, device=device, **LATENCY_PRESETS[preset])


class _Clock:
    """perf_counter on CPU; CUDA events, read after the run, on a GPU."""

    def __init__(self, device: str):
        self.cuda = str(device).startswith("cuda")
        self.name = "cuda_event" if self.cuda else "perf_counter"

    def mark(self):
        if not self.cuda:
            return perf_counter()
        import torch

        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event

    def ms(self, start, end) -> float:
        if not self.cuda:
            return (end - start) * 1e3
        end.synchronize()
        return start.elapsed_time(end)


class _MarkFirstToken:
    """The model, plus a timestamp when its prefill returns (the first token's scores exist)."""

    def __init__(self, model, clock: _Clock):
        self.model, self.clock, self.first = model, clock, None
        self.token_rules, self.encoder = model.token_rules, model.encoder

    def prefill(self, input_ids, attention_mask, beams: int = 1):
        result = self.model.prefill(input_ids, attention_mask, beams=beams)
        self.first = self.clock.mark()
        return result

    def step(self, tokens, state):
        return self.model.step(tokens, state)

    def reorder(self, state, indices):
        return self.model.reorder(state, indices)


def decode_runs(model, input_ids, attention_mask, settings: DecodeSettings, *, fixed_length: bool = True,
                preset: str = "default", device: str = "cpu") -> DecodeRuns:
    """Decode the batch repeatedly: warm-up, then runs until the preset's stopping rule ends them."""
    config = RUN_PRESETS[preset]
    rule = StoppingRule(config["min_runs"], config["min_seconds"], config.get("ci_target"), config.get("max_seconds"))
    clock = _Clock(device)
    marked = _MarkFirstToken(model, clock)
    rules = model.token_rules.without_eos() if fixed_length else None
    rows = input_ids.shape[0]

    def run():
        start = clock.mark()
        hypotheses = decode(marked, input_ids, attention_mask, settings, rules=rules)
        end = clock.mark()
        first, rest = clock.ms(start, marked.first), clock.ms(marked.first, end)
        return first, rest, sum(max(row[0].length - 1, 0) for row in hypotheses)

    for _ in range(config["warmup"]):
        run()
    samples = []

    def run_ms() -> float:  # the whole run's time is what the rule watches
        samples.append(run())
        return samples[-1][0] + samples[-1][1]

    whole_ms, stopped_by = sample_until(rule, run_ms)
    interval = median_interval(whole_ms)
    first, rest, tokens = (list(column) for column in zip(*samples, strict=False))
    tokens_per_s = [n / (ms / 1e3) if ms > 0 else float("nan") for n, ms in zip(tokens, rest, strict=False)]
    sentences_per_s = [rows / ((a + b) / 1e3) for a, b in zip(first, rest, strict=False)]
    return DecodeRuns(
        batch_size=rows, prompt_tokens=int(input_ids.shape[1]), fixed_length=fixed_length,
        settings=settings.to_dict(), first_token_ms=first, rest_ms=rest, tokens_after_first=tokens,
        decode_tokens_per_s=tokens_per_s, sentences_per_s=sentences_per_s,
        decode_tokens_per_s_median=statistics.median(tokens_per_s),
        sentences_per_s_median=statistics.median(sentences_per_s), timer=clock.name, warmup=config["warmup"],
        run_ms_ci95=list(interval) if interval else None, stopped_by=stopped_by,
    )


def measure_generation(model, inputs: Callable[[int], tuple], settings: DecodeSettings, *,
                       batch_sizes=(1, 32), fixed_length: bool = True, preset: str = "default",
                       device: str = "cpu") -> GenerationMeasurements:
    """The generation columns of a record: time to first token at batch 1, decode runs at each
    batch size (`inputs(batch_size)` -> (input_ids, attention_mask)), and the memory peaks."""
    reset_cuda_peaks(device)
    ids, mask = inputs(1)
    ttft = time_to_first_token(model, ids, mask, beams=settings.beam, preset=preset, device=device)
    runs = {}
    for batch_size in batch_sizes:
        ids, mask = inputs(batch_size)
        runs[str(batch_size)] = decode_runs(model, ids, mask, settings, fixed_length=fixed_length, preset=preset,
                                       device=device).to_dict()
    peaks: MemoryPeaks = memory_peaks(device)
    return GenerationMeasurements(ttft=ttft, runs=runs, memory=peaks.to_dict())
