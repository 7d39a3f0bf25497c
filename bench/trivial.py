"""The trivial score of a dev set: what a model that learned nothing gets, from the labels alone.

A classification task's trivial score is the best a constant prediction achieves on each metric
(the majority class for accuracy; on MRPC the all-positive F1 of about 81; MCC 0), a regression
task's is 0 for its correlations (a constant has none). Every record keeps it beside its scores
(`evaluated.<split>.trivial`), so a table can say whether a row learned the task at all, the
sanity check of issue 13: a full fine-tuning that does not clearly beat it says the budget or the
model is wrong, and the PEFT or KD rows beside it mean nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

MARGIN = 0.02  # "clearly beats": every seed at least 2 points (x100) above the trivial score


def trivial_scores(task, references: Sequence) -> dict[str, float] | None:
    """{metric: the best a constant prediction scores} for the task's labels; None for generation."""
    if task.kind == "regression":
        return {name: 0.0 for name in task.score([0.0, 1.0], [0.0, 1.0])}
    if task.kind != "classification" or not references:
        return None
    best: dict[str, float] = {}
    with warnings.catch_warnings():  # sklearn warns on constant predictions (F1 of no positive, MCC)
        warnings.simplefilter("ignore")
        for constant in sorted(set(references)):
            for name, value in task.score([constant] * len(references), list(references)).items():
                value = 0.0 if value != value else value  # NaN (no variance) is no skill
                best[name] = max(best.get(name, value), value)
    return best


def clearly_beats(scores: Sequence[float], trivial: float, margin: float = MARGIN) -> bool:
    """Whether every seed's score is at least `margin` above the trivial score."""
    return bool(scores) and min(scores) >= trivial + margin
