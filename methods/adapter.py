"""Bottleneck adapters: small trainable bottleneck layers inside a frozen model.
Houlsby et al. 2019, Parameter-Efficient Transfer Learning for NLP (two per layer);
`config=pfeiffer` puts one per layer after the FFN (Pfeiffer et al. 2020)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.modeling.parts import train_only
from bench.registry import METHODS
from bench.typed import option

TASK_ADAPTER = "task"


@dataclass(frozen=True)
class AdapterOptions(TrainOptions):
    # New, zero-initialised layers. MiniLM-L6, SST-2, 1,000 examples, 63 steps, size 16:
    # 1e-3 stayed at chance (50.9), 5e-3 reached 77.6 (full fine-tuning 78.1).
    lr: float = 5e-3
    size: int | None = option(None, "bottleneck width; None: hidden width / reduction_factor", at_least=1)
    reduction_factor: int = option(16, "hidden width / bottleneck width (the adapters library's default)",
                                   at_least=1)
    config: str = option("houlsby", "houlsby (two adapters per layer) or pfeiffer (one, after the FFN)")


def bottleneck_size(model, options) -> int:
    size = options.size or model.config.hidden_size // options.reduction_factor
    if size < 1:
        raise UsageError(f"adapter: bottleneck size must be at least 1, got {size}")
    return size


@METHODS.register("adapter", options=AdapterOptions, family="peft", stage="train",
                  paper="Houlsby et al. 2019, Parameter-Efficient Transfer Learning for NLP", label="Adapter", order=20)
def adapter(model, options: AdapterOptions, ctx):
    from bench.peft_helpers.bottleneck import add_adapter, is_adapter_parameter, set_active  # torch: imported when run

    add_adapter(model, TASK_ADAPTER, bottleneck_size(model, options), options.config)
    set_active(model, [TASK_ADAPTER])
    train_only(model, lambda name: is_adapter_parameter(name, TASK_ADAPTER))
    return ctx.train(model, options)
