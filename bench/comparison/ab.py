"""`bench ab`: BASE and NEW measured interleaved in one run, so machine drift cannot pass for a change.

Comparing two records directories holds runs made at different times against each other: a
neighbour that slowed the machine during one run shows as a regression. Here each side is a
long-lived worker process (bench/comparison/ab_worker.py) with its own interpreter and code
(another virtual environment, or a worktree of another revision), holding the cells' models
built once; the driver asks the two workers for a round of timed calls in turn, alternating
which goes first (the scheme of asv's `continuous`). Only one worker computes at a time.

Two effects on this kind of machine decide how the rounds are read (measured: results/speed/):
- the machine's speed moves in steps lasting a second or two (another tenant): a pooled median
  credits such a step to whichever side happened to run through it, so the ratio is read per
  round instead, each round's two halves timed back to back, from many short rounds
  (bench/comparison/bootstrap.py `paired_ratio_interval`);
- two builds of the same model in one process differ in speed by a few percent (where their
  weights landed in memory), so each side builds `copies` of its model and the rounds rotate
  over them, each copy equally often first and second: the estimate averages over layouts.
  The interval is a bootstrap over rounds; it covers the machine's noise and drift, not the
  spread between builds, which only more copies shrink (the false alarms measured on identical
  code, results/speed/detection.md, are what says how much of it is left).
The decision is `bench compare`'s: a regression when the whole interval lies above the threshold.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.comparison.bootstrap import paired_ratio_interval
from bench.errors import BenchError

WORKER = Path(__file__).with_name("ab_worker.py")


DEFAULT_THRESHOLD = 1.05  # interleaving removes the drift between runs that bench compare's 1.10 allows for


@dataclass(frozen=True)
class Side:
    name: str  # "BASE" or "NEW"
    python: str
    code_dir: str


class Worker:
    """A side's worker process, spoken to one JSON line at a time."""

    def __init__(self, side: Side):
        self.side = side
        self.process = subprocess.Popen([side.python, str(WORKER), side.code_dir], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                        cwd=side.code_dir)

    def ask(self, **command) -> dict:
        try:
            self.process.stdin.write(json.dumps(command) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            line = ""
        else:
            line = self.process.stdout.readline()
        if not line:
            raise BenchError(f"{self.side.name} worker ({self.side.python}, {self.side.code_dir}) exited")
        answer = json.loads(line)
        if "error" in answer:
            raise BenchError(f"{self.side.name} ({self.side.code_dir}): {answer['error']}")
        return answer

    def close(self) -> None:
        try:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=30)
        except (OSError, ValueError, subprocess.TimeoutExpired):  # ValueError: stdin already closed
            self.process.kill()


@dataclass(frozen=True)
class AbResult:
    cell: str
    shape: str
    base_p50: float
    new_p50: float
    ratio: float
    low: float
    high: float
    samples: int  # per side
    regression: bool

    @property
    def verdict(self) -> str:
        if self.regression:
            return "significantly slower"
        return "significantly faster" if self.high < 1 else "no significant change"


def ab_compare(pairs: list[tuple], base: Side, new: Side, *, rounds: int = 40, calls: int = 5, warmup: int = 3,
               copies: int = 2, threshold: float = DEFAULT_THRESHOLD, say=print) -> list[AbResult]:
    """For each (label, base cell, new cell): both sides time each of the cell's shapes in
    `rounds` alternating rounds of `calls` calls, rotating over `copies` builds of each side's
    model; the rounds' paired ratios give the estimate and its interval."""
    if copies < 1 or rounds < 2 * copies or rounds % (2 * copies):
        raise BenchError(f"rounds ({rounds}) must be a multiple of 2 x copies ({copies}): every copy then runs "
                         "first and second equally often")
    workers = {side.name: Worker(side) for side in (base, new)}
    try:
        results = []
        for serial, (label, base_cell, new_cell) in enumerate(pairs):
            cells = {"BASE": base_cell, "NEW": new_cell}
            keys = {name: [workers[name].ask(cmd="load", cell=cells[name].to_dict(), serial=f"{serial}.{copy}")["key"]
                           for copy in range(copies)] for name in workers}
            for batch in base_cell.measure.batch_sizes:
                rounds_timed = []
                for round_index in range(rounds):
                    order = ("BASE", "NEW") if round_index % 2 == 0 else ("NEW", "BASE")
                    copy = (round_index // 2) % copies  # each copy goes first and second alike
                    timed = {name: workers[name].ask(cmd="time", key=keys[name][copy], batch=batch,
                                                     seq=base_cell.measure.seq_len, calls=calls,
                                                     warmup=warmup if round_index < 2 * copies else 1)["samples_ms"]
                             for name in order}
                    rounds_timed.append((timed["BASE"], timed["NEW"]))
                results.append(_decide(label, f"b{batch}_s{base_cell.measure.seq_len}", rounds_timed, threshold))
                say(f"{label} {results[-1].shape}: x{results[-1].ratio:.3f} "
                    f"[{results[-1].low:.3f}, {results[-1].high:.3f}] {results[-1].verdict}")
            for name, held in keys.items():  # both sides hold only the pair being timed
                for key in held:
                    workers[name].ask(cmd="drop", key=key)
        return results
    finally:
        for worker in workers.values():
            worker.close()


def _decide(label: str, shape: str, rounds: list[tuple[list, list]], threshold: float) -> AbResult:
    import statistics

    interval = paired_ratio_interval(rounds)
    if interval is None:
        raise BenchError(f"{label} {shape}: fewer than 6 rounds with positive timings, too few for an interval")
    base = [ms for timed, _ in rounds for ms in timed]
    new = [ms for _, timed in rounds for ms in timed]
    return AbResult(label, shape, statistics.median(base), statistics.median(new), interval.ratio, interval.low,
                    interval.high, len(base), interval.above(threshold))


def render(results: list[AbResult], base: Side, new: Side, threshold: float) -> tuple[str, bool]:
    from tabulate import tabulate

    rows = [[r.cell.replace("|", "\\|"), r.shape, f"{r.base_p50:.3f}", f"{r.new_p50:.3f}",
             f"x{r.ratio:.3f} [95% CI {r.low:.3f}, {r.high:.3f}]", r.samples, r.verdict,
             "REGRESSION" if r.regression else "ok"] for r in results]
    regressions = sum(r.regression for r in results)
    text = "\n".join([
        f"BASE: {base.python} on {base.code_dir}\nNEW:  {new.python} on {new.code_dir}",
        tabulate(rows, headers=["cell", "shape", "base p50 ms (pooled)", "new p50 ms (pooled)", "ratio (per round)", "samples per side",
                                "change", "verdict"], tablefmt="github"),
        f"{'FAIL' if regressions else 'ok'}: {regressions} regression(s) over {len(results)} timing(s); "
        f"interleaved rounds (ratio: trimmed mean of the rounds' paired p50 ratios), regression when the whole "
        f"interval is above x{threshold:.2f}",
    ])
    return text, bool(regressions)
