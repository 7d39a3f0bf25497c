"""seq-kd and seq-inter: sequence-level KD. The teacher's beam search translates every training
source once (cached); Seq-KD trains the student on the best hypothesis instead of the reference,
Seq-Inter on the hypothesis of the teacher's n-best list closest to the reference (sentence BLEU).
Kim and Rush 2016, Sequence-Level Knowledge Distillation.

Kim and Rush's rows are chains (the cell's model is what trains):
  Student / Teacher Baseline    full-ft
  Word-KD                       word-kd(teacher=T)
  Seq-KD                        seq-kd(teacher=T)
  Baseline + Seq-Inter          full-ft -> seq-inter(teacher=T); the teacher's row: full-ft -> seq-inter
                                on the teacher's model, no teacher option (it is its own teacher)
  Word-KD + Seq-Inter           word-kd(teacher=T) -> seq-inter(teacher=T)
  Seq-KD + Seq-Inter            seq-kd(teacher=T) -> seq-inter(teacher=T)
  Seq-KD + Word-KD              seq-kd(teacher=T, word_kd=true)
  Seq-KD + Seq-Inter + Word-KD  seq-kd(teacher=T, word_kd=true) -> seq-inter(teacher=T)
Seq-Inter fine-tunes the model it is given, as the paper fine-tunes its baselines on Seq-Inter
data; seq-kd and seq-inter with the same beam share one cached decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.errors import UsageError
from bench.generation.evaluator import LENGTH_RATIO, LENGTH_SLACK
from bench.registry import METHODS
from bench.typed import option
from methods.word_kd import PAPER, WordKDOptions, begin, train_student

# Teacher outputs are bounded as the evaluator bounds translations (LENGTH_RATIO x the longest
# reference + LENGTH_SLACK), and never past the budget's max_seq_len: targets are cut to it anyway.


@dataclass(frozen=True)
class SeqKDOptions(WordKDOptions):
    beam: int = option(5, "beam size K of the teacher's search", at_least=1)
    max_new_tokens: int | None = option(None, "None: 1.5 x the longest reference + 10, at most max_seq_len",
                                        at_least=1)
    length_penalty: float = option(1.0, "hypothesis score = sum log p / length ** length_penalty")
    word_kd: bool = option(False, "also match the teacher's distribution per token of the new targets "
                                  "(Seq-KD + Word-KD; temperature, alpha and topk apply)")


@dataclass(frozen=True)
class SeqInterOptions(SeqKDOptions):
    n_best: int | None = option(None, "candidates per source, from the beam's finished hypotheses; None: the beam",
                                at_least=1)

    def __post_init__(self):
        super().__post_init__()
        if self.n_best is not None and self.n_best > self.beam:
            raise UsageError(f"seq-inter: n_best ({self.n_best}) must be at most the beam ({self.beam}): the "
                             "candidates are the beam's finished hypotheses")


def decode_settings(options: SeqKDOptions, features: list[dict], max_seq_len: int):
    from bench.generation.decoding import DecodeSettings

    longest = max(len(f["labels"]) for f in features)
    limit = options.max_new_tokens or math.ceil(LENGTH_RATIO * longest) + LENGTH_SLACK
    return DecodeSettings(beam=options.beam, max_new_tokens=min(limit, max_seq_len),
                          length_penalty=options.length_penalty)


def with_target(feature: dict, tokens, eos: int, max_seq_len: int) -> dict:
    """The feature with `tokens` (a teacher hypothesis) as its target, ended by EOS like the references."""
    return dict(feature, labels=list(tokens[: max_seq_len - 1]) + [eos])


def closest_candidate(candidates: list[str], reference: str) -> tuple[int, list[float]]:
    """The index of the candidate with the best sentence BLEU against the reference (ties: the
    earlier, i.e. the better-scored by the teacher), and every candidate's sentence BLEU."""
    import sacrebleu

    scores = [sacrebleu.sentence_bleu(candidate, [reference]).score for candidate in candidates]
    return max(range(len(scores)), key=lambda i: (scores[i], -i)), scores


