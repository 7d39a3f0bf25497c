"""`ort-int8-dynamic` and `ort-int8-static`: int8 quantisation of the ONNX graph by ONNX Runtime.

Both export a PyTorch input first (the `onnx` stage's export and parity check), fuse the
transformer subgraphs (attention, bias-GELU, embedding LayerNorm), then quantise. Dynamic
quantisation computes activation ranges per call; static quantisation fixes them from a
calibration split of the training data, which saves the range computation but clips
outliers, and ORT has no static kernel for fused attention, so its Q/K/V projections stay
fp32. On MiniLM-L6 / SST-2 (2 threads, batch 1, seq 128) dynamic was the faster and the
more accurate of the two (p50 11.1 vs 15.4 ms; retention 0.997 vs 0.98-0.99).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.registry import METHODS
from bench.typed import option
from methods.onnx_export import max_abs_diff, sample_batches, stage_dir, to_onnx_artifact

Int8Type = Literal["qint8", "quint8"]
# ORT 1.32's CPU SkipLayerNormalization took 2.6 ms per MiniLM-L6 call where LayerNormalization
# + Add took 1.0 ms (batch 1, sequence 128, 2 threads), so the session must not re-fuse them.
UNFUSED = ("SkipLayerNormFusion",)


@dataclass(frozen=True)
class OrtDynamicOptions:
    # qint8: uint8 activations x int8 weights (U8S8), the VNNI/AMX kernel.
    weight_type: Int8Type = option("qint8", "weight type: qint8 (U8S8, the VNNI/AMX kernel) or quint8")
    # One scale per output channel: SST-2 retention 0.997 against 0.978 per tensor, same speed.
    per_channel: bool = option(True, "one weight scale per output channel (false: per tensor)")
    reduce_range: bool = option(False, "7-bit weights: avoids U8S8 overflow on CPUs without VNNI")
    prepare: Literal["fuse", "pre-process", "none"] = option(
        "fuse", "before quantising: fuse transformer subgraphs, ORT's quant_pre_process, or nothing")
    ops: tuple[str, ...] = option((), "op types to quantise; () = every op the quantiser supports")


@dataclass(frozen=True)
class OrtStaticOptions(OrtDynamicOptions):
    activation_type: Int8Type = option("quint8", "activation type of the fixed (calibrated) ranges")
    # QDQ: ORT fuses DequantizeLinear -> MatMul -> QuantizeLinear into QLinearMatMul at load, so
    # it ran as fast as QOperator (14.8 vs 14.4 ms, within noise) and stays portable to other EPs.
    quant_format: Literal["QDQ", "QOperator"] = option("QDQ", "graph format of the quantised model")
    calibration_size: int = option(128, "calibration examples: the first N training examples", at_least=1)
    # MiniLM-L6/SST-2 retention went 0.978-0.992 over methods and sizes 128-1024 with no
    # consistent winner, so ORT's default (and cheapest) calibrator is kept.
    calibrate_method: Literal["minmax", "entropy", "percentile"] = option(
        "minmax", "how activation ranges are set from the calibration examples")
    # The weight-bearing ops; others only add (de)quantise steps.
    ops: tuple[str, ...] = option(("MatMul",), "op types to quantise; () = every op the quantiser supports")


def _quant_type(name: str):
    from onnxruntime.quantization import QuantType

    return QuantType.QInt8 if name == "qint8" else QuantType.QUInt8


def prepare_graph(source: Path, target: Path, options, meta: dict) -> Path:
    """Fuse or pre-process the fp32 graph before quantisation; `source` itself is not changed.

    Fusing turns each attention block into one op that dynamic quantisation makes a single
    int8 kernel (QAttention). Add + LayerNormalization stay unfused (see UNFUSED).
    """
    if options.prepare == "fuse":
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        fusion = FusionOptions("bert")  # BERT-like encoders; 0 heads/hidden size: guessed from the graph
        fusion.enable_skip_layer_norm = False
        heads, hidden = meta.get("num_attention_heads") or 0, meta.get("hidden_size") or 0
        fused = optimize_model(str(source), model_type="bert", num_heads=heads, hidden_size=hidden,
                               optimization_options=fusion).model
        save_with_shapes(fused, target)
        return target
    if options.prepare == "pre-process":
        from onnxruntime.quantization.shape_inference import quant_pre_process

        # Symbolic shape inference cannot follow transformers' mask construction; ONNX's can.
        quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
        return target
    return source


def save_with_shapes(model, target: Path) -> None:
    """Save with symbolic shapes: the quantiser skips tensors of unknown type (fused ops' outputs)."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    try:
        model = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # noqa: BLE001 - shapes are a help, not a requirement
        pass
    onnx.save(model, str(target))


def calibration_reader(batches: list[dict], input_names: list[str]):
    """An ORT CalibrationDataReader over numpy feeds of the calibration batches."""
    from onnxruntime.quantization import CalibrationDataReader

    from bench.runtime.ort_artifact import to_numpy_feed

    feeds = iter([to_numpy_feed(b, input_names) for b in batches])

    class Reader(CalibrationDataReader):
        def get_next(self):
            return next(feeds, None)

    return Reader()


def calibration_batches(ctx, size: int) -> list[dict]:
    """The first `size` training examples, one per batch, all padded to the longest of them.

    Equal shapes let the histogram calibrators (entropy, percentile) stack their samples.
    """
    features = [{k: v for k, v in f.items() if k != "labels"} for f in (ctx.train_features or [])[:size]]
    if not features or ctx.tokenizer is None:
        raise RuntimeError("static quantisation needs training data to calibrate on (arch-only cells have none)")
    longest = max(len(f["input_ids"]) for f in features)
    pad = dict(padding="max_length", max_length=longest, return_tensors="pt")
    return [dict(ctx.tokenizer.pad([f], **pad)) for f in features]


def _quantise(model, options, ctx, stage: str, quantise) -> object:
    """Shared path: fp32 artifact, prepared graph, quantised file, artifact, record."""
    import onnx

    from bench.runtime.ort_artifact import OrtArtifact

    fp32 = to_onnx_artifact(model, ctx)
    directory = stage_dir(ctx, f"{stage}-")
    prepared = prepare_graph(fp32.path, directory / "prepared.onnx", options, fp32.model_meta)
    target = directory / "model.onnx"
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}  # outputs shape inference left untyped
    quantise(str(prepared), str(target), extra)
    if prepared != fp32.path:
        prepared.unlink()  # an intermediate: only the quantised graph is the artifact
    disabled = UNFUSED if options.prepare == "fuse" else ()
    artifact = OrtArtifact(target, fp32.vocab_size, device=ctx.device, model_meta=fp32.model_meta,
                           disabled_optimizers=disabled, arithmetic="int8")
    ctx.records[stage] = dict(
        dataclasses.asdict(options),
        fp32_onnx_bytes=fp32.path.stat().st_size,
        quantized_bytes=target.stat().st_size,
        max_abs_diff_vs_fp32=_diff_vs_fp32(fp32, artifact, ctx),
        session=artifact.info,
    )
    return artifact


