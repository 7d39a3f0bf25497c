"""The task interface: a task loads splits and scores predictions; the runner does the rest.

Classification and regression tasks give `text_a`/`text_b` and a label; generation
tasks (GSM8K, translation; a later issue) give a prompt in `text_a` and the target in
`label`, and declare `kind="generation"`, so the same runner and records serve both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

TaskKind = Literal["classification", "regression", "generation"]


@dataclass(frozen=True)
class Example:
    text_a: str
    text_b: str | None
    label: int | float | str | None


class Task(Protocol):
    name: str
    kind: TaskKind
    num_labels: int  # 1 for regression; 0 for generation
    metric: str  # the primary metric, e.g. "accuracy", "matthews_corr"
    higher_is_better: bool
    train_split: str
    # suffix -> split name: {"": "dev"} or {"m": "dev_matched", "mm": "dev_mismatched"}.
    # Metric keys of a split are f"{metric}_{suffix}" when the suffix is not empty.
    eval_splits: dict[str, str]

    def load(self, split: str, data_dir: str | None = None) -> list[Example]:
        """Examples of a split: from `data_dir` (original file layout) when given, else the hub."""

    def data_files(self, split: str, data_dir: str | None = None) -> list[Path]:
        """The local files `load(split, data_dir)` reads ([] from the hub): their content is part
        of a cell's key (bench/storage/fingerprint.py), so an edited data file is never served stale records."""

    def score(self, predictions: Sequence, references: Sequence) -> dict[str, float]:
        """Official metrics of the task; the primary metric's key is `metric`."""

    @property
    def evaluator(self):
        """How the runner predicts and measures for this task: `predict(task, artifact, tokenizer,
        examples, cell)`, `measure(artifact, tokenizer, cell, flops_module)` and `describe(task)`.
        Classifiers use bench.inference.CLASSIFIER; generation tasks decode
        (bench/generation/evaluator.py). The runner asks the task instead of branching on its kind."""


def data_dir_from_env(data_dir: str | None) -> str | None:
    """The data directory from the argument, else from BENCH_DATA_DIR, else None (hub)."""
    import os

    return data_dir or os.environ.get("BENCH_DATA_DIR") or None
