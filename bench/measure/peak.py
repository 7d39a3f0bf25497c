"""The matmul ceiling of the runtime that served a cell, measured beside it (roofline).

Achieved GFLOP/s means little without the ceiling of the GEMM that did the work, on the
same machine, at the same moment: peaks of one kind of machine differed 2.5x between
hosts, and one timed run per cell varied from 137 to 245 GFLOP/s within one table on a
shared 2-core machine. So a peak is the best of several short trials (neighbours only
ever slow a trial down), recorded with every trial and their spread; and each runtime
has its own: torch's GEMM (MKL / oneDNN) for torch cells, MLAS for ONNX Runtime cells,
OpenVINO's CPU plugin for OpenVINO cells, and each runtime's int8 GEMM for its int8 cells
(their ceiling is that kernel, not fp32's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

from bench.measure.result import Result

SIZE = 2048  # square fp32 matmul: 17 GFLOP a call, long enough to run at the GEMM's ceiling
TRIALS = 5  # the best of 5 short trials: stable where one long run is not
CALLS_PER_TRIAL = 3  # ~0.1 s a call on 2 cores: a trial ~0.3 s, a peak ~2 s with warm-up
WARMUP = 2  # thread pools and, for ONNX Runtime, the packed weight are ready after one call
ORT_OPSET = 17  # the opset bench exports with (methods/onnx_export.py)
ORT_IR_VERSION = 8  # the oldest IR opset 17 allows: any installed ONNX Runtime loads it
OWN_PEAK_RUNTIMES = ("onnxruntime", "openvino")  # runtimes whose GEMM is not torch's
INT8_SUFFIX = "-int8"  # a runtime's int8 GEMM peak is kept under "<runtime>-int8"
INT8_PEAK = "onnxruntime" + INT8_SUFFIX  # MLAS's int8 GEMM


@dataclass(frozen=True)
class MatmulPeak(Result):
    runtime: str  # whose GEMM: "torch", "onnxruntime" (MLAS on CPU), "openvino", or either's "-int8"
    gflops: float  # the best trial: the ceiling cells are read against (int8: G integer ops/s)
    trials_gflops: list[float]  # each trial's calls x FLOPs over its wall time, in run order
    spread: float  # (best - worst) / best over the trials: how much the machine moved
    size: int
    dtype: str
    threads: int
    calls_per_trial: int
    device: str
    providers: list[str] | None = None  # ONNX Runtime's execution providers; None for torch
    unit: str = "GFLOP/s"


def peak_runtime(runtime: str | None) -> str:
    """Whose peak holds a cell served by `runtime`: ONNX Runtime has its own GEMM (MLAS);
    eager and compiled torch both run fp32 matmuls in torch's own libraries (Inductor's frozen
    CPU graphs call aten / oneDNN for them; max-autotune's own GEMM templates are not used here)."""
    return runtime if runtime in OWN_PEAK_RUNTIMES else "torch"


def matmul_peaks(runtime: str | None, device: str = "cpu", runtime_threads: int | None = None,
                 arithmetic: str = "fp32") -> dict:
    """{runtime: peak} for torch and, when it is another, the runtime that served the cell
    (torch's beside MLAS shows how far apart the two GEMMs are on this machine); an int8 cell
    of ONNX Runtime or OpenVINO also gets that runtime's int8 peak, under "<runtime>-int8"."""
    peaks = {"torch": torch_matmul_peak(device)}
    own = peak_runtime(runtime)
    if own != "torch":
        fp32, int8 = {"onnxruntime": (ort_matmul_peak, ort_int8_matmul_peak),
                      "openvino": (ov_matmul_peak, ov_int8_matmul_peak)}[own]
        peaks[own] = fp32(device, threads=runtime_threads)
        if arithmetic == "int8":
            peaks[own + INT8_SUFFIX] = int8(device, threads=runtime_threads)
    return {name: peak.to_dict() for name, peak in peaks.items()}


