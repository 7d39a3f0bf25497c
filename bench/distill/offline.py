"""Offline KD as one stage: build the student, serve the teachers' cached outputs, train.

Every offline KD method goes through `distil`; a method only supplies an `Objective`: the
teacher outputs it needs and its loss. The teachers are trained (or loaded) and run over
the training text before the loop starts, so the loop itself does no teacher forward pass
and its time per step is the student's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Objective:
    outputs: list[str]  # teacher outputs per teacher: "logits", "hidden-3", "attention-2"
    loss: Callable  # loss(module, inputs, labels, targets: list[dict per teacher]) -> scalar
    module: object = None  # what trains (the student with a projection); None: the student
    attentions: bool = False  # the student must return attention maps (eager kernel) while training


def prepare_student(model, options, ctx):
    """The student the options name, with how it was made noted in the record."""
    from bench.distill.students import build_student, parse_student

    student, made = build_student(model, parse_student(options.student), ctx)
    ctx.records["student"] = made
    return student


def distil(student, options, ctx, refs: list, objective: Objective):
    """Train `student` against the teachers `refs` with `objective`; the record gets the KD cost."""
    import gc

    import transformers

    from bench.distill.attention import eager_attention
    from bench.distill.targets import teacher_outputs
    from bench.distill.teachers import fine_tuned_teacher
    from bench.distill.unlabelled import kd_features
    from bench.storage.cache import is_trained

    module = objective.module if objective.module is not None else student
    training_options = options.for_training()
    section = {"mode": "offline", "teacher_outputs": objective.outputs, "teacher_forward_passes_in_training": 0}
    ctx.records["distillation"] = section
    if ctx.cell.arch_only or is_trained(ctx.cache_key):
        # Nothing to learn from a teacher: arch-only cells do not train, and an identical
        # prefix already trained this student (ctx.train loads it).
        section.update(student_from_cache=not ctx.cell.arch_only, teacher_forward_passes=0,
                       teachers=[{"model": r.model, "seed": r.seed} for r in refs])
        ctx.train(module, training_options)
        return student
    if ctx.task.kind not in ("classification", "regression"):
        from bench.errors import UsageError

        raise UsageError(f"KD here distils classifiers and regressors; {ctx.task.name} is a {ctx.task.kind} task")

    features, unlabelled = kd_features(ctx, getattr(options, "unlabelled", None), getattr(options, "unlabelled_limit", 0))
    served, teachers, costs = [], [], []
    for ref in refs:
        teacher, info = fine_tuned_teacher(ref, ctx)
        targets, cost = teacher_outputs(teacher, info["key"], objective.outputs, features, ctx.tokenizer, ctx.device)
        served.append(targets)
        teachers.append(info)
        costs.append(cost)
        del teacher
        gc.collect()
    # Seeded after the teachers, so the student trains alike whether they were cached or not.
    transformers.set_seed(ctx.cell.seed)

    def compute_loss(trained, batch):
        index = batch.pop("kd_index")
        labels = batch.pop("labels")
        length = batch["input_ids"].shape[1]
        targets = [t.batch(objective.outputs, index, length, ctx.device) for t in served]
        return objective.loss(trained, batch, labels, targets)

    with eager_attention(student, needed=objective.attentions):
        dataclasses.replace(ctx, train_features=features).train(module, training_options, compute_loss)
    section.update(
        student_from_cache=False,
        teachers=teachers,
        targets=costs,
        teacher_forward_passes=sum(c["forward_passes"] for c in costs),
        teacher_forward_examples=sum(c["forward_examples"] for c in costs),
        targets_cache_bytes=sum(c["cache_bytes"] for c in costs),
        teacher_train_s_in_this_cell=sum(t["train_wall_s"] for t in teachers if t["trained_in_this_cell"]),
        labelled_examples=len(features) - unlabelled,
        unlabelled_examples=unlabelled,
    )
    return student
