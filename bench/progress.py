"""What a cell's process is doing, for the progress line of the run that waits for it.

The cell runs in its own process (bench/runner.py), so it writes its phase (load, a training
step with its loss, evaluate, measure) to a small JSON file the executor named, and the
executor polls that file while it waits. Writes are atomic (a reader never sees half a
file) and throttled: a step every few milliseconds must not turn into a write each.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

MIN_INTERVAL_S = 0.25  # between two writes of the same phase; a new phase is written at once

_target: dict = {"path": None, "phase": None, "written": 0.0}


def start(path: str | None) -> None:
    """Report to `path` from now on (None: reports are dropped)."""
    _target.update(path=path, phase=None, written=0.0)


def report(phase: str, **details) -> None:
    """Say that the cell is in `phase` ('train', 'evaluate'...), with details such as step, steps, loss."""
    path, now = _target["path"], time.monotonic()
    what = (phase, details.get("stage"), details.get("detail"))  # only steps and losses are throttled
    if path is None or (what == _target["phase"] and now - _target["written"] < MIN_INTERVAL_S):
        return
    _target.update(phase=what, written=now)
    # A training loss arrives as a 0-d tensor: read it (a device sync) only when it is written.
    details = {k: float(v) if hasattr(v, "item") else v for k, v in details.items()}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        Path(tmp).write_text(json.dumps({"phase": phase, **details}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # progress is a courtesy: a full disk must not fail the cell


def training_steps(stage: str):
    """The StageContext.on_step callback of a training stage: each step and its loss as the phase."""
    return lambda step, steps, loss: report("train", stage=stage, step=step, steps=steps, loss=loss)


def read(path: str | Path) -> dict | None:
    """The last phase reported to `path`, or None before the first."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def describe(state: dict | None) -> str:
    """One short line: 'load', 'full-ft step 12/100 loss 0.693', 'measure latency b32'."""
    if not state:
        return ""
    text = state.get("stage") or state.get("phase", "")  # a chain's stage names its phase
    if state.get("step") is not None:
        text += f" step {state['step']}/{state.get('steps', '?')}"
    if state.get("loss") is not None:
        text += f" loss {state['loss']:.3f}"
    if state.get("detail"):
        text += f" {state['detail']}"
    return text


def progress_line(bar, tty: bool):
    """A callback that shows a cell's reported state in the postfix of a tqdm `bar`.

    On a terminal every update shows (one line, rewritten in place); in a log, where each
    refresh is a new line, only a change of phase or stage does, never a training step."""
    shown = {"what": None}

    def show(state: dict | None) -> None:
        if not state:
            return
        what = (state.get("phase"), state.get("stage"), state.get("detail"))
        if not tty and what == shown["what"]:
            return
        shown["what"] = what
        bar.set_postfix_str(describe(state)[:70])

    return show
