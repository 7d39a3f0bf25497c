"""`bench speed executors`: cells per hour on this machine, local executor against Ray (issue 11).

The same matrix of small real cells (identical identities under every executor) runs as a user
would run it, one fresh records folder each, through the command line:
- `local`: one `bench run`, cells one after another (each in its own process);
- `local x2`: two `bench run` processes sharing the folder, as the README suggests for 2 cores
  (the cell locks split the work);
- `ray`: one `bench run --executor ray`, a local Ray on this machine, one task per cell asking
  for the cell's threads as CPUs.
Wall time is the command's, start-up included (Ray's start is part of what a user pays). Each
run gets its own empty cache (BENCH_CACHE): a run must not reuse the trainings of the one
before. One untimed run first reads the model and data into the page cache. The executors are
run in alternating order over the repeats, so a neighbour that slows the machine for a while
does not land on one executor only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEM = "executors"
EXECUTORS = ("local", "local x2", "ray")


def matrix_spec(cells: int, model: str, task: str) -> dict:
    """`cells` seeds of one short full-ft cell: about half a minute each on one core."""
    return {
        "name": "executors-throughput", "tasks": [task], "models": [model], "methods": ["full-ft"],
        "seeds": list(range(cells)), "device": "cpu",
        "budget": {"train_limit": 512, "epochs": 1, "eval_limit": 512, "max_seq_len": 64},
        "measure": {"latency": "off", "threads": 1},
    }


def _commands(executor: str, spec: Path, records: Path) -> list[list[str]]:
    run = [sys.executable, "-m", "bench", "run", "--spec", str(spec), "--records", str(records), "--quiet"]
    if executor == "local":
        return [run]
    if executor == "local x2":
        return [run, run]
    return [run + ["--executor", "ray"]]


def run_once(executor: str, spec: Path, root: Path, env: dict) -> dict:
    """One timed run; its folder (records, cache, logs) is removed once its records are read."""
    from bench.errors import BenchError

    run_dir = root / f"{executor.replace(' ', '')}-{time.monotonic_ns()}"
    records, env = run_dir / "records", dict(env, BENCH_CACHE=str(run_dir / "cache"))
    run_dir.mkdir()
    commands = _commands(executor, spec, records)
    logs = [run_dir / f"stderr-{i}.log" for i in range(len(commands))]
    processes = []
    try:
        start = time.perf_counter()
        for command, log in zip(commands, logs, strict=True):
            with open(log, "w") as handle:  # a file, not a pipe: a chatty process must not block on it
                processes.append(subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=handle))
        for process in processes:
            process.wait()
        wall = time.perf_counter() - start
        failed = [log.read_text()[-2000:] for process, log in zip(processes, logs, strict=True) if process.returncode]
        if failed:
            raise BenchError(f"{executor}: bench run failed:\n" + "\n".join(failed))
        identities = sorted(json.loads(p.read_text())["identity"] for p in records.glob("*.json"))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"executor": executor, "wall_s": wall, "cells": len(identities), "identities": identities}


def measure(cells: int = 8, repeats: int = 2, model: str = "minilm-l6", task: str = "glue-sst2",
            data_dir: str | None = None, say=print) -> dict:
    root = Path(tempfile.mkdtemp(prefix="bench-executors-"))
    try:
        return _measure(root, cells, repeats, model, task, data_dir, say)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _measure(root: Path, cells: int, repeats: int, model: str, task: str, data_dir: str | None, say) -> dict:
    import yaml

    from bench.measure.hardware import cpu_info

    spec, warm = root / "spec.yaml", root / "warm.yaml"
    spec.write_text(yaml.safe_dump(matrix_spec(cells, model, task)))
    warm.write_text(yaml.safe_dump(matrix_spec(1, model, task)))
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("RAY_ADDRESS", None)  # the ray run is this machine's own Ray, not a cluster the shell points at
    if data_dir:
        env["BENCH_DATA_DIR"] = str(Path(data_dir).resolve())
    run_once("local", warm, root, env)  # untimed: model and data into the page cache
    runs = []
    for repeat in range(repeats):
        order = EXECUTORS if repeat % 2 == 0 else tuple(reversed(EXECUTORS))
        for executor in order:
            runs.append(dict(run_once(executor, spec, root, env), repeat=repeat))
            say(f"repeat {repeat + 1}/{repeats} {executor}: {runs[-1]['cells']} cells in {runs[-1]['wall_s']:.1f} s")
    short = [r for r in runs if r["cells"] != cells]
    if short:
        from bench.errors import BenchError

        raise BenchError(f"{short[0]['executor']}: {short[0]['cells']} records for {cells} cells")
    return {"cells": cells, "repeats": repeats, "spec": matrix_spec(cells, model, task), "machine": cpu_info(),
            "runs": runs, "same_identities": len({tuple(r["identities"]) for r in runs}) == 1}


def table(result: dict) -> str:
    import statistics

    from tabulate import tabulate

    from bench.speed.result_files import machine_text

    rows, local = [], None
    for executor in EXECUTORS:
        walls = [r["wall_s"] for r in result["runs"] if r["executor"] == executor]
        per_hour = result["cells"] * 3600 / statistics.median(walls)
        local = local or per_hour
        rows.append([executor, " / ".join(f"{w:.1f}" for w in walls), f"{per_hour:.0f}", f"{per_hour / local:.2f}x"])
    spec = result["spec"]
    head = (f"Cells per hour by executor: {result['cells']} cells ({spec['methods'][0]} of {spec['models'][0]} on "
            f"{spec['tasks'][0]}, {spec['budget']['train_limit']} training examples, 1 epoch, "
            f"{spec['budget']['eval_limit']} dev examples, one torch thread each, no latency phase), each executor run "
            f"{result['repeats']} times in alternating order, from a fresh records folder. "
            f"{machine_text(result['machine'])}\n\n")
    body = tabulate(rows, headers=["executor", "wall s (runs)", "cells/hour (median wall)", "vs local"],
                    tablefmt="github")
    same = ("The records of every run have the same identities." if result["same_identities"]
            else "WARNING: the runs' record identities differ.")
    return (head + body + "\n\nWall: the `bench run` command's, process and Ray start-up included. " + same + "\n")
