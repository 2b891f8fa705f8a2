"""cogtensor.quant: int8 quantization on every kernel ISA, checked against a float32 numpy reference."""

import numpy as np
import pytest

from cogtensor.quant import dequantize_int8, quantize_int8


def reference(x, axis):
    """scale = max|x| / 127 and q = clip(rint(x / scale), -127, 127), all in float32; scale 0 -> q 0."""
    x = np.asarray(x, dtype=np.float32)
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    reduce_over = 1 if axis == 0 else 0
    if rows.shape[reduce_over]:
        scale = np.abs(rows).max(axis=reduce_over) / np.float32(127)
    else:
        scale = np.zeros(rows.shape[axis], np.float32)
    s = scale[:, None] if axis == 0 else scale[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.rint(rows / s), -127, 127)
    q = np.where(s == 0, 0, q).astype(np.int8)
    if x.ndim == 1:
        return q[0], (scale[0] if axis == 0 else scale)
    return q, scale


def check(x, axis):
    q, scale = quantize_int8(x, axis=axis)
    q_ref, scale_ref = reference(x, axis)
    assert q.dtype == np.int8 and q.shape == np.shape(x)
    assert scale.dtype == np.float32 and scale.shape == np.shape(scale_ref)
    np.testing.assert_array_equal(scale, scale_ref)
    np.testing.assert_array_equal(q, q_ref)
    return q, scale


