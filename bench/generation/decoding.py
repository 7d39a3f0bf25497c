"""One decoding loop for every generator: greedy here, beam search in `beam.py`.

A model is decoded through a small protocol (`Decodable`): `prefill` encodes the source
(or reads the prompt) and returns the scores of the first new token, `step` feeds one token
per row and returns the next scores, `reorder` makes the cache follow the beams. The
transformers adapters (`seq2seq.py`) and the LSTM (`lstm.py`) implement it, so MT, GSM8K and
the seq-KD students share one search whose settings go into the records.

Greedy and beam search replay transformers' `generate` operation for operation (same
batch shapes, same masks, same tie-breaking topk), so they return exactly its token ids;
the tests check that on tiny Marian, BART and Llama models.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from bench.generation.rules import TokenRules
from bench.typed import option


@dataclass(frozen=True)
class DecodeSettings:
    beam: int = option(1, "beam size K; 1 is greedy", at_least=1)
    max_new_tokens: int = option(128, "tokens generated after the prompt at most, EOS included", at_least=1)
    length_penalty: float = option(1.0, "hypothesis score = sum log p / length**length_penalty (beam only)")
    early_stopping: bool | Literal["never"] = option(
        False, "beam only, as transformers: True stops at K finished hypotheses, False stops when the best "
               "running beam cannot beat them at its current length, 'never' when it cannot at any length")

    def to_dict(self) -> dict:
        return {"search": "greedy" if self.beam == 1 else "beam", **asdict(self)}


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # generated ids, without the EOS that ended them
    score: float  # log_prob / length**length_penalty (greedy too, so scores compare across searches)
    log_prob: float  # sum of the model's log-probabilities of the tokens it chose (EOS included)
    length: int  # generated positions, EOS included (the length of the length penalty)
    end: Literal["eos", "length", "hook"]  # why it ended


@dataclass(frozen=True)
class Steer:
    """A step hook's answer: tokens to force next (a calculator's result), or stop the row."""

    force: tuple[int, ...] = ()
    stop: bool = False


# hook(row, generated_ids) after each token the model chose for `row`; greedy only.
StepHook = Callable[[int, Sequence[int]], "Steer | None"]


class Decodable(Protocol):
    token_rules: TokenRules
    encoder: Any  # the module whose FLOPs count as encoding (None for decoder-only models)

    def prefill(self, input_ids, attention_mask, beams: int) -> tuple[Any, Any]:
        """(logits [B * beams, V] of the first new token, state); each row repeated `beams` times."""

    def step(self, tokens, state) -> tuple[Any, Any]:
        """Feed `tokens` [N] (one per row), return (logits [N, V], state)."""

    def reorder(self, state, indices) -> Any:
        """The state whose row i is row indices[i] of `state` (beam search). Indices move rows
        only among the beams of one source, so per-source tensors (encoder outputs) need not move."""


def decode(model: Decodable, input_ids, attention_mask, settings: DecodeSettings, *, rules: TokenRules | None = None,
           n_best: int = 1, hook: StepHook | None = None) -> list[list[Hypothesis]]:
    """Per input row, its best `n_best` hypotheses, best first (n_best <= beam).

    `rules` overrides the model's token rules (e.g. `rules.without_eos()` for timing).
    """
    import torch

    rules = rules or model.token_rules
    if not 1 <= n_best <= settings.beam:
        raise ValueError(f"n_best must be between 1 and the beam size {settings.beam}, got {n_best}")
    with torch.inference_mode():
        if settings.beam == 1:
            return [[h] for h in greedy(model, input_ids, attention_mask, settings, rules, hook=hook)]
        if hook is not None:
            raise ValueError("step hooks (forced tokens, stop strings) are implemented for greedy decoding only")
        from bench.generation.beam import beam_search

        return beam_search(model, input_ids, attention_mask, settings, rules, n_best=n_best)


def greedy(model: Decodable, input_ids, attention_mask, settings: DecodeSettings, rules: TokenRules,
           hook: StepHook | None = None) -> list[Hypothesis]:
    """Argmax decoding, batched; rows that ended are fed the pad token, as in transformers.

    A hook may queue forced tokens for a row: they are fed one per step, in place of the
    model's choice, count toward max_new_tokens, and do not count in the row's
    log-probability (the model did not choose them). One step per forced token keeps every
    row at one token per step, so the batch shares one cache shape.
    """
    import torch

    max_new_tokens = settings.max_new_tokens
    logits, state = model.prefill(input_ids, attention_mask, beams=1)
    rows = logits.shape[0]
    eos = torch.tensor(rules.eos_token_ids, dtype=torch.long, device=logits.device)
    tokens = torch.full((rows, max_new_tokens), rules.pad_token_id, dtype=torch.long, device=logits.device)
    done = torch.zeros(rows, dtype=torch.bool, device=logits.device)
    log_prob = torch.zeros(rows, dtype=torch.float32, device=logits.device)
    lengths, ends = [max_new_tokens] * rows, ["length"] * rows
    queued: dict[int, list[int]] = {}
    for position in range(max_new_tokens):
        if position:
            logits, state = model.step(tokens[:, position - 1], state)
        logits = logits.float()
        chosen = rules.apply(logits, position, max_new_tokens).argmax(-1)  # transformers' greedy: masked logits
        chose_itself = ~done
        for row, pending in queued.items():
            if pending and not done[row]:
                chosen[row] = pending.pop(0)
                chose_itself[row] = False
        chosen = torch.where(done, torch.full_like(chosen, rules.pad_token_id), chosen)
        # Scored as beam search scores: log-softmax first, then the token rules.
        log_probs = rules.apply(torch.log_softmax(logits, -1), position, max_new_tokens)
        picked = log_probs.gather(1, chosen[:, None])[:, 0]
        log_prob += torch.where(chose_itself, picked, torch.zeros_like(picked))
        tokens[:, position] = chosen
        ended = ~done & torch.isin(chosen, eos)
        for row in ended.nonzero()[:, 0].tolist():
            lengths[row], ends[row] = position + 1, "eos"
        if hook is not None:
            for row in (chose_itself & ~ended).nonzero()[:, 0].tolist():
                steer = hook(row, tokens[row, : position + 1].tolist())
                if steer is not None and steer.stop:
                    lengths[row], ends[row] = position + 1, "hook"
                    ended[row] = True
                elif steer is not None and steer.force:
                    queued.setdefault(row, []).extend(steer.force)
        done |= ended
        if bool(done.all()):
            break
    return [_hypothesis(tokens[row, : lengths[row]].tolist(), float(log_prob[row]), settings.length_penalty, ends[row])
            for row in range(rows)]


def stop_at(tokenizer, strings: Sequence[str]) -> StepHook:
    """A hook that ends a row once its decoded text contains one of `strings` (stop strings,
    e.g. a few-shot prompt's next "Question:"); the text is cut by the caller."""

    def hook(row: int, generated: Sequence[int]) -> Steer | None:
        text = tokenizer.decode(generated, skip_special_tokens=True)
        return Steer(stop=True) if any(s in text for s in strings) else None

    return hook


def _hypothesis(ids: list[int], log_prob: float, length_penalty: float, end: str,
                score: float | None = None) -> Hypothesis:
    """A hypothesis from its generated ids (EOS, when it ended on one, is cut off here)."""
    length = len(ids)
    return Hypothesis(
        tokens=tuple(ids[:-1] if end == "eos" else ids),
        score=log_prob / length**length_penalty if score is None else score,
        log_prob=log_prob,
        length=length,
        end=end,
    )
