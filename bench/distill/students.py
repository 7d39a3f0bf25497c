"""Students: the cell's model truncated to k layers, a BiLSTM, or another model (config or checkpoint).

A cell names its student with the `student` option of the KD methods and of
`student-only`: 'truncate:K', 'lstm', or a model alias/path ('tinybert4', a directory).
The cell's model is the teacher's architecture and the tokenizer every student shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.errors import UsageError, closest

FORMS = ("truncate:K", "lstm", "a model alias or path")


@dataclass(frozen=True)
class StudentSpec:
    kind: Literal["truncate", "lstm", "model"]
    layers: int | None = None  # truncate: how many encoder layers to keep
    model: str | None = None  # model: alias, path or hub id

    @property
    def transformer(self) -> bool:
        return self.kind != "lstm"


def parse_student(text: str) -> StudentSpec:
    """The student a cell asks for; bad text is a UsageError naming the valid forms."""
    text = text.strip()
    if text == "lstm":
        return StudentSpec("lstm")
    prefix, sep, value = text.partition(":")
    if sep and prefix == "truncate":
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"student {text!r}: truncate takes a positive layer count, e.g. truncate:2")
        return StudentSpec("truncate", layers=int(value))
    if sep and not prefix.startswith(("/", ".", "~")):
        hint = closest(prefix, ["truncate", "lstm"])
        raise UsageError(f"unknown student {text!r}." + (f" Did you mean '{hint}'?" if hint else "")
                         + f" Use {', '.join(FORMS)}.")
    from bench.modeling.load import resolve

    try:
        resolve(text)
    except UsageError as error:
        raise UsageError(f"unknown student {text!r}: use {', '.join(FORMS)}. {error}") from None
    return StudentSpec("model", model=text)


def kept_layers(total: int, keep: int) -> list[int]:
    """Evenly spaced layers from the bottom (6 -> 2 keeps [0, 3]), as DistilBERT keeps every other."""
    if keep > total:
        raise UsageError(f"student truncate:{keep}: the model has only {total} layers")
    return [i * total // keep for i in range(keep)]


def truncate(model, keep: int) -> list[int]:
    """Drop encoder layers in place, copying nothing but keeping the chosen layers' weights."""
    from torch import nn

    encoder = getattr(model.base_model, "encoder", None)
    if encoder is None or not hasattr(encoder, "layer"):
        raise UsageError(f"student truncate: no encoder layers to truncate in {type(model).__name__} "
                         "(BERT-style encoders only)")
    layers = kept_layers(len(encoder.layer), keep)
    encoder.layer = nn.ModuleList(encoder.layer[i] for i in layers)
    for new_index, layer in enumerate(encoder.layer):
        for module in layer.modules():  # only caches read layer_idx; keep them consistent anyway
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    model.config.num_hidden_layers = keep
    return layers


def build_student(model, spec: StudentSpec, ctx):
    """The student module, and what the record says about how it was made.

    `model` is the cell's model as loaded (pretrained weights, a fresh task head); a
    truncated student starts from it, not from the fine-tuned teacher, so the undistilled
    baseline learns nothing from the teacher.
    """
    if spec.kind == "truncate":
        return model, {"student": f"truncate:{spec.layers}", "kept_layers": truncate(model, spec.layers)}
    if spec.kind == "lstm":
        from bench.distill.lstm import lstm_student

        return lstm_student(model, ctx.task), {"student": "lstm", "embeddings_from": ctx.cell.model}
    from bench.modeling.load import load_model, resolve

    source = resolve(spec.model)
    if ctx.tokenizer is not None:  # arch-only cells have no tokenizer and feed no text
        check_same_tokenizer(source, ctx.tokenizer, role="student")
    student = load_model(source, ctx.task, tokenizer=ctx.tokenizer)
    return student, {"student": spec.model, "pretrained": not source.architecture_only}


def check_same_tokenizer(source, tokenizer, role: str) -> None:
    """KD here feeds one tokenisation to teacher and student: their vocabularies must agree."""
    from bench.modeling.load import load_tokenizer

    if source.subword_vocab:
        return  # trained from scratch on the cell's own subword vocabulary: the same one by construction
    if source.architecture_only and not source.tokenizer_from:
        vocab_size = source.config.get("vocab_size")
        if vocab_size != len(tokenizer):
            raise UsageError(f"{role} {source.name!r} has vocab size {vocab_size}, the cell's tokenizer {len(tokenizer)}")
        return
    if load_tokenizer(source).get_vocab() != tokenizer.get_vocab():
        raise UsageError(f"{role} {source.name!r} uses a different tokenizer from the cell's model; "
                         "KD here needs one tokenisation for teacher and student")
