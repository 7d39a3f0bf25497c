"""The affine mapping reproduces hand-computed s and z and round-trips within s/2 (issue 5)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.quant.affine import (
    INT8,
    UINT8,
    affine_params,
    dequantize,
    integer_range,
    quantize,
    quantize_tensor,
    tensor_range,
)


def test_integer_ranges():
    assert INT8 == (-128, 127) and UINT8 == (0, 255)
    assert integer_range(4, signed=True) == (-8, 7)
    assert integer_range(4, signed=False) == (0, 15)
    assert integer_range(16) == (-32768, 32767)
    with pytest.raises(ValueError):
        integer_range(1)


def test_worked_example_symmetric_range_to_int8():
    # s = (1 - (-1)) / (127 - (-128)) = 2/255; z = round((1*(-128) - (-1)*127) / 2) = round(-0.5) = 0
    scale, zero = affine_params(-1.0, 1.0, *INT8)
    assert scale == pytest.approx(2 / 255)
    assert zero == 0
    q = quantize([-1.0, 0.0, 0.5, 1.0], scale, zero, *INT8)
    assert q.dtype == np.int8
    # -1/s = -127.5 -> -128 (half to even); 0.5/s = 63.75 -> 64; 1/s = 127.5 -> 128 -> clipped to 127
    assert q.tolist() == [-128, 0, 64, 127]
    assert dequantize(q, scale, zero) == pytest.approx([-256 / 255, 0.0, 128 / 255, 254 / 255])


def test_worked_example_relu6_range_to_uint8():
    # s = 6/255; z = round((6*0 - 0*255) / 6) = 0: the range starts at 0, so 0 maps to 0.
    scale, zero = affine_params(0.0, 6.0, *UINT8)
    assert scale == pytest.approx(6 / 255) and zero == 0
    q = quantize([0.0, 3.0, 6.0], scale, zero, *UINT8)
    assert q.dtype == np.uint8 and q.tolist() == [0, 128, 255]  # 3/s = 127.5 -> 128


def test_worked_example_asymmetric_range_to_uint8():
    # alpha=-1, beta=3: s = 4/255; z = round((3*0 - (-1)*255) / 4) = round(63.75) = 64
    scale, zero = affine_params(-1.0, 3.0, *UINT8)
    assert scale == pytest.approx(4 / 255) and zero == 64
    q = quantize([0.0, -1.0, 3.0], scale, zero, *UINT8)
    assert q.tolist() == [64, 0, 255]  # zero is exact: it maps to z
    assert dequantize(q, scale, zero)[0] == 0.0


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("bits", [8, 4])
def test_round_trip_within_half_a_step_per_tensor(bits, signed, symmetric):
    rng = np.random.default_rng(bits + 2 * signed + 4 * symmetric)
    w = rng.normal(0.3, 2.0, size=(64, 48))
    quantized = quantize_tensor(w, bits=bits, signed=signed, symmetric=symmetric)
    error = np.abs(quantized.dequantize() - w)
    assert np.ndim(quantized.scale) == 0
    assert error.max() <= quantized.scale / 2 * (1 + 1e-9)
    assert quantized.values.min() >= quantized.alpha_q and quantized.values.max() <= quantized.beta_q


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("symmetric", [True, False])
def test_round_trip_within_half_a_step_per_channel(axis, symmetric):
    rng = np.random.default_rng(7)
    # Channels of very different magnitude: per-channel scales must follow them.
    w = rng.normal(size=(16, 24)) * np.logspace(-3, 1, 24)[None, :] + 0.5
    quantized = quantize_tensor(w, symmetric=symmetric, axis=axis)
    channels = w.shape[axis]
    assert np.size(quantized.scale) == channels and np.size(quantized.zero_point) == channels
    error = np.abs(quantized.dequantize() - w)
    assert np.all(error <= np.broadcast_to(quantized.scale, w.shape) / 2 * (1 + 1e-9))
    if axis != 0:
        # Per channel along the small columns beats one scale for the whole tensor.
        per_tensor = quantize_tensor(w, symmetric=symmetric)
        assert error[:, 0].max() < np.abs(per_tensor.dequantize() - w)[:, 0].max()


def test_per_channel_symmetric_signed_has_zero_zero_points():
    w = np.array([[1.0, -2.0], [0.5, 0.25]])
    quantized = quantize_tensor(w, symmetric=True, axis=0)
    assert np.all(quantized.zero_point == 0)
    lo, hi = tensor_range(w, symmetric=True, axis=0)
    assert hi.ravel().tolist() == [2.0, 0.5] and lo.ravel().tolist() == [-2.0, -0.5]
    assert np.asarray(quantized.scale).ravel() == pytest.approx([4 / 255, 1 / 255])


def test_values_outside_the_range_clip():
    scale, zero = affine_params(-1.0, 1.0, *INT8)
    q = quantize([-5.0, 5.0, 1e9], scale, zero, *INT8)
    assert q.tolist() == [-128, 127, 127]
    scale, zero = affine_params(0.0, 6.0, *UINT8)
    assert quantize([-1.0, 7.0], scale, zero, *UINT8).tolist() == [0, 255]


@pytest.mark.parametrize("value", [0.0, 2.5, -3.0])
@pytest.mark.parametrize("target", [INT8, UINT8])
def test_degenerate_range_has_no_division_by_zero(value, target):
    with np.errstate(all="raise"):  # any 0/0 or x/0 would raise here
        scale, zero = affine_params(value, value, *target)
        assert np.isfinite(scale) and scale > 0
        w = np.full((3, 2), value)
        q = quantize(w, scale, zero, *target)
        # A constant tensor comes back exactly (the range was widened to include 0).
        assert dequantize(q, scale, zero) == pytest.approx(w, abs=1e-12)
        quantized = quantize_tensor(w, signed=target == INT8, axis=1)
        assert quantized.dequantize() == pytest.approx(w, abs=1e-12)


def test_degenerate_channels_mixed_with_normal_ones():
    w = np.array([[0.0, 1.0], [0.0, -1.0], [0.0, 0.5]])  # column 0 is all zero
    quantized = quantize_tensor(w, axis=1)
    assert np.all(np.isfinite(quantized.scale))
    assert quantized.dequantize()[:, 0].tolist() == [0.0, 0.0, 0.0]
    assert np.abs(quantized.dequantize() - w).max() <= np.max(quantized.scale) / 2 * (1 + 1e-9)


def test_inverted_range_is_rejected():
    with pytest.raises(ValueError):
        affine_params(1.0, -1.0, *INT8)
