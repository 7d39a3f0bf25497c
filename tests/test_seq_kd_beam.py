"""Seq-KD and Seq-Inter stages on tiny random Marian models (fixtures in test_seq_kd.py): the student
trains on the teacher's beam outputs, cached outputs are reused and shared, Seq-Inter picks the
candidate closest to the reference."""

from __future__ import annotations

import math

import pytest
import torch

from bench.errors import UsageError
from bench.generation.decoding import DecodeSettings, decode
from bench.generation.seq2seq import adapter_for
from bench.typed import build
from methods.seq_kd import SeqInterOptions, SeqKDOptions, closest_candidate, seq_inter, seq_kd
from methods.word_kd import word_kd
from tests.generation_models import one_thread  # noqa: F401  (autouse: tiny models run one thread)
from tests.test_seq_kd import MAX_SEQ_LEN, PAIRS, context, make_env, make_tokenizer, marian, parameters


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


@pytest.fixture
def env(tokenizer, tmp_path, monkeypatch):
    return make_env(tokenizer, tmp_path, monkeypatch)


def student(tokenizer):
    return marian(tokenizer, d_model=16, layers=1, seed=1, eos_bias=None)


def beam_targets(teacher, tokenizer, features, beam: int, n_best: int = 1, max_new_tokens: int | None = None):
    """The teacher's n-best per source, decoded one source at a time, as the test's own reference."""
    longest = max(len(f["labels"]) for f in features)
    limit = max_new_tokens or min(math.ceil(1.5 * longest) + 10, MAX_SEQ_LEN)
    settings = DecodeSettings(beam=beam, max_new_tokens=limit)
    rows = []
    for feature in features:
        ids = torch.tensor([feature["input_ids"]])
        rows.append(decode(adapter_for(teacher), ids, torch.ones_like(ids), settings, n_best=n_best)[0])
    return rows, settings



def test_seq_kd_trains_on_the_teachers_beam_outputs(env, tokenizer):
    ctx = context(tokenizer)
    model = student(tokenizer)
    before = parameters(model)
    seq_kd(model, build(SeqKDOptions, {"beam": 3}, "seq-kd"), ctx)
    rows, settings = beam_targets(env.teacher, tokenizer, ctx.train_features, beam=3)
    (trained,) = env.trained
    assert [f["labels"] for f in trained] == [list(row[0].tokens) + [tokenizer.eos_token_id] for row in rows]
    assert [f["input_ids"] for f in trained] == [f["input_ids"] for f in ctx.train_features]
    assert [f["labels"] for f in trained] != [f["labels"] for f in ctx.train_features]
    assert not all(torch.equal(a, b) for a, b in zip(before, parameters(model), strict=True))
    section = ctx.records["seq_kd"]
    decoded = section["decode"]
    assert decoded["settings"] == settings.to_dict()
    assert decoded["sentences"] == decoded["sentences_decoded"] == len(PAIRS)
    assert not decoded["from_cache"] and decoded["decode_s"] > 0 and decoded["cache_bytes"] > 0
    assert section["targets"]["sentences"] == len(PAIRS) and section["teacher_passes"] > 0
    assert "word_kd" not in section and "kd_index" not in trained[0]


def test_cached_beam_outputs_are_reused_and_shared_with_seq_inter(env, tokenizer, monkeypatch):
    options = build(SeqKDOptions, {"beam": 3}, "seq-kd")
    seq_kd(student(tokenizer), options, context(tokenizer))

    def no_teacher_pass(*args, **kwargs):
        raise AssertionError("the teacher decoded although its outputs were cached")

    monkeypatch.setattr(env.teacher, "forward", no_teacher_pass)
    ctx = context(tokenizer)
    seq_kd(student(tokenizer), options, ctx)
    assert env.trained[1] == env.trained[0] and env.loads == 1
    decoded = ctx.records["seq_kd"]["decode"]
    assert decoded["from_cache"] and decoded["decode_s"] == 0 and decoded["sentences_decoded"] == 0
    assert decoded["decode_s_when_computed"] > 0 and ctx.records["seq_kd"]["teacher_passes"] == 0
    # Seq-Inter with the same beam reads the same search.
    ctx = context(tokenizer)
    seq_inter(student(tokenizer), build(SeqInterOptions, {"beam": 3}, "x"), ctx)
    assert ctx.records["seq_inter"]["decode"]["cache_entry"] == decoded["cache_entry"] and env.loads == 1


