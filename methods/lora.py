"""LoRA: trainable low-rank updates W + (alpha/r) B A on chosen weights; `merge-lora` folds
them into W so inference costs nothing extra. Hu et al. 2021, LoRA: Low-Rank Adaptation."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.registry import METHODS
from bench.typed import option

# Short names of the papers' weight types -> module names per architecture family.
TARGETS = {
    "bert": {"q": "query", "k": "key", "v": "value", "o": "attention.output.dense",
             "ffn_in": "intermediate.dense", "ffn_out": r"\d+\.output\.dense"},
    "llama": {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
              "ffn_in": "up_proj", "ffn_out": "down_proj"},
}
PRESETS = {"q": ("q",), "qv": ("q", "v"), "qkvo": ("q", "k", "v", "o")}
FAMILY = {"bert": "bert", "roberta": "bert", "llama": "llama"}


@dataclass(frozen=True)
class LoraOptions(TrainOptions):
    # Low-rank updates want larger rates than full fine-tuning: MiniLM-L6, SST-2, 1,000
    # examples, 63 steps, r=8 on q,v: 3e-3 reached 77.4 (full fine-tuning 78.1).
    lr: float = 3e-3
    r: int = option(8, "rank of the update BA", at_least=1)
    alpha: float = option(16.0, "scaling: the update is multiplied by alpha / r", above=0)
    dropout: float = option(0.1, "dropout on the LoRA input", at_least=0, below=1)
    targets: str = option("qv", "a preset (q, qv, qkvo) or '+'-joined names: q+v+ffn_in")


def family_of(model, method: str) -> str:
    """The architecture family whose module names TARGETS knows."""
    family = FAMILY.get(model.config.model_type)
    if family is None:
        raise UsageError(f"{method}: no target names for model type {model.config.model_type!r}; "
                         f"known: {', '.join(sorted(FAMILY))}")
    return family


def target_modules(model, targets: str) -> str:
    """A peft regex over the model's module names for the chosen weight types."""
    family = family_of(model, "lora")
    names = PRESETS.get(targets) or tuple(targets.split("+"))
    unknown = [n for n in names if n not in TARGETS[family]]
    if unknown:
        raise UsageError(f"lora: unknown targets {unknown}; use a preset {sorted(PRESETS)} or names {sorted(TARGETS[family])}")
    return r".*(" + "|".join(TARGETS[family][n] for n in names) + r")$"


def peft_task_type(model, task):
    """peft's task type for the model's head: a classifier keeps its head trainable
    (modules_to_save); generators keep their LM head frozen, as the LoRA paper does."""
    from peft import TaskType

    from bench.data import is_decoder_only

    if task.kind != "generation":
        return TaskType.SEQ_CLS
    return TaskType.CAUSAL_LM if is_decoder_only(model) else TaskType.SEQ_2_SEQ_LM


def with_lora(model, options: LoraOptions, task):
    """The model wrapped with LoRA updates on the chosen weights (peft)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        task_type=peft_task_type(model, task),
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=target_modules(model, options.targets),
    )
    return get_peft_model(model, config)


@METHODS.register("lora", options=LoraOptions, family="peft", stage="train", paper="Hu et al. 2021, LoRA", label="LoRA", order=30)
def lora(model, options: LoraOptions, ctx):
    return ctx.train(with_lora(model, options, ctx.task), options)


@dataclass(frozen=True)
class MergeOptions:
    atol: float = option(1e-4, "max |logit difference| allowed between merged and unmerged models", above=0)


# Merging changes the graph (no LoRA branches): FLOPs are counted on the merged model.
@METHODS.register("merge-lora", options=MergeOptions, family="peft", stage="post", flops="own",
                  paper="Hu et al. 2021, LoRA (merged weights: no inference latency)", label="LoRA merged", order=35)
def merge_lora(model, options: MergeOptions, ctx):
    """The base model with the LoRA updates added to its weights; the input stays unmerged.

    Merging must not change what the model computes: logits of both on the same batch are
    compared and the stage fails beyond `atol`.
    """
    import copy

    import torch

    from bench.measure.flops import reference_inputs

    if not hasattr(model, "merge_and_unload"):
        raise UsageError("merge-lora follows a lora stage: the model has no LoRA weights to merge")
    merged = copy.deepcopy(model).merge_and_unload().eval()
    inputs = reference_inputs(model.config.vocab_size, 4, 64, ctx.device)
    with torch.inference_mode():
        difference = float((merged(**inputs).logits - model.eval()(**inputs).logits).abs().max())
    ctx.records["merge_lora"] = {"max_abs_logit_diff": difference, "atol": options.atol}
    if difference > options.atol:
        raise RuntimeError(f"merge-lora: merged logits differ from the unmerged model's by {difference:.2e} "
                           f"(> atol {options.atol})")
    return merged
