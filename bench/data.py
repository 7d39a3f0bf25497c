"""Tokenisation, length-grouped batching and dynamic padding, shared by training and evaluation."""

from __future__ import annotations

import random
from collections.abc import Sequence

from bench.task import Example

IGNORE_INDEX = -100  # label positions the cross-entropy of every transformers model skips


def encode(tokenizer, examples: Sequence[Example], max_len: int, with_labels: bool = True) -> list[dict]:
    """One feature dict per example, truncated to max_len and not padded (padding is per batch)."""
    texts_a = [e.text_a for e in examples]
    texts_b = [e.text_b for e in examples] if examples and examples[0].text_b is not None else None
    # Text labels (a translation) are token ids of the target side; class ids and scores stay.
    targets = [e.label for e in examples] if with_labels and examples and isinstance(examples[0].label, str) else None
    encoded = tokenizer(texts_a, texts_b, text_target=targets, truncation=True, max_length=max_len)
    features = []
    for i, example in enumerate(examples):
        feature = {name: values[i] for name, values in encoded.items()}
        if with_labels and example.label is not None and targets is None:
            feature["labels"] = example.label
        features.append(feature)
    return features


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, group: int = 50) -> list[list[int]]:
    """Shuffled batches of similar length: less padding, still random order.

    Indices are shuffled, cut into mega-batches of `group` batches, each sorted by length,
    then the batches are shuffled (the scheme of the transformers LengthGroupedSampler).
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    mega = batch_size * group
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches in length order for evaluation (results are put back in input order)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(tokenizer, features: Sequence[dict], device: str = "cpu") -> dict:
    """Pad a batch to its longest member and move it to the device."""
    import torch

    labels = [f["labels"] for f in features] if "labels" in features[0] else None
    inputs = [{k: v for k, v in f.items() if k != "labels"} for f in features]
    batch = tokenizer.pad(inputs, return_tensors="pt")
    if labels is not None and isinstance(labels[0], list):  # target token ids: -100 is ignored by the loss
        longest = max(map(len, labels))
        batch["labels"] = torch.tensor([ids + [IGNORE_INDEX] * (longest - len(ids)) for ids in labels])
    elif labels is not None:
        dtype = torch.float32 if isinstance(labels[0], float) else torch.long
        batch["labels"] = torch.tensor(labels, dtype=dtype)
    return {k: v.to(device) for k, v in batch.items()}


def is_decoder_only(model) -> bool:
    """A generator that is a causal LM (Llama, GPT): it reads prompt and target as one sequence.
    (Asked of generators only; the LSTM encoder-decoder implements decoding itself.)"""
    config = getattr(model, "config", None)
    return config is not None and not getattr(config, "is_encoder_decoder", False) and not hasattr(model, "prefill")


def encode_causal(tokenizer, prompts: Sequence[str], targets: Sequence[str], max_len: int) -> list[dict]:
    """Prompt followed by target and EOS as one sequence; the loss covers the target and EOS only
    (the prompt's labels are IGNORE_INDEX), as supervised fine-tuning of decoders does.

    Tokenised apart and joined, so the prompt's tokens are those it has when asked at inference.
    Sequences beyond max_len lose the end of their target (the count goes in the record via
    `truncated_targets`).
    """
    prompt_ids = tokenizer(list(prompts), add_special_tokens=True)["input_ids"]
    target_ids = tokenizer(list(targets), add_special_tokens=False)["input_ids"]
    features = []
    for prompt, target in zip(prompt_ids, target_ids, strict=True):
        ids = (prompt + target + [tokenizer.eos_token_id])[:max_len]
        labels = ([IGNORE_INDEX] * len(prompt) + target + [tokenizer.eos_token_id])[:max_len]
        features.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return features


def encode_prompted(tokenizer, prompts: Sequence[str], targets: Sequence[str], max_len: int,
                    decoder_only: bool) -> list[dict]:
    """(prompt, target) pairs as training features: one sequence for a causal LM, the prompt as
    source and the target as labels for an encoder-decoder (T5), each truncated to max_len."""
    if decoder_only:
        return encode_causal(tokenizer, prompts, targets, max_len)
    encoded = tokenizer(list(prompts), text_target=list(targets), truncation=True, max_length=max_len)
    return [{name: values[i] for name, values in encoded.items()} for i in range(len(prompts))]


def truncated_targets(features: Sequence[dict], tokenizer) -> int:
    """How many features lost the end of their target to max_len (no EOS left)."""
    return sum(f["labels"][-1] != tokenizer.eos_token_id for f in features)
