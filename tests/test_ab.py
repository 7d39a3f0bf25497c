"""`bench ab`: two worker processes timed in alternating rounds; a slower NEW is flagged, the
same code against itself is not."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from bench.comparison.ab import Side, ab_compare, render
from bench.spec import expand

pytest.importorskip("torch")
CHECKOUT = str(Path(__file__).resolve().parents[1])


def arch_cell(model_dir):
    (cell,) = expand({"tasks": ["glue-sst2"], "methods": ["full-ft"], "models": [str(model_dir)], "device": "cpu",
                      "measure": {"batch_sizes": [1], "seq_len": 32}})
    return cell


@pytest.fixture(scope="module")
def deeper_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny BERT with 8 layers instead of 2: about 4x the work per call."""
    directory = tmp_path_factory.mktemp("deeper") / "model"
    shutil.copytree(tiny_model_dir, directory)
    config = json.loads((directory / "config.json").read_text())
    (directory / "config.json").write_text(json.dumps(dict(config, num_hidden_layers=8)))
    return directory


def test_a_slower_new_is_flagged_and_the_same_code_is_not(tiny_model_dir, deeper_model_dir):
    side = Side("BASE", sys.executable, CHECKOUT)
    base, new = side, Side("NEW", sys.executable, CHECKOUT)
    small, deep = arch_cell(tiny_model_dir), arch_cell(deeper_model_dir)
    results = ab_compare([("same", small, small), ("deeper", small, deep)], base, new, rounds=20, calls=3,
                         say=lambda line: None)
    same, deeper = results
    assert same.samples == deeper.samples == 20 * 3  # rounds x calls, per side
    assert not same.regression
    assert deeper.regression and deeper.ratio > 1.5
    text, failed = render(results, base, new, 1.10)
    assert failed and "| deeper" in text and text.splitlines()[-1].startswith("FAIL: 1 regression(s)")


def test_a_side_that_fails_names_itself(tiny_model_dir):
    from bench.errors import BenchError

    broken = Side("NEW", shutil.which("false"), CHECKOUT)  # an interpreter that exits at once
    cell = arch_cell(tiny_model_dir)
    with pytest.raises(BenchError, match="NEW worker .* exited"):
        ab_compare([("x", cell, cell)], Side("BASE", sys.executable, CHECKOUT), broken, rounds=4, calls=3,
                   say=lambda line: None)


def test_rounds_that_would_favour_one_copy_or_order_are_refused(tiny_model_dir):
    from bench.errors import BenchError

    cell = arch_cell(tiny_model_dir)
    side = Side("BASE", sys.executable, CHECKOUT)
    with pytest.raises(BenchError, match=r"rounds \(6\) must be a multiple of 2 x copies \(2\)"):
        ab_compare([("x", cell, cell)], side, side, rounds=6, copies=2, say=lambda line: None)
