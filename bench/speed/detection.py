"""`bench speed detection`: how often the latency checks cry wolf, and how often they catch a slowdown.

Issue 12's goals, measured on the machine it runs on:
- records mode (`bench compare`): 20 comparisons of two runs of the same model raise at most 1
  flag, and a model with one more layer (6 -> 7 encoder layers, about 15% more work) is flagged
  in at least 19 of 20;
- A/B mode (`bench ab`): the same for about 10% more work (10 -> 11 layers), each comparison
  timed interleaved in one run.
A run is what a cell's latency phase does (the default adaptive rule, batch 1, sequence 128),
and a comparison is the decision `bench compare` makes: the bootstrap 95% interval of
p50(NEW)/p50(BASE) wholly above the threshold. The models are MiniLM-L6's with the layer count
changed (the added layers start random: speed does not depend on weights).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

STEM = "detection"


def variant(model_dir: Path, layers: int, root: Path) -> Path:
    """A copy of a model directory (weights linked, not copied) with `layers` encoder layers."""
    target = root / f"layers-{layers}"
    target.mkdir()
    for item in model_dir.iterdir():
        if item.is_file() and item.name != "config.json":
            (target / item.name).symlink_to(item)
    config = json.loads((model_dir / "config.json").read_text())
    (target / "config.json").write_text(json.dumps(dict(config, num_hidden_layers=layers)))
    return target


def records_mode(dirs: dict[int, Path], base_layers: int, slow_layers: int, pairs: int, threshold: float,
                 say=print) -> dict:
    """`pairs` + 1 runs of the base model and `pairs` of the slower one, alternating; identical
    pairs are consecutive base runs, slowdown pairs a base run against the slower run after it."""
    from bench.cell import Cell, MeasureSettings
    from bench.comparison.bootstrap import median_ratio_interval
    from bench.inference import measure_latencies
    from bench.modeling.load import load_model, resolve
    from bench.registry import TASKS
    from bench.runtime.artifact import TorchArtifact

    task = TASKS.get("glue-sst2").obj
    artifacts = {n: TorchArtifact(load_model(resolve(str(dirs[n])), task).eval()) for n in (base_layers, slow_layers)}
    cell = Cell(task="glue-sst2", chain=(), model="x", measure=MeasureSettings(batch_sizes=(1,)))

    def run(layers: int) -> list[float]:
        return measure_latencies(artifacts[layers], cell)["b1_s128"]["samples_ms"]

    base_runs, slow_runs = [run(base_layers)], []
    for i in range(pairs):
        slow_runs.append(run(slow_layers))
        base_runs.append(run(base_layers))
        say(f"records mode, run {i + 1}/{pairs}")
    identical = [median_ratio_interval(a, b) for a, b in zip(base_runs, base_runs[1:], strict=False)]
    slower = [median_ratio_interval(a, b) for a, b in zip(base_runs, slow_runs, strict=False)]
    return _summary(identical, slower, threshold, f"{base_layers} -> {slow_layers} layers")


def ab_mode(dirs: dict[int, Path], base_layers: int, slow_layers: int, pairs: int, threshold: float,
            rounds: int, calls: int, copies: int = 2, say=print) -> dict:
    import sys

    from bench.comparison.ab import Side, ab_compare
    from bench.comparison.bootstrap import RatioInterval
    from bench.spec import expand

    def cell(layers: int):
        (only,) = expand({"tasks": ["glue-sst2"], "methods": ["full-ft"], "models": [str(dirs[layers])],
                          "device": "cpu", "measure": {"batch_sizes": [1]}})
        return only

    checkout = str(Path(__file__).resolve().parents[2])
    base, slow = cell(base_layers), cell(slow_layers)
    work = [("same", base, base), ("slower", base, slow)] * pairs  # alternating kinds, one worker pair
    results = ab_compare(work, Side("BASE", sys.executable, checkout), Side("NEW", sys.executable, checkout),
                         rounds=rounds, calls=calls, copies=copies, threshold=threshold, say=say)
    as_interval = {r: RatioInterval(r.ratio, r.low, r.high) for r in results}
    return _summary([as_interval[r] for r in results if r.cell == "same"],
                    [as_interval[r] for r in results if r.cell == "slower"], threshold,
                    f"{base_layers} -> {slow_layers} layers", rounds=rounds, calls=calls, copies=copies)


def _summary(identical, slower, threshold: float, slowdown: str, **settings) -> dict:
    return {
        "threshold": threshold, "slowdown": slowdown, **settings,
        "false_alarms": sum(i.above(threshold) for i in identical), "identical_pairs": len(identical),
        "detected": sum(i.above(threshold) for i in slower), "slowdown_pairs": len(slower),
        "identical": [[i.ratio, i.low, i.high] for i in identical],
        "slower": [[i.ratio, i.low, i.high] for i in slower],
    }


MODES = ("records", "ab")


def measure_detection(model: str = "minilm-l6", pairs: int = 20, rounds: int = 40, calls: int = 5,
                      threshold: float = 1.10, ab_threshold: float = 1.05, modes=MODES, earlier: dict | None = None,
                      say=print) -> dict:
    """Both modes' figures; a mode not in `modes` keeps its figures from `earlier` (a previous result)."""
    import datetime

    from bench.measure.hardware import cpu_info
    from bench.modeling.load import resolve

    if earlier and (earlier.get("model"), earlier.get("pairs")) != (model, pairs):
        from bench.errors import UsageError

        raise UsageError(f"the figures kept from before are of {earlier.get('model')} with {earlier.get('pairs')} "
                         f"pairs, not {model} with {pairs}: run both modes")
    if earlier and earlier.get("machine") != cpu_info():
        from bench.errors import UsageError

        raise UsageError("the figures kept from before were measured on another machine: run both modes")
    source = Path(resolve(model).location())
    root = Path(tempfile.mkdtemp(prefix="bench-detection-"))
    today = datetime.date.today().isoformat()
    result = dict(earlier or {}, model=model, machine=cpu_info(), pairs=pairs)
    try:
        dirs = {n: variant(source, n, root) for n in (6, 7, 10, 11)}
        if "records" in modes:
            result["records_mode"] = dict(records_mode(dirs, 6, 7, pairs, threshold, say), date=today)
        if "ab" in modes:
            result["ab_mode"] = dict(ab_mode(dirs, 10, 11, pairs, ab_threshold, rounds, calls, say=say), date=today)
        return result
    finally:
        shutil.rmtree(root, ignore_errors=True)


