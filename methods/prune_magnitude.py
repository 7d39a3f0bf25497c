"""Global unstructured magnitude pruning: zero the smallest weights of the whole encoder.

One threshold over all encoder Linear weights (not one per layer) lets layers that matter
less lose more. Shapes stay, so dense kernels run as before: no speed-up, and the FLOPs
are the reference's. Embeddings and the task head are left alone by default: the head is
tiny and freshly trained, and pruning embeddings hurts rare tokens first.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from bench.errors import UsageError
from bench.modeling.parts import TASK_HEAD_NAMES
from bench.registry import METHODS
from bench.typed import option

# Modules of the task head, the LM head, and BERT's pooler (which only the head reads).
HEAD_NAMES = (*TASK_HEAD_NAMES, "lm_head", "pooler")


@dataclass(frozen=True)
class MagnitudeOptions:
    sparsity: float = option(0.5, "fraction of the selected weights set to zero", at_least=0, below=1)
    include_head: bool = option(False, "also prune the pooler/classifier Linear layers")
    include_embeddings: bool = option(False, "also prune the embedding matrices")


def is_head(name: str) -> bool:
    return any(part in HEAD_NAMES for part in name.split("."))


def layer_type(name: str) -> str:
    """The module name without its layer index: 'bert.encoder.layer.3.attention.self.query'
    -> 'attention.self.query', so per-type sparsity groups the same weight across layers."""
    parts = name.split(".")
    index = next((i for i, part in enumerate(parts) if part.isdigit()), None)
    return ".".join(parts[index + 1:]) if index is not None else name


def prunable_weights(model, include_head: bool = False, include_embeddings: bool = False) -> list:
    """(name, module) of every weight the stage prunes."""
    import torch

    kinds = (torch.nn.Linear, torch.nn.Embedding) if include_embeddings else (torch.nn.Linear,)
    return [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, kinds) and (include_head or not is_head(name))
    ]


def sparsity_report(selected: list) -> dict:
    """Achieved sparsity (exact zeros) per layer type and over all pruned weights."""
    zeros, sizes = {}, {}
    for name, module in selected:
        kind = layer_type(name)
        zeros[kind] = zeros.get(kind, 0) + int((module.weight == 0).sum())
        sizes[kind] = sizes.get(kind, 0) + module.weight.numel()
    total = sum(sizes.values())
    return {
        "overall": sum(zeros.values()) / total if total else 0.0,
        "per_type": {kind: zeros[kind] / sizes[kind] for kind in sorted(sizes)},
        "pruned_weights": total,
    }


@METHODS.register(
    "prune-magnitude",
    options=MagnitudeOptions,
    family="pruning",
    stage="post",
    paper="Han et al. 2015, Learning both Weights and Connections for Efficient Neural Networks",
    label="magnitude pruning", order=230,
)
def prune_magnitude(model, options: MagnitudeOptions, ctx):
    import torch
    from torch.nn.utils import prune

    pruned = copy.deepcopy(model)
    selected = prunable_weights(pruned, options.include_head, options.include_embeddings)
    if not selected:
        raise UsageError("prune-magnitude found no Linear weights to prune outside the head")
    with torch.no_grad():
        prune.global_unstructured(
            [(module, "weight") for _, module in selected],
            pruning_method=prune.L1Unstructured,
            amount=options.sparsity,
        )
        for _, module in selected:
            prune.remove(module, "weight")  # bake the mask in: a plain dense weight again
    ctx.records["prune_magnitude"] = dict(sparsity_report(selected), target=options.sparsity,
                                          include_head=options.include_head,
                                          include_embeddings=options.include_embeddings)
    return pruned
