"""BitFit: train only the bias terms (and the task head). Ben Zaken et al. 2021."""

from dataclasses import dataclass

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.modeling.parts import train_only
from bench.registry import METHODS


@dataclass(frozen=True)
class BitFitOptions(TrainOptions):
    # Biases are few and must move far in few steps. MiniLM-L6, SST-2, 1,000 examples:
    # 1e-3 and 1e-2 stayed at chance after 63 steps; 5e-3 reached 74.1 after 100 steps.
    # (The paper swept 1e-4..1e-3 for BERT-base over many epochs.)
    lr: float = 5e-3


def is_bias(name: str) -> bool:
    # Every additive bias: Linear layers and LayerNorm's beta (the paper trains both).
    return name.endswith(".bias")


@METHODS.register("bitfit", options=BitFitOptions, family="peft", stage="train",
                  paper="Ben Zaken et al. 2021, BitFit: Simple Parameter-efficient Fine-tuning", label="BitFit", order=10)
def bitfit(model, options: BitFitOptions, ctx):
    if not train_only(model, is_bias):
        raise UsageError(f"bitfit: {type(model).__name__} has no bias terms to train")
    return ctx.train(model, options)