def table(result: dict) -> str:
    from tabulate import tabulate

    from bench.speed.result_files import machine_text

    rows = []
    for mode, name, goal in (("records_mode", "bench compare (two runs)", "15%"), ("ab_mode", "bench ab (interleaved)",
                                                                                  "10%")):
        r = result[mode]
        rows.append([name, r["slowdown"], f"x{r['threshold']:.2f}", f"{r['false_alarms']} of {r['identical_pairs']}",
                     f"{r['detected']} of {r['slowdown_pairs']}", f"<= 1 false alarm; slowdown ({goal}) >= 19 of 20",
                     r.get("date", "-")])
    head = (f"Regression detection on {result['model']} (batch 1, sequence 128), {result['pairs']} comparisons of each "
            f"kind. {machine_text(result['machine'])}\n\n")
    body = tabulate(rows, headers=["mode", "slowdown injected", "threshold", "false alarms (identical)",
                                   "slowdowns flagged", "goal", "measured"], tablefmt="github")
    ab = result["ab_mode"]
    how = (f"bench ab: {ab['rounds']} rounds of {ab['calls']} calls per side, rotating over {ab['copies']} builds of "
           "each side's model; the ratio is the trimmed mean of the rounds' paired p50 ratios, its interval a "
           "bootstrap over rounds." if "copies" in ab else
           f"bench ab: {ab['rounds']} rounds of {ab['calls']} calls per side, samples pooled per side.")
    return (head + body + "\n\nA flag: the bootstrap 95% interval of p50(NEW)/p50(BASE) wholly above the "
            "threshold. " + how + "\n")