def test_seq_kd_with_word_kd_matches_the_teacher_on_the_new_targets(env, tokenizer):
    ctx = context(tokenizer)
    seq_kd(student(tokenizer),
           build(SeqKDOptions, {"beam": 2, "word_kd": True, "topk": 3}, "seq-kd"), ctx)
    (trained,) = env.trained
    word = ctx.records["seq_kd"]["word_kd"]
    assert word["tokens"] == sum(len(f["labels"]) for f in trained) != sum(len(f["labels"]) for f in ctx.train_features)
    assert word["topk"] == 3 and not word["from_cache"] and [f["kd_index"] for f in trained] == list(range(len(PAIRS)))


def test_closest_candidate_by_sentence_bleu():
    import sacrebleu

    reference = "the cat sat on the mat ."
    candidates = ["a dog runs .", "the cat sat on a mat .", "the cat sat on the mat .", "the cat sat on the mat ."]
    index, scores = closest_candidate(candidates, reference)
    assert index == 2  # the exact match; its duplicate at 3 loses the tie to the better-ranked one
    assert scores == [sacrebleu.sentence_bleu(c, [reference]).score for c in candidates]
    assert closest_candidate(["x y", "x y"], "z")[0] == 0


def test_seq_inter_trains_on_the_candidate_closest_to_the_reference(env, tokenizer):
    ctx = context(tokenizer)
    rows, _ = beam_targets(env.teacher, tokenizer, ctx.train_features, beam=4, n_best=3, max_new_tokens=20)
    # References equal to the teacher's second-best hypotheses: Seq-Inter must pick those.
    ctx.train_features = [dict(f, labels=list(row[1].tokens) + [tokenizer.eos_token_id])
                          for f, row in zip(ctx.train_features, rows, strict=True)]
    seq_inter(student(tokenizer),
              build(SeqInterOptions, {"beam": 4, "n_best": 3, "max_new_tokens": 20}, "seq-inter"), ctx)
    expected = []
    for feature, row in zip(ctx.train_features, rows, strict=True):
        reference = tokenizer.decode(feature["labels"], skip_special_tokens=True)
        texts = [tokenizer.decode(list(h.tokens), skip_special_tokens=True) for h in row]
        expected.append(list(row[closest_candidate(texts, reference)[0]].tokens) + [tokenizer.eos_token_id])
    assert [f["labels"] for f in env.trained[0]] == expected == [f["labels"] for f in ctx.train_features]
    selection = ctx.records["seq_inter"]["selection"]
    assert selection["n_best"] == 3 and selection["picked_not_best_scored"] == len(PAIRS)
    assert selection["mean_sentence_bleu_picked"] == pytest.approx(100)
    assert selection["mean_sentence_bleu_best_scored"] < 100


def test_seq_inter_fine_tunes_the_teacher_itself(env, tokenizer):
    """The 'Teacher + Seq-Inter' row: `full-ft -> seq-inter` on the teacher's model, no teacher option."""
    ctx = context(tokenizer, model="tiny-teacher")
    model = marian(tokenizer)  # as full-ft left it (here: the same weights as the served teacher)
    before = parameters(model)
    seq_inter(model, build(SeqInterOptions, {"beam": 2}, "seq-inter"), ctx)
    assert ctx.records["seq_inter"]["teacher"]["model"] == "tiny-teacher" and env.loads == 1
    assert not all(torch.equal(a, b) for a, b in zip(before, parameters(model), strict=True))


def test_arch_only_cells_and_other_tasks(env, tokenizer):
    ctx = context(tokenizer, arch_only=True)
    seq_kd(marian(tokenizer, d_model=16, layers=1, eos_bias=None), build(SeqKDOptions, {}, "seq-kd"), ctx)
    assert env.loads == 0 and ctx.records["training"][-1]["arch_only"]
    assert not ctx.records["seq_kd"]["student_from_cache"]
    for stage in (word_kd, seq_kd, seq_inter):
        with pytest.raises(UsageError, match="sequence-to-sequence"):
            stage(None, build(SeqInterOptions if stage is seq_inter else SeqKDOptions, {}, "x"),
                  context(tokenizer, kind="classification"))
