"""Forward-pass FLOPs with one counter and one convention (PROTOCOL: FLOPs).

Counters disagree (some count MACs, some count softmax/GELU), so every count
comes from FlopCounterMode and carries its tool and convention; tables never
mix counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.measure.result import Result

FLOPS_TOOL = "torch.utils.flop_counter.FlopCounterMode"
FLOPS_CONVENTION = "matmul-type ops only, 2 x MACs, forward pass"


@dataclass(frozen=True)
class FlopsResult(Result):
    flops: int
    batch_size: int
    seq_len: int
    tool: str = FLOPS_TOOL
    convention: str = FLOPS_CONVENTION
    unit: str = "FLOP"
    by_op: dict = field(default_factory=dict)  # aten op name -> FLOPs, to explain a total


def reference_inputs(vocab_size: int, batch_size: int = 1, seq_len: int = 128, device: str = "cpu") -> dict:
    """Deterministic token ids and a full attention mask at the protocol shape.

    FLOPs do not depend on token values, but latency can (e.g. padding paths),
    so the same seeded ids are used everywhere.
    """
    import torch

    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, vocab_size, (batch_size, seq_len), generator=generator)
    attention_mask = torch.ones(batch_size, seq_len, dtype=torch.long)
    return {"input_ids": input_ids.to(device), "attention_mask": attention_mask.to(device)}


def _cpu_attention_formulas() -> dict:
    """FLOP formula for the fused CPU attention kernel, absent from FlopCounterMode.

    FlopCounterMode knows the CUDA fused-attention kernels but not
    `_scaled_dot_product_flash_attention_for_cpu`, so without this the same
    model would lose its attention matmuls (Q K^T and weights @ V) on CPU only.
    The formula is the one torch uses for the CUDA kernels.
    """
    import torch
    from torch.utils.flop_counter import sdpa_flop_count

    def cpu_flash_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    try:
        op = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
    except AttributeError:  # a torch without this kernel cannot dispatch to it either
        return {}
    return {op: cpu_flash_attention_flops}


def _rnn_formulas() -> dict:
    """FLOP formulas for the fused recurrent kernels, also absent from FlopCounterMode.

    On CPU nn.LSTM runs one oneDNN `mkldnn_rnn_layer` call per layer and direction when the
    sequences of a batch are equally long (always so at the protocol's fixed shapes; unequal
    lengths take a decomposed path whose addmm calls are counted); on CUDA one `_cudnn_rnn`
    call runs every layer. Same matmuls either way: per token, each layer's input and
    recurrent projections to the gates, 2 x (rows x columns) of every weight matrix.
    """
    import torch

    def tokens(input_shape) -> int:
        count = 1
        for size in input_shape[:-1]:  # [T, B, E], [B, T, E] or packed [sum of lengths, E]
            count *= size
        return count

    def matrices(shapes) -> int:
        return sum(shape[0] * shape[1] for shape in shapes if len(shape) == 2)  # biases are not matmuls

    def cpu_rnn_layer_flops(input_shape, weight_ih_shape, weight_hh_shape, *args, out_shape=None, **kwargs):
        return 2 * tokens(input_shape) * matrices([weight_ih_shape, weight_hh_shape])

    def cudnn_rnn_flops(input_shape, weight_shapes, *args, out_shape=None, **kwargs):
        return 2 * tokens(input_shape) * matrices(weight_shapes)

    formulas = {}
    for name, formula in (("mkldnn_rnn_layer", cpu_rnn_layer_flops), ("_cudnn_rnn", cudnn_rnn_flops)):
        op = getattr(torch.ops.aten, name, None)
        if op is not None:
            formulas[op] = formula
    return formulas


def count_flops(model, inputs: dict) -> FlopsResult:
    """Count the FLOPs of one `model(**inputs)` forward pass under no_grad."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False, custom_mapping={**_cpu_attention_formulas(), **_rnn_formulas()})
    with torch.no_grad(), counter:
        model(**inputs)
    batch_size, seq_len = inputs["input_ids"].shape[:2]
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    return FlopsResult(
        flops=int(counter.get_total_flops()),
        batch_size=int(batch_size),
        seq_len=int(seq_len),
        by_op=by_op,
    )
