"""`bench baseline check|update`: the regression check CI runs against committed baseline records.

The baseline is a results folder whose spec is a few real cells (results/regression/). `check`
runs them afresh, with an empty cache so that training, export and timing all happen again,
into a temporary folder, and holds the new records against the committed ones with `bench
compare` (bench/compare.py: deterministic quantities exactly, latency by its bootstrap interval
and the machine fingerprint). `update` runs them the same way and replaces the committed
records only when every cell succeeded, so a failed run never leaves half a baseline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.errors import BenchError, UsageError

DEFAULT_PRESET = "regression"


def baseline_records(preset: str) -> Path:
    from bench.spec import preset_path

    return preset_path(preset).parent / "records"


def data_missing(data_dir: str | None) -> str | None:
    """Why the check cannot run here (no data), or None."""
    if not data_dir:
        return "no data folder: set BENCH_DATA_DIR (or --data-dir) to the GLUE data"
    if not Path(data_dir).is_dir():
        return f"data folder {data_dir} does not exist"
    return None


def run_afresh(preset: str, records: Path, data_dir: str, timeout: float | None) -> int:
    """`bench run --preset` into `records` with a cache of its own (nothing reused); its exit status."""
    with tempfile.TemporaryDirectory(prefix="bench-baseline-cache-") as cache:
        command = [sys.executable, "-m", "bench", "run", "--preset", preset, "--records", str(records),
                   "--data-dir", str(data_dir), "--quiet"]
        if timeout:
            command += ["--timeout", str(timeout)]
        return subprocess.run(command, env=dict(os.environ, BENCH_CACHE=cache)).returncode


def check(preset: str, data_dir: str | None, timeout: float | None = None, say=print,
          fail_on_latency: bool = False, confirm_latency: bool = True) -> int:
    """0 when NEW matches the baseline (or the check cannot run here, said so), 1 on a regression:
    a deterministic one, or a latency slowdown `bench ab` confirms against the baseline's revision."""
    from bench.compare import Thresholds, compare, render

    baseline = baseline_records(preset)
    if not any(baseline.glob("*.json")):
        raise UsageError(f"no baseline records in {baseline}: run `bench baseline update` and commit them")
    reason = data_missing(data_dir)
    if reason:
        say(f"bench baseline check: skipped, {reason}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        status = run_afresh(preset, Path(tmp) / "records", data_dir, timeout)
        # Latency only warns unless asked: on this shared 2-core machine identical code measured
        # 1.29x and 1.32x slower an hour after its baseline, with matmul peaks within 7%, so no
        # two-run latency gate is safe here (bench ab interleaves, and is the tool for that).
        # Peak RSS of unchanged code moved +6.1% between two runs here: 5% would cry wolf.
        limits = Thresholds(calibrate=True, latency_fails=fail_on_latency, memory_growth=0.15)
        result = compare(baseline, Path(tmp) / "records", limits)
        say(render(result))
    if status != 0 and not result.failed:
        raise BenchError(f"a cell of preset {preset} failed (bench run exit status {status})")
    confirmed = confirm_latency and not fail_on_latency and _confirmed_by_ab(result, baseline, say)
    return 1 if result.failed or confirmed else 0


def _confirmed_by_ab(result, baseline: Path, say) -> bool:
    """Whether `bench ab` confirms a latency slowdown the two runs only warned about."""
    from bench.comparison.ab import render
    from bench.comparison.confirm import confirm, flagged_latency
    from bench.storage.record import Record

    flagged = flagged_latency(result)
    if not flagged:
        return False
    shapes = sum(len(batches) for batches in flagged.values())
    say(f"latency: {shapes} slowdown warning(s) in {len(flagged)} cell(s); timing them with bench ab, the "
        "baseline's revision against this checkout, interleaved")
    results, why = confirm(flagged, Record.load_all(baseline), say=lambda line: None)
    if why:
        say(f"latency: not confirmed, {why}; the slowdown stays a warning")
        return False
    from bench.comparison.ab import DEFAULT_THRESHOLD, Side

    text, failed = render(results, Side("BASE", sys.executable, "the baseline's revision"),
                          Side("NEW", sys.executable, "this checkout"), DEFAULT_THRESHOLD)
    say(text)
    return failed


def update(preset: str, data_dir: str | None, timeout: float | None = None, say=print) -> int:
    """Run the preset afresh and make its records the baseline, only if every cell succeeded."""
    reason = data_missing(data_dir)
    if reason:
        raise UsageError(f"cannot update the baseline: {reason}")
    baseline = baseline_records(preset)
    staging = Path(tempfile.mkdtemp(prefix=".baseline-", dir=baseline.parent))
    try:
        status = run_afresh(preset, staging / "records", data_dir, timeout)
        if status != 0:
            raise BenchError(f"bench run exit status {status}: the baseline in {baseline} is left as it was")
        old = staging / "previous"
        if baseline.exists():
            baseline.rename(old)
        (staging / "records").rename(baseline)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"baseline updated: {len(list(baseline.glob('*.json')))} record(s) in {baseline}; commit them")
    return 0
