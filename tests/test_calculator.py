"""The GSM8K calculator (Magister et al. 2022): safe arithmetic, and the step hook that writes
`result>>` after the model's `<<expr=` during greedy decoding."""

from __future__ import annotations

import time

import pytest
import torch

from bench.generation.calculator import calculator_hook, combine_hooks, evaluate_arithmetic
from bench.generation.decoding import DecodeSettings, Steer, decode, stop_at
from bench.generation.rules import TokenRules

# -- arithmetic -------------------------------------------------------------------------------------


@pytest.mark.parametrize("expression, expected", [
    ("48/2", "24"), ("48+24", "72"), ("2+3*4", "14"), ("(2+3)*4", "20"), ("2**3", "8"), ("2**3**2", "512"),
    ("-3+5", "2"), ("-(2+3)", "-5"), ("+4", "4"), ("--4", "4"), ("10-20", "-10"), ("1/2", "0.5"),
    ("1/3", "0.333333"), ("2/3", "0.666667"), ("0.1+0.2", "0.3"), ("0.1*3*10", "3"), ("12*0.25", "3"),
    ("1.50*2", "3"), (" 5 * 6 ", "30"), (".5*4", "2"), ("3.", "3"), ("100", "100"), ("2**-1", "0.5"),
    ("4**0.5", "2"), ("1/8", "0.125"), ("1/3000000", "0"), ("-1/3", "-0.333333"), ("0*-1", "0"),
    ("10**29", "100000000000000000000000000000"), ("-" * 199 + "1", "-1"), ("(" * 99 + "1" + ")" * 99, "1"),
])
def test_arithmetic(expression, expected):
    assert evaluate_arithmetic(expression) == expected


@pytest.mark.parametrize("expression", ["2+", "()", "", "   ", "2 3", "(2+3", "2+3)", "*2", "2**", "1.2.3", "=", "2=3"])
def test_malformed_expressions_are_none(expression):
    assert evaluate_arithmetic(expression) is None


HOSTILE = [
    "__import__('os').system('x')", "(1).__class__", "9**9**9", "10**1000", "'a'*3", "1/0", "0**-1", "1%0",
    "7//2", "7%2", "1<2", "1&3", "~1", "2<<3", "[1][0]", "lambda: 1", "x+1", "abs(-1)", "1,000*2", "1_000*2",
    "1e400", "1e5", "0x10", "1j", "(-8)**(1/3)", "2**101", "(10**10)**10", "0.5**-200", "1e30*10", "True+1",
    "(" * 150 + "1" + ")" * 150, "-" * 250 + "1", "9**" * 60 + "9", "1+" * 5000 + "1",
]


@pytest.mark.parametrize("expression", HOSTILE, ids=lambda e: e if len(e) < 30 else e[:27] + "...")
def test_hostile_expressions_are_none_and_fast(expression):
    start = time.perf_counter()
    assert evaluate_arithmetic(expression) is None
    assert time.perf_counter() - start < 0.1


def test_a_long_expression_is_refused_before_parsing():
    long = "+".join(["1"] * 5000)  # 9,999 characters of valid arithmetic
    assert evaluate_arithmetic(long[:199]) == "100"
    assert evaluate_arithmetic(long) is None


# -- the hook, on a character-level tokenizer and a scripted model ----------------------------------

PAD, EOS = "<pad>", "</s>"
CHARACTERS = "0123456789+-*/=<>.: abcdefghijklmnopqrstuvwxyzQ\n"


@pytest.fixture(scope="module")
def tokenizer():
    """One token per character (ids 3 onwards); decoding concatenates them."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, EOS: 1, "<unk>": 2, **{c: i + 3 for i, c in enumerate(CHARACTERS)}}
    characters = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    characters.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    characters.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=characters, pad_token=PAD, eos_token=EOS, unk_token="<unk>",
                                   clean_up_tokenization_spaces=False)


class ScriptedModel:
    """A Decodable that writes a fixed text per row, one character a step, then EOS.

    At generated position p it proposes the p-th token of its script (logit CHOSEN against 0),
    whatever it was fed: tokens forced in by a hook take the place of the script's, as a model
    that reads the calculator's result and goes on would."""

    CHOSEN = 10.0
    encoder = None

    def __init__(self, tokenizer, scripts: list[str]):
        self.scripts = [tokenizer.encode(s, add_special_tokens=False) + [tokenizer.eos_token_id] for s in scripts]
        self.vocab = len(tokenizer)
        self.token_rules = TokenRules(eos_token_ids=(tokenizer.eos_token_id,), pad_token_id=tokenizer.pad_token_id)

    def _logits(self, position: int):
        logits = torch.zeros(len(self.scripts), self.vocab)
        for row, script in enumerate(self.scripts):
            logits[row, script[min(position, len(script) - 1)]] = self.CHOSEN
        return logits

    def prefill(self, input_ids, attention_mask, beams: int):
        return self._logits(0), 0

    def step(self, tokens, state):
        return self._logits(state + 1), state + 1

    def reorder(self, state, indices):
        return state

    def log_prob_of_a_choice(self) -> float:
        return float(torch.log_softmax(self._logits(0)[0], -1).max())


