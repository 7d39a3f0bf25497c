"""What trains alongside a student: a width projection (feature KD), a peer (mutual learning) or other students.

The shared loop trains one module, so the extra parameters live in a small container
whose weights the trained-prefix cache stores and restores with the student's.
"""

from __future__ import annotations

from torch import nn


class ProjectedStudent(nn.Module):
    """A student and the learned map W_h from its hidden width to the teacher's (TinyBERT)."""

    def __init__(self, student, student_width: int, teacher_width: int):
        super().__init__()
        self.student = student
        # Equal widths compare directly: an identity adds no parameters to learn around.
        self.projection = nn.Identity() if student_width == teacher_width else nn.Linear(student_width, teacher_width)


class MutualPair(nn.Module):
    """Two networks trained together, each distilling from the other (Zhang et al. 2018)."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student = student
        self.teacher = teacher


class StudentEnsemble(nn.Module):
    """Several students trained together and deployed as one model (Chang et al. 2022).

    Its prediction is the mean of the students' class probabilities, returned as their log
    (log-mean-exp of the log-softmaxes, stable where a probability underflows): softmax of
    these "logits" is that mean and argmax is the ensemble's class, as the harness reads logits.
    """

    def __init__(self, students):
        super().__init__()
        self.students = nn.ModuleList(students)
        self.config = students[0].config  # what the harness reads of a model (vocab_size); the students share it

    def forward(self, **inputs):
        import math

        import torch
        from transformers.modeling_outputs import SequenceClassifierOutput

        log_probs = torch.stack([student(**inputs).logits.log_softmax(-1) for student in self.students])
        return SequenceClassifierOutput(logits=log_probs.logsumexp(0) - math.log(len(self.students)))