def torch_matmul_peak(device: str = "cpu", size: int | None = None, trials: int | None = None,
                      calls: int | None = None, dtype: str = "float32") -> MatmulPeak:
    """The best of `trials` timings of `calls` torch.mm calls on square matrices of `dtype`
    (float32, or bfloat16: what a bf16 cell's autocast matmuls can reach at most)."""
    import torch

    size, trials, calls = _settings(size, trials, calls)
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(size, size, generator=generator).to(device, getattr(torch, dtype)) for _ in range(2))
    sync = (lambda: torch.cuda.synchronize(device)) if str(device).startswith("cuda") else (lambda: None)
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"

    def plain_mm():  # in `dtype` even inside a bf16 cell's autocast
        with torch.autocast(device_type, enabled=False):
            return torch.mm(a, b)

    rates = _trials(plain_mm, 2 * size**3, trials, calls, sync)
    return _peak("torch", rates, size, torch.get_num_threads(), calls, device, dtype=dtype)


def ort_matmul_peak(device: str = "cpu", threads: int | None = None, size: int | None = None,
                    trials: int | None = None, calls: int | None = None) -> MatmulPeak:
    """The same matmul as a one-node ONNX graph in a session set up like every ORT cell's.

    B is an initializer, as a model's weights are, so MLAS packs it once at load time as it
    does theirs; A is fed as numpy, as the cells' timed calls feed their inputs.
    """
    import numpy as np
    import onnxruntime as ort

    from bench.runtime.ort_artifact import providers_for, session_options

    size, trials, calls = _settings(size, trials, calls)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size), dtype=np.float32) for _ in range(2))
    options = session_options(threads)  # intra-op threads and graph optimisation of ORT cells
    session = ort.InferenceSession(_matmul_graph(b), options, providers=providers_for(device))
    rates = _trials(lambda: session.run(None, {"A": a}), 2 * size**3, trials, calls, sync=lambda: None)
    return _peak("onnxruntime", rates, size, options.intra_op_num_threads, calls, device, session.get_providers())


def ort_int8_matmul_peak(device: str = "cpu", threads: int | None = None, size: int | None = None,
                         trials: int | None = None, calls: int | None = None) -> MatmulPeak:
    """MLAS's int8 GEMM: a one-node MatMulInteger, uint8 activations by int8 weights (U8S8, the
    VNNI/AMX kernel ORT's dynamic and static int8 graphs run), set up like the fp32 peak.

    Its rate counts 2 integer ops per multiply-add, as the cells' FLOPs count 2 per fp32 one,
    so achieved over peak reads the same way for int8 rows. The kernel alone, without the
    per-call quantisation of activations that dynamic cells also pay: the ceiling, not a model.
    """
    import numpy as np
    import onnxruntime as ort

    from bench.runtime.ort_artifact import providers_for, session_options

    size, trials, calls = _settings(size, trials, calls)
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (size, size), dtype=np.uint8)
    b = rng.integers(-128, 128, (size, size), dtype=np.int8)
    options = session_options(threads)
    session = ort.InferenceSession(_matmul_graph(b, "MatMulInteger"), options, providers=providers_for(device))
    rates = _trials(lambda: session.run(None, {"A": a}), 2 * size**3, trials, calls, sync=lambda: None)
    return _peak(INT8_PEAK, rates, size, options.intra_op_num_threads, calls, device, session.get_providers(),
                 dtype="int8", unit="GOP/s")


def ov_matmul_peak(device: str = "cpu", threads: int | None = None, size: int | None = None,
                   trials: int | None = None, calls: int | None = None) -> MatmulPeak:
    """The same matmul as a one-node OpenVINO model, B a constant (a weight the plugin packs at
    compile time), compiled like every OpenVINO cell (bench/runtime/ov_artifact.py)."""
    return _ov_peak(False, threads, size, trials, calls, device)


def ov_int8_matmul_peak(device: str = "cpu", threads: int | None = None, size: int | None = None,
                        trials: int | None = None, calls: int | None = None) -> MatmulPeak:
    """OpenVINO's int8 GEMM: A through a uint8 FakeQuantize and B an int8 constant with a
    per-channel scale, the pattern NNCF's int8 models have, which the CPU plugin compiles into
    one u8 x s8 matmul. 2 integer ops per multiply-add, as for MLAS's int8 peak."""
    return _ov_peak(True, threads, size, trials, calls, device)


