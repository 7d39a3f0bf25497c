"""`onnx`: export to ONNX and serve with ONNX Runtime, with a parity check against PyTorch.

The export traces a copy of the model with eager attention: the same maths as SDPA, but the
graph pattern that ONNX Runtime's transformer optimiser fuses (the int8 stages rely on it). Logits of PyTorch and of the
session must agree within `atol` on real batches, or the stage fails: a fast graph that
computes something else is not a result.
"""

from __future__ import annotations

import atexit
import inspect
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError
from bench.registry import METHODS
from bench.typed import option

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
PARITY_BATCHES, PARITY_BATCH_SIZE = 4, 8


@dataclass(frozen=True)
class OnnxOptions:
    opset: int = option(17, "ONNX opset version", at_least=7)
    atol: float = option(1e-4, "max |logit difference| allowed between PyTorch and ONNX Runtime", above=0)
    dynamo: bool = option(False, "torch.export-based exporter; the TorchScript tracer is the default")


def stage_dir(ctx, prefix: str) -> Path:
    """A fresh folder under the cell's workdir, or a temporary one removed when the process ends."""
    directory = tempfile.mkdtemp(prefix=prefix, dir=ctx.workdir)
    if ctx.workdir is None:
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return Path(directory)


def graph_inputs(model) -> list[str]:
    """The inputs of INPUT_NAMES that the model's forward takes (token_type_ids only where it does)."""
    accepted = inspect.signature(model.forward).parameters
    return [name for name in INPUT_NAMES if name in accepted]


def sample_batches(ctx, vocab_size: int, count: int = PARITY_BATCHES) -> list[dict]:
    """Real batches from the training split (padded per batch); reference ids with padding otherwise."""
    from bench.data import collate
    from bench.measure.flops import reference_inputs

    features = ctx.train_features or []
    if features and ctx.tokenizer is not None:
        size = PARITY_BATCH_SIZE
        chunks = [features[i : i + size] for i in range(0, min(len(features), count * size), size)]
        return [collate(ctx.tokenizer, chunk, "cpu") for chunk in chunks]
    batch = reference_inputs(vocab_size, 2, 16, "cpu")
    batch["attention_mask"][1, 10:] = 0  # a padded row, so the mask path is traced and checked
    return [batch]


def _export_args(batch: dict, names: list[str]) -> tuple:
    import torch

    ids = batch["input_ids"]
    return tuple(batch[n].cpu() if n in batch else torch.zeros_like(ids).cpu() for n in names)


def _logits_module(model, names: list[str]):
    """A module taking the inputs positionally and returning logits only (a plain graph output)."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *args):
            return self.model(**dict(zip(names, args, strict=False))).logits

    return Logits()


def reject_torch_quantised(model) -> None:
    """torch's exporters have no ONNX form for its quantised kernels (quantized::linear_dynamic,
    torchao's int8 tensors): name the chain that gives the same result instead of failing deep
    in the exporter."""

    module = getattr(model, "module", model)  # a compiled artifact keeps its eager module
    quantised = {type(m).__module__ for m in module.modules() if ".quantized" in type(m).__module__}
    quantised |= {type(p).__module__ for p in module.parameters() if type(p).__module__.startswith("torchao")}
    if quantised:
        raise UsageError(
            f"onnx: the model holds PyTorch quantised layers ({', '.join(sorted(quantised))}), which torch's ONNX "
            "exporters cannot export. Export the fp32 model and quantise in ONNX Runtime instead: "
            "'... -> onnx -> ort-int8-dynamic' (or ort-int8-static).")


def export_onnx(model, path, sample: dict, opset: int = 17, dynamo: bool = False) -> Path:
    """Write `model` (not modified) to `path` with dynamic batch and sequence axes."""
    import copy

    import torch

    reject_torch_quantised(model)
    copied = copy.deepcopy(model).to("cpu").eval()
    if hasattr(copied, "set_attn_implementation"):
        try:
            copied.set_attn_implementation("eager")  # a pattern ORT's attention fusion matches
        except (ValueError, NotImplementedError):
            pass
    names = graph_inputs(copied)
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes["logits"] = {0: "batch"}
    if dynamo:  # torch.export wants shapes per argument of forward(*args), with named dimensions
        batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
        shapes = dict(dynamic_shapes=(({0: batch, 1: sequence},) * len(names),))
    else:
        shapes = dict(dynamic_axes=axes)
    with torch.no_grad():
        torch.onnx.export(_logits_module(copied, names), _export_args(sample, names), str(path),
                          input_names=names, output_names=["logits"], opset_version=opset,
                          dynamo=dynamo, **shapes)
    return Path(path)


def max_abs_diff(reference, artifact, batches: list[dict]) -> float:
    """Largest |reference logit - artifact logit| over the batches (`reference`: a predictor)."""
    import numpy as np

    predict = artifact.predictor()
    return max(float(np.abs(np.asarray(reference(b)) - np.asarray(predict(b))).max()) for b in batches)


def to_onnx_artifact(model, ctx, options: OnnxOptions = OnnxOptions()):
    """Export, open a session and check parity; an OrtArtifact passes through unchanged."""
    import copy

    from bench.runtime.ort_artifact import OrtArtifact
    from bench.runtime.predict import torch_predictor

    if isinstance(model, OrtArtifact):
        return model
    if ctx.task.kind == "generation":
        raise UsageError("onnx exports classifiers (one forward pass); a generator's decoding loop (prompt or "
                         "encoder, then steps with past key values) is not exported here")
    reject_torch_quantised(model)
    batches = sample_batches(ctx, model.config.vocab_size)
    path = export_onnx(model, stage_dir(ctx, "onnx-") / "model.onnx", batches[0], options.opset, options.dynamo)
    meta = {key: getattr(model.config, key, None) for key in ("model_type", "num_attention_heads", "hidden_size")}
    artifact = OrtArtifact(path, model.config.vocab_size, device=ctx.device, model_meta=meta)
    diff = max_abs_diff(torch_predictor(copy.deepcopy(model).to("cpu").eval()), artifact, batches)
    ctx.records["onnx"] = {
        "max_abs_diff": diff,
        "atol": options.atol,
        "opset": options.opset,
        "exporter": "dynamo" if options.dynamo else "torchscript",
        "parity_batches": len(batches),
        "intra_op_num_threads": artifact.info["intra_op_num_threads"],
        "providers": artifact.info["providers"],
        "graph_optimization_level": artifact.info["graph_optimization_level"],
    }
    if not diff <= options.atol:
        raise RuntimeError(f"ONNX parity check failed: max |logit diff| {diff:.3g} > atol {options.atol:g}")
    return artifact


@METHODS.register(
    "onnx",
    options=OnnxOptions,
    family="inference-format",
    stage="post",
    accepts_artifacts=True,  # an ONNX Runtime artifact from an earlier stage
    paper="ONNX Runtime (Microsoft)",
    label="ONNX Runtime", order=300, makes="reduced",
)
def onnx_stage(model, options: OnnxOptions, ctx):
    return to_onnx_artifact(model, ctx, options)
