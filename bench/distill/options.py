"""Options of the student and KD methods, validated when a spec is read (before any cell runs)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.typed import option

TRANSFORMER_LR = 1e-4  # full-ft's rate for small models (see methods/full_ft.py)
LSTM_LR = 1e-3  # recurrent students from scratch want a larger step (Adam default)


@dataclass(frozen=True)
class StudentOptions(TrainOptions):
    lr: float | None = option(None, "None: 1e-4 for transformer students, 1e-3 for the BiLSTM", above=0)
    student: str = option("truncate:2", "truncate:K (the model's first K layers) | lstm | a model alias or path")

    def __post_init__(self):
        from bench.distill.students import parse_student

        parse_student(self.student)

    def for_training(self):
        """These options with the learning rate filled in for the student kind."""
        from bench.distill.students import parse_student

        if self.lr is not None:
            return self
        return replace(self, lr=TRANSFORMER_LR if parse_student(self.student).transformer else LSTM_LR)


@dataclass(frozen=True)
class TeacherOptions(StudentOptions):
    teacher: str | None = option(None, "model alias or path; None: the cell's model, fine-tuned")
    teacher_seed: int | None = option(None, "None: the cell's seed (3 seeds = 3 teachers, each shared)")
    teacher_epochs: float | None = option(None, "None: the cell's budget", above=0)
    teacher_lr: float | None = option(None, "None: full-ft's default; set it as the teacher row's full-ft(lr=...)",
                                      above=0)
    unlabelled: str | None = option(None, "extra text the teacher labels: train (the rest of the split) or a task")
    unlabelled_limit: int = option(1000, "at most this many unlabelled texts", at_least=1)

    def __post_init__(self):
        super().__post_init__()
        from bench.modeling.load import resolve
        from bench.registry import TASKS

        if self.teacher is not None:
            resolve(self.teacher)
        if self.unlabelled not in (None, "train"):
            TASKS.get(self.unlabelled)  # unknown task: "did you mean"


@dataclass(frozen=True)
class SoftOptions(TeacherOptions):
    temperature: float = option(2.0, "softmax temperature of teacher and student (the KL is scaled by T^2)",
                                above=0)
    alpha: float = option(0.5, "weight of the distillation term; 1 - alpha on the gold labels",
                          at_least=0, at_most=1)
    soft_loss: Literal["kl", "mse"] = option("kl", "KL or MSE on the logits; regression tasks always use MSE")


@dataclass(frozen=True)
class HardOptions(TeacherOptions):
    alpha: float = option(1.0, "weight of the teacher's labels; 1 - alpha on the gold labels", at_least=0, at_most=1)


@dataclass(frozen=True)
class FeatureOptions(SoftOptions):
    # TinyBERT sums the layer losses with weight one.
    hidden_weight: float = option(1.0, "weight of the hidden-state MSE per layer", at_least=0)
    attention_weight: float = option(1.0, "weight of the attention-map MSE per layer", at_least=0)

    def __post_init__(self):
        super().__post_init__()
        from bench.distill.students import parse_student

        if not parse_student(self.student).transformer:
            raise UsageError(f"kd-feature matches hidden states and attention maps layer by layer; the "
                             f"student {self.student!r} has neither: use kd-soft for it")


@dataclass(frozen=True)
class MultiTeacherOptions(SoftOptions):
    teachers: tuple[str, ...] = option((), "model aliases; empty: the cell's model")
    teacher_seeds: tuple[int, ...] = option((0, 1, 2), "every teacher model at every seed")
    weights: tuple[float, ...] = option((), "one per (teacher, seed) pair in that order; empty: equal")

    def __post_init__(self):
        super().__post_init__()
        from bench.modeling.load import resolve

        for name in self.teachers:
            resolve(name)
        if not self.teacher_seeds:
            raise UsageError("kd-multi-teacher: teacher_seeds must list at least one seed")
        count = max(1, len(self.teachers)) * len(self.teacher_seeds)
        if self.weights and (len(self.weights) != count or min(self.weights) < 0 or sum(self.weights) <= 0):
            raise UsageError(f"kd-multi-teacher: weights must be {count} non-negative numbers "
                             f"(one per teacher and seed), got {list(self.weights)}")


@dataclass(frozen=True)
class OnlineOptions(StudentOptions):
    teacher: str | None = option(None, "the peer trained alongside; None: the cell's model (pretrained)")
    # Mutual learning matches plain distributions.
    temperature: float = option(1.0, "softmax temperature of both peers (the KL is scaled by T^2)", above=0)
    alpha: float = option(0.5, "weight of the peer's distribution; 1 - alpha on the gold labels",
                          at_least=0, at_most=1)

    def __post_init__(self):
        super().__post_init__()
        from bench.modeling.load import resolve

        if self.teacher is not None:
            resolve(self.teacher)
