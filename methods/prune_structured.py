"""Structured pruning of attention heads and FFN neurons: smaller matrices, real speed-ups.

Unlike magnitude pruning, rows and columns are removed, so the dense kernels do less work;
the runner counts FLOPs on the pruned graph (meta flops="own"). Recovery fine-tuning is a
later stage of the chain: `full-ft -> prune-heads -> full-ft`.

Head importance follows Michel et al. 2019 by default: |dL/dm_h| for a mask m_h = 1 on
each head's output, summed over calibration batches. It measures what removing the head
does to the task loss; the weight-norm proxy (L2 norm of the head's slice of the output
projection) ignores the attention pattern and the values, and serves when a cell has no
data (architecture-only latency cells).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

from bench.errors import UsageError
from bench.registry import METHODS
from bench.typed import option


@dataclass(frozen=True)
class HeadPruneOptions:
    fraction: float = option(0.5, "of the heads of every layer (at least one head stays)", at_least=0, below=1)
    importance: Literal["gradient", "weight"] = option(
        "gradient", "how heads are ranked: loss gradients on training examples, or weight norms")
    calibration_examples: int = option(256, "training examples for gradient importance", at_least=1)


@dataclass(frozen=True)
class FFNPruneOptions:
    fraction: float = option(0.5, "of the intermediate neurons of every layer (at least one stays)",
                             at_least=0, below=1)


def attention_blocks(model) -> list:
    """BERT-style attention modules: `.self` with query/key/value and `.output.dense`."""
    blocks = [
        module for module in model.modules()
        if all(hasattr(getattr(module, "self", None), name) for name in ("query", "key", "value", "attention_head_size"))
        and hasattr(getattr(module, "output", None), "dense")
    ]
    if not blocks:
        raise UsageError("prune-heads supports BERT-style attention (self.query/key/value, output.dense)")
    return blocks


def ffn_blocks(model) -> list:
    """BERT-style layers: `.intermediate.dense` (hidden -> I) and `.output.dense` (I -> hidden)."""
    blocks = [
        module for module in model.modules()
        if hasattr(getattr(module, "intermediate", None), "dense") and hasattr(getattr(module, "output", None), "dense")
    ]
    if not blocks:
        raise UsageError("prune-ffn supports BERT-style layers (intermediate.dense, output.dense)")
    return blocks


def _heads(block) -> int:
    return block.self.query.out_features // block.self.attention_head_size


def weight_head_importance(blocks) -> list:
    """Per layer, the L2 norm of each head's columns in the attention output projection."""
    scores = []
    for block in blocks:
        weight = block.output.dense.weight.detach()  # (hidden, heads * head_size)
        scores.append(weight.view(weight.shape[0], _heads(block), -1).norm(dim=(0, 2)))
    return scores


def gradient_head_importance(model, blocks, ctx, examples: int) -> list:
    """Michel et al. 2019: |dL/dm_h| summed over batches, m_h a mask on head h's output."""
    import torch

    from bench.data import collate

    masks = [torch.ones(_heads(b), device=ctx.device, requires_grad=True) for b in blocks]

    def masking_hook(mask):
        def hook(module, args):
            x = args[0]
            return (x.view(*x.shape[:-1], mask.numel(), -1).mul(mask[:, None]).view_as(x),) + args[1:]
        return hook

    handles = [b.output.dense.register_forward_pre_hook(masking_hook(m)) for b, m in zip(blocks, masks, strict=False)]
    scores = [torch.zeros_like(m) for m in masks]
    features = ctx.train_features[:examples]
    batch_size = ctx.cell.budget.batch_size
    model.eval()  # no dropout: the importance of the model as it will run
    try:
        for start in range(0, len(features), batch_size):
            batch = collate(ctx.tokenizer, features[start:start + batch_size], ctx.device)
            loss = model(**batch).loss
            grads = torch.autograd.grad(loss, masks)
            for score, grad in zip(scores, grads, strict=False):
                score += grad.abs()
    finally:
        for handle in handles:
            handle.remove()
    return [s.detach() for s in scores]


def _keep_lowest_pruned(scores, fraction: float):
    """Indices to keep (sorted) and to prune: the lowest-scoring floor(fraction*n), never all."""
    n = scores.numel()
    drop = min(int(fraction * n), n - 1)
    order = scores.argsort()
    return order[drop:].sort().values, order[:drop].sort().values


@METHODS.register(
    "prune-heads",
    options=HeadPruneOptions,
    family="pruning",
    stage="post",
    flops="own",
    paper="Michel et al. 2019, Are Sixteen Heads Really Better than One?",
    label="head pruning", order=240,
)
def prune_heads(model, options: HeadPruneOptions, ctx):
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    pruned = copy.deepcopy(model)
    blocks = attention_blocks(pruned)
    importance = options.importance
    if importance == "gradient" and not ctx.train_features:
        importance = "weight"  # architecture-only cells have no data to take gradients on
    if importance == "gradient":
        scores = gradient_head_importance(pruned, blocks, ctx, options.calibration_examples)
    else:
        scores = weight_head_importance(blocks)
    removed = {}
    with torch.no_grad():
        for layer, (block, score) in enumerate(zip(blocks, scores, strict=False)):
            keep, drop = _keep_lowest_pruned(score, options.fraction)
            attention, size = block.self, block.self.attention_head_size
            index = (keep[:, None] * size + torch.arange(size, device=keep.device)).flatten()
            for name in ("query", "key", "value"):
                setattr(attention, name, prune_linear_layer(getattr(attention, name), index, dim=0))
            block.output.dense = prune_linear_layer(block.output.dense, index, dim=1)
            attention.num_attention_heads = len(keep)
            attention.all_head_size = len(keep) * size
            removed[layer] = drop.tolist()
    pruned.zero_grad(set_to_none=True)
    ctx.records["prune_heads"] = {
        "importance": importance, "fraction": options.fraction, "pruned": removed,
        "heads_before": sum(len(s) for s in scores), "heads_after": sum(_heads(b) for b in blocks),
    }
    return pruned.eval()


@METHODS.register(
    "prune-ffn",
    options=FFNPruneOptions,
    family="pruning",
    stage="post",
    flops="own",
    paper="Prasanna et al. 2020, When BERT Plays the Lottery, All Tickets Are Winning",
    label="FFN pruning", order=250,
)
def prune_ffn(model, options: FFNPruneOptions, ctx):
    """Drop the neurons with the smallest ||W_in[j, :]|| * ||W_out[:, j]|| in every layer."""
    import torch
    from transformers.pytorch_utils import prune_linear_layer

    pruned = copy.deepcopy(model)
    sizes = []
    with torch.no_grad():
        for block in ffn_blocks(pruned):
            into, out = block.intermediate.dense, block.output.dense
            score = into.weight.norm(dim=1) * out.weight.norm(dim=0)
            keep, _ = _keep_lowest_pruned(score, options.fraction)
            block.intermediate.dense = prune_linear_layer(into, keep, dim=0)
            block.output.dense = prune_linear_layer(out, keep, dim=1)
            sizes.append((into.out_features, len(keep)))
    if len({after for _, after in sizes}) == 1 and hasattr(pruned.config, "intermediate_size"):
        pruned.config.intermediate_size = sizes[0][1]  # every layer alike: the config says so
    ctx.records["prune_ffn"] = {"fraction": options.fraction, "intermediate_before": [b for b, _ in sizes],
                                "intermediate_after": [a for _, a in sizes]}
    return pruned.eval()
