"""BitFit: train only the bias terms (and the task head). Ben Zaken et al. 2021."""

from dataclasses import dataclass

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.model_parts import train_only
from bench.registry import METHODS


@dataclass(frozen=True)
class BitFitOptions(TrainOptions):
    # Biases are few and start far from what a task needs: the paper swept 1e-4..1e-3 for
    # BERT-base; the small MiniLM budget wants the top of that range.
    lr: float = 1e-3


def is_bias(name: str) -> bool:
    # Every additive bias: Linear layers and LayerNorm's beta (the paper trains both).
    return name.endswith(".bias")


@METHODS.register("bitfit", options=BitFitOptions, family="peft", stage="train",
                  paper="Ben Zaken et al. 2021, BitFit: Simple Parameter-efficient Fine-tuning")
def bitfit(model, options: BitFitOptions, ctx):
    if not train_only(model, is_bias):
        raise UsageError(f"bitfit: {type(model).__name__} has no bias terms to train")
    return ctx.train(model, options)
