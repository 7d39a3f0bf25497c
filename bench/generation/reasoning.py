"""How the runner evaluates a reasoning task (GSM8K) with a generator (a causal LM, or an
encoder-decoder such as T5 that reads the prompt as its source): ask each
question in the task's prompt format (zero-shot, or after k solved examples), decode greedily
until EOS or a stop string, then decode again with the calculator, and score both texts.

Magister et al. 2022 report accuracy with and without an external calculator: whenever the
model writes `<<expr=`, the calculator writes `expr`'s value and `>>` for it. Decoding is
deterministic, so a row whose own text never opened such an annotation decodes to the same
text with the calculator; only the other rows are decoded again (the record counts them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.generation.decoding import DecodeSettings
from bench.generation.evaluator import GeneratorEvaluator, _module
from bench.typed import option

# A few-shot prompt's next exemplar begins with "Question:"; a blank line ends an answer.
STOP_STRINGS = ("Question:", "\n\n")
# GSM8K rationales are 100-200 tokens (SmolLM2's tokenizer): 256 new tokens end nearly all.
MAX_NEW_TOKENS = 256


@dataclass(frozen=True)
class PromptSettings:
    """The prompt format a chain is evaluated with; `few-shot-cot` sets it, else zero-shot."""

    shots: int = option(0, "solved training examples before each question (k-shot CoT)", at_least=0)
    seed: int = option(0, "seed that draws the exemplars (one prompt for every question)")

    def to_dict(self) -> dict:
        return asdict(self)


ZERO_SHOT = PromptSettings()


def prompts(task, examples, settings: PromptSettings, data_dir, exclude_asked: bool = True) -> list[str]:
    """Each example's prompt text, after the same `settings.shots` exemplars; evaluation draws them
    among training questions it does not ask (`exclude_asked`), a teacher labelling the training
    split from all of them (it skips the exemplars' own questions: see rationales.py)."""
    shots = exemplars(task, examples, settings, data_dir, exclude_asked)
    return [task.prompt(example, shots) for example in examples]


def exemplars(task, examples, settings: PromptSettings, data_dir, exclude_asked: bool = True) -> list:
    if not settings.shots:
        return []
    exclude = [e.text_a for e in examples] if exclude_asked else []
    return task.exemplars(settings.shots, settings.seed, data_dir, exclude=exclude)


def generate(model, tokenizer, texts: list[str], settings: DecodeSettings, batch_size: int, device: str,
             hook_for=None) -> list[str]:
    """Greedy continuations of `texts` (left-padded batches in length order), cut at the first
    stop string. `hook_for()` makes the step hook of a batch (stop strings, calculator)."""
    from bench.generation.decoding import decode, stop_at

    hook_for = hook_for or (lambda: stop_at(tokenizer, STOP_STRINGS))
    side = tokenizer.padding_side
    # Decoder-only prompts end where generation starts; an encoder's source is padded as in training.
    tokenizer.padding_side = "left" if getattr(model, "encoder", None) is None else "right"
    try:
        encoded = [tokenizer(text)["input_ids"] for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
        outputs: list = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            indices = order[start : start + batch_size]
            batch = tokenizer.pad([{"input_ids": encoded[i]} for i in indices], return_tensors="pt")
            best = decode(model, batch["input_ids"].to(device), batch["attention_mask"].to(device), settings,
                          hook=hook_for())
            for i, hypotheses in zip(indices, best, strict=True):
                outputs[i] = cut_at_stop(tokenizer.decode(list(hypotheses[0].tokens), skip_special_tokens=True))
    finally:
        tokenizer.padding_side = side
    return outputs


def cut_at_stop(text: str) -> str:
    """The text before the first stop string (decoding stops on the token that completes one)."""
    for stop in STOP_STRINGS:
        text = text.split(stop, 1)[0]
    return text.strip()


def opened_annotation(text: str) -> bool:
    """Whether the model wrote `<<...=` somewhere: the only rows the calculator could change."""
    start = text.find("<<")
    return start >= 0 and "=" in text[start:]


@dataclass(frozen=True)
class ReasoningEvaluator(GeneratorEvaluator):
    settings: DecodeSettings = DecodeSettings(beam=1, max_new_tokens=MAX_NEW_TOKENS)
    # GSM8K prompts are about 100 tokens; timed runs decode a CoT-like stretch.
    timed_source_tokens: int = 96
    timed_new_tokens: int = 64
    calculator: bool = True

    def predict(self, task, artifact, tokenizer, examples, cell, prompt: PromptSettings | None = None,
                data_dir: str | None = None) -> list:
        from bench.generation.calculator import calculator_hook, combine_hooks
        from bench.generation.decoding import stop_at
        from bench.generation.seq2seq import adapter_for
        from tasks.gsm8k import Generated

        model = adapter_for(_module(artifact))
        texts = prompts(task, examples, prompt or ZERO_SHOT, data_dir)
        run = dict(settings=self.settings, batch_size=cell.budget.eval_batch_size, device=cell.device)
        plain = generate(model, tokenizer, texts, **run)
        if not self.calculator:
            return [Generated(text) for text in plain]
        again = [i for i, text in enumerate(plain) if opened_annotation(text)]
        calculated = generate(model, tokenizer, [texts[i] for i in again], **run,
                              hook_for=lambda: combine_hooks(stop_at(tokenizer, STOP_STRINGS),
                                                             calculator_hook(tokenizer)))
        with_calculator = list(plain)
        for i, text in zip(again, calculated, strict=True):
            with_calculator[i] = text
        return [Generated(p, c) for p, c in zip(plain, with_calculator, strict=True)]

    def transcript(self, predictions) -> dict:
        """Every output, so scores can be re-checked and answers audited."""
        return {"text": [p.text for p in predictions],
                "with_calculator": [p.with_calculator for p in predictions],
                "changed_by_calculator": sum(p.with_calculator != p.text for p in predictions)}

    def describe(self, task) -> dict:
        return {"decoding": dict(self.settings.to_dict(), stop_strings=list(STOP_STRINGS)),
                "calculator": "Magister et al. 2022: after `<<expr=` the harness writes expr's value and `>>` "
                              "(numbers and + - * / ** ( ) only); rows that never open an annotation are not "
                              "decoded again" if self.calculator else None,
                "metric_signatures": task.metric_signatures()}


REASONER = ReasoningEvaluator()
