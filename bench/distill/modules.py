"""What trains alongside a student: a width projection (feature KD) or a peer (mutual learning).

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
