"""`bench speed train`: the harness's training step against HF Trainer's, side by side.

The paths alternate (harness, grouped Trainer, padded Trainer, then again) so that a slow
minute of a shared machine lands on every path alike; each run is a fresh process. The
result keeps every run's step timestamps, the machine and the setup, and the table gives
each path's median time per step over its repeats and its ratio to the best Trainer path.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from dataclasses import asdict

from bench.errors import BenchError
from bench.speed.result_files import machine_text
from bench.speed.train_paths import PATHS, Setup

STEM = "train"  # train.json and train.md (bench/speed/result_files.py)
TRAINER_PATHS = ("trainer-grouped", "trainer-padded")


def run_once(path: str, precision: str, setup: Setup, timeout_s: float) -> dict:
    """One path in a process of its own; its PathRun as a dict."""
    command = [sys.executable, "-m", "bench.speed.train_paths", path, precision, json.dumps(asdict(setup))]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise BenchError(f"speed run {path} ({precision}) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(setup: Setup, repeats: int, precisions: tuple[str, ...], timeout_s: float = 1800,
            say=print) -> dict:
    """Every path `repeats` times, alternating; bf16 (if asked) on the harness and the grouped Trainer."""
    from bench.measure.hardware import cpu_info

    plan = [(path, "fp32") for path in PATHS]
    plan += [(path, p) for p in precisions if p != "fp32" for path in ("harness", "trainer-grouped")]
    runs = []
    for repeat in range(repeats):
        for path, precision in plan:
            say(f"repeat {repeat + 1}/{repeats}: {path} ({precision})")
            run = run_once(path, precision, setup, timeout_s)
            say(f"  {run['s_per_step']:.3f} s/step over {run['steps']} steps, loss {run['final_loss']:.4f}")
            runs.append(dict(run, repeat=repeat))
    result = {"setup": asdict(setup), "repeats": repeats, "machine": cpu_info(), "runs": runs,
              "summary": summarise(runs)}
    if any(p != "fp32" for p in precisions):
        say("matmul peaks per precision (torch.mm, best of short trials)")
        result["matmul_peaks"] = precision_peaks(precisions, setup.threads)
    return result


def precision_peaks(precisions: tuple[str, ...], threads: int | None) -> dict:
    """torch's square-matmul peak in fp32 and each reduced precision, with the runs' threads:
    the most a reduced precision can buy per matmul on this machine (the step buys less, as its
    other work does not speed up)."""
    from bench.measure.peak import torch_matmul_peak
    from bench.measure.threads import set_threads
    from bench.precision import dtype_name

    set_threads(threads)
    return {p: torch_matmul_peak("cpu", dtype=dtype_name(p)).to_dict() for p in dict.fromkeys(("fp32", *precisions))}


def summarise(runs: list[dict]) -> dict:
    """Per (path, precision): the median s/step over repeats; ratios to the best fp32 Trainer path."""
    by_path: dict = {}
    for run in runs:
        by_path.setdefault(f"{run['path']} ({run['precision']})", []).append(run)
    summary = {name: {"s_per_step": statistics.median(r["s_per_step"] for r in group),
                      "s_per_step_runs": [r["s_per_step"] for r in group],
                      "median_step_s": statistics.median(r["median_step_s"] for r in group),
                      "final_loss": [r["final_loss"] for r in group],
                      "padded_tokens": group[0]["padded_tokens"]}
               for name, group in by_path.items()}
    trainers = [summary[f"{p} (fp32)"]["s_per_step"] for p in TRAINER_PATHS if f"{p} (fp32)" in summary]
    best = min(trainers) if trainers else None
    fp32 = {run_name.split(" (")[0]: v["s_per_step"] for run_name, v in summary.items() if run_name.endswith("(fp32)")}
    for name, values in summary.items():
        values["vs_best_trainer"] = values["s_per_step"] / best if best else None
        path = name.split(" (")[0]
        values["speedup_vs_own_fp32"] = fp32[path] / values["s_per_step"] if path in fp32 else None
    return summary


def table(result: dict) -> str:
    """Markdown: the setup, one row per path, and how to read the ratios."""
    from tabulate import tabulate

    setup, machine = result["setup"], result["machine"]
    rows = [[name, f"{v['s_per_step']:.3f}", " / ".join(f"{s:.3f}" for s in v["s_per_step_runs"]),
             f"{v['median_step_s']:.3f}", f"{v['vs_best_trainer']:.2f}x" if v["vs_best_trainer"] else "",
             f"{v['speedup_vs_own_fp32']:.2f}x" if v["speedup_vs_own_fp32"] else "",
             f"{v['padded_tokens']:,}" if v.get("padded_tokens") else "",
             " / ".join(f"{x:.4f}" for x in v["final_loss"])]
            for name, v in result["summary"].items()]
    head = (f"Training step, side by side: {setup['model']} on {setup['task']}, {setup['train_limit']} examples, "
            f"batch {setup['batch_size']}, 1 epoch, max length {setup['max_seq_len']}, seed {setup['seed']}, "
            f"{setup['threads'] or 'default'} torch threads; {result['repeats']} alternating repeats, each a fresh "
            f"process. {machine_text(machine)}\n\n")
    body = tabulate(rows, headers=["path (precision)", "s/step (median)", "runs", "median step s",
                                   "vs best fp32 Trainer", "vs own fp32", "tokens", "loss"], tablefmt="github")
    foot = ("\n\ns/step: time per optimiser step after the first (whose warm-up is excluded on every path alike), "
            "the median over repeats. 'vs best fp32 Trainer' < 1 is faster than the better of the two Trainer "
            "settings measured in this same run. tokens: what the path fed the model in the epoch, padding "
            "included (the same examples on every path; the first repeat's). loss: the harness's last step's, Trainer's mean over its steps "
            "(what each reports; the batches come in different orders, so the values are not a parity check).\n")
    return head + body + foot + _peaks_note(result.get("matmul_peaks"))


def _peaks_note(peaks: dict | None) -> str:
    """One line per reduced precision: its matmul peak against fp32's, measured after the runs."""
    if not peaks or "fp32" not in peaks:
        return ""
    fp32 = peaks["fp32"]["gflops"]
    lines = [f"- {name}: {peak['gflops']:.1f} GFLOP/s ({peak['gflops'] / fp32:.2f}x fp32's {fp32:.1f}; trials "
             f"{', '.join(f'{t:.0f}' for t in peak['trials_gflops'])})"
             for name, peak in peaks.items() if name != "fp32"]
    size = peaks["fp32"]["size"]
    return (f"\nMatmul peak per precision (torch.mm on {size}x{size} matrices in this process after the runs, "
            f"{peaks['fp32']['threads']} threads, the best of {len(peaks['fp32']['trials_gflops'])} short trials): "
            "the most that precision can speed up a matmul here; a step speeds up less, since its other "
            "work (optimiser, embedding gradient, dropout, autocast's casts) does not.\n\n" + "\n".join(lines) + "\n")
