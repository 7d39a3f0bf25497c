"""The one training loop every training method shares.

AdamW over the parameters that require grad, linear warmup then linear decay, dynamic
padding, length-grouped batches and gradient accumulation. Methods differ only in which
parameters train and, for distillation, in `compute_loss`.

Speed without changing the numerics: AdamW and the gradient clipping run fused or
multi-tensor (one kernel over all parameters instead of a Python loop over ~100 tensors), on
CPU the embedding tables' gradients reuse one buffer instead of a fresh one per step, and the
loop never waits for the device to read the loss back except where it reports it.
`precision="bf16"` runs the forward pass and the loss under autocast; weights, gradients and
optimiser state stay fp32.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class TrainStats:
    steps: int
    trainable_parameters: int  # what this stage trained, whatever later stages do to the model
    examples: int  # examples seen, epochs included
    epochs: float
    wall_s: float
    examples_per_s: float
    s_per_step: float
    final_loss: float
    peak_rss_bytes: int
    cuda_peaks: dict | None

    def to_dict(self) -> dict:
        return asdict(self)


def optimizer_steps(n_examples: int, budget) -> int:
    """Optimiser steps the budget allows: max_steps, else epochs over the data."""
    if budget.max_steps is not None:
        return budget.max_steps
    per_epoch = math.ceil(n_examples / (budget.batch_size * budget.grad_accum))
    return max(1, math.ceil(per_epoch * budget.epochs))


def adamw(groups: list[dict], lr: float):
    """torch's AdamW, fused where every parameter allows it (floating point, on CPU or CUDA): the
    same update rule as the per-tensor loop, in one kernel."""
    import torch

    parameters = [p for group in groups for p in group["params"]]
    fusable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in parameters)
    try:
        return torch.optim.AdamW(groups, lr=lr, fused=fusable or None)
    except RuntimeError:  # a build or device without the fused kernel: the multi-tensor one
        return torch.optim.AdamW(groups, lr=lr, foreach=True)


def train(model, tokenizer, features, *, budget, options, seed: int, device: str, compute_loss: Callable | None = None,
          on_step: Callable[[int, int, object], None] | None = None, precision: str = "fp32") -> TrainStats:
    """Train `model`; `on_step(step, total_steps, loss)` after every optimiser step (the progress
    line; `loss` is a 0-d tensor, read only by a callback that shows it)."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    from bench.data import collate, length_grouped_batches
    from bench.measure.memory import cuda_peaks, peak_rss_bytes, reset_cuda_peaks
    from bench.modeling.embedding_grad import persistent_embedding_grads
    from bench.precision import autocast

    if not features:
        raise ValueError("no training examples: check --train-limit and the training split")
    model.to(device).train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("no parameter requires grad: the method froze everything")
    decay = [p for p in parameters if p.ndim >= 2]
    no_decay = [p for p in parameters if p.ndim < 2]  # biases and LayerNorm weights
    optimizer = adamw(
        [{"params": decay, "weight_decay": options.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=options.lr,
    )
    total_steps = optimizer_steps(len(features), budget)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(options.warmup_ratio * total_steps), total_steps)
    loss_of = compute_loss or (lambda model, batch: model(**batch).loss)
    lengths = [len(f["input_ids"]) for f in features]

    reset_cuda_peaks(device)
    start = time.perf_counter()
    # Same numbers, without a fresh embedding-sized gradient per step (bench/modeling/embedding_grad.py).
    with persistent_embedding_grads(model, budget.grad_accum):
        step, seen, epoch, last_loss = 0, 0, 0, None
        while step < total_steps:
            batches = length_grouped_batches(lengths, budget.batch_size, seed=seed + epoch)
            for i in range(0, len(batches), budget.grad_accum):
                group = batches[i : i + budget.grad_accum]
                for indices in group:
                    batch = collate(tokenizer, [features[j] for j in indices], device)
                    with autocast(precision, device):
                        loss = loss_of(model, batch) / len(group)
                    loss.backward()
                    seen += len(indices)
                torch.nn.utils.clip_grad_norm_(parameters, options.max_grad_norm, foreach=True)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                last_loss = loss.detach() * len(group)
                step += 1
                if on_step is not None:
                    on_step(step, total_steps, last_loss)
                if step >= total_steps:
                    break
            epoch += 1
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    model.eval()
    return TrainStats(
        steps=step,
        trainable_parameters=sum(p.numel() for p in parameters),
        examples=seen,
        epochs=seen / max(1, len(features)),
        wall_s=wall,
        examples_per_s=seen / wall if wall else float("nan"),
        s_per_step=wall / step,
        final_loss=float(last_loss) if last_loss is not None else float("nan"),
        peak_rss_bytes=peak_rss_bytes(),
        cuda_peaks=cuda_peaks(device),
    )
