"""kd-multi-teacher: soft targets averaged (or weighted) over several teachers: other models,
or the same model fine-tuned with other seeds. Each teacher is trained and run once and
cached, so the ensemble costs one student training. Hinton et al. 2015 (ensemble targets);
You et al. 2017, Learning from Multiple Teacher Networks."""

from bench.distill.options import MultiTeacherOptions
from bench.registry import METHODS


@METHODS.register("kd-multi-teacher", options=MultiTeacherOptions, family="distillation", stage="train",
                  paper="You et al. 2017, Learning from Multiple Teacher Networks", label="soft targets of several teachers", order=140)
def kd_multi_teacher(model, options: MultiTeacherOptions, ctx):
    from bench.distill.offline import distil, prepare_student
    from bench.distill.teachers import teacher_ensemble
    from methods.kd_soft import soft_objective

    student = prepare_student(model, options, ctx)
    refs = teacher_ensemble(ctx.cell, options.teachers, options.teacher_seeds, options.teacher_epochs,
                            options.teacher_lr)
    return distil(student, options, ctx, refs, soft_objective(options, ctx.task.kind, weights=options.weights))
