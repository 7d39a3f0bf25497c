"""A teacher's chain-of-thought rationales for CoT distillation (Magister et al. 2022), computed
once per (teacher, questions, prompt, decoding) and cached on disk.

The teacher answers every training question after k solved examples; only rationales whose
final answer (`#### N`, strict extraction) equals the reference are kept, the paper's filter.
The entry stores every output, kept or not, so the filter can be audited, and the cost of
computing it; a later cell with the same teacher and questions reads it and runs no teacher.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

RATIONALES = "rationales.json"
BATCH_SIZE = 16  # questions per teacher batch: k-shot prompts are long


@dataclass(frozen=True)
class TeacherSettings:
    model: str
    shots: int
    seed: int
    max_new_tokens: int
    calculator: bool


def entry_dir(settings: TeacherSettings, questions: list[str]) -> Path:
    from bench.storage.cache import cache_root
    from bench.storage.fingerprint import model_inputs

    digest = hashlib.sha256()
    digest.update(json.dumps([settings.__dict__, model_inputs(settings.model, "teacher")], sort_keys=True).encode())
    for question in questions:
        digest.update(json.dumps(question).encode())
    return cache_root() / f"rationales-{digest.hexdigest()}"


def teacher_rationales(settings: TeacherSettings, task, examples, ctx) -> tuple[list[str | None], dict]:
    """Per training example, the teacher's rationale when its answer is right (else None), and
    the KD cost section of the record."""
    from bench.storage.cache import open_entry, store_entry

    directory = entry_dir(settings, [e.text_a for e in examples])
    entry = open_entry(directory)  # a corrupt entry is deleted and computed again
    if entry is not None:
        stored = json.loads((entry / RATIONALES).read_text())
    else:
        stored = _generate(settings, task, examples, ctx)
        store_entry(directory, lambda folder: (folder / RATIONALES).write_text(json.dumps(stored)))
    kept = [output if correct else None for output, correct in zip(stored["outputs"], stored["correct"], strict=True)]
    cost = {"teacher": settings.__dict__, "questions": len(examples), "kept": sum(r is not None for r in kept),
            "filter": "strict final answer (#### N) equals the reference", "from_cache": entry is not None,
            "cache_entry": directory.name, "generate_s_when_computed": stored["seconds"],
            "generate_s": 0.0 if entry is not None else stored["seconds"],
            "generated_tokens": stored["generated_tokens"], "device_when_computed": stored["device"],
            "exemplar_questions_not_asked": stored["exemplar_questions_not_asked"]}
    return kept, cost


def _generate(settings: TeacherSettings, task, examples, ctx) -> dict:
    from dataclasses import replace

    from bench.generation.answers import is_correct, reference_answer, strict_answer
    from bench.generation.calculator import calculator_hook, combine_hooks
    from bench.generation.decoding import stop_at
    from bench.generation.reasoning import REASONER, STOP_STRINGS, PromptSettings, exemplars, generate, prompts
    from bench.generation.seq2seq import adapter_for
    from bench.modeling.load import load_model, load_tokenizer, resolve

    source = resolve(settings.model)
    tokenizer = load_tokenizer(source)
    model = load_model(source, task).to(ctx.device)
    prompt = PromptSettings(settings.shots, settings.seed)
    # One set of exemplars for every question, drawn from the whole training split; the
    # exemplars' own questions are not asked (their answer is in the prompt).
    shots = {e.text_a for e in exemplars(task, examples, prompt, ctx.data_dir, exclude_asked=False)}
    asked = [i for i, e in enumerate(examples) if e.text_a not in shots]
    texts = prompts(task, [examples[i] for i in asked], prompt, ctx.data_dir, exclude_asked=False)
    decoding = replace(REASONER.settings, max_new_tokens=settings.max_new_tokens)

    def hooks():
        stop = stop_at(tokenizer, STOP_STRINGS)
        return combine_hooks(stop, calculator_hook(tokenizer)) if settings.calculator else stop

    started = time.perf_counter()
    answered = generate(adapter_for(model), tokenizer, texts, decoding, BATCH_SIZE, ctx.device, hook_for=hooks)
    seconds = time.perf_counter() - started
    outputs: list = [None] * len(examples)
    for i, text in zip(asked, answered, strict=True):
        outputs[i] = text
    correct = [o is not None and is_correct(strict_answer(o), reference_answer(e.label))
               for o, e in zip(outputs, examples, strict=True)]
    tokens = sum(len(tokenizer(o, add_special_tokens=False)["input_ids"]) for o in answered)
    return {"outputs": outputs, "correct": correct, "seconds": seconds, "generated_tokens": tokens,
            "device": str(ctx.device), "exemplar_questions_not_asked": len(examples) - len(asked)}
