"""An ONNX Runtime session as an artifact: the same four methods as `TorchArtifact`.

So an exported or quantised graph is evaluated by the same task code, timed by the same
latency loop, counted and saved like a PyTorch module (PROTOCOL: the runner never cares
which runtime it holds). Sessions use every graph optimisation and as many intra-op
threads as torch, so one table compares runtimes at equal thread counts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

GRAPH_OPTIMIZATION = "ORT_ENABLE_ALL"
QUANT_PARAM_SUFFIXES = ("_scale", "_zero_point")  # names the ORT quantiser gives scales and zero points


def session_options(threads: int | None = None):
    """Full graph optimisation; intra-op threads = torch's (PROTOCOL: threads equal within a table)."""
    import onnxruntime as ort
    import torch

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, GRAPH_OPTIMIZATION)
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    return options


def providers_for(device: str) -> list[str]:
    """CUDA only when asked for and available; the CPU provider is always the fallback."""
    import onnxruntime as ort

    if str(device).startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def external_data_files(path) -> list[Path]:
    """Files beside the .onnx that hold its weights (large graphs store them outside the proto)."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    names = {
        entry.value
        for tensor in model.graph.initializer
        if tensor.data_location == onnx.TensorProto.EXTERNAL
        for entry in tensor.external_data
        if entry.key == "location"
    }
    return [path.parent / name for name in sorted(names)]


def to_numpy_feed(batch: dict, input_names: list[str]) -> dict:
    """Only the inputs the graph declares, as int64 arrays; absent token_type_ids become zeros.

    Labels are dropped, and a BERT graph that declares token_type_ids gets the zeros the
    PyTorch module would have used by default.
    """
    import numpy as np

    arrays = {name: value.detach().cpu().numpy().astype(np.int64) for name, value in batch.items()}
    return {name: arrays[name] if name in arrays else np.zeros_like(arrays["input_ids"]) for name in input_names}


class OrtArtifact:
    """An .onnx file and its session; `model_meta` carries config facts later stages need."""

    runtime = "onnxruntime"

    def __init__(self, path, vocab_size: int, device: str = "cpu", threads: int | None = None,
                 model_meta: dict | None = None, disabled_optimizers: tuple[str, ...] = (),
                 arithmetic: str = "fp32"):
        import onnx
        import onnxruntime as ort

        self.path = Path(path)
        self.vocab_size = int(vocab_size)
        self.model_meta = dict(model_meta or {})  # e.g. attention heads and hidden size, for fusion
        self.arithmetic = arithmetic  # the GEMMs' number format: "int8" after quantisation (roofline)
        options = session_options(threads)
        providers = providers_for(device)
        self.disabled_optimizers = tuple(disabled_optimizers)  # session fusions a stage found slower
        self.threads = options.intra_op_num_threads  # the cell's runtime peak is measured with the same
        self.session = ort.InferenceSession(str(self.path), options, providers=providers,
                                            disabled_optimizers=list(self.disabled_optimizers))
        self.input_names = [i.name for i in self.session.get_inputs()]
        graph = onnx.load(str(self.path), load_external_data=False)
        opset = next((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), None)
        self.info = {
            "opset": opset,
            "providers": self.session.get_providers(),
            "graph_optimization_level": GRAPH_OPTIMIZATION,
            "disabled_optimizers": list(self.disabled_optimizers),
            "intra_op_num_threads": options.intra_op_num_threads,
            "onnxruntime": ort.__version__,
        }

    def predictor(self) -> Callable:
        def predict(batch: dict):
            return self.session.run(None, to_numpy_feed(batch, self.input_names))[0]

        return predict

    def timed_call(self, inputs: dict) -> Callable:
        feed = to_numpy_feed(inputs, self.input_names)  # converted once: the call times the session only

        def call():
            return self.session.run(None, feed)

        return call

    def parameters(self, base_total: int | None = None):
        """Elements of the graph's weights; int8/uint8 weights count by element and as `packed`.

        Scalars (constants, per-tensor scales), int64 tensors (shapes, position ids) and the
        quantiser's scale/zero-point tensors are not parameters of the model.
        """
        import math

        import onnx

        from bench.measure.params import ParamCounts

        weights = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
                   onnx.TensorProto.INT32)  # int32: biases quantised by static quantisation
        eight_bit = (onnx.TensorProto.INT8, onnx.TensorProto.UINT8)
        model = onnx.load(str(self.path), load_external_data=False)
        total = packed = 0
        for tensor in model.graph.initializer:
            count = math.prod(tensor.dims)
            if count <= 1 or tensor.name.endswith(QUANT_PARAM_SUFFIXES):
                continue
            if tensor.data_type in eight_bit:
                packed += count
                total += count
            elif tensor.data_type in weights:
                total += count
        base = total if base_total is None else int(base_total)
        return ParamCounts(total=total, trainable=0, trainable_pct=0.0, base_total=base, packed=packed)

    def save(self, directory) -> int:
        """Copy the .onnx file and its external data into `directory`; their bytes."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        files = [self.path, *external_data_files(self.path)]
        for source in files:
            shutil.copyfile(source, directory / source.name)
        return sum((directory / source.name).stat().st_size for source in files)
