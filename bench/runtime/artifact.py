"""What a chain produces: something that predicts, can be timed, counted and saved.

A PyTorch module is wrapped by `TorchArtifact`; other runtimes (an ONNX Runtime session)
provide the same four methods, so every variant is evaluated and measured by the same code.
"""

from __future__ import annotations

from collections.abc import Callable


class TorchArtifact:
    runtime = "torch"

    def __init__(self, module):
        self.module = module

    @property
    def vocab_size(self) -> int:
        return self.module.config.vocab_size

    def predictor(self) -> Callable:
        from bench.runtime.predict import torch_predictor

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
        """Bytes of the trainable delta alone (a PEFT adapter file; the tensors BitFit,
        adapters or top-k trained), None when every parameter trained or none did."""
        from pathlib import Path

        from bench.measure.size import path_bytes

        if hasattr(self.module, "peft_config"):
            self.module.save_pretrained(str(directory))
            return path_bytes(directory)
        import torch

        named = list(self.module.named_parameters())
        if any(type(p) is not torch.nn.Parameter for _, p in named):
            # Quantised weights (torchao's int8 tensors) are frozen parameters of a post-training
            # model, not the untrained part of a fine-tuned one: there is no delta to ship.
            return None
        delta = {n: p.detach().cpu().contiguous() for n, p in named if p.requires_grad}
        if not delta or len(delta) == len(named):
            return None
        from safetensors.torch import save_file

        Path(directory).mkdir(parents=True, exist_ok=True)
        save_file(delta, str(Path(directory) / "delta.safetensors"))
        return path_bytes(directory)


def as_artifact(obj):
    """A stage's output as an artifact: modules are wrapped, artifacts pass through."""
    return obj if hasattr(obj, "predictor") and hasattr(obj, "timed_call") else TorchArtifact(obj)
