"""Adapter swapping: one base model serves several tasks by swapping their trained deltas.

Whatever the preceding training stage trained (adapters, LoRA, biases, the head) is the
per-task delta. The stage writes one delta file per task, then times loading a delta from
disk and switching the live model to another task's delta, and checks that switching
back restores the first task's outputs exactly. The model passes through unchanged.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.errors import UsageError
from bench.registry import METHODS
from bench.typed import option

TIMING = dict(warmup=2, min_iters=20, min_seconds=0.5)


@dataclass(frozen=True)
class SwapOptions:
    tasks: int = option(4, "task deltas held for the one base model", at_least=2)


def task_deltas(model, count: int, seed: int) -> list[dict]:
    """The trained delta, and count-1 stand-ins of the same shapes for other tasks."""
    import torch

    trained = {n: p.detach().clone().contiguous() for n, p in model.named_parameters() if p.requires_grad}
    if not trained:
        raise UsageError("adapter-swap follows a training stage: the model has no trained parameters to swap")
    generator = torch.Generator().manual_seed(seed)
    others = [{n: t + 1e-3 * torch.randn(t.shape, generator=generator, dtype=t.dtype).to(t.device)
               for n, t in trained.items()} for _ in range(count - 1)]
    return [trained, *others]


def switch_to(model, delta: dict) -> None:
    import torch

    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in delta.items():
            parameters[name].copy_(tensor)


@METHODS.register("adapter-swap", options=SwapOptions, family="peft", stage="post",
                  paper="Houlsby et al. 2019 (one shared model, a small delta per task)", label="adapter swapping", order=70)
def adapter_swap(model, options: SwapOptions, ctx):
    import torch
    from safetensors.torch import load_file, save_file

    from bench.measure.flops import reference_inputs
    from bench.measure.latency import measure_latency

    deltas = task_deltas(model, options.tasks, ctx.cell.seed)
    inputs = reference_inputs(model.config.vocab_size, 2, 16, ctx.device)
    with torch.inference_mode():
        before = model(**inputs).logits.clone()
    with tempfile.TemporaryDirectory(dir=ctx.workdir) as tmp:
        paths = [Path(tmp) / f"task{i}.safetensors" for i in range(options.tasks)]
        for path, delta in zip(paths, deltas, strict=False):
            save_file({n: t.cpu() for n, t in delta.items()}, str(path))
        sizes = [path.stat().st_size for path in paths]
        turn = iter(range(10**9))
        load = measure_latency(lambda: load_file(str(paths[next(turn) % options.tasks]), device=ctx.device),
                               device=ctx.device, **TIMING)
    turn = iter(range(10**9))
    switch = measure_latency(lambda: switch_to(model, deltas[next(turn) % options.tasks]),
                             device=ctx.device, **TIMING)
    switch_to(model, deltas[0])
    with torch.inference_mode():
        restored = bool(torch.equal(model(**inputs).logits, before))
    if not restored:
        raise RuntimeError("adapter-swap: switching back did not restore the first task's outputs")
    ctx.records["adapter_swap"] = {
        "tasks": options.tasks,
        "delta_parameters": sum(t.numel() for t in deltas[0].values()),
        "bytes_per_task": sizes[0],
        "load_ms_p50": load.p50,
        "switch_ms_p50": switch.p50,
        "restored_exactly": restored,
        "timer": load.timer,
    }
    return model
