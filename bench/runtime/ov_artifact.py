"""An OpenVINO compiled model as an artifact: the same four methods as `TorchArtifact`.

OpenVINO's CPU plugin is Intel's inference runtime; it reads the ONNX graph the `onnx` stage
exported and compiles it with its own fusions (attention, GELU, LayerNorm) and, after NNCF's
quantisation, int8 kernels. Compiled like every cell's runtime here: latency hint, as many
inference threads as torch, and fp32 for whatever is not quantised. OpenVINO would otherwise
run such ops in bf16 on CPUs with AMX, and an fp32 row must not silently change precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

EIGHT_BIT = ("i8", "u8")
WEIGHT_TYPES = ("f32", "f16", "bf16")


def compile_config(threads: int | None = None) -> dict:
    """The CPU plugin's settings for every OpenVINO cell (threads equal to torch's, PROTOCOL)."""
    import torch

    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": int(threads or torch.get_num_threads()),
            "INFERENCE_PRECISION_HINT": "f32"}


def _quantisation_constant(constant) -> bool:
    """Scales, zero points and ranges of NNCF's (de)quantisation, not weights of the model:
    the ranges of a FakeQuantize (its inputs 1 to 4), and the f32 constants a dequantising
    Subtract or Multiply applies to a converted int8 weight."""
    for target in constant.output(0).get_target_inputs():
        node = target.get_node()
        kind = node.get_type_name()
        if kind == "FakeQuantize" and target.get_index() > 0:
            return True
        if kind in ("Subtract", "Multiply") and any(
                i.get_source_output().get_node().get_type_name() in ("Convert", "Subtract")
                for i in node.inputs() if i.get_source_output().get_node() is not constant):
            return True
    return False


class OvArtifact:
    """An OpenVINO model (read from ONNX, perhaps quantised) and its CPU compilation."""

    runtime = "openvino"

    def __init__(self, model, vocab_size: int, threads: int | None = None, arithmetic: str = "fp32"):
        import openvino as ov

        self.model = model
        self.vocab_size = int(vocab_size)
        self.arithmetic = arithmetic  # "int8" after NNCF's quantisation (roofline, tables)
        config = compile_config(threads)
        self.threads = config["INFERENCE_NUM_THREADS"]  # the cell's runtime peak is measured with the same
        self.compiled = ov.Core().compile_model(model, "CPU", config)
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]
        self.info = {
            "openvino": ov.__version__,
            "device": "CPU",
            "performance_hint": config["PERFORMANCE_HINT"],
            "inference_num_threads": config["INFERENCE_NUM_THREADS"],
            "inference_precision_hint": config["INFERENCE_PRECISION_HINT"],
        }

    def predictor(self) -> Callable:
        from bench.runtime.ort_artifact import to_numpy_feed

        request = self.compiled.create_infer_request()

        def predict(batch: dict):
            return request.infer(to_numpy_feed(batch, self.input_names))[0].copy()

        return predict

    def timed_call(self, inputs: dict) -> Callable:
        from bench.runtime.ort_artifact import to_numpy_feed

        feed = to_numpy_feed(inputs, self.input_names)  # converted once: the call times the runtime only
        request = self.compiled.create_infer_request()

        def call():
            return request.infer(feed)

        return call

    def parameters(self, base_total: int | None = None):
        """Elements of the model's weight constants; int8/uint8 ones also count as `packed`.
        Scalars, integer shape constants and the quantisation's scales and ranges are not
        parameters (the ONNX Runtime artifact counts the same way)."""
        from bench.measure.params import ParamCounts

        total = packed = 0
        for op in self.model.get_ops():
            if op.get_type_name() != "Constant":
                continue
            count = math.prod(int(dim) for dim in op.get_output_shape(0))
            kind = op.get_output_element_type(0).get_type_name()
            if count <= 1 or kind not in EIGHT_BIT + WEIGHT_TYPES or _quantisation_constant(op):
                continue
            total += count
            packed += count if kind in EIGHT_BIT else 0
        base = total if base_total is None else int(base_total)
        return ParamCounts(total=total, trainable=0, trainable_pct=0.0, base_total=base, packed=packed)

    def save(self, directory) -> int:
        """The model as OpenVINO IR (.xml and .bin, weights as they are: no fp16 compression); its bytes."""
        import openvino as ov

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        ov.save_model(self.model, str(directory / "model.xml"), compress_to_fp16=False)
        return sum(path.stat().st_size for path in directory.glob("model.*"))
