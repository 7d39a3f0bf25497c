"""(IA)^3: learned vectors that rescale keys, values and the FFN's inner activations.
Liu et al. 2022, Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than
In-Context Learning. peft implements it; this module only maps the paper's targets."""

from __future__ import annotations

from dataclasses import dataclass

from bench.method import TrainOptions
from bench.registry import METHODS
from methods.lora import TARGETS, family_of


@dataclass(frozen=True)
class IA3Options(TrainOptions):
    # Scaling vectors start at one and move slowly. MiniLM-L6, SST-2, 1,000 examples,
    # 63 steps: 3e-3 stayed at chance (51.5), 3e-2 reached 73.7. (T-Few used 3e-3, longer.)
    lr: float = 3e-2


@METHODS.register("ia3", options=IA3Options, family="peft", stage="train", paper="Liu et al. 2022, (IA)^3", label="(IA)^3", order=40)
def ia3(model, options: IA3Options, ctx):
    from peft import IA3Config, TaskType, get_peft_model

    names = TARGETS[family_of(model, "ia3")]
    # The FFN vector scales the input of the down projection (after the activation).
    config = IA3Config(
        task_type=TaskType.SEQ_CLS,  # keeps the task head trainable (modules_to_save)
        target_modules=r".*(" + "|".join(names[n] for n in ("k", "v", "ffn_out")) + r")$",
        feedforward_modules=r".*(" + names["ffn_out"] + r")$",
    )
    return ctx.train(get_peft_model(model, config), options)
