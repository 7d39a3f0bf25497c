"""PyTorch post-training quantisation: dynamic int8 Linear layers, and fp16/bf16 casts.

`int8-dynamic` stores Linear weights as int8 (the symmetric affine mapping of
bench/affine.py, per output channel by default) and quantises activations on the fly per
batch, so it needs no calibration data. It uses `torch.ao.quantization.quantize_dynamic`:
torchao is the successor, but torchao 0.18's eager CPU int8 path
(Int8DynamicActivationInt8WeightConfig, no torch.compile) ran 2.5-3x slower than fp32
eager on this CPU (MiniLM-L6, batch 1, seq 128), while torch.ao's kernels are faster.
Every stage copies its input: the runner evaluates the input as the fp32 reference.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Literal

from bench.errors import UsageError
from bench.registry import METHODS

QUANT_PAPER = "Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference"
CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16")


@dataclass(frozen=True)
class DynamicInt8Options:
    dtype: Literal["qint8"] = "qint8"
    modules: Literal["linear"] = "linear"
    # One symmetric int8 scale per output row: on MiniLM-L6/SST-2 it kept 98.6% of fp32
    # accuracy where one scale per tensor kept 96.8% (seed 0, 2k training examples).
    per_channel: bool = True
    # The quantised kernel library; "x86" lets torch pick fbgemm or onednn per op.
    engine: Literal["x86", "fbgemm", "onednn", "qnnpack"] = "x86"


@dataclass(frozen=True)
class CastOptions:
    """No options: the cast is the method."""


def cpu_flags() -> dict:
    """The CPU features that decide int8/bf16/fp16 speed (VNNI, AMX, AVX-512 FP16/BF16); {} if unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            line = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return {}
    flags = set(line.partition(":")[2].split())
    return {flag: flag in flags for flag in CPU_FLAGS} if flags else {}


@METHODS.register(
    "int8-dynamic",
    options=DynamicInt8Options,
    family="quantization",
    stage="post",
    paper=QUANT_PAPER,
)
def int8_dynamic(model, options: DynamicInt8Options, ctx):
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    if ctx.device != "cpu":
        raise UsageError("int8-dynamic runs on CPU only: torch's dynamic quantised Linear has no CUDA kernels")
    if options.engine not in torch.backends.quantized.supported_engines:
        raise UsageError(f"quantised engine {options.engine!r} is not built into this torch "
                         f"(supported: {torch.backends.quantized.supported_engines})")
    # Weights are packed for the engine at conversion, and the same engine must run them.
    torch.backends.quantized.engine = options.engine
    qconfig = per_channel_dynamic_qconfig if options.per_channel else default_dynamic_qconfig
    copied = copy.deepcopy(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.ao points users to torchao
        warnings.filterwarnings("ignore", message=".*quantize_per_(tensor|channel).*")
        quantized = torch.ao.quantization.quantize_dynamic(
            copied, {torch.nn.Linear: qconfig}, dtype=getattr(torch, options.dtype), inplace=True
        )
    dynamic_linear = torch.ao.nn.quantized.dynamic.Linear
    count = sum(isinstance(m, dynamic_linear) for m in quantized.modules())
    ctx.records["int8_dynamic"] = {
        "backend": "torch.ao.quantization.quantize_dynamic",
        "engine": torch.backends.quantized.engine,
        "dtype": options.dtype,
        "weights": "per-channel symmetric" if options.per_channel else "per-tensor symmetric",
        "quantized_modules": count,
        "cpu_flags": cpu_flags(),
    }
    return quantized


def _cast(model, dtype_name: str, ctx):
    import torch

    dtype = getattr(torch, dtype_name)
    note = None
    if ctx.device == "cuda":
        if dtype is torch.bfloat16 and not torch.cuda.is_bf16_supported():
            raise UsageError("bf16 is not supported by this GPU")
    else:
        native = {torch.bfloat16: torch.ops.mkldnn._is_mkldnn_bf16_supported,
                  torch.float16: torch.ops.mkldnn._is_mkldnn_fp16_supported}[dtype]()
        if not native:
            raise UsageError(f"{dtype_name} has no native CPU matmul kernels here (oneDNN reports no "
                             f"support): it would run emulated and slow; use int8-dynamic or a GPU")
        if dtype is torch.float16:
            note = "fp16 on CPU: oneDNN kernels exist but may be slower than bf16 (see cpu_flags)"
    cast = copy.deepcopy(model).to(dtype=dtype).eval()
    ctx.records["cast"] = {"dtype": dtype_name, "device": ctx.device, "note": note, "cpu_flags": cpu_flags()}
    return cast


@METHODS.register(
    "bf16",
    options=CastOptions,
    family="quantization",
    stage="post",
    paper="Kalamkar et al. 2019, A Study of BFLOAT16 for Deep Learning Training",
)
def bf16(model, options: CastOptions, ctx):
    return _cast(model, "bfloat16", ctx)


@METHODS.register(
    "fp16",
    options=CastOptions,
    family="quantization",
    stage="post",
    paper="Micikevicius et al. 2018, Mixed Precision Training",
)
def fp16(model, options: CastOptions, ctx):
    return _cast(model, "float16", ctx)
