"""`bench compare` on latency samples: the bootstrap interval decides, machines are fingerprinted,
and records from other machines are normalised by their matmul peaks or not compared.

Samples are seeded lognormal draws (latency is skewed and strictly positive), written into
hand-made records as the runner writes them: `latency.<shape>.samples_ms` beside the p50.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest

from bench.cli import main
from bench.comparison.bootstrap import median_ratio_interval
from tests.test_compare_tables import make_record, write_records

CI = re.compile(r"x(\d+\.\d+) \[95% CI (\d+\.\d+), (\d+\.\d+)\]")


def draw(seed: int, n: int = 100, sigma: float = 0.05, median: float = 10.0) -> list[float]:
    """n latency samples (ms) around `median`, spread by `sigma` on the log scale."""
    return list(median * np.random.default_rng(seed).lognormal(0.0, sigma, n))


def exactly(samples: list[float], median: float) -> list[float]:
    """The same draw rescaled so its median is exactly `median` (a shift the test states exactly)."""
    return [s * median / float(np.median(samples)) for s in samples]


def timed(samples: list[float] | None, p50: float | None = None, **fields) -> dict:
    """A record whose b1_s128 latency holds `samples` (None: an older record with only the p50)."""
    record = make_record(p50=p50 if p50 is not None else float(np.median(samples)), **fields)
    if samples is not None:
        record["latency"]["b1_s128"].update(samples_ms=samples, n=len(samples))
    return record


def on_machine(record: dict, cpu: str = "Test CPU 9000", peak: float | None = None, **provenance) -> dict:
    """The record as measured on another machine: its CPU model and, when given, its torch matmul peak."""
    record["provenance"] = copy.deepcopy(record["provenance"])
    record["provenance"]["cpu"]["model"] = cpu
    record["provenance"].update(provenance)
    if peak is not None:
        record["machine"] = {"matmul_peaks": {"torch": {"gflops": peak, "trials_gflops": [peak] * 5, "spread": 0.0}}}
    return record


def compared(tmp_path, capsys, base: list[dict], new: list[dict], *flags) -> tuple[int, str]:
    """`bench compare BASE NEW` on the records: its exit code and what it printed."""
    base_dir, new_dir = write_records(tmp_path / "base", base), write_records(tmp_path / "new", new)
    code = main(["compare", str(base_dir), str(new_dir), *flags])
    return code, capsys.readouterr().out


def latency_row(out: str) -> str:
    return next(line for line in out.splitlines() if "latency.b1_s128.p50" in line)


def interval(row: str) -> tuple[float, float, float]:
    ratio, low, high = CI.search(row).groups()
    return float(ratio), float(low), float(high)


# --- the interval decides ------------------------------------------------------------


def test_draws_of_one_distribution_are_no_significant_change(tmp_path, capsys):
    code, out = compared(tmp_path, capsys, [timed(draw(1))], [timed(draw(2))])
    row = latency_row(out)
    assert code == 0 and "no significant change" in row and "REGRESSION" not in out
    ratio, low, high = interval(row)
    assert low < 1.0 < high and abs(ratio - 1) < 0.03


def test_a_15_percent_slowdown_with_modest_noise_is_flagged(tmp_path, capsys):
    base, new = exactly(draw(1), 10.0), exactly(draw(2), 11.5)
    code, out = compared(tmp_path, capsys, [timed(base)], [timed(new)])
    row = latency_row(out)
    assert code == 1 and "REGRESSION" in row and "significantly slower" in row
    ratio, low, high = interval(row)
    assert ratio == pytest.approx(1.15, abs=1e-3) and 1.10 < low < ratio < high


def test_a_noisy_12_percent_slowdown_is_not_flagged(tmp_path, capsys):
    # The plain p50 ratio (1.12) passes 1.10, but 20 samples this noisy cannot tell 1.12 from 1.0.
    base, new = exactly(draw(1, n=20, sigma=0.3), 10.0), exactly(draw(2, n=20, sigma=0.3), 11.2)
    code, out = compared(tmp_path, capsys, [timed(base)], [timed(new)])
    row = latency_row(out)
    assert code == 0 and "no significant change" in row and "REGRESSION" not in out
    ratio, low, high = interval(row)
    assert ratio == pytest.approx(1.12, abs=1e-3) and low < 1.10 < high


def test_an_interval_below_the_inverse_threshold_is_an_improvement(tmp_path, capsys):
    code, out = compared(tmp_path, capsys, [timed(exactly(draw(1), 10.0))], [timed(exactly(draw(2), 8.0))])
    assert code == 0 and "significantly faster" in latency_row(out)


def test_the_threshold_flag_moves_the_bound_the_interval_must_pass(tmp_path, capsys):
    base, new = [timed(exactly(draw(1), 10.0))], [timed(exactly(draw(2), 11.5))]
    code, out = compared(tmp_path / "loose", capsys, base, new, "--latency-threshold", "1.2")
    assert code == 0 and "no significant change" in latency_row(out)


def test_the_interval_is_reproducible():
    base, new = draw(1, n=40, sigma=0.3), draw(2, n=40, sigma=0.3)
    assert median_ratio_interval(base, new) == median_ratio_interval(base, new)
    assert median_ratio_interval(base[:5], new) is None  # too few samples for an interval


def test_twenty_comparisons_of_identical_code_raise_at_most_one_flag(tmp_path, capsys):
    # 20 cells, each BASE and NEW an independent draw of one noisy distribution (n=30, sigma=0.5:
    # a shared machine). The plain p50 ratio crosses 1.10 in several of them; the interval rarely.
    base = [timed(draw(seed, n=30, sigma=0.5), seed=cell) for cell, seed in enumerate(range(0, 40, 2))]
    new = [timed(draw(seed, n=30, sigma=0.5), seed=cell) for cell, seed in enumerate(range(1, 40, 2))]
    code, out = compared(tmp_path, capsys, base, new)
    rows = [line for line in out.splitlines() if "latency.b1_s128.p50" in line]
    assert len(rows) == 20
    assert sum("REGRESSION" in row for row in rows) <= 1
    plain_alarms = sum(n["latency"]["b1_s128"]["p50"] / b["latency"]["b1_s128"]["p50"] > 1.10
                       for b, n in zip(base, new, strict=True))
    assert plain_alarms >= 3  # the noise is real: the old rule would have cried wolf


# --- records without samples ---------------------------------------------------------


def test_records_without_samples_fall_back_to_the_p50_ratio_and_say_so(tmp_path, capsys):
    code, out = compared(tmp_path, capsys, [timed(None, p50=10.0)], [timed(draw(2))])  # BASE is an older record
    row = latency_row(out)
    assert "p50 only" in row and "CI" not in row
    assert "note: 'p50 only': BASE or NEW kept fewer than 6 samples of that timing" in out
    code, out = compared(tmp_path / "slow", capsys, [timed(None, p50=10.0)], [timed(None, p50=12.0)])
    assert code == 1 and "x1.200 p50 only" in latency_row(out) and "REGRESSION" in latency_row(out)


# --- machine fingerprints ------------------------------------------------------------


def test_other_machine_without_peaks_refuses_latency_but_checks_the_rest(tmp_path, capsys):
    base = timed(exactly(draw(1), 10.0))
    slower_elsewhere = on_machine(timed(exactly(draw(2), 15.0)), cpu="AMD EPYC 7B13")
    code, out = compared(tmp_path, capsys, [base], [slower_elsewhere])
    row = latency_row(out)
    assert code == 0 and "not compared" in row and "REGRESSION" not in out
    assert ("note: latency not compared, the machines differ: CPU model differs: Test CPU 9000 vs AMD EPYC 7B13; "
            "no matmul peak in BASE and NEW") in out
    assert out.splitlines()[-1].endswith("1 timing(s) not compared (see the notes)")
    # Deterministic quantities are compared whatever the machines.
    changed = on_machine(timed(exactly(draw(2), 10.0), total=1001), cpu="AMD EPYC 7B13")
    code, out = compared(tmp_path / "params", capsys, [base], [changed])
    assert code == 1 and "params.total" in next(line for line in out.splitlines() if "REGRESSION" in line)


def test_a_cell_that_shared_its_gpu_is_not_compared_for_latency(tmp_path, capsys):
    base = timed(exactly(draw(1), 10.0))
    packed = dict(timed(exactly(draw(2), 15.0)), executor={"name": "ray", "gpu_shared": True})
    code, out = compared(tmp_path, capsys, [base], [packed])
    assert code == 0 and "not compared" in latency_row(out) and "REGRESSION" not in out
    assert "GPU shared" in latency_row(out)
    assert "note: latency not compared: NEW asked for a share of a GPU (--cells-per-gpu)" in out
    assert out.splitlines()[-1].endswith("1 timing(s) not compared (see the notes)")


def test_one_missing_peak_is_named(tmp_path, capsys):
    base = on_machine(timed(draw(1)), peak=200.0)
    new = on_machine(timed(draw(2)), cpu="Other CPU")
    _, out = compared(tmp_path, capsys, [base], [new])
    assert "no matmul peak in NEW to normalise by" in out


def test_other_machine_with_peaks_is_compared_normalised(tmp_path, capsys):
    # NEW's machine is half as fast: its matmul peak is half, its times double. Normalised, nothing changed.
    base = on_machine(timed(exactly(draw(1), 10.0)), peak=200.0)
    half_speed = on_machine(timed(exactly(draw(2), 20.0)), cpu="Slow CPU", peak=100.0)
    code, out = compared(tmp_path, capsys, [base], [half_speed])
    row = latency_row(out)
    assert code == 0 and "normalised (raw x2.000)" in row and "no significant change" in row
    assert interval(row)[0] == pytest.approx(1.0, abs=1e-3)
    assert ("note: the machines differ: CPU model differs: Test CPU 9000 vs Slow CPU; latency normalised by each "
            "record's fp32 matmul peak measured in its own process (time x GFLOP/s; torch best of 5 trials)") in out


def test_a_normalised_slowdown_is_a_warning_not_a_failure(tmp_path, capsys):
    base = on_machine(timed(exactly(draw(1), 10.0)), peak=200.0)
    slower = on_machine(timed(exactly(draw(2), 30.0)), cpu="Slow CPU", peak=100.0)  # x1.5 after normalising
    code, out = compared(tmp_path, capsys, [base], [slower])
    row = latency_row(out)
    assert code == 0 and row.rstrip(" |").endswith("warning") and "significantly slower" in row
    assert out.splitlines()[-1].startswith("ok:") and out.splitlines()[-1].endswith("1 warning(s)")


def test_threads_and_cpu_flags_are_part_of_the_fingerprint(tmp_path, capsys):
    base = on_machine(timed(draw(1)))
    flags = {"avx2": True, "avx512_vnni": True, "amx_int8": True}
    base["provenance"]["cpu"]["flags"] = flags
    new = on_machine(timed(draw(2)), threads={"torch_num_threads": 1})
    new["provenance"]["cpu"]["flags"] = {**flags, "amx_int8": False, "avx512_bf16": True}  # bf16: unknown in BASE
    _, out = compared(tmp_path, capsys, [base], [new])
    assert "torch threads differs: 2 vs 1; CPU flags differ: amx_int8 only in BASE;" in out


def test_library_versions_are_noted_and_latency_is_compared_directly(tmp_path, capsys):
    base = on_machine(timed(exactly(draw(1), 10.0)), packages={"torch": "2.13.0", "transformers": "5.24.0"})
    new = on_machine(timed(exactly(draw(2), 11.5)), packages={"torch": "2.14.0", "transformers": "5.24.0"})
    code, out = compared(tmp_path, capsys, [base], [new])
    assert code == 1 and "REGRESSION" in latency_row(out)  # a slower torch is what the check is for
    assert "note: libraries differ (torch 2.13.0 vs 2.14.0): latency compared directly" in out


def test_a_note_shared_by_cells_is_printed_once_with_their_count(tmp_path, capsys):
    base = [timed(None, p50=10.0, seed=s) for s in range(3)]
    _, out = compared(tmp_path, capsys, base, copy.deepcopy(base))
    assert out.count("note: 'p50 only'") == 1 and "(3 cells)" in out


# --- generation cells ----------------------------------------------------------------


def generation_record(ttft: list[float], tokens_per_s: list[float]) -> dict:
    record = make_record(task="mt-wmt14-en-de")
    del record["latency"]
    record["generation"] = {
        "ttft": {"p50": float(np.median(ttft)), "samples_ms": ttft},
        "runs": {"1": {"decode_tokens_per_s": tokens_per_s,
                       "decode_tokens_per_s_median": float(np.median(tokens_per_s))},
                 "32": {"decode_tokens_per_s_median": 900.0}},  # no per-run list: p50 only
    }
    return record


def test_generation_cells_compare_first_token_and_decode_time(tmp_path, capsys):
    base = generation_record(exactly(draw(1), 20.0), exactly(draw(3, n=12), 100.0))
    new = generation_record(exactly(draw(2), 20.0), exactly(draw(4, n=12), 80.0))  # decode 20% fewer tokens/s
    code, out = compared(tmp_path, capsys, [base], [new])
    rows = {line.split("|")[2].strip(): line for line in out.replace("\\|", "").splitlines() if "generation." in line}
    assert set(rows) == {"generation.ttft.p50", "generation.decode_b1.ms_per_token",
                         "generation.decode_b32.ms_per_token"}
    assert "no significant change" in rows["generation.ttft.p50"]
    decode = rows["generation.decode_b1.ms_per_token"]
    assert "REGRESSION" in decode and interval(decode)[0] == pytest.approx(1.25, abs=1e-3)  # 10 -> 12.5 ms/token
    assert "x1.000 p50 only" in rows["generation.decode_b32.ms_per_token"]
    assert code == 1


def test_a_fixed_seed_metric_change_fails_on_one_machine_and_warns_across_two(tmp_path, capsys):
    samples = draw(3)
    base = timed(samples)
    worse = copy.deepcopy(base)
    worse["metrics"] = {name: value - 0.01 for name, value in base["metrics"].items()}
    code, out = compared(tmp_path / "same", capsys, [base], [worse])
    assert code == 1 and "REGRESSION" in next(line for line in out.splitlines() if "metrics." in line)
    code, out = compared(tmp_path / "other", capsys, [base], [on_machine(copy.deepcopy(worse), cpu="Other CPU 1")])
    row = next(line for line in out.splitlines() if "metrics." in line)
    assert code == 0 and "(other machine)" in row and row.rstrip(" |").endswith("warning"), out


def test_calibrated_on_one_machine_a_busy_run_warns_and_a_quiet_slowdown_fails(tmp_path, capsys):
    base = on_machine(timed(exactly(draw(1), 10.0)), peak=200.0)
    busy = on_machine(timed(exactly(draw(2), 14.0)), peak=140.0)  # same machine, other jobs took 30% of it
    code, out = compared(tmp_path / "busy", capsys, [base], [busy])
    assert code == 1 and "REGRESSION" in latency_row(out)  # uncalibrated, the load reads as a regression
    code, out = compared(tmp_path / "busy-calibrated", capsys, [base], [busy], "--calibrate")
    assert code == 0 and "the matmul peak moved -30.0%" in out and "no significant change" in latency_row(out)
    slower = on_machine(timed(exactly(draw(3), 15.0)), peak=195.0)  # as quiet as BASE's run, the cell 1.5x slower
    code, out = compared(tmp_path / "slower-calibrated", capsys, [base], [slower], "--calibrate")
    assert code == 1 and latency_row(out).rstrip(" |").endswith("REGRESSION") and "compared directly" in out
    busy_and_slower = on_machine(timed(exactly(draw(4), 30.0)), peak=140.0)
    code, out = compared(tmp_path / "busy-slower", capsys, [base], [busy_and_slower], "--calibrate")
    assert code == 0 and latency_row(out).rstrip(" |").endswith("warning")


def test_latency_can_be_made_a_warning_while_deterministic_checks_still_fail(tmp_path):
    from bench.compare import Thresholds, compare
    from tests.test_compare_tables import write_records

    base = on_machine(timed(exactly(draw(1), 10.0)), peak=200.0)
    slower = on_machine(timed(exactly(draw(2), 15.0)), peak=200.0)
    result = compare(write_records(tmp_path / "b", [base]), write_records(tmp_path / "n", [slower]),
                     Thresholds(latency_fails=False))
    assert not result.failed and [d.verdict for d in result.differences] == ["warning"]
    slower["params"]["total"] += 1
    result = compare(write_records(tmp_path / "b2", [base]), write_records(tmp_path / "n2", [slower]),
                     Thresholds(latency_fails=False))
    assert result.failed and {d.quantity: d.verdict for d in result.differences}["params.total"] == "REGRESSION"


# --- bench ab's paired rounds ---------------------------------------------------------


def drifting_rounds(seed: int, slowdown: float = 1.0, rounds: int = 40, calls: int = 5) -> list:
    """Rounds on a machine whose speed moves by +-15% from round to round (a neighbour), the
    same for both halves of a round; NEW is `slowdown` times BASE."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        machine = 10.0 * rng.lognormal(0.0, 0.15)
        out.append((list(machine * rng.lognormal(0.0, 0.02, calls)),
                    list(machine * slowdown * rng.lognormal(0.0, 0.02, calls))))
    return out