def run(tokenizer, scripts: list[str], hook, max_new_tokens: int = 64):
    model = ScriptedModel(tokenizer, scripts)
    ids = torch.ones(len(scripts), 1, dtype=torch.long)  # the scripted model ignores its prompt
    rows = decode(model, ids, torch.ones_like(ids), DecodeSettings(max_new_tokens=max_new_tokens), hook=hook)
    return model, [row[0] for row in rows]


def test_the_calculator_writes_the_result_and_the_model_goes_on(tokenizer):
    # Row 0's own arithmetic is wrong (6); row 1 writes no annotation; row 2 has two of them.
    scripts = ["<<2+3=6>> apples", "no maths here", "<<10/4=2.4>> then <<2*3=7>>."]
    model, hypotheses = run(tokenizer, scripts, calculator_hook(tokenizer))
    texts = [tokenizer.decode(h.tokens, skip_special_tokens=True) for h in hypotheses]
    assert texts == ["<<2+3=5>> apples", "no maths here", "<<10/4=2.5>> then <<2*3=6>>."]
    assert all(h.end == "eos" for h in hypotheses)
    # Forced tokens are not the model's choices: only the others count in its log-probability
    # (the EOS it chose included).
    forced = [len("5>>"), 0, len("2.5>>") + len("6>>")]
    for hypothesis, n_forced in zip(hypotheses, forced, strict=True):
        chosen = hypothesis.length - n_forced
        assert hypothesis.log_prob == pytest.approx(chosen * model.log_prob_of_a_choice(), abs=1e-5)


def test_a_bad_expression_leaves_the_models_text(tokenizer):
    scripts = ["<<2+*3=7>> pears", "<<a+b=c>> done", "<<2+3=5>> ok"]
    _, plain = run(tokenizer, scripts, None)
    _, steered = run(tokenizer, scripts, calculator_hook(tokenizer))
    assert [h.tokens for h in steered] == [h.tokens for h in plain]
    # Rows 0 and 1 were left to the model; row 2's "5>>" was forced (the same text, unscored).
    assert [h.log_prob for h in steered][:2] == pytest.approx([h.log_prob for h in plain][:2])
    assert steered[2].log_prob > plain[2].log_prob


def test_the_hook_fires_only_at_an_open_annotations_equals_sign(tokenizer):
    hook = calculator_hook(tokenizer)

    def steer(text: str) -> Steer | None:
        return hook(0, tokenizer.encode(text, add_special_tokens=False))

    expected = Steer(force=tuple(tokenizer.encode("8>>", add_special_tokens=False)))
    assert steer("<<4*2=") == expected
    assert steer("<<2+3=5>> and <<4*2=") == expected
    assert steer("so 4*2 =") is None  # no annotation
    assert steer("<<4*2=8>> and 3 =") is None  # the last annotation is closed
    assert steer("<<4*2") is None and steer("<<4*2=8") is None  # not at its "=" yet, or past it
    assert steer("<<4*2=8=") is None  # an annotation already filled in is not filled in again
    assert steer("<<9**9**9=") is None


def test_combined_with_stop_strings(tokenizer):
    scripts = ["<<2+3=6>> apples. Question: more <<1+1=3>>", "Question: at once", "<<1+1=2>>"]
    hook = combine_hooks(stop_at(tokenizer, ["Question:"]), calculator_hook(tokenizer))
    _, hypotheses = run(tokenizer, scripts, hook)
    texts = [tokenizer.decode(h.tokens, skip_special_tokens=True) for h in hypotheses]
    assert texts == ["<<2+3=5>> apples. Question:", "Question:", "<<1+1=2>>"]
    assert [h.end for h in hypotheses] == ["hook", "hook", "eos"]


def test_combine_hooks_order():
    force_a, force_b, stop = Steer(force=(1,)), Steer(force=(2,)), Steer(stop=True)

    def constant(steer):
        return lambda row, generated: steer

    assert combine_hooks(constant(force_a), constant(stop))(0, [5]) == stop  # a stop wins over a force
    assert combine_hooks(constant(None), constant(force_b), constant(force_a))(0, [5]) == force_b
    assert combine_hooks(constant(Steer()), constant(force_a))(0, [5]) == force_a  # an empty Steer forces nothing
    assert combine_hooks(constant(None), constant(None))(0, [5]) is None
    assert combine_hooks()(0, [5]) is None
