"""The tutorial's affine quantisation mapping, as small tested functions (numpy).

A real range [alpha, beta] maps onto an integer range [alpha_q, beta_q] by
    s = (beta - alpha) / (beta_q - alpha_q)
    z = round((beta * alpha_q - alpha * beta_q) / (beta - alpha))
    w_q = clip(round(w / s + z), alpha_q, beta_q),   w ~ s * (w_q - z).
Inside the range the round trip is off by at most s/2; outside it values clip.
Framework quantisers (torch.ao, ONNX Runtime) do the same thing with fused kernels;
this module is the reference that makes their numbers explainable.

`axis=None` quantises per tensor; `axis=k` gives one (s, z) per slice along axis k
(per channel, e.g. per output row of a Linear weight with axis=0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def integer_range(bits: int = 8, signed: bool = True) -> tuple[int, int]:
    """(alpha_q, beta_q) of a `bits`-wide integer: int8 (-128, 127), uint8 (0, 255)."""
    if bits < 2:
        raise ValueError(f"bits must be at least 2, got {bits}")
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)


INT8 = integer_range(8, signed=True)
UINT8 = integer_range(8, signed=False)


def affine_params(alpha, beta, alpha_q: int, beta_q: int):
    """Scale and zero point of the mapping [alpha, beta] -> [alpha_q, beta_q] (element-wise).

    A degenerate range (alpha == beta) has no width to divide by; it is widened to include
    0, which keeps a constant tensor exact, and an all-zero range gets s = 1 with 0 -> 0.
    The zero point may lie outside [alpha_q, beta_q] when 0 is outside [alpha, beta].
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    if np.any(alpha > beta):
        raise ValueError("affine range needs alpha <= beta")
    degenerate = alpha == beta
    alpha = np.where(degenerate, np.minimum(alpha, 0.0), alpha)
    beta = np.where(degenerate, np.maximum(beta, 0.0), beta)
    empty = alpha == beta  # still no width: the range was [0, 0]
    width = np.where(empty, 1.0, beta - alpha)
    scale = np.where(empty, 1.0, width / (beta_q - alpha_q))
    zero = np.round((beta * alpha_q - alpha * beta_q) / width)
    zero = np.where(empty, np.clip(0, alpha_q, beta_q), zero).astype(np.int64)
    return (scale.item(), int(zero)) if scale.ndim == 0 else (scale, zero)


def _storage_dtype(alpha_q: int, beta_q: int):
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32):
        info = np.iinfo(dtype)
        if info.min <= alpha_q and beta_q <= info.max:
            return dtype
    return np.int64


def quantize(w, scale, zero_point, alpha_q: int, beta_q: int) -> np.ndarray:
    """w_q = clip(round(w / s + z), alpha_q, beta_q), stored in the narrowest integer dtype."""
    q = np.round(np.asarray(w, dtype=np.float64) / scale + zero_point)
    return np.clip(q, alpha_q, beta_q).astype(_storage_dtype(alpha_q, beta_q))


def dequantize(q, scale, zero_point) -> np.ndarray:
    """s * (w_q - z), in float64 (z may not fit the storage dtype, so subtract in float)."""
    return scale * (np.asarray(q, dtype=np.float64) - zero_point)


def tensor_range(w, symmetric: bool = False, axis: int | None = None):
    """(alpha, beta): min/max (asymmetric) or -max|w|, +max|w| (symmetric), per tensor or per axis.

    Per-axis results keep the reduced dimensions (size 1), so they broadcast against `w`.
    """
    w = np.asarray(w, dtype=np.float64)
    reduce = None if axis is None else tuple(d for d in range(w.ndim) if d != axis % w.ndim)
    keep = axis is not None
    if symmetric:
        bound = np.abs(w).max(axis=reduce, keepdims=keep)
        return -bound, bound
    return w.min(axis=reduce, keepdims=keep), w.max(axis=reduce, keepdims=keep)


@dataclass(frozen=True)
class AffineQuantized:
    """Integer values with the parameters that map them back to reals."""

    values: np.ndarray
    scale: float | np.ndarray
    zero_point: int | np.ndarray
    alpha_q: int
    beta_q: int

    def dequantize(self) -> np.ndarray:
        return dequantize(self.values, self.scale, self.zero_point)


def quantize_tensor(w, bits: int = 8, signed: bool = True, symmetric: bool = False,
                    axis: int | None = None) -> AffineQuantized:
    """Quantise `w` with the affine mapping of its own range.

    Symmetric ranges onto a signed type use z = 0 (the formula gives round(-1/2) there
    anyway); onto an unsigned type the formula's mid-range zero point is kept.
    """
    alpha_q, beta_q = integer_range(bits, signed)
    alpha, beta = tensor_range(w, symmetric=symmetric, axis=axis)
    scale, zero = affine_params(alpha, beta, alpha_q, beta_q)
    if symmetric and signed:
        zero = 0 if np.ndim(zero) == 0 else np.zeros_like(zero)
    return AffineQuantized(quantize(w, scale, zero, alpha_q, beta_q), scale, zero, alpha_q, beta_q)


def round_trip_stats(w, bits: int = 8, signed: bool = True, symmetric: bool = True, axis: int | None = None) -> dict:
    """What quantising `w` with the mapping of its own range costs, as plain numbers for a record.

    The scale is summarised over channels (min, median, max; one value per tensor when
    axis=None), the zero point given once when every channel shares it, and the round-trip
    error |w - dequantize(quantize(w))| as its max and mean over max |w|: at most s/2 inside
    the range, so about 1/255 of the largest weight for symmetric int8 per tensor.
    """
    quantized = quantize_tensor(w, bits=bits, signed=signed, symmetric=symmetric, axis=axis)
    w = np.asarray(w, dtype=np.float64)
    error = np.abs(w - quantized.dequantize())
    peak = float(np.abs(w).max()) if w.size else 0.0
    scale, zero = np.ravel(quantized.scale), np.ravel(quantized.zero_point)
    return {
        "scale": {"min": float(scale.min()), "median": float(np.median(scale)), "max": float(scale.max())},
        "zero_point": int(zero[0]) if np.all(zero == zero[0]) else {"min": int(zero.min()), "max": int(zero.max())},
        "rel_err_max": float(error.max()) / peak if peak else 0.0,
        "rel_err_mean": float(error.mean()) / peak if peak else 0.0,
    }
