"""`bench compare-benchmarks`: pytest-benchmark files judged by the bootstrap interval of the
median-time ratio over their rounds."""

from __future__ import annotations

import json

import numpy as np

from bench.cli import main


def benchmark_file(path, medians: dict[str, float], rounds: int | None = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    benchmarks = []
    for name, median in medians.items():
        stats = {"median": median}
        if rounds:
            stats["data"] = list(median * rng.lognormal(0.0, 0.03, rounds))
        benchmarks.append({"fullname": name, "stats": stats})
    path.write_text(json.dumps({"benchmarks": benchmarks}))
    return str(path)


def test_a_real_slowdown_fails_and_noise_does_not(tmp_path, capsys):
    base = benchmark_file(tmp_path / "base.json", {"encode": 1.0, "flops": 0.2}, seed=1)
    same = benchmark_file(tmp_path / "same.json", {"encode": 1.0, "flops": 0.2}, seed=2)
    assert main(["compare-benchmarks", base, same]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok: 0 regression(s) over 2 matched benchmark(s)"
    slower = benchmark_file(tmp_path / "slower.json", {"encode": 1.25, "flops": 0.2}, seed=3)
    assert main(["compare-benchmarks", base, slower]) == 1
    out = capsys.readouterr().out
    encode = next(line for line in out.splitlines() if line.startswith("| encode"))
    assert "significantly slower" in encode and "REGRESSION" in encode


def test_a_lost_benchmark_fails_and_files_without_rounds_fall_back_to_medians(tmp_path, capsys):
    base = benchmark_file(tmp_path / "base.json", {"encode": 1.0, "flops": 0.2}, rounds=None)
    new = benchmark_file(tmp_path / "new.json", {"encode": 1.05}, rounds=None)
    assert main(["compare-benchmarks", base, new]) == 1
    out = capsys.readouterr().out
    assert "medians only (run with --benchmark-save-data)" in out and "MISSING (only in BASE): flops" in out


def test_a_file_that_is_not_a_benchmark_run_is_refused(tmp_path, capsys):
    (tmp_path / "x.json").write_text("{}")
    assert main(["compare-benchmarks", str(tmp_path / "x.json"), str(tmp_path / "x.json")]) == 2
    assert "not a pytest-benchmark JSON file" in capsys.readouterr().err
