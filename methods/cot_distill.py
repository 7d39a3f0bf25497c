"""Chain-of-thought distillation on reasoning tasks (GSM8K), the rows of Magister et al. 2022:

  Baseline        answer-only             fine-tune on question -> final answer (`#### N`)
  CoT-finetuned   cot-distill(teacher=T)  fine-tune on question -> T's rationale + answer
  Teacher         few-shot-cot            no training: the k-shot CoT prompt

`teacher=references` trains on GSM8K's own human rationales, a stand-in for the paper's PaLM
540B; `teacher=MODEL` lets MODEL answer every training question after k solved examples and
keeps only the rationales whose answer is right (the paper's filter; bench/distill/rationales.py
caches them with their cost). Both fine-tunings train every weight (`peft=full`) or LoRA
updates on the attention projections (`peft=lora`), of decoder-only models (prompt and target
as one sequence) or of encoder-decoders such as the paper's T5 (prompt in, target out).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.errors import UsageError
from bench.method import TrainOptions
from bench.registry import METHODS
from bench.typed import option
from methods.lora import LoraOptions, with_lora

PAPER = "Magister et al. 2022, Teaching Small Language Models to Reason"


@dataclass(frozen=True)
class ReasoningTrainOptions(TrainOptions):
    # SmolLM2-135M, 500 GSM8K CoT examples, batch 8: 1e-4 full fine-tuning; LoRA wants ~1e-3.
    lr: float = 1e-4
    peft: Literal["full", "lora"] = option("full", "full: every weight trains; lora: LoRA updates only")
    r: int = option(16, "LoRA rank (peft=lora)", at_least=1)
    alpha: float = option(32.0, "LoRA scaling alpha / r (peft=lora)", above=0)
    lora_dropout: float = option(0.05, "dropout on the LoRA input (peft=lora)", at_least=0, below=1)
    targets: str = option("qkvo", "LoRA targets (peft=lora): a preset (q, qv, qkvo) or '+'-joined names")


@dataclass(frozen=True)
class CotDistillOptions(ReasoningTrainOptions):
    teacher: str = option("references", "references (the task's human rationales) or a model that writes them")
    shots: int = option(8, "solved examples in the teacher's prompt (teacher=MODEL)", at_least=1)
    prompt_seed: int = option(0, "seed that draws the teacher's exemplars (teacher=MODEL)")
    max_new_tokens: int = option(256, "tokens the teacher may write per question (teacher=MODEL)", at_least=1)
    calculator: bool = option(True, "the teacher decodes with the calculator (teacher=MODEL)")

    def __post_init__(self):
        if self.teacher != "references":  # a model the plan can name now: typos fail before any cell runs
            from bench.modeling.load import resolve

            try:
                resolve(self.teacher)
            except UsageError as error:
                raise UsageError(f"cot-distill: teacher={self.teacher!r} is neither 'references' nor a model: "
                                 f"{error}") from None


@dataclass(frozen=True)
class FewShotOptions:
    shots: int = option(8, "solved training examples before each question", at_least=1)
    seed: int = option(0, "seed that draws the exemplars (the same for every question)")


def _reasoning_task(ctx, method: str):
    if not hasattr(ctx.task, "exemplars"):
        raise UsageError(f"{method} serves reasoning tasks with rationales (gsm8k), not {ctx.task.name}")
    return ctx.task


def _fine_tune(model, options: ReasoningTrainOptions, ctx, targets: list[str | None], section: dict):
    """Train on (prompt, target) pairs of the training examples whose target is not None."""
    from bench.data import encode_prompted, is_decoder_only, truncated_targets

    if not ctx.cell.arch_only:
        pairs = [(ctx.task.prompt(e), t) for e, t in zip(ctx.train_examples, targets, strict=True) if t is not None]
        if not pairs:
            raise UsageError("no training example is left: the teacher answered none of them correctly")
        prompts, texts = zip(*pairs, strict=True)
        ctx.train_features = encode_prompted(ctx.tokenizer, prompts, texts, ctx.cell.budget.max_seq_len,
                                             is_decoder_only(model))
        section.update(examples=len(pairs), truncated_targets=truncated_targets(ctx.train_features, ctx.tokenizer),
                       mean_target_tokens=sum(sum(t != -100 for t in f["labels"]) for f in ctx.train_features)
                       / len(ctx.train_features))
    section["peft"] = options.peft
    if options.peft == "lora":
        lora = LoraOptions(lr=options.lr, r=options.r, alpha=options.alpha, dropout=options.lora_dropout,
                           targets=options.targets)
        model = with_lora(model, lora, ctx.task)
    else:
        for parameter in model.parameters():
            parameter.requires_grad_(True)
    return ctx.train(model, options)


@METHODS.register("answer-only", options=ReasoningTrainOptions, family="baseline", stage="train", paper=PAPER,
                  label="Answer-only", order=2)
def answer_only(model, options: ReasoningTrainOptions, ctx):
    task = _reasoning_task(ctx, "answer-only")
    section = ctx.records.setdefault("answer_only", {"target": "#### N (the final answer only)"})
    targets = [task.target(e, answer_only=True) for e in ctx.train_examples or []]
    return _fine_tune(model, options, ctx, targets, section)


@METHODS.register("cot-distill", options=CotDistillOptions, family="distillation", stage="train", paper=PAPER,
                  label="CoT-finetuned", order=180)
def cot_distill(model, options: CotDistillOptions, ctx):
    task = _reasoning_task(ctx, "cot-distill")
    section = ctx.records.setdefault("cot_distill", {"teacher": options.teacher})
    examples = ctx.train_examples or []
    if options.teacher == "references" or ctx.cell.arch_only:
        section["rationales"] = "the task's human reference rationales (a stand-in for a teacher LLM)"
        targets = [task.target(e) for e in examples]
    else:
        from bench.distill.rationales import TeacherSettings, teacher_rationales

        settings = TeacherSettings(options.teacher, options.shots, options.prompt_seed, options.max_new_tokens,
                                   options.calculator)
        rationales, cost = teacher_rationales(settings, task, examples, ctx)
        section.update(rationales=f"{options.teacher}, {options.shots}-shot CoT, filtered to correct answers",
                       kd_cost=cost)
        targets = [None if r is None else " " + r for r in rationales]
    return _fine_tune(model, options, ctx, targets, section)


@METHODS.register("few-shot-cot", options=FewShotOptions, family="baseline", stage="train", paper=PAPER,
                  label="Few-shot CoT", order=1)
def few_shot_cot(model, options: FewShotOptions, ctx):
    """No training: the chain's model is asked after `shots` solved examples (the teacher rows)."""
    from bench.generation.reasoning import PromptSettings

    _reasoning_task(ctx, "few-shot-cot")
    ctx.prompt = PromptSettings(options.shots, options.seed)
    ctx.records["few_shot_cot"] = {"shots": options.shots, "seed": options.seed, "trained": False}
    return model
