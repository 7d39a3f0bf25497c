"""kd-hard: the student learns the teacher's predicted labels, so any text can be training data
(with `unlabelled`, text no one labelled). Hinton et al. 2015; Tang et al. 2019 (transfer set)."""

from bench.distill.options import HardOptions
from bench.registry import METHODS


@METHODS.register("kd-hard", options=HardOptions, family="distillation", stage="train",
                  paper="Hinton et al. 2015; Tang et al. 2019, Distilling Task-Specific Knowledge from BERT", label="teacher's labels", order=110)
def kd_hard(model, options: HardOptions, ctx):
    from bench.distill.losses import teacher_label_objective
    from bench.distill.offline import Objective, distil, prepare_student
    from bench.distill.teachers import the_teacher

    kind = ctx.task.kind

    def objective(student, inputs, labels, targets):
        logits = student(**inputs).logits
        return teacher_label_objective(logits, targets[0]["logits"], labels, kind, alpha=options.alpha)

    student = prepare_student(model, options, ctx)
    return distil(student, options, ctx, the_teacher(ctx.cell, options), Objective(outputs=["logits"], loss=objective))
