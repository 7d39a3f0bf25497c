"""One side of `bench ab`: a process that builds cells' models once and times them on request.

Run as `PYTHON ab_worker.py CODE_DIR`: CODE_DIR (a checkout, or a worktree of another revision)
goes first on sys.path, so the side measures its own code with its own interpreter and
libraries. It reads one JSON command per line on stdin and answers one JSON line on stdout:
  {"cmd": "load", "cell": CELL}                      -> {"ok": true, "key": K}
  {"cmd": "time", "key": K, "batch": B, "seq": S, "calls": N, "warmup": W} -> {"samples_ms": [...]}
  {"cmd": "drop", "key": K}                        -> {"ok": true}  (frees a model no longer timed)
  {"cmd": "quit"}
Cells are built architecture-only (random weights, the chain applied, nothing trained):
inference speed does not depend on the weights' values, and the two sides must not differ by
what their training happened to learn. Only bench.runner's prepare/apply_chain, the artifact's
timed_call, reference_inputs and measure_latency are used, so older revisions serve too.
"""

from __future__ import annotations

import json
import sys


def main() -> int:
    sys.path.insert(0, sys.argv[1])
    answers, sys.stdout = sys.stdout, sys.stderr  # whatever a library prints must not corrupt the answers
    import dataclasses
    import gc
    import tempfile

    from bench.cell import Cell
    from bench.measure.flops import reference_inputs
    from bench.measure.latency import measure_latency
    from bench.runner import apply_chain, prepare

    artifacts, workdir = {}, tempfile.mkdtemp(prefix="bench-ab-")
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "quit":
            break
        try:
            if command["cmd"] == "drop":
                del artifacts[command["key"]]
                gc.collect()  # a worker timing many cells must not grow with each one
                answer = {"ok": True}
            elif command["cmd"] == "load":
                cell = dataclasses.replace(Cell.from_dict(command["cell"]), arch_only=True)
                key = str(command.get("serial", len(artifacts)))
                artifacts[key] = apply_chain(cell, prepare(cell, None, workdir)).artifact
                answer = {"ok": True, "key": key}
            else:
                artifact = artifacts[command["key"]]
                inputs = reference_inputs(artifact.vocab_size, command["batch"], command["seq"])
                result = measure_latency(artifact.timed_call(inputs), warmup=command["warmup"],
                                         min_iters=command["calls"], min_seconds=0.0)
                answer = {"samples_ms": result.samples_ms}
        except Exception as error:  # noqa: BLE001 - the driver reports it with the side's name
            answer = {"error": f"{type(error).__name__}: {error}"}
        print(json.dumps(answer), file=answers, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
