"""What this CPU can run natively, so tests of hardware-dependent stages check the refusal on
machines without the kernels instead of assuming the machine they were written on."""

from __future__ import annotations

import contextlib

import pytest

from bench.errors import UsageError

# Stage -> oneDNN's own report of native matmul kernels for its dtype (what the stage asks).
NATIVE_KERNELS = {
    "bf16": "_is_mkldnn_bf16_supported",
    "fp16": "_is_mkldnn_fp16_supported",
}


def cpu_lacks_kernels_for(stage: str) -> bool:
    import torch

    probe = NATIVE_KERNELS.get(stage.split("(")[0])
    return probe is not None and not getattr(torch.ops.mkldnn, probe)()


@contextlib.contextmanager
def refused_where_not_native(stage: str):
    """Yields True when the stage should run here; on a CPU without its kernels, checks that
    the body raises the stage's clear UsageError (and yields False)."""
    if cpu_lacks_kernels_for(stage):
        with pytest.raises(UsageError, match="no native CPU matmul kernels"):
            yield False
    else:
        yield True
