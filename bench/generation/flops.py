"""FLOPs per generated token (PROTOCOL: Generation), with the harness's one counter.

A generated token costs one decoder step, whose attention grows with the cache, so the step
is counted at a stated context length; the prompt is paid once, so the prefill is counted
apart, and for an encoder-decoder the encoder alone as well (per source token, since
translation cost scales with the source). Same counter, custom formulas and convention as
bench/measure/flops.py: matmul-type ops only, 2 x MACs, forward, batch 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.measure.flops import FLOPS_TOOL
from bench.measure.result import Result

GENERATION_FLOPS_CONVENTION = (
    "matmul-type ops only, 2 x MACs, batch 1; step: one new token fed to the decoder whose cache already holds "
    "context_length tokens (decoder-only: prompt included; encoder-decoder: target tokens, start token included, "
    "its cross-attention reading prompt_tokens source states; recurrent models: the state, whatever the length); "
    "prefill: the prompt's forward (encoder-decoder: the encoder over the source plus the first decoder step); "
    "encoder: the encoder module alone, within the prefill"
)


@dataclass(frozen=True)
class GenerationFlops(Result):
    step_flops: int  # one generated token at context_length
    context_length: int
    prefill_flops: int
    prompt_tokens: int
    encoder_flops: int | None  # None: a decoder-only model
    encoder_flops_per_source_token: float | None
    step_by_op: dict = field(default_factory=dict)
    tool: str = FLOPS_TOOL
    convention: str = GENERATION_FLOPS_CONVENTION
    unit: str = "FLOP"


def _counter():
    from torch.utils.flop_counter import FlopCounterMode

    # The fused CPU attention and LSTM kernels are missing from FlopCounterMode's table; the
    # harness's formulas for them keep CPU and GPU counts equal (bench/measure/flops.py).
    from bench.measure.flops import _cpu_attention_formulas, _rnn_formulas

    return FlopCounterMode(display=False, custom_mapping={**_cpu_attention_formulas(), **_rnn_formulas()})


def generation_flops(model, input_ids, attention_mask=None, *, context_length: int | None = None) -> GenerationFlops:
    """Count the prefill of one prompt (batch 1) and one decoder step at `context_length`
    (default: the step right after the prefill). Tokens fed to reach the context are greedy's."""
    import torch

    if input_ids.shape[0] != 1:
        raise ValueError("generation FLOPs are counted at batch 1")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    prompt_tokens = int(attention_mask.sum())
    decoder_only = model.encoder is None
    cached = prompt_tokens if decoder_only else 1  # decoder tokens in the cache after the prefill
    context_length = cached if context_length is None else context_length
    if context_length < cached:
        raise ValueError(f"context_length must be at least {cached} (the cache after the prefill)")

    encoder_span: list[float] = []
    prefill_counter = _counter()
    hooks = []
    if not decoder_only:
        def entered(*args):
            encoder_span.append(prefill_counter.get_total_flops())

        def left(*args):
            encoder_span.append(prefill_counter.get_total_flops())

        hooks = [model.encoder.register_forward_pre_hook(entered), model.encoder.register_forward_hook(left)]
    try:
        with torch.inference_mode(), prefill_counter:
            logits, state = model.prefill(input_ids, attention_mask, beams=1)
    finally:
        for hook in hooks:
            hook.remove()
    with torch.inference_mode():
        for _ in range(context_length - cached):
            logits, state = model.step(logits.argmax(-1), state)
        step_counter = _counter()
        with step_counter:
            model.step(logits.argmax(-1), state)
    encoder = int(encoder_span[-1] - encoder_span[0]) if encoder_span else None
    source_tokens = prompt_tokens
    return GenerationFlops(
        step_flops=int(step_counter.get_total_flops()),
        context_length=context_length,
        prefill_flops=int(prefill_counter.get_total_flops()),
        prompt_tokens=prompt_tokens,
        encoder_flops=encoder,
        encoder_flops_per_source_token=encoder / source_tokens if encoder is not None else None,
        step_by_op={str(op): int(n) for op, n in step_counter.get_flop_counts().get("Global", {}).items()},
    )
