"""What a chain produces: something that predicts, can be timed, counted and saved.

A PyTorch module is wrapped by `TorchArtifact`; other runtimes (an ONNX Runtime session)
provide the same four methods, so every variant is evaluated and measured by the same code.
"""

from __future__ import annotations

from typing import Callable


class TorchArtifact:
    runtime = "torch"

    def __init__(self, module):
        self.module = module

    @property
    def vocab_size(self) -> int:
        return self.module.config.vocab_size

    def predictor(self) -> Callable:
        from bench.predict import torch_predictor

        return torch_predictor(self.module)

    def timed_call(self, inputs: dict) -> Callable:
        import torch

        def call():
            with torch.inference_mode():
                return self.module(**inputs)

        return call

    def parameters(self, base_total: int | None = None):
        from bench.measure.params import count_parameters

        return count_parameters(self.module, base_total=base_total)

    def save(self, directory) -> int:
        from bench.measure.size import saved_size

        return saved_size(self.module, directory)

    def delta_bytes(self, directory) -> int | None:
        """Bytes of the trainable delta alone (a PEFT adapter file), None for whole models."""
        if not hasattr(self.module, "peft_config"):
            return None
        from bench.measure.size import path_bytes

        self.module.save_pretrained(str(directory))
        return path_bytes(directory)


def as_artifact(obj):
    """A stage's output as an artifact: modules are wrapped, artifacts pass through."""
    return obj if hasattr(obj, "predictor") and hasattr(obj, "timed_call") else TorchArtifact(obj)
