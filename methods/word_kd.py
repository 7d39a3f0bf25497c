"""word-kd: Word-KD for sequence-to-sequence students. At every target position of the reference
(teacher forcing) the student matches the teacher's next-token distribution:
alpha * T^2 * KL(teacher || student) + (1 - alpha) * NLL of the reference.
Kim and Rush 2016, Sequence-Level Knowledge Distillation (Hinton et al. 2015's loss per word).

The cell's model is the student (trained from scratch); `teacher` names the teacher model,
fine-tuned by full-ft on the same task, budget and seed. The teacher's top-k logits per target
token are computed once and cached (bench/distill/sequence.py), so training runs no teacher pass.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.registry import METHODS
from bench.typed import option

PAPER = "Kim and Rush 2016, Sequence-Level Knowledge Distillation"
IGNORE = -100  # padded target positions (bench/data.py pads labels with it)
# The KL is over the teacher's top-k support: the teacher's distribution is renormalised on its
# k largest logits, the student's full softmax is read on those ids, so the term is the exact
# KL(truncated teacher || student) and k = vocabulary size gives the full KL.
OBJECTIVE = ("alpha * T^2 * KL(softmax(teacher top-k logits / T), renormalised on its k ids || student "
             "softmax(logits / T) over the whole vocabulary, read on those ids) + (1 - alpha) * NLL(target)")


@dataclass(frozen=True)
class SeqTeacherOptions(TrainOptions):
    lr: float | None = option(None, "None: full-ft's default rate (the student baseline's)", above=0)
    teacher: str | None = option(None, "teacher model alias or path, fine-tuned by full-ft on the same task, budget "
                                       "and seed (cached, shared with its full-ft cell); None: the cell's model")
    teacher_seed: int | None = option(None, "None: the cell's seed (3 seeds = 3 teachers, each shared)")
    teacher_epochs: float | None = option(None, "None: the cell's budget", above=0)
    teacher_lr: float | None = option(None, "None: full-ft's default; set it as the teacher row's full-ft(lr=...)",
                                      above=0)

    def __post_init__(self):
        from bench.modeling.load import resolve

        if self.teacher is not None:
            resolve(self.teacher)  # unknown model: "did you mean", before any cell runs

    def for_training(self):
        """These options with the learning rate filled in: full-ft's, as the student baseline trains."""
        if self.lr is not None:
            return self
        return replace(self, lr=METHODS.get("full-ft").meta.options().lr)


@dataclass(frozen=True)
class WordKDOptions(SeqTeacherOptions):
    temperature: float = option(1.0, "softmax temperature of both distributions (the KL is scaled by T^2)", above=0)
    alpha: float = option(0.5, "weight of the KL term; 1 - alpha on the target's NLL", at_least=0, at_most=1)
    topk: int = option(8, "teacher logits kept per target token (the KL's support)", at_least=1)


def word_kd_loss(logits, labels, values, indices, temperature: float, alpha: float):
    """alpha * T^2 * KL + (1 - alpha) * CE over the target positions (labels != -100).

    logits [B, T, V] (student); labels [B, T]; values, indices [B, T, k]: the teacher's top-k.
    """
    import torch.nn.functional as F

    logits = logits.float()
    mask = labels != IGNORE
    nll = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=IGNORE)
    teacher = F.log_softmax(values.float() / temperature, dim=-1)
    student = F.log_softmax(logits / temperature, dim=-1).gather(-1, indices)
    kl = (teacher.exp() * (teacher - student)).sum(-1)[mask].mean()
    return alpha * temperature**2 * kl + (1 - alpha) * nll


def word_kd_objective(options: WordKDOptions, topk, device: str):
    """compute_loss(model, batch) for the shared loop; the batch carries each example's `kd_index`."""

    def compute_loss(model, batch):
        if "kd_index" not in batch:
            raise RuntimeError("word-kd needs each example's kd_index in the batch (bench.data.collate passes it)")
        index = batch.pop("kd_index")
        logits = model(**batch).logits
        values, indices = topk.batch(index, batch["labels"], device)
        return word_kd_loss(logits, batch["labels"], values, indices, options.temperature, options.alpha)

    return compute_loss


def begin(name: str, options, ctx) -> dict | None:
    """The stage's record section, or None when nothing needs a teacher: an arch-only cell, or a
    student an identical chain prefix already trained (ctx.train loads it)."""
    from bench.storage.cache import is_trained

    kind = getattr(ctx.task, "kind", None)
    if kind != "generation":
        raise UsageError(f"{name} distils sequence-to-sequence models; {getattr(ctx.task, 'name', ctx.task)} is a "
                         f"{kind} task: use kd-soft or kd-hard for it")
    section = {"mode": "offline", "teacher": {"model": options.teacher or ctx.cell.model},
               "teacher_passes_in_training": 0}
    ctx.records[name.replace("-", "_")] = section
    if ctx.cell.arch_only or is_trained(ctx.cache_key):
        section.update(student_from_cache=not ctx.cell.arch_only, teacher_passes=0)
        return None
    section["student_from_cache"] = False
    return section


def train_student(model, options, ctx, teacher, features: list[dict], section: dict, word_kd: bool):
    """Train `model` on `features` with the shared loop: their NLL, or Word-KD against the teacher's
    top-k on these very targets. Seeded after the teacher's work, so the student trains alike
    whether the teacher's outputs were cached or computed."""
    import dataclasses

    import transformers

    from bench.distill.sequence import topk_logits

    compute_loss = None
    if word_kd:
        features = [dict(f, kd_index=i) for i, f in enumerate(features)]
        topk, cost = topk_logits(teacher, features, options.topk, ctx.tokenizer, ctx.device)
        section["word_kd"] = dict(cost, objective=OBJECTIVE, temperature=options.temperature, alpha=options.alpha,
                                  topk=options.topk)
        compute_loss = word_kd_objective(options, topk, ctx.device)
    section.update(teacher=teacher.info, teacher_passes=teacher.passes)
    teacher.release()
    transformers.set_seed(ctx.cell.seed)
    return dataclasses.replace(ctx, train_features=features).train(model, options.for_training(), compute_loss)


@METHODS.register("word-kd", options=WordKDOptions, family="distillation", stage="train", paper=PAPER,
                  label="Word-KD", order=155)
def word_kd(model, options: WordKDOptions, ctx):
    from bench.distill.sequence import Teacher

    section = begin("word-kd", options, ctx)
    if section is None:
        return ctx.train(model, options.for_training())
    return train_student(model, options, ctx, Teacher(ctx, options), ctx.train_features, section, word_kd=True)
