"""Token rules: what a model may emit at each position, independent of the search.

These are the few logits processors that translation and chat checkpoints set in their
generation config (Marian: never emit the pad token, force EOS at the last position,
renormalise), applied in the order transformers applies them so that our decoding and
`model.generate` pick the same tokens. Anything else a generation config asks for is refused
by name (`from_generation_config`) rather than silently ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Generation-config fields whose processors we do not implement, with their neutral values.
_UNSUPPORTED = {
    "no_repeat_ngram_size": (None, 0),
    "encoder_no_repeat_ngram_size": (None, 0),
    "repetition_penalty": (None, 1.0),
    "encoder_repetition_penalty": (None, 1.0),
    "sequence_bias": (None,),
    "begin_suppress_tokens": (None,),
    "exponential_decay_length_penalty": (None,),
    "diversity_penalty": (None, 0.0),
    "guidance_scale": (None, 1.0),
    "watermarking_config": (None,),
}


@dataclass(frozen=True)
class TokenRules:
    eos_token_ids: tuple[int, ...]  # any of these ends a sequence; () decodes to max_new_tokens
    pad_token_id: int  # written after a sequence ends and fed back for finished rows
    suppress_token_ids: tuple[int, ...] = ()  # never emitted (Marian: the pad token)
    forced_first_token_id: int | None = None  # the first new token (mBART/BART forced_bos)
    forced_last_token_ids: tuple[int, ...] = ()  # the last allowed position must end (forced_eos)
    min_new_tokens: int = 0  # EOS is forbidden before this many new tokens
    renormalize: bool = False  # log-softmax again after the masks (transformers' renormalize_logits)

    def without_eos(self) -> TokenRules:
        """Rules that never stop early, for timing a fixed number of generated tokens."""
        return replace(self, eos_token_ids=(), forced_last_token_ids=(), min_new_tokens=0)

    def to_dict(self) -> dict:
        import dataclasses

        return dataclasses.asdict(self)

    def apply(self, scores, position: int, max_new_tokens: int):
        """`scores` [N, V] for new-token `position` (0-based), masked; a new tensor.

        Order as transformers' processor list: bad words, min length, forced BOS, forced EOS,
        renormalisation. A forced token gets score 0 and every other token -inf, as there.
        """
        import torch

        scores = scores.clone()
        if self.suppress_token_ids:
            scores[:, list(self.suppress_token_ids)] = -float("inf")
        if self.eos_token_ids and position < self.min_new_tokens:
            scores[:, list(self.eos_token_ids)] = -float("inf")
        forced = None
        if self.forced_first_token_id is not None and position == 0:
            forced = [self.forced_first_token_id]
        if self.forced_last_token_ids and position == max_new_tokens - 1:
            forced = list(self.forced_last_token_ids)
        if forced is not None:
            scores = torch.full_like(scores, -float("inf"))
            scores[:, forced] = 0
        if self.renormalize:
            scores = torch.log_softmax(scores, dim=-1)
        return scores


def _as_tuple(value) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def from_generation_config(config, *, is_encoder_decoder: bool) -> TokenRules:
    """The token rules of a transformers GenerationConfig; unsupported processors are refused.

    min_length counts the decoder prompt in transformers (the start token for an
    encoder-decoder); a decoder-only prompt's length varies, so there only min_new_tokens is
    taken.
    """
    for name, neutral in _UNSUPPORTED.items():
        value = getattr(config, name, None)
        if value not in neutral:
            raise NotImplementedError(f"generation config sets {name}={value!r}; bench.generation does not "
                                      "implement that logits processor")
    eos = _as_tuple(config.eos_token_id)
    pad = config.pad_token_id if config.pad_token_id is not None else (eos[0] if eos else 0)
    suppress = list(_as_tuple(config.suppress_tokens))
    for words in config.bad_words_ids or ():
        if len(words) != 1:
            raise NotImplementedError(f"generation config bans the multi-token sequence {words!r}; only "
                                      "single-token bad words are implemented")
        suppress.append(int(words[0]))
    min_new = int(config.min_new_tokens or 0)
    if config.min_length and is_encoder_decoder:
        min_new = max(min_new, int(config.min_length) - 1)
    elif config.min_length:
        raise NotImplementedError("min_length on a decoder-only model depends on the padded prompt; "
                                  "set min_new_tokens instead")
    forced_first = config.forced_bos_token_id if is_encoder_decoder else None
    if config.forced_bos_token_id is not None and not is_encoder_decoder:
        # transformers forces it only when the prompt is one token long; prompts here are longer.
        raise NotImplementedError("forced_bos_token_id on a decoder-only model")
    return TokenRules(
        eos_token_ids=eos,
        pad_token_id=int(pad),
        suppress_token_ids=tuple(dict.fromkeys(suppress)),
        forced_first_token_id=forced_first,
        forced_last_token_ids=_as_tuple(config.forced_eos_token_id),
        min_new_tokens=min_new,
        renormalize=bool(config.renormalize_logits),
    )
