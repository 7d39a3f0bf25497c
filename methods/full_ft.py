"""Full fine-tuning: every parameter trains (the baseline every method is held against)."""

from dataclasses import dataclass

from bench.method import TrainOptions
from bench.registry import METHODS


@dataclass(frozen=True)
class FullFTOptions(TrainOptions):
    lr: float = 5e-5


@METHODS.register(
    "full-ft",
    options=FullFTOptions,
    family="baseline",
    stage="train",
    paper="Devlin et al. 2019, BERT: Pre-training of Deep Bidirectional Transformers",
)
def full_ft(model, options: FullFTOptions, ctx):
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return ctx.train(model, options)