def _diff_vs_fp32(fp32, artifact, ctx) -> float:
    """How far int8 logits move from fp32 ones (information only: accuracy decides)."""
    return max_abs_diff(fp32.predictor(), artifact, sample_batches(ctx, fp32.vocab_size))


@METHODS.register(
    "ort-int8-dynamic",
    options=OrtDynamicOptions,
    family="quantization",
    stage="post",
    accepts_artifacts=True,  # an ONNX Runtime artifact from an earlier stage
    paper="ONNX Runtime quantization (Microsoft), dynamic int8",
    label="ONNX Runtime int8 dynamic", order=310, makes="reduced",
)
def ort_int8_dynamic(model, options: OrtDynamicOptions, ctx):
    from onnxruntime.quantization import quantize_dynamic

    def quantise(source, target, extra):
        quantize_dynamic(source, target, op_types_to_quantize=list(options.ops) or None,
                         per_channel=options.per_channel, reduce_range=options.reduce_range,
                         weight_type=_quant_type(options.weight_type), extra_options=extra)

    return _quantise(model, options, ctx, "ort-int8-dynamic", quantise)


@METHODS.register(
    "ort-int8-static",
    options=OrtStaticOptions,
    family="quantization",
    stage="post",
    accepts_artifacts=True,  # an ONNX Runtime artifact from an earlier stage
    paper="ONNX Runtime quantization (Microsoft), static int8 with calibration",
    label="ONNX Runtime int8 static", order=320, makes="reduced",
)
def ort_int8_static(model, options: OrtStaticOptions, ctx):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, quantize_static

    batches = calibration_batches(ctx, options.calibration_size)
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[options.calibrate_method]

    def quantise(source, target, extra):
        import onnx

        names = [i.name for i in onnx.load(source, load_external_data=False).graph.input]
        quantize_static(source, target, calibration_reader(batches, names),
                        quant_format=getattr(QuantFormat, options.quant_format),
                        op_types_to_quantize=list(options.ops) or None, per_channel=options.per_channel,
                        reduce_range=options.reduce_range, activation_type=_quant_type(options.activation_type),
                        weight_type=_quant_type(options.weight_type), calibrate_method=method,
                        extra_options=extra)

    return _quantise(model, options, ctx, "ort-int8-static", quantise)