def data(n, d, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * np.exp(rng.uniform(-8, 8, (n, 1))) * np.exp(rng.uniform(-4, 4, (1, d)))
    return x.astype(np.float32)


def assert_error_bound(x, q, scale, axis):
    s = np.asarray(scale, np.float64)
    s = s if np.ndim(x) == 1 or s.ndim == 0 else (s[:, None] if axis == 0 else s[None, :])
    err = np.abs(np.asarray(x, np.float64) - dequantize_int8(q, scale, axis=axis).astype(np.float64))
    assert (err <= s / 2 * (1 + 1e-4)).all()


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("d", [1, 7, 31, 33, 1024, 1031])
def test_matches_reference(isa, axis, d):
    for n in (1, 5):
        x = data(n, d, seed=d + n)
        q, scale = check(x, axis)
        assert_error_bound(x, q, scale, axis)


@pytest.mark.parametrize("axis", [0, 1])
def test_many_rows_over_threads(isa, threads, axis):
    x = data(300, 1031, seed=3)
    q, scale = check(x, axis)
    assert_error_bound(x, q, scale, axis)


@pytest.mark.parametrize("axis", [0, 1])
def test_zero_rows_and_columns(isa, axis):
    x = data(6, 40, seed=1)
    x[2] = 0
    x[:, 33] = 0
    q, scale = check(x, axis)
    zero = 2 if axis == 0 else 33
    assert scale[zero] == 0
    assert not (q[zero] if axis == 0 else q[:, zero]).any()
    assert not quantize_int8(np.zeros((3, 50), np.float32), axis=axis)[0].any()
    np.testing.assert_array_equal(quantize_int8(np.zeros((3, 50), np.float32), axis=axis)[1], 0)


TIES = np.array([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 125.5, 126.5, -126.5, 4.5, 5.5], np.float32)
TIES_Q = np.array([0, 2, 2, 4, 0, -2, -2, 126, 126, -126, 4, 6], np.int8)  # half to even, by hand


def test_ties_round_half_to_even(isa):
    row = np.concatenate([[127.0], np.tile(TIES, 6)]).astype(np.float32)  # max 127: scale exactly 1
    q, scale = quantize_int8(np.stack([row, -row]), axis=0)
    np.testing.assert_array_equal(scale, [1, 1])
    np.testing.assert_array_equal(q[0], np.concatenate([[127], np.tile(TIES_Q, 6)]))
    np.testing.assert_array_equal(q[1], -q[0])
    cols = np.concatenate([np.full((1, 72), 127.0), np.tile(TIES, 6)[None]]).astype(np.float32)
    q, scale = quantize_int8(cols, axis=1)  # one scale of 1 per column
    np.testing.assert_array_equal(scale, np.ones(72))
    np.testing.assert_array_equal(q[1], np.tile(TIES_Q, 6))
    half = quantize_int8(np.array([254.0, 1.0, 3.0, 5.0, -7.0], np.float32))[0]  # scale 2: ties at x/2
    np.testing.assert_array_equal(half, [127, 0, 2, 2, -4])


@pytest.mark.parametrize("axis", [0, 1])
def test_extreme_values(isa, axis):
    big = data(4, 45, seed=5) / np.float32(10) * np.float32(1e30)
    q, scale = check(big, axis)
    assert_error_bound(big, q, scale, axis)
    top = np.array([[3.4e38, -3.4e38, 1.7e38, 1.0, -0.0]], np.float32)
    q, scale = check(top, 0)
    np.testing.assert_array_equal(q[0, :3], [127, -127, 64])
    mixed = np.array([[1e30, 1e-30, -5e29] * 11], np.float32)  # tiny next to huge -> 0
    q, _ = check(mixed, axis)
    if axis == 0:
        np.testing.assert_array_equal(q[0, :3], [127, 0, -64])
    tiny = np.array([[1e-44, -3e-45, 1e-45] * 11, [1e-40, 2e-41, -1e-40] * 11], np.float32)  # subnormals
    q, scale = check(tiny, axis)
    if axis == 0:
        assert scale[0] == 0 and not q[0].any()  # max|x| / 127 underflows to 0
        np.testing.assert_array_equal(q[1, :3], [127, 25, -127])
    normal_floor = np.float32(127 * 2.0**-126)  # from here up the bound holds
    x = np.array([normal_floor, normal_floor / 3, -normal_floor / 7] * 11, np.float32)
    q, scale = check(x, axis)
    assert_error_bound(x, q, scale, axis)


@pytest.mark.parametrize("axis", [0, 1])
def test_no_rows(isa, axis):
    q, scale = quantize_int8(np.zeros((0, 7), np.float32), axis=axis)
    assert q.shape == (0, 7) and q.dtype == np.int8
    assert scale.shape == ((0,) if axis == 0 else (7,))
    assert not scale.any()
    assert dequantize_int8(q, scale, axis=axis).shape == (0, 7)


def test_one_vector(isa):
    x = data(1, 37, seed=6)[0]
    q, scale = check(x, 0)
    assert q.shape == (37,) and scale.ndim == 0
    assert scale == np.abs(x).max() / np.float32(127)
    assert_error_bound(x, q, scale, 0)
    np.testing.assert_array_equal(dequantize_int8(q, scale), q.astype(np.float32) * scale)
    q, scale = check(x, 1)  # one scale per element: every value is +-127
    assert scale.shape == (37,)
    np.testing.assert_array_equal(np.abs(q), 127)
    np.testing.assert_array_equal(quantize_int8(np.array([0.5, -1.0, 0.25], np.float32))[0], [64, -127, 32])


@pytest.mark.parametrize("dtype", [np.float64, np.float16, ">f4"])
@pytest.mark.parametrize("axis", [0, 1])
def test_other_float_dtypes_are_cast(isa, dtype, axis):
    x = data(5, 33, seed=7)
    if dtype is np.float16:
        x = x / np.abs(x).max(axis=1, keepdims=True)  # within float16 range
    x = x.astype(dtype)
    q, scale = check(x, axis)
    q32, scale32 = quantize_int8(x.astype(np.float32), axis=axis)
    np.testing.assert_array_equal(q, q32)
    np.testing.assert_array_equal(scale, scale32)


@pytest.mark.parametrize("axis", [0, 1])
def test_non_contiguous_input(isa, axis):
    x = data(8, 70, seed=8)
    for view in (x[:, ::2], x[::3], x.T, np.asfortranarray(x)):
        check(view, axis)


@pytest.mark.parametrize("axis", [0, 1])
def test_dequantize_reference(isa, axis):
    rng = np.random.default_rng(9)
    q = rng.integers(-127, 128, (6, 35), dtype=np.int8)
    scale = rng.uniform(0, 3, 6 if axis == 0 else 35).astype(np.float32)
    s = scale[:, None] if axis == 0 else scale[None, :]
    out = dequantize_int8(q, scale, axis=axis)
    assert out.dtype == np.float32 and out.shape == q.shape
    np.testing.assert_array_equal(out, q.astype(np.float32) * s)
    every_other = dequantize_int8(q[:, ::2], scale if axis == 0 else scale[::2], axis=axis)
    np.testing.assert_array_equal(every_other, out[:, ::2])
    np.testing.assert_array_equal(dequantize_int8(q, scale.astype(np.float64), axis=axis), out)
    np.testing.assert_array_equal(dequantize_int8(q[0], scale[0]), q[0].astype(np.float32) * scale[0])


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("where", [0, 5, 40, 1030])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_raise(isa, axis, where, bad):
    x = data(3, 1031, seed=10)
    x[1, where] = bad
    with pytest.raises(ValueError, match="quantize_int8: input holds NaN or infinity"):
        quantize_int8(x, axis=axis)


def test_float64_beyond_float32_range_raises(isa):
    with pytest.raises(ValueError, match="NaN or infinity"):
        quantize_int8(np.array([[1e300, 1.0]]))


def test_errors():
    for bad in (np.arange(6).reshape(2, 3), np.ones((2, 3), bool), np.ones(3, np.complex64), [[1, 2]]):
        with pytest.raises(TypeError, match="quantize_int8: expected a floating array"):
            quantize_int8(bad)
    for axis in (2, -1, True, None, "0"):
        with pytest.raises(ValueError, match="axis must be 0"):
            quantize_int8(np.ones((2, 3), np.float32), axis=axis)
        with pytest.raises(ValueError, match="axis must be 0"):
            dequantize_int8(np.ones((2, 3), np.int8), np.ones(2, np.float32), axis=axis)
    for shape in ((), (2, 3, 4)):
        with pytest.raises(ValueError, match=r"expected \(d,\) or \(n, d\)"):
            quantize_int8(np.ones(shape, np.float32))
    for shape in ((0,), (3, 0)):
        with pytest.raises(ValueError, match="at least one element"):
            quantize_int8(np.ones(shape, np.float32))
    with pytest.raises(TypeError, match="dequantize_int8: expected int8"):
        dequantize_int8(np.ones((2, 3), np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"dequantize_int8: expected \(d,\) or \(n, d\)"):
        dequantize_int8(np.ones((2, 0), np.int8), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="dequantize_int8: expected 2 scales, got 3"):
        dequantize_int8(np.ones((2, 3), np.int8), np.ones(3, np.float32))
    with pytest.raises(ValueError, match="dequantize_int8: expected 3 scales, got 2"):
        dequantize_int8(np.ones((2, 3), np.int8), np.ones(2, np.float32), axis=1)
