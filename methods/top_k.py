"""Top-k: train only the k top transformer layers and the head, the naive PEFT baseline
(Lee et al. 2019, "What would Elsa do?", freezing the lower layers)."""

from dataclasses import dataclass

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.modeling.parts import encoder_layers, train_only
from bench.registry import METHODS
from bench.typed import option


@dataclass(frozen=True)
class TopKOptions(TrainOptions):
    # MiniLM-L6, SST-2, 1,000 examples, k=2: 1e-4 gave 69.6 after 63 steps, 3e-4 gave 80.0
    # after 100 (fewer weights move, so they may move faster than in full fine-tuning).
    lr: float = 3e-4
    k: int = option(2, "how many of the top layers train (the task head always does)", at_least=1)


@METHODS.register("top-k", options=TopKOptions, family="peft", stage="train",
                  paper="Lee et al. 2019, What Would Elsa Do? Freezing Layers During Transformer Fine-Tuning", label="top-k", order=50)
def top_k(model, options: TopKOptions, ctx):
    layers = encoder_layers(model)
    if not 1 <= options.k <= len(layers):
        raise UsageError(f"top-k: k must be between 1 and the model's {len(layers)} layers, got {options.k}")
    trained = {id(p) for layer in layers[-options.k:] for p in layer.parameters()}
    # The pooler sits above the encoder and feeds the head: it trains with the top layers.
    pooler = {id(p) for name, p in model.named_parameters() if ".pooler." in f".{name}"}
    keep = trained | pooler
    parameters = dict(model.named_parameters())
    train_only(model, lambda name: id(parameters[name]) in keep)
    return ctx.train(model, options)
