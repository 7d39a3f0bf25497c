"""Embedding gradients written into one buffer kept for the whole run, on CPU.

torch's embedding backward allocates a fresh dense gradient the size of the table every step
(30,522 x 384 fp32 = 47 MB for MiniLM), zeroes it and adds the batch's rows. On CPU a block
that large comes straight from the kernel (glibc maps anything over 32 MB), so every step pays
its page faults. Allocating and filling such a table alone took 37-57 ms at 2 threads, against
0.8 ms for a buffer that stays mapped; in a whole MiniLM training step the saving measured
about 4% (results/speed/README.md). The training loop drops gradients after each step
(`zero_grad(set_to_none=True)`), so the buffer is re-zeroed and handed back as `.grad` when
the next backward reaches the embedding.

The numbers do not change: the rows are summed in the same order as torch's CPU kernel (zeros,
then `index_add_` over the ids in batch order, the padding id skipped), so the gradient is
bit-identical (tests/test_embedding_grad.py). Where that could not hold, the module keeps
torch's own backward: a table shared with another layer (tied input and output embeddings sum
two gradients in the autograd engine's order), gradient accumulation over several batches,
max_norm, scale_grad_by_freq or sparse gradients, and GPUs (their caching allocator already
reuses the block, and their backward sums in another order).
"""

from __future__ import annotations

import contextlib
import functools
import types
from collections import Counter


def eligible_embeddings(model) -> list:
    """nn.Embedding layers of `model` that train on CPU, own their table and use plain lookups."""
    import torch

    uses = Counter(id(p) for _, p in model.named_parameters(remove_duplicate=False))
    # type(...).forward: subclasses with a forward of their own (Marian's sinusoidal positions take a
    # shape, not ids) are not lookups this module can stand in for.
    return [module for module in model.modules()
            if isinstance(module, torch.nn.Embedding) and type(module).forward is torch.nn.Embedding.forward
            and module.weight.requires_grad
            and module.weight.device.type == "cpu" and uses[id(module.weight)] == 1
            and module.max_norm is None and not module.scale_grad_by_freq and not module.sparse]


@contextlib.contextmanager
def persistent_embedding_grads(model, grad_accum: int = 1):
    """Within the block, eligible embeddings accumulate their gradient into a buffer kept across
    steps; their forward is restored afterwards."""
    modules = eligible_embeddings(model) if grad_accum == 1 else []
    for module in modules:
        module.forward = types.MethodType(_forward_into_buffer, module)
    try:
        yield modules
    finally:
        for module in modules:
            del module.forward  # back to the class's forward
            module.__dict__.pop("_grad_buffer", None)


def _forward_into_buffer(self, input):  # noqa: A002 - nn.Embedding.forward's own parameter name
    import torch

    if not torch.is_grad_enabled():
        return type(self).forward(self, input)
    return _lookup_into_buffer().apply(input, self.weight, self)


@functools.cache
def _lookup_into_buffer():
    """The autograd Function, built on first use (bench imports torch lazily)."""
    import torch
    import torch.nn.functional as F

    class LookupIntoBuffer(torch.autograd.Function):
        @staticmethod
        def forward(ctx, ids, weight, module):
            ctx.save_for_backward(ids)
            ctx.module = module
            return F.embedding(ids, weight, module.padding_idx)

        @staticmethod
        def backward(ctx, grad_output):
            (ids,) = ctx.saved_tensors
            module = ctx.module
            weight = module.weight
            # Autograd hands the gradient in the output's dtype, which F.embedding gives the table's.
            rows, ids = grad_output.reshape(-1, weight.shape[1]), ids.reshape(-1)
            if module.padding_idx is not None:  # torch's backward gives the padding row no gradient
                keep = ids != module.padding_idx
                ids, rows = ids[keep], rows[keep]
            if weight.grad is None:  # a new step: the kept buffer, zeroed, becomes the gradient
                buffer = module.__dict__.get("_grad_buffer")
                if buffer is None:
                    buffer = module.__dict__["_grad_buffer"] = torch.zeros_like(weight)
                else:
                    buffer.zero_()
                weight.grad = buffer
            weight.grad.index_add_(0, ids, rows)
            return None, None, None

    return LookupIntoBuffer
