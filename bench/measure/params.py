"""Parameter counts, including weights that are not nn.Parameters.

Dynamic/static quantised modules keep their int8 weights in packed params, and
bitsandbytes 4-bit parameters store two values per byte; counting only
`numel()` of `model.parameters()` would make a quantised model look smaller
than its fp32 reference, so both cases are counted by their logical shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.measure.result import Result
from bench.modeling.parts import is_task_head


@dataclass(frozen=True)
class ParamCounts(Result):
    total: int
    trainable: int
    trainable_pct: float  # trainable / base_total * 100 (BitFit/LoRA convention)
    base_total: int
    packed: int  # elements held outside nn.Parameters (quantised/packed weights)
    # Trainable parameters of the task head. Every method trains the head, and the PEFT
    # papers' counts (BitFit %Param, LoRA's "# trainable") leave it out.
    trainable_head: int = 0
    unit: str = "parameters"


def _logical_numel(param) -> int:
    # bitsandbytes Params4bit keeps the unpacked shape on its quant_state.
    quant_state = getattr(param, "quant_state", None)
    shape = getattr(quant_state, "shape", None)
    if shape is not None:
        return math.prod(shape)
    return param.numel()


def _packed_numel(model) -> int:
    """Elements of weights held by quantised modules rather than as Parameters."""
    import torch

    count = 0
    for module in model.modules():
        own_params = {id(p) for p in module.parameters(recurse=False)}
        # Quantised Linear/Conv/Embedding expose weight() and bias() as methods.
        for accessor in ("weight", "bias"):
            getter = getattr(type(module), accessor, None)
            if callable(getter) and not isinstance(getter, property):
                tensor = getattr(module, accessor)()
                if isinstance(tensor, torch.Tensor) and id(tensor) not in own_params:
                    count += tensor.numel()
        # Quantised tensors registered as buffers (e.g. custom int8 layers).
        for buffer in module.buffers(recurse=False):
            if buffer.is_quantized:
                count += buffer.numel()
    return count


def count_parameters(model, base_total: int | None = None) -> ParamCounts:
    """Count total and trainable parameters; % is relative to `base_total`.

    Pass the base model's total as `base_total` for PEFT variants, so that
    LoRA/BitFit percentages match the papers (trainable / base model total).
    """
    params = list(model.parameters())  # deduplicates tied weights
    packed = _packed_numel(model)
    total = sum(_logical_numel(p) for p in params) + packed
    trainable = sum(_logical_numel(p) for p in params if p.requires_grad)
    head = sum(_logical_numel(p) for name, p in model.named_parameters() if p.requires_grad and is_task_head(name))
    base = total if base_total is None else int(base_total)
    pct = 100.0 * trainable / base if base else 0.0
    return ParamCounts(total=total, trainable=trainable, trainable_pct=pct, base_total=base, packed=packed,
                       trainable_head=head)
