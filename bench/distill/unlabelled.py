"""Extra text for KD that the teacher labels: the training split's unused rest, or another task's text.

Unlabelled examples carry a label that says "none" (IGNORE for classes, NaN for scores),
so they batch with the labelled ones; the gold-label loss skips them and the teacher's
targets cover them (Tang et al. 2019 augment the transfer set the same way).
"""

from __future__ import annotations

import random

from bench.errors import UsageError
from bench.task import Example


def unlabelled_examples(ctx, source: str, limit: int) -> list[Example]:
    """Up to `limit` texts without labels, from `source`: "train" or a task name."""
    from bench.inference import DATA_SEED, load_examples
    from bench.registry import TASKS

    task = ctx.task
    if source == "train":
        used = ctx.cell.budget.train_limit
        if used is None:
            raise UsageError("unlabelled='train' takes the training text beyond train_limit, "
                             "but this cell trains on the whole split: set budget.train_limit")
        # The runner's own shuffle, so the labelled subset and this rest never overlap.
        rest = load_examples(task, task.train_split, ctx.data_dir, None, shuffle=True)[used : used + limit]
        if not rest:
            raise UsageError(f"unlabelled='train': {task.name} has no training text beyond the first {used}")
        return [Example(e.text_a, e.text_b, None) for e in rest]
    other = TASKS.get(source).obj
    examples = other.load(other.train_split, ctx.data_dir)
    random.Random(DATA_SEED).shuffle(examples)
    examples = examples[:limit]
    pairs = task.load(task.train_split, ctx.data_dir)[0].text_b is not None
    if examples and (examples[0].text_b is not None) != pairs:
        kind = "sentence pairs" if pairs else "single sentences"
        raise UsageError(f"unlabelled={source!r}: {task.name} takes {kind}, {other.name} does not")
    return [Example(e.text_a, e.text_b, None) for e in examples]


def kd_features(ctx, source: str | None, limit: int) -> tuple[list[dict], int]:
    """The cell's training features plus unlabelled ones, each with its row in the teacher's targets."""
    import math

    from bench.data import encode
    from bench.distill.losses import IGNORE

    features = [dict(f) for f in ctx.train_features]
    extra = []
    if source is not None:
        none = math.nan if ctx.task.kind == "regression" else IGNORE
        texts = unlabelled_examples(ctx, source, limit)
        extra = [dict(f, labels=none) for f in encode(ctx.tokenizer, texts, ctx.cell.budget.max_seq_len, with_labels=False)]
    for index, feature in enumerate(features + extra):
        feature["kd_index"] = index
    return features + extra, len(extra)
