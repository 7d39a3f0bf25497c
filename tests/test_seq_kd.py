"""Word-KD, Seq-KD and Seq-Inter stages on tiny random Marian models and a handful of sentence
pairs: what the student trains on, the cached teacher outputs and their reuse, the Seq-Inter
chooser, option validation."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from bench.errors import UsageError
from bench.typed import build
from methods.seq_kd import SeqInterOptions, SeqKDOptions
from methods.word_kd import WordKDOptions, word_kd, word_kd_loss
from tests.generation_models import (
    _sharpen,
    one_thread,  # noqa: F401  (autouse: tiny models run one thread)
)

PAIRS = [("a man sleeps .", "ein mann schläft ."), ("two dogs run in the park .", "zwei hunde rennen im park ."),
         ("the cat is red .", "die katze ist rot ."), ("a woman reads a book .", "eine frau liest ein buch ."),
         ("the child plays .", "das kind spielt ."), ("a red car is in the park .", "ein rotes auto ist im park ."),
         ("the man reads .", "der mann liest ."), ("two women sleep .", "zwei frauen schlafen .")]
MAX_SEQ_LEN = 32


def make_tokenizer():
    from bench.generation.subword import SubwordSettings, subword_tokenizer

    texts = [text for pair in PAIRS for text in pair]
    return subword_tokenizer(texts, SubwordSettings(vocab_size=120, min_frequency=1))


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def marian(tokenizer, d_model: int = 32, layers: int = 2, seed: int = 0, eos_bias: float | None = 12.0):
    """A tiny Marian on the tokenizer's ids (pad 0 starts decoding, EOS 2), as the zoo builds them.
    The teacher is sharpened and biased towards EOS so that its hypotheses differ and end early."""
    import transformers

    config = transformers.MarianConfig(
        vocab_size=len(tokenizer), decoder_vocab_size=len(tokenizer), d_model=d_model, encoder_layers=layers,
        decoder_layers=layers, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=2 * d_model,
        decoder_ffn_dim=2 * d_model, max_position_embeddings=64, pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id, forced_eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = transformers.MarianMTModel(config).eval()
    if eos_bias is not None:
        model = _sharpen(model)
        with torch.no_grad():
            model.final_logits_bias[0, tokenizer.eos_token_id] = eos_bias
    return model


@pytest.fixture
def env(tokenizer, tmp_path, monkeypatch):
    return make_env(tokenizer, tmp_path, monkeypatch)


def make_env(tokenizer, tmp_path, monkeypatch):
    """A private cache, a teacher served as if fine-tuned (loads counted), and the features every
    ctx.train call trained on."""
    import bench.distill.teachers
    import bench.train

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    state = SimpleNamespace(teacher=marian(tokenizer), loads=0, trained=[])

    def fine_tuned_teacher(ref, ctx):
        state.loads += 1
        return state.teacher, {"model": ref.model, "seed": ref.seed, "key": ref.key(ctx.cell),
                               "trained_in_this_cell": False, "train_wall_s": 0.0, "train_steps": 0,
                               "train_examples": 0}

    real_train = bench.train.train

    def train(model, tokenizer, features, **kwargs):
        state.trained.append([dict(f) for f in features])
        return real_train(model, tokenizer, features, **kwargs)

    monkeypatch.setattr(bench.distill.teachers, "fine_tuned_teacher", fine_tuned_teacher)
    monkeypatch.setattr(bench.train, "train", train)
    return state


def context(tokenizer, model: str = "tiny-student", kind: str = "generation", max_steps: int = 3, **cell):
    from bench.cell import Budget, Cell
    from bench.method import StageContext

    encoded = tokenizer([s for s, _ in PAIRS], text_target=[t for _, t in PAIRS], truncation=True,
                        max_length=MAX_SEQ_LEN)
    features = [{name: values[i] for name, values in encoded.items()} for i in range(len(PAIRS))]
    budget = Budget(max_steps=max_steps, batch_size=4, max_seq_len=MAX_SEQ_LEN)
    cell = Cell(task="mt-tiny", chain=(), model=model, budget=budget, **cell)
    task = SimpleNamespace(name="mt-tiny", kind=kind)
    return StageContext(cell=cell, task=task, tokenizer=tokenizer, device="cpu", train_features=features)


def parameters(model) -> list:
    return [p.detach().clone() for p in model.parameters()]


def test_word_kd_loss_is_the_full_kl_when_k_is_the_vocabulary():
    import torch.nn.functional as F

    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 5, 11, generator=generator), torch.randn(2, 5, 11, generator=generator)
    labels = torch.randint(11, (2, 5), generator=generator)
    labels[1, 3:] = -100
    values, indices = teacher.topk(11, dim=-1)
    T, alpha = 2.0, 0.3
    mask = labels != -100
    kl = F.kl_div(F.log_softmax(student / T, -1)[mask], F.log_softmax(teacher / T, -1)[mask], log_target=True,
                  reduction="batchmean")
    ce = F.cross_entropy(student.flatten(0, 1), labels.flatten(), ignore_index=-100)
    expected = float(alpha * T**2 * kl + (1 - alpha) * ce)
    assert word_kd_loss(student, labels, values, indices, T, alpha) == pytest.approx(expected, rel=1e-5)
    assert word_kd_loss(student, labels, values, indices, T, 0.0) == pytest.approx(float(ce), rel=1e-6)
    # k < V: the teacher renormalised on its top-3, the student's full distribution read on those ids.
    top_values, top_ids = teacher.topk(3, dim=-1)
    terms = []
    for b, t in mask.nonzero().tolist():
        p = F.softmax(top_values[b, t] / T, -1)
        log_q = F.log_softmax(student[b, t] / T, -1)[top_ids[b, t]]
        terms.append(float((p * (p.log() - log_q)).sum()))
    top3 = word_kd_loss(student, labels, top_values, top_ids, T, 1.0)
    assert float(top3) == pytest.approx(T**2 * sum(terms) / len(terms), rel=1e-5)


def test_word_kd_trains_the_student_and_its_loss_falls(env, tokenizer):
    from bench.data import collate
    from bench.distill.sequence import Teacher, topk_logits

    ctx = context(tokenizer, max_steps=25)
    options = build(WordKDOptions, {"teacher": None, "topk": 4, "lr": 3e-3}, "word-kd")
    student = marian(tokenizer, d_model=16, layers=1, seed=1, eos_bias=None)
    topk, _ = topk_logits(Teacher(ctx, options), ctx.train_features, 4, tokenizer, "cpu")

    def objective(model) -> float:
        batch = collate(tokenizer, ctx.train_features)
        with torch.no_grad():
            logits = model.train(False)(**batch).logits
        values, indices = topk.batch(torch.arange(len(PAIRS)), batch["labels"], "cpu")
        return float(word_kd_loss(logits, batch["labels"], values, indices, options.temperature, options.alpha))

    before = objective(student)
    word_kd(student, options, ctx)
    after = objective(student)
    assert math.isfinite(before) and after < 0.9 * before
    section = ctx.records["word_kd"]
    assert section["word_kd"]["from_cache"] and section["teacher_passes"] == 0  # computed above, then reused
    assert section["word_kd"]["tokens"] == sum(len(f["labels"]) for f in ctx.train_features)
    assert "renormalised" in section["word_kd"]["objective"] and section["teacher_passes_in_training"] == 0
    assert math.isfinite(ctx.records["training"][-1]["final_loss"])
    assert [f["kd_index"] for f in env.trained[-1]] == list(range(len(PAIRS)))


def test_word_kd_top_k_cache_is_reused_without_a_teacher_pass(env, tokenizer, monkeypatch):
    options = build(WordKDOptions, {"topk": 4}, "word-kd")
    first, second = (marian(tokenizer, d_model=16, layers=1, seed=1, eos_bias=None) for _ in range(2))
    ctx = context(tokenizer)
    word_kd(first, options, ctx)
    computed = ctx.records["word_kd"]
    assert not computed["word_kd"]["from_cache"] and computed["teacher_passes"] > 0
    assert computed["word_kd"]["cache_bytes"] > 0 and computed["teacher"]["loaded"]

    def no_teacher_pass(*args, **kwargs):
        raise AssertionError("the teacher ran although its top-k logits were cached")

    monkeypatch.setattr(env.teacher, "forward", no_teacher_pass)
    ctx = context(tokenizer)
    word_kd(second, options, ctx)
    cached = ctx.records["word_kd"]
    assert cached["word_kd"]["from_cache"] and cached["teacher_passes"] == 0 and not cached["teacher"]["loaded"]
    assert env.loads == 1  # the second student never loaded the teacher
    # Cached outputs are the computed ones: the two students trained alike.
    assert all(torch.equal(a, b) for a, b in zip(parameters(first), parameters(second), strict=True))


@pytest.mark.parametrize(("cls", "options", "message"), [
    (SeqKDOptions, {"beam": 0}, "at least 1"),
    (SeqKDOptions, {"alpha": 1.5}, "at most 1"),
    (WordKDOptions, {"topk": 0}, "at least 1"),
    (WordKDOptions, {"temperature": 0}, "greater than 0"),
    (SeqKDOptions, {"max_new_tokens": 0}, "at least 1"),
    (SeqKDOptions, {"lr": -1.0}, "greater than 0"),
    (SeqKDOptions, {"word_kd": "yes"}, "word_kd"),
    (SeqInterOptions, {"beam": 3, "n_best": 4}, "at most the beam"),
    (SeqKDOptions, {"beams": 3}, "Did you mean 'beam'"),
    (WordKDOptions, {"teacher": "no-such-model"}, "no-such-model"),
])
def test_bad_options_are_usage_errors(cls, options, message):
    with pytest.raises(UsageError, match=message):
        build(cls, options, "seq-kd")


def test_defaults_and_registration():
    from bench.registry import METHODS

    options = build(SeqInterOptions, {}, "seq-inter")
    assert (options.beam, options.n_best, options.max_new_tokens, options.word_kd) == (5, None, None, False)
    assert (options.temperature, options.alpha, options.topk, options.teacher) == (1.0, 0.5, 8, None)
    assert options.for_training().lr == METHODS.get("full-ft").meta.options().lr
    labels = {name: METHODS.get(name).meta.label for name in ("word-kd", "seq-kd", "seq-inter")}
    assert labels == {"word-kd": "Word-KD", "seq-kd": "Seq-KD", "seq-inter": "Seq-Inter"}
    assert all(METHODS.get(name).meta.family == "distillation" for name in labels)
