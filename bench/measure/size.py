"""Bytes on disk of a deployable artifact (PROTOCOL: Parameters and size).

Size is measured from a real file, not computed from dtypes, so that format
overhead and packing show up as they would for a user.
"""

from __future__ import annotations

import os
from pathlib import Path

SAFETENSORS_NAME = "model.safetensors"
TORCH_NAME = "state_dict.pt"


def path_bytes(path) -> int:
    """Size of a file, or the sum of the files under a directory."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        raise FileNotFoundError(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _safetensors_can_hold(state_dict) -> bool:
    # safetensors stores plain dense tensors only; packed quantised params (tuples, dtypes,
    # quantised tensors) and tensor subclasses (torchao's int8 weights) need pickle.
    import torch

    return all(
        type(value) in (torch.Tensor, torch.nn.Parameter) and not value.is_quantized and value.layout == torch.strided
        for value in state_dict.values()
    )


def saved_size(model, directory) -> int:
    """Save `model`'s state dict into `directory` and return the file's bytes.

    safetensors when possible (tied weights stored once), else torch.save.
    """
    import torch

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state_dict = model.state_dict()
    if _safetensors_can_hold(state_dict):
        from safetensors.torch import save_model

        target = directory / SAFETENSORS_NAME
        # save_model drops duplicate names of shared tensors; force_contiguous
        # copies views (e.g. transposed weights) that save_file would reject.
        save_model(model, str(target), force_contiguous=True)
    else:
        target = directory / TORCH_NAME
        torch.save(state_dict, target)
    return path_bytes(target)
