"""Our greedy and beam search against transformers' `generate`, token for token, on tiny
random Marian, BART and Llama models; batching, determinism and the step hook."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from bench.generation.decoding import DecodeSettings, Steer, decode, greedy, stop_at
from bench.generation.seq2seq import adapter_for
from tests import generation_models as tiny
from tests.generation_models import one_thread  # noqa: F401  (autouse: tiny models run one thread)

MAX_NEW = 10


@pytest.fixture(scope="module")
def marian():
    return tiny.marian()


@pytest.fixture(scope="module")
def llama():
    return tiny.llama()


def generate(model, ids, mask, settings: DecodeSettings, n: int = 1):
    return model.generate(input_ids=ids, attention_mask=mask, num_beams=settings.beam, num_return_sequences=n,
                          do_sample=False, length_penalty=settings.length_penalty,
                          early_stopping=settings.early_stopping, max_new_tokens=settings.max_new_tokens,
                          return_dict_in_generate=True, output_scores=True)


def check_against_generate(model, ids, mask, settings: DecodeSettings, prompt_length: int):
    n = settings.beam  # every finished hypothesis, in order, not only the best
    ours = decode(adapter_for(model), ids, mask, settings, n_best=n)
    theirs = generate(model, ids, mask, settings, n)
    expected = tiny.hf_hypotheses(theirs.sequences, prompt_length)
    assert [h.tokens for row in ours for h in row] == expected
    if settings.beam > 1:
        scores = [h.score for row in ours for h in row]
        assert scores == pytest.approx(theirs.sequences_scores.tolist(), abs=1e-5)
    return ours


SEARCHES = [
    DecodeSettings(beam=1, max_new_tokens=MAX_NEW),
    DecodeSettings(beam=3, max_new_tokens=MAX_NEW),
    DecodeSettings(beam=5, max_new_tokens=MAX_NEW, length_penalty=0.6, early_stopping=True),
    DecodeSettings(beam=3, max_new_tokens=MAX_NEW, length_penalty=2.0, early_stopping="never"),
    DecodeSettings(beam=5, max_new_tokens=MAX_NEW, length_penalty=-0.5),
]


@pytest.mark.parametrize("settings", SEARCHES, ids=lambda s: f"K{s.beam}-lp{s.length_penalty}-es{s.early_stopping}")
def test_marian_matches_generate(marian, settings):
    ids, mask = tiny.sources()
    ours = check_against_generate(marian, ids, mask, settings, prompt_length=1)
    if settings.length_penalty <= 1.0:  # a penalty of 2 makes the longest hypotheses win
        assert len({h.length for row in ours for h in row}) > 1  # hypotheses end at different steps
    assert len({h.tokens for row in ours for h in row}) > 2  # sources decode differently


@pytest.mark.parametrize("settings", SEARCHES[:3], ids=lambda s: f"K{s.beam}")
def test_bart_matches_generate(settings):
    ids, mask = tiny.sources(seed=3)
    ours = check_against_generate(tiny.bart(), ids, mask, settings, prompt_length=1)
    assert len({h.length for row in ours for h in row}) > 1


def test_marian_generation_config_rules_match_generate():
    """What real opus-mt checkpoints set: the pad token banned, renormalised log-probs."""
    model = tiny.marian({"bad_words_ids": [[tiny.PAD]], "renormalize_logits": True})
    rules = adapter_for(model).token_rules
    assert rules.suppress_token_ids == (tiny.PAD,) and rules.renormalize
    ids, mask = tiny.sources(seed=4)
    for settings in (SEARCHES[0], SEARCHES[2]):
        check_against_generate(model, ids, mask, settings, prompt_length=1)


def test_hypotheses_that_hit_the_length_limit_match_generate():
    # Without forced_eos a hypothesis may end at max_new_tokens with no EOS.
    model = tiny.marian({"forced_eos_token_id": None})
    ids, mask = tiny.sources(seed=5)
    ends = set()
    for settings in SEARCHES[:4]:
        ours = check_against_generate(model, ids, mask, settings, prompt_length=1)
        ends |= {h.end for row in ours for h in row}
    assert ends == {"eos", "length"}


@pytest.mark.parametrize("settings", [SEARCHES[0], SEARCHES[1]], ids=["greedy", "beam3"])
def test_llama_matches_generate_on_left_padded_prompts(llama, settings):
    ids, mask = tiny.prompts()
    ours = check_against_generate(llama, ids, mask, settings, prompt_length=ids.shape[1])
    assert len({row[0].tokens for row in ours}) > 1


def test_beam_of_one_is_greedy(marian):
    # With early_stopping=True a one-beam search stops at its first finished hypothesis, which
    # is greedy's; with False it keeps the runner-up candidate alive and may find a better one.
    from bench.generation.beam import beam_search

    ids, mask = tiny.sources()
    model = adapter_for(marian)
    settings = DecodeSettings(beam=1, max_new_tokens=MAX_NEW, early_stopping=True)
    with torch.inference_mode():
        beamed = beam_search(model, ids, mask, settings, model.token_rules)
        greedy_rows = greedy(model, ids, mask, settings, model.token_rules)
    assert [row[0].tokens for row in beamed] == [h.tokens for h in greedy_rows]
    assert [row[0].log_prob for row in beamed] == pytest.approx([h.log_prob for h in greedy_rows], abs=1e-5)


def test_decoding_is_deterministic(marian):
    ids, mask = tiny.sources()
    model = adapter_for(marian)
    settings = DecodeSettings(beam=4, max_new_tokens=MAX_NEW)
    assert decode(model, ids, mask, settings, n_best=4) == decode(model, ids, mask, settings, n_best=4)


@pytest.mark.parametrize("beam", [1, 3])
def test_batched_equals_one_at_a_time(marian, llama, beam):
    settings = DecodeSettings(beam=beam, max_new_tokens=MAX_NEW)
    for model, (ids, mask), left in ((marian, tiny.sources(), False), (llama, tiny.prompts(), True)):
        batched = decode(adapter_for(model), ids, mask, settings)
        for row in range(ids.shape[0]):
            keep = mask[row].bool()
            single = decode(adapter_for(model), ids[row : row + 1, keep], mask[row : row + 1, keep], settings)
            assert single[0][0].tokens == batched[row][0].tokens, (type(model).__name__, row, left)
            assert single[0][0].score == pytest.approx(batched[row][0].score, abs=1e-4)


def test_n_best_is_sorted_and_bounded(marian):
    ids, mask = tiny.sources()
    rows = decode(adapter_for(marian), ids, mask, DecodeSettings(beam=4, max_new_tokens=MAX_NEW), n_best=4)
    for row in rows:
        assert len(row) == 4 and len({h.tokens for h in row}) == 4
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)
        for h in row:
            assert h.score == pytest.approx(h.log_prob / h.length, abs=1e-5)  # length_penalty 1
    with pytest.raises(ValueError, match="n_best"):
        decode(adapter_for(marian), ids, mask, DecodeSettings(beam=2), n_best=3)


def test_hook_forces_tokens_mid_sequence(llama):
    """A calculator-style hook: after the model's 2nd token, force two tokens; the model then
    continues exactly as if those tokens had been part of its prompt (the cache saw them)."""
    ids, mask = tiny.prompts()
    model = adapter_for(llama)
    settings = DecodeSettings(max_new_tokens=MAX_NEW)
    forced = (41, 42)

    def calculator(row, generated):
        return Steer(force=forced) if len(generated) == 2 else None

    steered = decode(model, ids, mask, settings, hook=calculator)
    plain = decode(model, ids, mask, settings)
    for row in range(ids.shape[0]):
        tokens = steered[row][0].tokens
        assert tokens[:2] == plain[row][0].tokens[:2] and tokens[2:4] == forced
        keep = mask[row].bool()
        resumed = torch.cat([ids[row, keep], torch.tensor(tokens[:4])])[None]
        remaining = dataclasses.replace(settings, max_new_tokens=MAX_NEW - 4)
        rest = decode(model, resumed, torch.ones_like(resumed), remaining)
        assert tokens[4:] == rest[0][0].tokens


def test_hook_stops_a_row(llama):
    ids, mask = tiny.prompts()
    rows = decode(adapter_for(llama), ids, mask, DecodeSettings(max_new_tokens=MAX_NEW),
                  hook=lambda row, generated: Steer(stop=True) if row == 1 and len(generated) == 3 else None)
    assert rows[1][0].end == "hook" and len(rows[1][0].tokens) == 3
    assert all(rows[r][0].end != "hook" for r in (0, 2, 3))
    with pytest.raises(ValueError, match="greedy"):
        decode(adapter_for(llama), ids, mask, DecodeSettings(beam=2), hook=lambda row, generated: None)


def test_stop_strings_end_rows_on_their_text(llama):
    class Letters:  # token id i reads as the letter chr(ord("a") + i % 26)
        @staticmethod
        def decode(ids, skip_special_tokens=True):
            return "".join(chr(ord("a") + i % 26) for i in ids)

    ids, mask = tiny.prompts()
    model = adapter_for(llama)
    plain = decode(model, ids, mask, DecodeSettings(max_new_tokens=MAX_NEW))
    text = Letters.decode(plain[0][0].tokens)
    stop = text[3:5]  # occurs first at the 5th generated token of row 0
    rows = decode(model, ids, mask, DecodeSettings(max_new_tokens=MAX_NEW), hook=stop_at(Letters, [stop]))
    cut = rows[0][0]
    assert cut.end == "hook" and stop in Letters.decode(cut.tokens) and stop not in Letters.decode(cut.tokens[:-1])
    assert cut.tokens == plain[0][0].tokens[: len(cut.tokens)]


def test_settings_record_validation_and_rules_without_eos(marian):
    from bench.errors import UsageError
    from bench.typed import build

    assert DecodeSettings(beam=5).to_dict() == {"search": "beam", "beam": 5, "max_new_tokens": 128,
                                                "length_penalty": 1.0, "early_stopping": False}
    assert build(DecodeSettings, {"beam": 4, "early_stopping": "never"}, "decode").early_stopping == "never"
    for bad, message in (({"beam": 0}, "at least 1"), ({"early_stopping": "sometimes"}, "early_stopping"),
                         ({"beams": 3}, "Did you mean 'beam'")):
        with pytest.raises(UsageError, match=message):
            build(DecodeSettings, bad, "decode")
    model = adapter_for(marian)
    ids, mask = tiny.sources()
    settings = DecodeSettings(beam=1, max_new_tokens=MAX_NEW)
    rows = decode(model, ids, mask, settings, rules=model.token_rules.without_eos())
    assert all(len(row[0].tokens) == MAX_NEW and row[0].end == "length" for row in rows)
