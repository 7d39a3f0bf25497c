"""PyTorch post-training quantisation: dynamic int8 Linear layers, and fp16/bf16 casts.

`int8-dynamic` stores Linear weights as int8 (the symmetric affine mapping of
bench/quant/affine.py, per output channel) and quantises activations on the fly, so it needs no
calibration data. Two backends:
- `torchao` (default): Int8DynamicActivationInt8WeightConfig (per-token activation scales),
  run through torch.compile with frozen weights (bench/runtime/compiled.py). Eager torchao ran
  2.5-3x slower than fp32 eager here; compiled it ran 12.2 ms against 26.9 ms for fp32 eager
  (results/post-training: MiniLM-L6 on SST-2, batch 1, seq 128, 2 threads).
- `torch.ao`: torch.ao.quantization.quantize_dynamic, eager, per-batch activation scales,
  with a choice of kernel engine; 15.1 ms in the same run. It needs no compiler.
Every stage copies its input: the runner evaluates the input as the fp32 reference.
`int8-dynamic` also records, per quantised Linear, what the weights' affine mapping costs
(scales, zero point, round-trip error), computed with bench/quant/affine.py on the fp32 weights.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Literal

from bench.errors import UsageError
from bench.registry import METHODS
from bench.typed import option

QUANT_PAPER = "Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference"
CPU_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16")


@dataclass(frozen=True)
class DynamicInt8Options:
    backend: Literal["torchao", "torch.ao"] = option(
        "torchao", "torchao (compiled, per-token activation scales) or torch.ao (eager kernels)")
    # torchao's eager int8 path is slower than fp32; torch.ao's eager kernels need no compiler.
    compile: bool | None = option(None, "compile for inference; None: yes for torchao, no for torch.ao")
    dtype: Literal["qint8"] = option("qint8", "weight dtype (symmetric int8)")
    modules: Literal["linear"] = option("linear", "module types quantised")
    # One symmetric int8 scale per output row: on MiniLM-L6/SST-2 it kept 98.6% of fp32
    # accuracy where one scale per tensor kept 96.8% (seed 0, 2k training examples).
    # torchao's config is per channel only.
    per_channel: bool = option(True, "one weight scale per output row (false: per tensor; torch.ao only)")
    engine: Literal["x86", "fbgemm", "onednn", "qnnpack"] = option(
        "x86", "torch.ao only: the quantised kernel library; x86 lets torch pick fbgemm or onednn per op")

    def __post_init__(self):
        if self.backend == "torch.ao" and self.compile:
            raise UsageError("int8-dynamic(compile=true) needs backend=torchao; backend=torch.ao runs eager")
        if self.backend == "torchao" and not self.per_channel:
            raise UsageError("int8-dynamic(backend=torchao) quantises weights per channel only; "
                             "per_channel=false needs backend=torch.ao")
        if self.backend == "torchao" and self.engine != "x86":
            raise UsageError("int8-dynamic: engine applies to backend=torch.ao; torchao picks its kernels itself")


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
    label="int8 dynamic", order=200, makes="reduced",
)
def int8_dynamic(model, options: DynamicInt8Options, ctx):
    if options.backend == "torchao":
        return _int8_dynamic_torchao(model, options, ctx)
    if ctx.device != "cpu":
        raise UsageError("int8-dynamic(backend=torch.ao) runs on CPU only: its dynamic quantised Linear has "
                         "no CUDA kernels; use the default backend=torchao")
    return _int8_dynamic_torch_ao(model, options, ctx)


def _int8_dynamic_torchao(model, options: DynamicInt8Options, ctx):
    try:
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError as error:
        raise UsageError("int8-dynamic(backend=torchao) needs torchao: pip install -e '.[quant]' "
                         "(or use int8-dynamic(backend=torch.ao))") from error
    copied = copy.deepcopy(model).eval()
    quantize_(copied, Int8DynamicActivationInt8WeightConfig())
    compiled = options.compile is not False
    names = [n for n, m in copied.named_modules() if type(getattr(m, "weight", None)).__module__.startswith("torchao")]
    ctx.records["int8_dynamic"] = {
        "backend": "torchao.quantize_(Int8DynamicActivationInt8WeightConfig)",
        "activations": "per-token symmetric, dynamic",
        "dtype": options.dtype,
        "weights": "per-channel symmetric",
        "quantized_modules": len(names),
        "compiled": compiled,
        "cpu_flags": cpu_flags(),
        **weight_round_trip(model, names, per_channel=True),
    }
    if not compiled:
        return copied
    from bench.runtime.compiled import CompiledTorchArtifact

    return CompiledTorchArtifact(copied)


def _int8_dynamic_torch_ao(model, options: DynamicInt8Options, ctx):
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

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
    names = [n for n, m in quantized.named_modules() if isinstance(m, dynamic_linear)]
    ctx.records["int8_dynamic"] = {
        "backend": "torch.ao.quantization.quantize_dynamic",
        "activations": "per-batch affine, dynamic",
        "engine": torch.backends.quantized.engine,
        "dtype": options.dtype,
        "weights": "per-channel symmetric" if options.per_channel else "per-tensor symmetric",
        "quantized_modules": len(names),
        "compiled": False,
        "cpu_flags": cpu_flags(),
        **weight_round_trip(model, names, per_channel=options.per_channel),
    }
    return quantized


def weight_round_trip(model, names: list[str], per_channel: bool) -> dict:
    """Per quantised Linear of `model` (the fp32 input), the symmetric int8 mapping both backends
    apply to its weight, through bench/quant/affine.py: its scales, zero point and round-trip
    error over max |w|; and a summary over layers. The maximum is s/2 at the clipped end of the
    range (1/255 of max |w|) in every layer; the mean shows how well the scale fits the weights."""
    from bench.quant.affine import round_trip_stats

    layers = {name: round_trip_stats(model.get_submodule(name).weight.detach().float().cpu().numpy(),
                                     symmetric=True, axis=0 if per_channel else None) for name in names}
    if not layers:
        return {"layers": {}, "weight_round_trip": None}
    worst = max(layers, key=lambda name: layers[name]["rel_err_mean"])
    return {"layers": layers, "weight_round_trip": {
        "max_rel_err": max(layer["rel_err_max"] for layer in layers.values()),
        "mean_rel_err": sum(layer["rel_err_mean"] for layer in layers.values()) / len(layers),
        "worst_layer": worst,
        "mapping": f"symmetric int8 [-128, 127], per {'channel' if per_channel else 'tensor'}: "
                   "s = 2 max|w| / 255, z = 0, w_q = clip(round(w / s), -128, 127)",
    }}


def _cast(model, dtype_name: str, ctx):
    import torch

    from bench.precision import require_native

    dtype = getattr(torch, dtype_name)
    require_native(dtype_name, ctx.device)
    note = None
    if ctx.device != "cuda" and dtype is torch.float16:
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
    label="bf16", order=210, makes="reduced",
)
def bf16(model, options: CastOptions, ctx):
    return _cast(model, "bfloat16", ctx)


@METHODS.register(
    "fp16",
    options=CastOptions,
    family="quantization",
    stage="post",
    paper="Micikevicius et al. 2018, Mixed Precision Training",
    label="fp16", order=220, makes="reduced",
)
def fp16(model, options: CastOptions, ctx):
    return _cast(model, "float16", ctx)
