"""Named parts of a transformer classifier that PEFT methods select: the task head, the
encoder layers, bias terms. One place knows the module names of each architecture family."""

from __future__ import annotations

# Top-level modules of a task head in transformers' *ForSequenceClassification models.
# Every method trains the head, and the papers' trainable counts leave it out.
TASK_HEAD_NAMES = ("classifier", "score", "qa_outputs")


def is_task_head(parameter_name: str) -> bool:
    return any(part in TASK_HEAD_NAMES for part in parameter_name.split("."))


def encoder_layers(model) -> list:
    """The model's transformer blocks, bottom to top (BERT/RoBERTa encoders, Llama decoders)."""
    from bench.errors import UsageError

    base = getattr(model, "get_base_model", lambda: model)()
    for path in ("encoder.layer", "layers", "transformer.h"):
        owner = getattr(base, "base_model", base)
        for attribute in path.split("."):
            owner = getattr(owner, attribute, None)
        if owner is not None:
            return list(owner)
    raise UsageError(f"no transformer layers found in {type(base).__name__}: "
                     "expected encoder.layer (BERT), layers (Llama) or transformer.h (GPT-2)")


def train_only(model, wanted) -> int:
    """Freeze every parameter except those `wanted(name)` accepts and the task head.

    Returns how many parameters train; a selection that trains nothing outside the head
    is the caller's to reject (it would silently be head-only fine-tuning).
    """
    count = 0
    for name, parameter in model.named_parameters():
        trains = bool(wanted(name)) or is_task_head(name)
        parameter.requires_grad_(trains)
        count += parameter.numel() if trains and not is_task_head(name) else 0
    return count
