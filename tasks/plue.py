"""Portuguese GLUE (PLUE, ju-resplande/plue): machine-translated SST-2, MRPC and RTE, in the
GLUE layout with the same labels, row-aligned with the English files."""

from __future__ import annotations

import dataclasses

from bench.registry import TASKS
from tasks.glue import GLUE_TASKS

PAPER = "Gomes et al. 2020, PLUE: Portuguese Language Understanding Evaluation"
PLUE_HUB = "ju-resplande/plue"
TRANSLATED = ("glue-sst2", "glue-mrpc", "glue-rte")

PLUE_TASKS = tuple(
    dataclasses.replace(task, name=task.name.replace("glue-", "plue-"), root="plue", hub_dataset=PLUE_HUB)
    for task in GLUE_TASKS
    if task.name in TRANSLATED
)

for _t in PLUE_TASKS:
    TASKS.register(_t.name, _t, family="plue", paper=PAPER, metric=_t.metric,
                   higher_is_better=_t.higher_is_better, kind=_t.kind)
