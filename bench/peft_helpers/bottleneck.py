"""Bottleneck adapters (Houlsby et al. 2019; Pfeiffer et al. 2020) inserted into a model.

The `adapters` library implements these, but it pins transformers 4.57 and this harness
runs on transformers 5, so the few lines needed live here. An adapter is
x + up(act(down(x))) with `up` zero-initialised, so a new adapter starts as the identity.
Several named adapters can sit at one place; the active ones run in order (the Stack
composition of MAD-X: language adapter first, task adapter on top).
"""

from __future__ import annotations

import re

from torch import nn

# Where adapters go, as regexes over module names, per architecture family. Houlsby puts one
# after the attention output projection and one after the FFN; Pfeiffer only after the FFN.
PLACES = {
    "bert": {"attention": r"attention\.output\.dense", "ffn": r"\d+\.output\.dense"},
    "llama": {"attention": r"self_attn\.o_proj", "ffn": r"mlp\.down_proj"},
}
CONFIGS = {"houlsby": ("attention", "ffn"), "pfeiffer": ("ffn",)}
FAMILY = {"bert": "bert", "roberta": "bert", "llama": "llama"}


class Bottleneck(nn.Module):
    def __init__(self, width: int, size: int):
        super().__init__()
        self.down = nn.Linear(width, size)
        self.up = nn.Linear(size, width)
        self.act = nn.SiLU()  # "swish", the `adapters` library's default for these configs
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden):
        return hidden + self.up(self.act(self.down(hidden)))


class AdaptedLinear(nn.Module):
    """A Linear layer followed by its active adapters (before the block's residual + norm)."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.linear = linear
        self.adapters = nn.ModuleDict()
        self.active: list[str] = []

    def forward(self, x):
        hidden = self.linear(x)
        for name in self.active:
            hidden = self.adapters[name](hidden)
        return hidden


def _family(model) -> str:
    from bench.errors import UsageError

    family = FAMILY.get(model.config.model_type)
    if family is None:
        raise UsageError(f"adapters: no adapter places known for model type {model.config.model_type!r}; "
                         f"known: {', '.join(sorted(FAMILY))}")
    return family


def add_adapter(model, name: str, size: int, config: str = "houlsby") -> int:
    """Insert adapter `name` of bottleneck `size` at the config's places; its parameter count."""
    from bench.errors import unknown_name

    if config not in CONFIGS:
        raise unknown_name("adapter config", config, CONFIGS)
    places = PLACES[_family(model)]
    pattern = re.compile(r".*(" + "|".join(places[p] for p in CONFIGS[config]) + r")$")
    targets = [(n, m) for n, m in model.named_modules()
               if pattern.match(n) and isinstance(m, (nn.Linear, AdaptedLinear))]
    added = 0
    for module_name, module in targets:
        if isinstance(module, nn.Linear):
            module = AdaptedLinear(module)
            parent_name, _, child = module_name.rpartition(".")
            setattr(model.get_submodule(parent_name), child, module)
        linear = module.linear
        bottleneck = Bottleneck(linear.out_features, size).to(linear.weight.device)
        module.adapters[name] = bottleneck
        added += sum(p.numel() for p in bottleneck.parameters())
    return added


def adapted_layers(model) -> list[AdaptedLinear]:
    return [m for m in model.modules() if isinstance(m, AdaptedLinear)]


def set_active(model, names: list[str]) -> None:
    """Run these adapters, in this order, wherever they exist."""
    for layer in adapted_layers(model):
        layer.active = [n for n in names if n in layer.adapters]


def is_adapter_parameter(parameter_name: str, name: str) -> bool:
    return f".adapters.{name}." in parameter_name
