"""Thread settings, set once and recorded with every latency (PROTOCOL: Latency).

Latency depends on thread counts more than on most methods under test, so a
table's cells must share them and each record says what they were.
"""

from __future__ import annotations

import os

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def set_threads(n: int | None) -> None:
    """Use `n` intra-op threads in torch; None leaves the defaults alone.

    The environment variables are set only when the user has not set them, so
    an explicit launch setting wins; they reach libraries initialised later
    and child processes (torch's own pool is set directly).
    """
    if n is None:
        return
    if n < 1:
        raise ValueError(f"thread count must be >= 1, got {n}")
    import torch

    torch.set_num_threads(int(n))
    for var in THREAD_ENV_VARS:
        os.environ.setdefault(var, str(int(n)))


def thread_settings() -> dict:
    """The thread settings in force; ONNX Runtime's is filled in by its caller."""
    import torch

    settings = {
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
    }
    settings.update({var: os.environ.get(var) for var in THREAD_ENV_VARS})
    settings["onnxruntime_intra_op"] = None
    return settings
