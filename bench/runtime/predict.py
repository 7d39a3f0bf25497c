"""Evaluation through a predictor: a callable from a padded batch to logits.

A PyTorch module and an ONNX Runtime session both become predictors, so every variant of
a model is scored by the same task code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


def torch_predictor(model) -> Callable:
    import torch

    def predict(batch: dict):
        with torch.inference_mode():
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            return model(**inputs).logits.float().cpu().numpy()

    return predict


def predict(predictor: Callable, tokenizer, features: Sequence[dict], task_kind: str, batch_size: int, device: str) -> list:
    """Predictions in input order: class ids for classification, floats for regression."""
    import numpy as np

    from bench.data import collate, sorted_batches

    lengths = [len(f["input_ids"]) for f in features]
    predictions: list = [None] * len(features)
    for indices in sorted_batches(lengths, batch_size):
        batch = collate(tokenizer, [features[i] for i in indices], device)
        logits = np.asarray(predictor(batch))
        values = logits[:, 0].tolist() if task_kind == "regression" else logits.argmax(-1).tolist()
        for i, value in zip(indices, values, strict=False):
            predictions[i] = value
    return predictions
