"""Ctrl-C and the progress line, with a real `bench run` in its own process.

Ctrl-C reaches the whole foreground process group (the run and its cell process) or, from
`kill -INT`, the run alone; either way the run prints one line, leaves no record and no
lock for the cell that did not finish, and exits 130. While a cell runs, the progress line
shows its phase; in a log (not a terminal) only changes of phase, never each step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from bench import progress


def wait_for(condition, seconds: float = 120.0) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("target", ["group", "run"])
def test_ctrl_c_prints_one_line_leaves_no_record_and_exits_130(tmp_path, tiny_model_dir, tiny_glue_dir, target):
    records, log = tmp_path / "records", tmp_path / "stderr.log"
    # --latency publish times for at least 10 s: the cell is still measuring when Ctrl-C comes.
    argv = ["run", "--task", "glue-sst2", "--method", "full-ft", "--model", tiny_model_dir, "--data-dir",
            tiny_glue_dir, "--records", records, "--max-steps", "3", "--batch-size", "4", "--latency", "publish",
            "--batch-sizes", "1", "--device", "cpu"]
    with open(log, "w") as stderr:
        run = subprocess.Popen([sys.executable, "-m", "bench", *map(str, argv)], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=stderr, text=True, start_new_session=True)
        try:
            # The progress line (a log: phase changes only) says when the cell is measuring.
            assert wait_for(lambda: "measure latency b1" in log.read_text()), log.read_text()
            if target == "group":
                os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
            else:
                os.kill(run.pid, signal.SIGINT)
            out, _ = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    text = log.read_text()
    assert run.returncode == 130, text
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    assert text.strip().splitlines()[-1] == ("bench: interrupted; finished cells are recorded, the interrupted one is "
                                             "not: run the same command again to resume")
    assert list(records.iterdir()) == []  # no record, no lock, no temporary file
    cells = subprocess.run(["pgrep", "-f", str(records)], capture_output=True, text=True)
    assert cells.stdout.strip() == ""  # no cell process outlives the run


def test_phases_round_trip_and_steps_are_throttled(tmp_path, monkeypatch):
    path = tmp_path / "phase.json"
    assert progress.read(path) is None and progress.describe(None) == ""
    progress.start(str(path))
    try:
        progress.report("load")
        assert progress.describe(progress.read(path)) == "load"
        progress.report("train", stage="lora", step=1, steps=100, loss=0.69314)
        assert progress.describe(progress.read(path)) == "lora step 1/100 loss 0.693"
        progress.report("train", stage="lora", step=2, steps=100, loss=0.5)  # within the interval: dropped
        assert progress.read(path)["step"] == 1
        monkeypatch.setattr(progress, "MIN_INTERVAL_S", 0.0)
        progress.report("train", stage="lora", step=3, steps=100, loss=0.5)
        assert progress.read(path)["step"] == 3
        progress.report("measure", detail="latency b32")
        assert progress.describe(progress.read(path)) == "measure latency b32"
    finally:
        progress.start(None)
    progress.report("evaluate")  # no file named: nothing written, no error
    assert progress.read(path)["phase"] == "measure"


class Bar:
    def __init__(self):
        self.shown = []

    def set_postfix_str(self, text):
        self.shown.append(text)


@pytest.mark.parametrize("tty, expected", [
    (True, ["load", "full-ft step 1/3 loss 1.000", "full-ft step 2/3 loss 0.500", "evaluate"]),
    (False, ["load", "full-ft step 1/3 loss 1.000", "evaluate"]),  # a log gets no line per step
])
def test_progress_line_on_a_terminal_and_in_a_log(tty, expected):
    bar = Bar()
    show = progress.progress_line(bar, tty)
    for state in ({"phase": "load"}, {"phase": "train", "stage": "full-ft", "step": 1, "steps": 3, "loss": 1.0},
                  {"phase": "train", "stage": "full-ft", "step": 2, "steps": 3, "loss": 0.5}, None,
                  {"phase": "evaluate"}):
        show(state)
    assert bar.shown == expected
