"""The latency verdict of one matched cell: on what footing its timings compare, then each one.

Same machine: the bootstrap interval of p50(NEW)/p50(BASE) decides; a regression is an
interval wholly above the threshold, an improvement one wholly below its inverse, anything
else is no significant change (on a shared 2-core machine a bare p50 ratio moves by more than
10% between identical runs). Records without samples fall back to the plain p50 ratio.

Different machines: each record's times are multiplied by the fp32 matmul peak measured in its
own process (ms x GFLOP/s: a machine twice as fast halves the time and doubles the peak), when
both records have one. That is only a first-order correction (memory-bound kernels do not scale
with the GEMM peak), so a slowdown seen this way is a warning, not a failure. Without both
peaks the timings are not compared, and the note says what differs.

Calibrated (`calibrate`, what `bench baseline check` uses): on the same machine too, the two
records' matmul peaks (each measured in its own process) say whether the machine was in the
same state. Within PEAK_TOLERANCE of each other, the timings compare directly and a slowdown
fails. Further apart, other jobs were loading the machine during one run: a busy 2-core machine
slows a cell unevenly (scaling by the peaks was tried and turned a 1.03x raw ratio into a
1.20x false alarm), so the timings are normalised by the peaks and a slowdown is only a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.comparison.bootstrap import median_ratio_interval
from bench.comparison.difference import NOT_COMPARED, WARNING, Difference
from bench.comparison.fingerprint import library_differences, machine_differences
from bench.comparison.timings import Timing, matmul_peak, timings
from bench.storage.record import Record

PEAK_TOLERANCE = 0.10  # calibrated: peaks further apart than this mean the machine's load differed

P50_ONLY_NOTE = ("'p50 only': BASE or NEW kept fewer than 6 samples of that timing (older records keep none, the "
                 "quick preset 5), so its plain p50 ratio was held against the threshold, without an interval")


@dataclass(frozen=True)
class Footing:
    """How two records' timings compare: the factor NEW's ratio is scaled by, or why not at all."""

    scale: float = 1.0  # peak(NEW) / peak(BASE) when normalised
    normalised: bool = False
    refused: bool = False
    note: str | None = None
    reason: str = "machines differ"  # what a refused row says


def footing(base: Record, new: Record, calibrate: bool = False) -> Footing:
    """Direct when the machines match, normalised by both matmul peaks when they do not (or when
    asked to `calibrate`), else refused."""
    shared = [side for side, record in (("BASE", base), ("NEW", new)) if record.gpu_shared]
    if shared:
        return Footing(refused=True, reason="GPU shared",
                       note=f"latency not compared: {' and '.join(shared)} asked for a share of a GPU "
                            "(--cells-per-gpu), so its timings need not be the model's alone")
    differs = machine_differences(base, new)
    if not differs and calibrate and matmul_peak(base) and matmul_peak(new):
        (base_peak, kind), (new_peak, _) = matmul_peak(base), matmul_peak(new)
        drift = new_peak / base_peak - 1
        if abs(drift) <= PEAK_TOLERANCE:
            return Footing(note=f"matmul peaks within {PEAK_TOLERANCE:.0%} of each other ({drift:+.1%}; {kind}): "
                                "the machine was as loaded in both runs, latency compared directly")
        return Footing(scale=new_peak / base_peak, normalised=True,
                       note=f"the matmul peak moved {drift:+.1%} from BASE's ({kind}): other jobs loaded the "
                            "machine in one run, so latency is normalised by the peaks and a slowdown is a "
                            "warning, not a failure")
    if not differs:
        libraries = library_differences(base, new)
        if not libraries:
            return Footing()
        return Footing(note=f"libraries differ ({', '.join(libraries)}): latency compared directly, "
                            "as a library change is what a regression check judges")
    what = "; ".join(differs)
    peaks = {"BASE": matmul_peak(base), "NEW": matmul_peak(new)}
    missing = [side for side, peak in peaks.items() if peak is None]
    if missing:
        return Footing(refused=True, note=f"latency not compared, the machines differ: {what}; "
                                          f"no matmul peak in {' and '.join(missing)} to normalise by "
                                          "(a spec's `measure: {matmul_peak: true}` records one)")
    (base_peak, base_kind), (new_peak, new_kind) = peaks["BASE"], peaks["NEW"]
    kinds = base_kind if base_kind == new_kind else f"BASE {base_kind}, NEW {new_kind}"
    return Footing(scale=new_peak / base_peak, normalised=True,
                   note=f"the machines differ: {what}; latency normalised by each record's fp32 matmul peak "
                        f"measured in its own process (time x GFLOP/s; {kinds}); a slowdown seen so is a "
                        "warning, not a failure")


def _judge(cell: str, quantity: str, base: Timing, new: Timing, threshold: float, ground: Footing) -> Difference:
    shown = round(base.p50, 3), round(new.p50, 3)
    if ground.refused:
        return Difference(cell, quantity, *shown, ground.reason, False, NOT_COMPARED)
    raw = new.p50 / base.p50
    interval = median_ratio_interval(base.samples, new.samples)
    if interval is None:
        ratio = raw * ground.scale
        slower, change = ratio > threshold, f"x{ratio:.3f} p50 only"
    else:
        ratio, low, high = (value * ground.scale for value in (interval.ratio, interval.low, interval.high))
        slower, faster = low > threshold, high < 1 / threshold
        reading = "significantly slower" if slower else "significantly faster" if faster else "no significant change"
        change = f"x{ratio:.3f} [95% CI {low:.3f}, {high:.3f}] {reading}"
    if ground.normalised:
        change += f", normalised (raw x{raw:.3f})"
    return Difference(cell, quantity, *shown, change, slower and not ground.normalised,
                      WARNING if slower and ground.normalised else None)


def latency_differences(cell: str, base: Record, new: Record, threshold: float,
                        calibrate: bool = False) -> tuple[list[Difference], list[str]]:
    """One row per timing both records hold (always listed, as ratios), and the notes they need."""
    base_timings, new_timings = timings(base), timings(new)
    pairs = [(quantity, b, new_timings[quantity]) for quantity, b in base_timings.items()
             if b.p50 and quantity in new_timings and new_timings[quantity].p50]
    if not pairs:
        return [], []
    ground = footing(base, new, calibrate)
    rows = [_judge(cell, quantity, b, n, threshold, ground) for quantity, b, n in pairs]
    notes = [ground.note] if ground.note else []
    if any("p50 only" in row.change for row in rows):
        notes.append(P50_ONLY_NOTE)
    return rows, notes
