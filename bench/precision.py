"""The numeric precision a cell computes in: fp32, or bf16 autocast where the hardware has it.

`bf16` runs the forward passes of training, evaluation and timing under torch.autocast: matmuls
in bf16, reductions and the master weights and optimiser state in fp32 (Kalamkar et al. 2019),
so it needs no loss scaling. It is only worth measuring where bf16 matmuls are native (a GPU
with bf16, or a CPU whose oneDNN reports AVX512_BF16 or AMX kernels): emulated, it would be
slower than fp32 and the comparison would mislead, so it is refused there.
"""

from __future__ import annotations

import contextlib
from typing import Literal, get_args

from bench.errors import UsageError, unknown_name

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def check_precision(name: str) -> str:
    """`name` if it is a precision cells can run in, else a UsageError naming the closest one."""
    if name not in PRECISIONS:
        raise unknown_name("precision", name, PRECISIONS)
    return name

_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def dtype_name(precision: str) -> str:
    """torch's name of the dtype a precision computes its matmuls in ("bf16" -> "bfloat16")."""
    return _DTYPES[precision]


def require_native(dtype_name: str, device: str) -> None:
    """Refuse a reduced precision (`bf16`, `fp16`) the device would only emulate."""
    import torch

    name = {"bfloat16": "bf16", "float16": "fp16"}.get(dtype_name, dtype_name)
    if str(device).startswith("cuda"):
        if name == "bf16" and not torch.cuda.is_bf16_supported():
            raise UsageError("bf16 is not supported by this GPU")
        return
    probes = {"bf16": torch.ops.mkldnn._is_mkldnn_bf16_supported, "fp16": torch.ops.mkldnn._is_mkldnn_fp16_supported}
    if not probes[name]():
        raise UsageError(f"{name} has no native CPU matmul kernels here (oneDNN reports no support): it "
                         f"would run emulated and slow; use fp32, int8-dynamic or a GPU")


def autocast(precision: str, device: str):
    """The context every forward pass of a `precision` cell runs in (nothing for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    import torch

    device_type = "cuda" if str(device).startswith("cuda") else "cpu"
    return torch.autocast(device_type=device_type, dtype=getattr(torch, dtype_name(precision)))
