"""Attention maps for feature KD: only the eager attention kernel returns them.

The fused kernels (sdpa) are faster and are what a deployed model runs, so a model is
switched to eager only while its maps are needed and switched back afterwards: the
student's latency is measured on the kernel it would ship with.
"""

from __future__ import annotations

import contextlib


def attention_implementation(model) -> str | None:
    return getattr(model.config, "_attn_implementation", None)


def set_attention_implementation(model, name: str | None) -> None:
    if name is None:
        return
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(name)
    else:  # older transformers read the private config field at call time
        model.config._attn_implementation = name


@contextlib.contextmanager
def eager_attention(model, needed: bool = True):
    previous = attention_implementation(model)
    if needed and previous != "eager":
        set_attention_implementation(model, "eager")
    try:
        yield model
    finally:
        if needed and previous != "eager":
            set_attention_implementation(model, previous)
