"""Transformers models behind the decoding protocol (`decoding.Decodable`).

Encoder-decoders (Marian, BART, T5...) encode once through `model.get_encoder()` and step the
decoder with its cache; decoder-only causal LMs prefill the (left-padded) prompt and step
with the cache. Each call is the one `model.generate` makes (same batch shapes, masks and
position ids; a beam search expands the rows before the prefill, as it does), which is what
makes our decoding return its token ids exactly.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from bench.generation.rules import TokenRules, from_generation_config


def adapter_for(model):
    """`model` itself when it implements the protocol (the LSTM), else its transformers adapter;
    in eval mode either way (dropout would make decoding random)."""
    if all(hasattr(model, name) for name in ("prefill", "step", "reorder", "token_rules")):
        return model.eval()
    if getattr(model.config, "is_encoder_decoder", False):
        return EncoderDecoderAdapter(model)
    return CausalLMAdapter(model)


def _cache_argument(model) -> str:
    # transformers 5 renamed `past_key_values` to `cache` (the old name is deprecated).
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _cache_of(outputs):
    cache = getattr(outputs, "cache", None)
    return cache if cache is not None else getattr(outputs, "past_key_values", None)


def _reorder_cache(model, cache, indices):
    if hasattr(cache, "reorder_cache"):
        cache.reorder_cache(indices)  # in place
        return cache
    return model._reorder_cache(cache, indices)  # legacy tuple caches


def _generation_config(model):
    import transformers

    config = getattr(model, "generation_config", None)
    return config if config is not None else transformers.GenerationConfig.from_model_config(model.config)


@dataclass
class _EncoderDecoderState:
    encoder_outputs: Any
    encoder_mask: Any
    cache: Any


class EncoderDecoderAdapter:
    def __init__(self, model, token_rules: TokenRules | None = None):
        self.model = model.eval()
        self.encoder = model.get_encoder()
        generation = _generation_config(model)
        self.decoder_start_token_id = generation.decoder_start_token_id
        if self.decoder_start_token_id is None:
            self.decoder_start_token_id = model.config.decoder_start_token_id
        self.token_rules = token_rules or from_generation_config(generation, is_encoder_decoder=True)
        self._cache_argument = _cache_argument(model)

    def prefill(self, input_ids, attention_mask, beams: int = 1):
        import torch

        encoded = self.encoder(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        if beams > 1:
            # The encoder runs once per source; its output is repeated for the beams.
            encoded["last_hidden_state"] = encoded.last_hidden_state.repeat_interleave(beams, dim=0)
            attention_mask = attention_mask.repeat_interleave(beams, dim=0) if attention_mask is not None else None
        start = torch.full((encoded.last_hidden_state.shape[0], 1), self.decoder_start_token_id,
                           dtype=torch.long, device=encoded.last_hidden_state.device)
        state = _EncoderDecoderState(encoded, attention_mask, None)
        return self._decode(start, state)

    def step(self, tokens, state):
        return self._decode(tokens[:, None], state)

    def reorder(self, state, indices):
        # Beams only move within their source row, so the encoder output needs no reordering.
        state.cache = _reorder_cache(self.model, state.cache, indices)
        return state

    def _decode(self, decoder_input_ids, state):
        outputs = self.model(encoder_outputs=state.encoder_outputs, attention_mask=state.encoder_mask,
                             decoder_input_ids=decoder_input_ids, use_cache=True, return_dict=True,
                             **{self._cache_argument: state.cache})
        state.cache = _cache_of(outputs)
        return outputs.logits[:, -1], state


@dataclass
class _CausalState:
    attention_mask: Any  # None when the prompt had no padding (transformers then drops it)
    positions: Any  # [N, 1]: position id of the last token fed
    cache: Any


class CausalLMAdapter:
    encoder = None  # prefill FLOPs are the prompt's; there is no separate encoder

    def __init__(self, model, token_rules: TokenRules | None = None):
        self.model = model.eval()
        self.token_rules = token_rules or from_generation_config(_generation_config(model), is_encoder_decoder=False)
        self._cache_argument = _cache_argument(model)

    def prefill(self, input_ids, attention_mask, beams: int = 1):
        import torch

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if bool((attention_mask[:, -1] == 0).any()):
            raise ValueError("decoder-only prompts must be left-padded (tokenizer.padding_side = 'left')")
        if beams > 1:
            input_ids = input_ids.repeat_interleave(beams, dim=0)
            attention_mask = attention_mask.repeat_interleave(beams, dim=0)
        positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        # transformers drops an all-ones mask, which selects the unmasked attention kernels.
        mask = None if bool((attention_mask == 1).all()) else attention_mask
        state = _CausalState(mask, positions[:, -1:], None)
        return self._forward(input_ids, positions, state)

    def step(self, tokens, state):
        if state.attention_mask is not None:
            state.attention_mask = _extend(state.attention_mask)
        state.positions = state.positions + 1
        return self._forward(tokens[:, None], state.positions, state)

    def reorder(self, state, indices):
        state.cache = _reorder_cache(self.model, state.cache, indices)
        state.positions = state.positions.index_select(0, indices)
        if state.attention_mask is not None:
            state.attention_mask = state.attention_mask.index_select(0, indices)
        return state

    def _forward(self, input_ids, positions, state):
        outputs = self.model(input_ids=input_ids, attention_mask=state.attention_mask, position_ids=positions,
                             use_cache=True, return_dict=True, **{self._cache_argument: state.cache})
        state.cache = _cache_of(outputs)
        return outputs.logits[:, -1], state


def _extend(mask):
    import torch

    return torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
