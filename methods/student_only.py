"""The student trained on the gold labels alone: the baseline every KD row is held against.

Same student, same options, same loop as the KD methods, without a teacher.
Sanh et al. 2019, DistilBERT (truncated students); Tang et al. 2019 (BiLSTM student).
"""

from bench.distill.options import StudentOptions
from bench.registry import METHODS


@METHODS.register("student-only", options=StudentOptions, family="distillation", stage="train",
                  paper="Sanh et al. 2019, DistilBERT; Tang et al. 2019, BERT -> BiLSTM (the undistilled student)", label="none (gold labels only)", order=100)
def student_only(model, options: StudentOptions, ctx):
    from bench.distill.offline import prepare_student

    student = prepare_student(model, options, ctx)
    return ctx.train(student, options.for_training())