def _ov_peak(int8: bool, threads, size, trials, calls, device) -> MatmulPeak:
    import openvino as ov

    from bench.runtime.ov_artifact import compile_config

    size, trials, calls = _settings(size, trials, calls)
    model, feed = ov_matmul_model(size, int8)
    config = compile_config(threads)
    request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
    rates = _trials(lambda: request.infer(feed), 2 * size**3, trials, calls, sync=lambda: None)
    name = "openvino" + (INT8_SUFFIX if int8 else "")
    return _peak(name, rates, size, config["INFERENCE_NUM_THREADS"], calls, device, dtype="int8" if int8 else "float32",
                 unit="GOP/s" if int8 else "GFLOP/s")


def ov_matmul_model(size: int, int8: bool):
    """(model, feed): Y = A @ B^T with B constant; int8: A through a uint8 FakeQuantize (the
    feed holds values in [0, 255]) and B = int8 weight x per-row scale 0.01."""
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    rng = np.random.default_rng(0)
    a = ops.parameter([size, size], np.float32, name="A")
    if int8:
        low, high = ops.constant(np.float32(0)), ops.constant(np.float32(255))
        left = ops.fake_quantize(a, low, high, low, high, 256)
        weight = ops.constant(rng.integers(-128, 128, (size, size), dtype=np.int8))
        right = ops.multiply(ops.convert(weight, "f32"), ops.constant(np.full((size, 1), 0.01, np.float32)))
    else:
        left, right = a, ops.constant(rng.standard_normal((size, size), dtype=np.float32))
    model = ov.Model([ops.matmul(left, right, False, True)], [a], "matmul_peak")
    return model, {"A": rng.uniform(0, 255, (size, size)).astype(np.float32)}


def _settings(size, trials, calls) -> tuple[int, int, int]:
    """The module's defaults, read at call time (tests shrink SIZE for a whole cell)."""
    return size or SIZE, trials or TRIALS, calls or CALLS_PER_TRIAL


def _matmul_graph(b, op: str = "MatMul") -> bytes:
    """Y = A @ B with B constant, serialised in memory (no file is written). MatMul: fp32 A and
    B; MatMulInteger: uint8 A, int8 B, int32 Y (zero points 0)."""
    from onnx import TensorProto, helper, numpy_helper

    size = b.shape[0]
    a_type, y_type = (TensorProto.UINT8, TensorProto.INT32) if op == "MatMulInteger" else (TensorProto.FLOAT,) * 2
    graph = helper.make_graph(
        [helper.make_node(op, ["A", "B"], ["Y"])], "matmul_peak",
        [helper.make_tensor_value_info("A", a_type, [size, size])],
        [helper.make_tensor_value_info("Y", y_type, [size, size])],
        initializer=[numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ORT_OPSET)], ir_version=ORT_IR_VERSION)
    return model.SerializeToString()


def _trials(call: Callable, flops_per_call: int, trials: int, calls: int, sync: Callable) -> list[float]:
    """GFLOP/s of each trial: `calls` back-to-back calls over their wall time, after warm-up."""
    for _ in range(WARMUP):
        call()
    sync()
    rates = []
    for _ in range(trials):
        started = perf_counter()
        for _ in range(calls):
            call()
        sync()
        rates.append(flops_per_call * calls / (perf_counter() - started) / 1e9)
    return rates


def _peak(runtime, rates, size, threads, calls, device, providers=None, dtype="float32",
          unit="GFLOP/s") -> MatmulPeak:
    best = max(rates)
    return MatmulPeak(runtime=runtime, gflops=best, trials_gflops=rates, spread=(best - min(rates)) / best,
                      size=size, dtype=dtype, threads=int(threads), calls_per_trial=calls, device=str(device),
                      providers=list(providers) if providers else None, unit=unit)
