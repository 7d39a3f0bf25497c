"""`bench compare-benchmarks BASE.json NEW.json`: pytest-benchmark runs of the harness's hot paths
(tests/benchmarks/), judged as `bench compare` judges latency: by the bootstrap interval of the
median-time ratio over each benchmark's rounds, not by one fixed ratio of two medians.

The rounds come from `--benchmark-save-data`; a file without them falls back to the medians,
said so. Benchmarks of one side only are listed; NEW losing a benchmark fails, as a lost cell does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bench.comparison.bootstrap import median_ratio_interval
from bench.errors import UsageError


@dataclass(frozen=True)
class BenchmarkChange:
    name: str
    base_median_s: float
    new_median_s: float
    change: str
    regression: bool


def load(path: str | Path) -> dict[str, dict]:
    """{benchmark name: its stats} of a pytest-benchmark JSON file."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {b["fullname"]: b["stats"] for b in data["benchmarks"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"{path}: not a pytest-benchmark JSON file ({error})") from None


def compare_runs(base: dict[str, dict], new: dict[str, dict], threshold: float) -> list[BenchmarkChange]:
    changes = []
    for name in sorted(set(base) & set(new)):
        b, n = base[name], new[name]
        interval = median_ratio_interval(b.get("data") or [], n.get("data") or [])
        if interval is None:
            ratio = n["median"] / b["median"]
            why = "fewer than 6 rounds" if b.get("data") and n.get("data") else "run with --benchmark-save-data"
            change, regression = f"x{ratio:.3f} medians only ({why})", ratio > threshold
        else:
            verdict = ("significantly slower" if interval.above(threshold) else
                       "significantly faster" if interval.below(1 / threshold) else "no significant change")
            change = f"x{interval.ratio:.3f} [95% CI {interval.low:.3f}, {interval.high:.3f}] {verdict}"
            regression = interval.above(threshold)
        changes.append(BenchmarkChange(name, b["median"], n["median"], change, regression))
    return changes


def render(base: dict, new: dict, changes: list[BenchmarkChange]) -> tuple[str, bool]:
    """The table and the verdict line; True when the comparison fails."""
    from tabulate import tabulate

    rows = [[c.name, f"{c.base_median_s * 1e3:.2f}", f"{c.new_median_s * 1e3:.2f}", c.change,
             "REGRESSION" if c.regression else "ok"] for c in changes]
    lost = sorted(set(base) - set(new))
    lines = [tabulate(rows, headers=["benchmark", "base ms", "new ms", "change", "verdict"], tablefmt="github")]
    lines += [f"MISSING (only in BASE): {name}" for name in lost]
    lines += [f"only in NEW: {name}" for name in sorted(set(new) - set(base))]
    failed = bool(lost) or any(c.regression for c in changes) or not changes
    regressions = sum(c.regression for c in changes)
    lines.append(f"{'FAIL' if failed else 'ok'}: {regressions} regression(s) over {len(changes)} matched "
                 f"benchmark(s){f', {len(lost)} missing from NEW' if lost else ''}")
    return "\n".join(lines), failed
