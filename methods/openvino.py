"""`openvino` and `ov-int8`: serve the exported graph with OpenVINO, in fp32 or quantised by NNCF.

Both start from the `onnx` stage's export and parity check (a PyTorch module is exported, an
ONNX Runtime artifact is read as it is), so every runtime serves the same graph. `openvino`
compiles it for OpenVINO's CPU plugin and checks its logits against ONNX Runtime's within
`atol`. `ov-int8` quantises it with NNCF's post-training quantisation, the transformer preset
(activations and weights int8 in the matmuls, ranges calibrated on training examples, the
ops that cost accuracy in transformers such as softmax and LayerNorm left in fp32), and
reports how far its logits moved; accuracy kept decides, as for ONNX Runtime's int8.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.registry import METHODS
from bench.typed import option
from methods.onnx_export import max_abs_diff, sample_batches, to_onnx_artifact


@dataclass(frozen=True)
class OpenVinoOptions:
    atol: float = option(1e-4, "max |logit difference| allowed between ONNX Runtime and OpenVINO (fp32)", above=0)


@dataclass(frozen=True)
class OvInt8Options:
    calibration_size: int = option(300, "calibration examples: the first N training examples, NNCF's default subset",
                                   at_least=1)
    # SmoothQuant and bias correction come with the transformer preset; "fast" is NNCF's default.
    fast_bias_correction: bool = option(True, "NNCF's fast bias correction (false: the slower, fuller one)")


def _openvino_model(model, ctx, stage: str):
    """The fp32 ONNX artifact (exported and parity-checked) and the OpenVINO model read from it."""
    from bench.errors import UsageError
    from bench.extras import require_extra

    if not str(ctx.device).startswith("cpu"):
        # OpenVINO's GPU plugin drives Intel GPUs; a CUDA cell would be timed on the CPU under a CUDA label.
        raise UsageError(f"the {stage} stage serves the model with OpenVINO's CPU plugin, but this cell runs on "
                         f"{ctx.device}: run it with --device cpu")
    require_extra("openvino", "openvino", "nncf", what=f"the {stage} stage")
    import openvino as ov

    onnx = to_onnx_artifact(model, ctx)
    return onnx, ov.Core().read_model(str(onnx.path))


@METHODS.register(
    "openvino",
    options=OpenVinoOptions,
    family="inference-format",
    stage="post",
    accepts_artifacts=True,  # an ONNX Runtime artifact from an earlier stage
    paper="OpenVINO (Intel), CPU plugin",
    label="OpenVINO", order=330, makes="reduced",
)
def openvino_stage(model, options: OpenVinoOptions, ctx):
    from bench.runtime.ov_artifact import OvArtifact

    onnx, ov_model = _openvino_model(model, ctx, "openvino")
    artifact = OvArtifact(ov_model, onnx.vocab_size)
    diff = max_abs_diff(onnx.predictor(), artifact, sample_batches(ctx, onnx.vocab_size))
    ctx.records["openvino"] = {"max_abs_diff_vs_onnxruntime": diff, "atol": options.atol, **artifact.info}
    if not diff <= options.atol:
        raise RuntimeError(f"OpenVINO parity check failed: max |logit diff| {diff:.3g} > atol {options.atol:g}")
    return artifact


@METHODS.register(
    "ov-int8",
    options=OvInt8Options,
    family="quantization",
    stage="post",
    accepts_artifacts=True,  # an ONNX Runtime artifact from an earlier stage
    paper="NNCF post-training quantization (Intel), int8, served by OpenVINO",
    label="OpenVINO int8 (NNCF)", order=340, makes="reduced",
)
def ov_int8(model, options: OvInt8Options, ctx):
    from bench.runtime.ort_artifact import to_numpy_feed
    from bench.runtime.ov_artifact import OvArtifact
    from methods.ort_quant import calibration_batches

    onnx, ov_model = _openvino_model(model, ctx, "ov-int8")
    import nncf  # after the check above, which names the extra if it is missing

    feeds = [to_numpy_feed(batch, onnx.input_names) for batch in calibration_batches(ctx, options.calibration_size)]
    quantised = nncf.quantize(ov_model, nncf.Dataset(feeds), model_type=nncf.ModelType.TRANSFORMER,
                              subset_size=len(feeds), fast_bias_correction=options.fast_bias_correction)
    artifact = OvArtifact(quantised, onnx.vocab_size, arithmetic="int8")
    ctx.records["ov-int8"] = {
        "calibration_size": len(feeds),
        "fast_bias_correction": options.fast_bias_correction,
        "preset": "transformer",
        "nncf": nncf.__version__,
        "max_abs_diff_vs_fp32": max_abs_diff(onnx.predictor(), artifact, sample_batches(ctx, onnx.vocab_size)),
        **artifact.info,
    }
    return artifact
