"""`bench speed latency`: what the adaptive latency rule saves, and what interval it buys.

A cell's measurement phase times one model at each (batch, 128) shape. This runs that phase
(bench/inference.py `measure_latencies`, as cells call it) on one loaded model under each
rule, alternating the rules over repeats so machine drift lands on both, and keeps per rule
and shape the phase's wall time, the calls made, and the half-width of the p50's 95% interval.
"""

from __future__ import annotations

import statistics
import time

from bench.speed.result_files import machine_text

STEM = "latency"  # latency.json and latency.md (bench/speed/result_files.py)


def compare_rules(model: str, task: str, repeats: int, rules=("fixed", "default"), batch_sizes=(1, 32),
                  seq_len: int = 128, threads: int | None = None, say=print) -> dict:
    from bench.cell import Cell, MeasureSettings
    from bench.inference import measure_latencies
    from bench.measure.hardware import cpu_info
    from bench.measure.threads import set_threads
    from bench.modeling.load import load_model, load_tokenizer, resolve
    from bench.registry import TASKS
    from bench.runtime.artifact import TorchArtifact

    set_threads(threads)
    source = resolve(model)
    artifact = TorchArtifact(load_model(source, TASKS.get(task).obj, tokenizer=load_tokenizer(source)).eval())
    runs = []
    for repeat in range(repeats):
        order = rules if repeat % 2 == 0 else tuple(reversed(rules))  # neither rule always goes first
        for rule in order:
            cell = Cell(task=task, chain=(), model=model,
                        measure=MeasureSettings(latency=rule, batch_sizes=tuple(batch_sizes), seq_len=seq_len,
                                                threads=threads))
            started = time.perf_counter()
            shapes = measure_latencies(artifact, cell)
            wall = time.perf_counter() - started
            runs.append({"rule": rule, "repeat": repeat, "wall_s": wall, "shapes": {
                key: {k: v[k] for k in ("n", "p50", "p50_ci95", "p50_ci95_halfwidth", "stopped_by", "samples_ms")}
                for key, v in shapes.items()}})
            say(f"repeat {repeat + 1}/{repeats} {rule}: {wall:.1f} s; " + ", ".join(
                f"{key} n={v['n']} p50 {v['p50']:.2f} ms +-{100 * (v['p50_ci95_halfwidth'] or float('nan')):.2f}%"
                for key, v in shapes.items()))
    return {"setup": {"model": model, "task": task, "repeats": repeats, "batch_sizes": list(batch_sizes),
                      "seq_len": seq_len, "threads": threads},
            "machine": cpu_info(), "runs": runs, "summary": summarise(runs, rules)}


def summarise(runs: list[dict], rules) -> dict:
    """Per rule: median phase time and, per shape, median calls and half-width; the time ratio
    of each rule to the first (`fixed`, today's)."""
    summary = {}
    for rule in rules:
        mine = [r for r in runs if r["rule"] == rule]
        shapes = sorted({key for r in mine for key in r["shapes"]})
        summary[rule] = {
            "wall_s": statistics.median(r["wall_s"] for r in mine),
            "wall_s_runs": [r["wall_s"] for r in mine],
            "shapes": {key: {
                "n": statistics.median(r["shapes"][key]["n"] for r in mine),
                "halfwidth": statistics.median(r["shapes"][key]["p50_ci95_halfwidth"] for r in mine),
                "halfwidth_runs": [r["shapes"][key]["p50_ci95_halfwidth"] for r in mine],
                "p50_ms": statistics.median(r["shapes"][key]["p50"] for r in mine),
            } for key in shapes},
        }
    first = summary[rules[0]]["wall_s"]
    for values in summary.values():
        values["time_vs_first"] = values["wall_s"] / first
    return summary


def table(result: dict) -> str:
    from tabulate import tabulate

    setup, machine = result["setup"], result["machine"]
    rows = []
    for rule, values in result["summary"].items():
        for key, shape in values["shapes"].items():
            rows.append([rule, key, f"{shape['p50_ms']:.2f}", f"{shape['n']:.0f}",
                         f"+-{100 * shape['halfwidth']:.2f}%",
                         " / ".join(f"{100 * h:.2f}" for h in shape["halfwidth_runs"]),
                         f"{values['wall_s']:.1f}", f"{values['time_vs_first']:.2f}x"])
    shapes = ", ".join(f"b{b}_s{setup['seq_len']}" for b in setup["batch_sizes"])
    head = (f"Latency measurement phase, side by side: {setup['model']} ({setup['task']} head), fp32 eager, shapes "
            f"{shapes}, {setup['repeats']} alternating repeats in one process. {machine_text(machine)}\n\n")
    body = tabulate(rows, headers=["rule", "shape", "p50 ms", "calls (median)", "p50 95% interval (median)",
                                   "interval per repeat, %", "phase s (median)", "phase time vs fixed"],
                    tablefmt="github")
    foot = ("\n\nfixed: warm-up 10, then >= 50 calls and >= 2 s (PROTOCOL's minimums, the default before). "
            "default: warm-up 10, then until the p50's 95% order-statistic interval is within +-2% (>= 10 calls "
            "and 0.2 s, at most 10 s per shape). The interval is the larger side's distance from the p50.\n")
    return head + body + foot