def test_paired_rounds_cancel_drift_that_pooled_samples_cannot():
    from bench.comparison.bootstrap import median_ratio_interval, paired_ratio_interval

    same = drifting_rounds(1)
    paired = paired_ratio_interval(same)
    assert paired.low < 1 < paired.high and paired.high / paired.low < 1.03
    pooled = median_ratio_interval([ms for base, _ in same for ms in base], [ms for _, new in same for ms in new])
    assert pooled.high - pooled.low > 3 * (paired.high - paired.low)  # the drift lands in the pooled interval
    slower = paired_ratio_interval(drifting_rounds(2, slowdown=1.10))
    assert slower.above(1.05) and slower.ratio == pytest.approx(1.10, abs=0.01)


def test_a_round_split_by_a_slowdown_does_not_decide_the_ratio():
    from bench.comparison.bootstrap import paired_ratio_interval

    rounds = drifting_rounds(3)
    rounds[:3] = [(base, [ms * 1.5 for ms in new]) for base, new in rounds[:3]]  # a neighbour hit NEW's halves only
    interval = paired_ratio_interval(rounds)
    assert interval.ratio == pytest.approx(1.0, abs=0.01) and not interval.above(1.05)
    assert paired_ratio_interval(rounds[:5]) is None  # too few rounds for an interval