def _targets(ctx, options, name: str):
    """(teacher, candidates per source, decode cost) of the cell's training sources."""
    from bench.distill.sequence import Teacher, beam_outputs

    teacher = Teacher(ctx, options)
    settings = decode_settings(options, ctx.train_features, ctx.cell.budget.max_seq_len)
    candidates, cost = beam_outputs(teacher, ctx.train_features, settings, ctx.tokenizer, ctx.device)
    if any(not c for c in candidates):
        raise RuntimeError(f"{name}: the teacher's search finished no hypothesis for some source")
    return teacher, candidates, cost


def _target_stats(features: list[dict], chosen, max_seq_len: int) -> dict:
    references = [f["labels"] for f in features]
    return {"sentences": len(features),
            "identical_to_reference": sum(list(c.tokens) == r[:-1] for c, r in zip(chosen, references, strict=True)),
            "hit_length_limit": sum(not c.eos for c in chosen),
            "truncated_to_max_seq_len": sum(len(c.tokens) > max_seq_len - 1 for c in chosen),
            "mean_target_tokens": sum(len(c.tokens) + 1 for c in chosen) / len(chosen),
            "mean_reference_tokens": sum(map(len, references)) / len(references)}


def _distil_on(chosen: list, model, options, ctx, teacher, section: dict, cost: dict, **extra):
    """Train on (source, the chosen teacher output) pairs: what Seq-KD and Seq-Inter share."""
    max_len, eos = ctx.cell.budget.max_seq_len, ctx.tokenizer.eos_token_id
    features = [with_target(f, c.tokens, eos, max_len) for f, c in zip(ctx.train_features, chosen, strict=True)]
    section.update(decode=cost, targets=_target_stats(ctx.train_features, chosen, max_len), **extra)
    return train_student(model, options, ctx, teacher, features, section, word_kd=options.word_kd)


@METHODS.register("seq-kd", options=SeqKDOptions, family="distillation", stage="train", paper=PAPER,
                  label="Seq-KD", order=160)
def seq_kd(model, options: SeqKDOptions, ctx):
    section = begin("seq-kd", options, ctx)
    if section is None:
        return ctx.train(model, options.for_training())
    teacher, candidates, cost = _targets(ctx, options, "seq-kd")
    return _distil_on([c[0] for c in candidates], model, options, ctx, teacher, section, cost)


@METHODS.register("seq-inter", options=SeqInterOptions, family="distillation", stage="train", paper=PAPER,
                  label="Seq-Inter", order=170)
def seq_inter(model, options: SeqInterOptions, ctx):
    section = begin("seq-inter", options, ctx)
    if section is None:
        return ctx.train(model, options.for_training())
    teacher, candidates, cost = _targets(ctx, options, "seq-inter")
    n_best = options.n_best or options.beam
    decoded = ctx.tokenizer.batch_decode
    chosen, picked_bleu, top_bleu, moved = [], [], [], 0
    for feature, found in zip(ctx.train_features, candidates, strict=True):
        found = found[:n_best]
        reference = ctx.tokenizer.decode(feature["labels"], skip_special_tokens=True)
        index, scores = closest_candidate(decoded([list(c.tokens) for c in found], skip_special_tokens=True),
                                          reference)
        chosen.append(found[index])
        picked_bleu.append(scores[index])
        top_bleu.append(scores[0])
        moved += index > 0
    return _distil_on(chosen, model, options, ctx, teacher, section, cost, selection={
        "n_best": n_best, "similarity": "sacrebleu.sentence_bleu against the reference (detokenised)",
        "picked_not_best_scored": moved, "mean_sentence_bleu_picked": sum(picked_bleu) / len(picked_bleu),
        "mean_sentence_bleu_best_scored": sum(top_bleu) / len(top_bleu)})
