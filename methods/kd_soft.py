"""kd-soft: the student matches the teacher's temperature-softened distribution (KL, T^2 scaled)
mixed with the gold labels; MSE on the outputs by choice, and always for regression.
Hinton et al. 2015, Distilling the Knowledge in a Neural Network."""

from bench.distill.options import SoftOptions
from bench.registry import METHODS


def soft_objective(options: SoftOptions, kind: str, weights=()):
    from bench.distill.losses import soft_objective as loss
    from bench.distill.offline import Objective

    def objective(student, inputs, labels, targets):
        logits = student(**inputs).logits
        return loss(logits, [t["logits"] for t in targets], labels, kind, temperature=options.temperature,
                    alpha=options.alpha, soft_loss=options.soft_loss, weights=weights)

    return Objective(outputs=["logits"], loss=objective)


@METHODS.register("kd-soft", options=SoftOptions, family="distillation", stage="train",
                  paper="Hinton et al. 2015, Distilling the Knowledge in a Neural Network", label="soft targets", order=120)
def kd_soft(model, options: SoftOptions, ctx):
    from bench.distill.offline import distil, prepare_student
    from bench.distill.teachers import the_teacher

    student = prepare_student(model, options, ctx)
    return distil(student, options, ctx, the_teacher(ctx.cell, options), soft_objective(options, ctx.task.kind))
