"""A PyTorch model run through torch.compile (Inductor) for inference, weights frozen.

Inductor's CPU backend uses its prepacked oneDNN linear kernels and GEMM templates only when
the weights are constants of the graph, which `freezing` makes them (torchao #362), and it
fuses the element-wise ops between matmuls; eager torchao int8 runs each step as its own op
and is slower than fp32. The eager module is kept: parameters, size and FLOPs are counted on
it, and the compiled callable serves prediction and timing.
"""

from __future__ import annotations

from collections.abc import Callable

from bench.runtime.artifact import TorchArtifact

INDUCTOR_OPTIONS = {"freezing": True}


class CompiledTorchArtifact(TorchArtifact):
    runtime = "torch.compile"

    def __init__(self, module):
        import torch

        super().__init__(module.eval())
        # Compilation is lazy: each new input shape compiles on its first call (the latency
        # warm-up absorbs it). Dynamo's default generalises to dynamic shapes after a second
        # shape, so eval batches padded to many lengths share one graph.
        self.compiled = torch.compile(module, options=dict(INDUCTOR_OPTIONS))
        self.info = {"backend": "inductor", **INDUCTOR_OPTIONS}

    def predictor(self) -> Callable:
        from bench.runtime.predict import torch_predictor

        return torch_predictor(self.compiled)

    def timed_call(self, inputs: dict) -> Callable:
        return TorchArtifact(self.compiled).timed_call(inputs)
