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
    student: str = "truncate:2"  # truncate:K | lstm | a model alias or path

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
    teacher: str | None = None  # model alias or path; None: the cell's model, fine-tuned
    teacher_seed: int | None = None  # None: the cell's seed (3 seeds = 3 teachers, each shared)
    teacher_epochs: float | None = option(None, "None: the cell's budget", above=0)
    teacher_lr: float | None = option(None, "None: full-ft's default; set it as the teacher row's full-ft(lr=...)",
                                      above=0)
    unlabelled: str | None = None  # extra text the teacher labels: "train" (the rest of the split) or a task
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
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the distillation term; 1 - alpha on the gold labels
    soft_loss: Literal["kl", "mse"] = "kl"  # regression tasks always use MSE on the outputs

    def __post_init__(self):
        super().__post_init__()
        check_soft(self)


@dataclass(frozen=True)
class HardOptions(TeacherOptions):
    alpha: float = 1.0  # weight of the teacher's labels; 1 - alpha on the gold labels

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.alpha <= 1.0:
            raise UsageError(f"alpha must be in [0, 1], got {self.alpha}")


@dataclass(frozen=True)
class FeatureOptions(SoftOptions):
    hidden_weight: float = 1.0  # TinyBERT sums the layer losses with weight one
    attention_weight: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        from bench.distill.students import parse_student

        if not parse_student(self.student).transformer:
            raise UsageError(f"kd-feature matches hidden states and attention maps layer by layer; the "
                             f"student {self.student!r} has neither: use kd-soft for it")


@dataclass(frozen=True)
class MultiTeacherOptions(SoftOptions):
    teachers: tuple[str, ...] = ()  # model aliases; empty: the cell's model
    teacher_seeds: tuple[int, ...] = (0, 1, 2)  # every teacher model at every seed
    weights: tuple[float, ...] = ()  # one per (teacher, seed) pair in that order; empty: equal

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
    teacher: str | None = None  # the peer trained alongside; None: the cell's model (pretrained)
    temperature: float = 1.0  # mutual learning matches plain distributions
    alpha: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        from bench.modeling.load import resolve

        if self.teacher is not None:
            resolve(self.teacher)
        check_soft(self)


def check_soft(options) -> None:
    if options.temperature <= 0:
        raise UsageError(f"temperature must be > 0, got {options.temperature}")
    if not 0.0 <= options.alpha <= 1.0:
        raise UsageError(f"alpha must be in [0, 1], got {options.alpha}")
