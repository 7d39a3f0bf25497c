"""MAD-X: language adapters trained with masked-LM, a task adapter stacked on the source
language's adapter, and the target language's adapter swapped in for evaluation.
Pfeiffer et al. 2020, MAD-X: An Adapter-Based Framework for Multi-Task Cross-Lingual Transfer.

Not reproduced: the invertible adapters at the embeddings (the paper's ablation gives them
about a point); the language adapters here are Pfeiffer bottlenecks after each FFN.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.modeling.parts import is_task_head
from bench.registry import METHODS, TASKS
from bench.typed import option
from methods.adapter import TASK_ADAPTER


@dataclass(frozen=True)
class MadXOptions(TrainOptions):
    lr: float = 5e-3  # the task adapter's rate: the `adapter` method's (1e-3 left it at chance)
    task_reduction: int = option(16, "task adapter: hidden width / bottleneck width", at_least=1)
    lang_reduction: int = option(2, "language adapters' reduction (the paper's are wide)", at_least=1)
    mlm_steps: int = option(300, "masked-LM steps per language adapter", at_least=1)
    mlm_lr: float = option(1e-3, "learning rate of the language adapters", above=0)
    mlm_texts: int = option(20000, "unlabelled training sentences per language", at_least=1)
    swap: bool = option(True, "false: keep the source language's adapter at test time (ablation)")


def language_adapter(language: str) -> str:
    return f"lang_{language}"


def _lang_cache_key(ctx, language: str, options: MadXOptions) -> str:
    from bench.cell import result_versions

    cell = ctx.cell
    identity = {"model": cell.model, "task": cell.task, "language": language, "seed": cell.seed,
                "max_seq_len": cell.budget.max_seq_len, "batch_size": cell.budget.batch_size,
                "lang_reduction": options.lang_reduction, "mlm_steps": options.mlm_steps,
                "mlm_lr": options.mlm_lr, "mlm_texts": options.mlm_texts, "versions": result_versions(),
                "inputs": [list(pair) for pair in cell.inputs]}  # the unlabelled text's and the model's content
    if cell.precision != "fp32":  # fp32 adapters keep the keys they had before precision was an axis
        identity["precision"] = cell.precision
    return "mlm-" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def train_language_adapter(model, language: str, options: MadXOptions, ctx) -> dict:
    """Masked-LM on the language's unlabelled text, training only its adapter (and the MLM head)."""
    import random

    from bench.data import encode
    from bench.peft_helpers.bottleneck import is_adapter_parameter, set_active
    from bench.peft_helpers.mlm import MaskedLM, mlm_loss_function
    from bench.storage.cache import load_trained, store_trained
    from bench.task import Example
    from bench.train import train

    name = language_adapter(language)
    for parameter_name, parameter in model.named_parameters():
        parameter.requires_grad_(is_adapter_parameter(parameter_name, name))
    set_active(model, [name])
    masked_lm = MaskedLM(model.base_model, model.get_input_embeddings())
    key = _lang_cache_key(ctx, language, options)
    cached = load_trained(masked_lm, key)
    if cached is not None:
        return dict(cached, from_cache=True)
    texts = ctx.task.unlabelled_text(language, ctx.data_dir)
    random.Random(0).shuffle(texts)
    features = encode(ctx.tokenizer, [Example(t, None, None) for t in texts[: options.mlm_texts]],
                      ctx.cell.budget.max_seq_len, with_labels=False)
    budget = dataclasses.replace(ctx.cell.budget, max_steps=options.mlm_steps, grad_accum=1)
    mlm_options = TrainOptions(lr=options.mlm_lr, weight_decay=options.weight_decay,
                               warmup_ratio=options.warmup_ratio, max_grad_norm=options.max_grad_norm)
    stats = train(masked_lm, ctx.tokenizer, features, budget=budget, options=mlm_options, seed=ctx.cell.seed,
                  device=ctx.device, compute_loss=mlm_loss_function(ctx.tokenizer, ctx.cell.seed),
                  on_step=ctx.on_step, precision=ctx.cell.precision).to_dict()
    stats["texts"] = len(features)
    base = {"model": ctx.cell.model, "inputs": [list(pair) for pair in ctx.cell.inputs],
            "masked_lm_of_language": language}  # the adapter and MLM head are the delta over it
    store_trained(masked_lm, key, stats, base=base)
    return dict(stats, from_cache=False)


@METHODS.register("mad-x", options=MadXOptions, family="peft", stage="train",
                  paper="Pfeiffer et al. 2020, MAD-X", label="MAD-X", order=60)
def mad_x(model, options: MadXOptions, ctx):
    from bench.peft_helpers.bottleneck import add_adapter, is_adapter_parameter, set_active  # torch: imported when run

    languages = getattr(ctx.task, "languages", None)
    if not languages:
        cross = [n for n in TASKS.names() if n.startswith("xling-")]
        raise UsageError(f"mad-x needs a cross-lingual task (source and target language); "
                         f"{ctx.cell.task!r} is not one. Cross-lingual tasks: {', '.join(cross)}")
    source, target = ctx.task.source_language, ctx.task.target_language
    width = model.config.hidden_size
    for language in (source, target):
        add_adapter(model, language_adapter(language), max(1, width // options.lang_reduction), "pfeiffer")
    add_adapter(model, TASK_ADAPTER, max(1, width // options.task_reduction), "pfeiffer")
    language_stats = {}
    if not ctx.cell.arch_only:
        language_stats = {lang: train_language_adapter(model, lang, options, ctx) for lang in (source, target)}
    # Stack: the task adapter learns on top of the (frozen) source-language adapter.
    for parameter_name, parameter in model.named_parameters():
        trains = is_adapter_parameter(parameter_name, TASK_ADAPTER) or is_task_head(parameter_name)
        parameter.requires_grad_(trains)
    set_active(model, [language_adapter(source), TASK_ADAPTER])
    model = ctx.train(model, options)
    evaluated_with = target if options.swap else source
    set_active(model, [language_adapter(evaluated_with), TASK_ADAPTER])
    ctx.records["mad_x"] = {"language_adapters": language_stats, "source": source, "target": target,
                            "evaluated_with_language_adapter": evaluated_with}
    return model

