"""Resolve model names and load models with the head a task needs, safely and offline-first."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from bench.errors import UsageError, abridge, unknown_name
from bench.modeling.source import ModelSource
from bench.registry import MODELS


def resolve(name: str) -> ModelSource:
    """A registered alias, a local model directory, or a hub id of the form 'org/name'."""
    if name in MODELS:
        return MODELS.get(name).obj
    path = Path(name).expanduser()
    if path.is_dir():
        check_model_directory(path)
        return ModelSource(name=name, local_path=str(path.resolve()))
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return ModelSource(name=name, hub_id=name)
    raise unknown_name("model", name, MODELS.names())


def check_model_directory(path: Path) -> None:
    """A model directory holds a config.json or a GGUF file; anything else fails before any run."""
    if not (path / "config.json").is_file() and not any(path.glob("*.gguf")):
        found = sorted(p.name for p in path.iterdir())[:8]
        raise UsageError(f"model directory {str(path)!r} has no config.json (nor a .gguf file); it holds "
                         f"{', '.join(found) or 'nothing'}. Save a model there with save_pretrained().")


def _head_class(task_kind: str, arch: str):
    import transformers

    if task_kind == "generation":
        return transformers.AutoModelForSeq2SeqLM if arch == "encoder-decoder" else transformers.AutoModelForCausalLM
    return transformers.AutoModelForSequenceClassification


def _head_kwargs(task) -> dict:
    if task is None or task.kind == "generation":
        return {}
    problem = "regression" if task.kind == "regression" else "single_label_classification"
    return dict(num_labels=task.num_labels, problem_type=problem)


def _gguf_name(directory: str, pattern: str) -> str:
    matches = sorted(glob.glob(os.path.join(directory, pattern)))
    if not matches:
        raise UsageError(f"no GGUF file matching {pattern!r} in {directory}")
    return os.path.basename(matches[0])


REMOTE_CODE_REFUSED = ("asks to run Python code shipped with the model (auto_map or an unknown model_type); "
                       "this harness never runs a model's own code: use a model of an architecture transformers ships")


def _refuse_remote_code(location: str, error: Exception) -> UsageError:
    """The loader's error in our words: transformers' own message advises enabling remote code."""
    if "trust_remote_code" in str(error) or "custom code" in str(error):
        return UsageError(f"model at {location!r} {REMOTE_CODE_REFUSED}")
    return UsageError(f"cannot load model from {location!r} ({abridge(str(error))}). Offline machines need a "
                      "local model directory or an installed model package (see `bench list models`).")


def from_pretrained(loader, location: str, **kwargs):
    """`loader.from_pretrained` with remote code off; refusals and unreadable files become UsageErrors.

    Every path that loads a config, tokenizer or model from a directory or hub id goes through
    here, so no directory with an `auto_map` can run its Python files.
    """
    try:
        return loader.from_pretrained(location, trust_remote_code=False, **kwargs)
    except (OSError, ValueError) as error:
        raise _refuse_remote_code(location, error) from None


def load_model(source: ModelSource, task=None, task_kind: str = "classification", tokenizer=None):
    """The model with the task's head; architecture-only sources get random init (seeded by caller).

    Models trained from scratch take their vocabulary and special ids from `tokenizer`, the
    subword vocabulary trained for the cell (see `load_tokenizer`)."""
    import torch
    import transformers

    kind = task.kind if task is not None else task_kind
    head = _head_class(kind, source.arch)
    if source.architecture_only:
        config = dict(source.config, **_head_kwargs(task), **_vocabulary(source, tokenizer))
        if source.config_type == "lstm-seq2seq":
            from bench.generation.lstm import LSTMSeq2Seq, LSTMSeq2SeqConfig

            return LSTMSeq2Seq(LSTMSeq2SeqConfig(**config))
        return head.from_config(transformers.AutoConfig.for_model(source.config_type, **config))
    location = source.location()
    # fp32 is the reference every variant is measured against, whatever dtype the file stores.
    kwargs = dict(dtype=torch.float32, **_head_kwargs(task))
    if source.gguf_file:
        kwargs["gguf_file"] = _gguf_name(location, source.gguf_file)
    if kind == "generation" and not source.gguf_file:
        # A directory or hub id says itself whether it is a seq2seq model (opus-mt) or a decoder.
        config = from_pretrained(transformers.AutoConfig, location)
        head = _head_class(kind, "encoder-decoder" if config.is_encoder_decoder else "decoder")
    model = from_pretrained(head, location, **kwargs)
    if getattr(model.config, "pad_token_id", None) is None and source.arch == "decoder":
        # Decoder classification heads pool the last non-pad token, so a pad id is required.
        model.config.pad_token_id = model.config.eos_token_id
    return model


def config_parameters(source: ModelSource) -> int:
    """Parameters of an architecture-only model (with its default head), counted without weights:
    built on the meta device, which allocates nothing, so even BERT-large takes milliseconds."""
    import torch

    kind = "classification" if source.arch == "encoder" else "generation"
    with torch.device("meta"):
        model = load_model(source, task_kind=kind)
    return sum(p.numel() for p in model.parameters())


def _vocabulary(source: ModelSource, tokenizer) -> dict:
    """Vocabulary size and special ids of a model trained from scratch on a subword vocabulary."""
    if not source.subword_vocab:
        return {}
    from bench.generation.subword import BOS, EOS, PAD, SPECIAL_TOKENS

    size = len(tokenizer) if tokenizer is not None else source.subword_vocab
    if tokenizer is not None:
        ids = {"pad_token_id": tokenizer.pad_token_id, "bos_token_id": tokenizer.bos_token_id,
               "eos_token_id": tokenizer.eos_token_id}
    else:  # an --arch-only cell has no text to learn a vocabulary from: the ids it would get
        ids = {f"{name}_token_id": SPECIAL_TOKENS.index(token) for name, token in
               (("pad", PAD), ("bos", BOS), ("eos", EOS))}
    if source.config_type == "lstm-seq2seq":
        return dict(vocab_size=size, **ids)
    # Marian starts decoding from the pad token and ends on EOS, as its released models do.
    return dict(vocab_size=size, decoder_vocab_size=size, decoder_start_token_id=ids["pad_token_id"],
                forced_eos_token_id=ids["eos_token_id"], **ids)


def load_tokenizer(source: ModelSource, training_text=None):
    """The tokenizer of the source, or of its `tokenizer_from` alias for architecture-only models,
    or a subword vocabulary trained on `training_text` for a model trained from scratch."""
    import transformers

    if source.subword_vocab:
        from bench.generation.subword import SubwordSettings, subword_tokenizer

        if training_text is None:
            raise UsageError(f"model {source.name!r} is trained from scratch with a vocabulary learned from the "
                             "task's training text; it has no tokenizer of its own")
        return subword_tokenizer(training_text, SubwordSettings(vocab_size=source.subword_vocab))
    if source.architecture_only:
        if not source.tokenizer_from:
            raise UsageError(f"architecture-only model {source.name!r} has no tokenizer; it serves --arch-only cells")
        return load_tokenizer(resolve(source.tokenizer_from))
    location = source.location()
    kwargs = {}
    if source.gguf_file:
        kwargs["gguf_file"] = _gguf_name(location, source.gguf_file)
    tokenizer = from_pretrained(transformers.AutoTokenizer, location, **kwargs)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer
