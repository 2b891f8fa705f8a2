"""cogtensor.quant.int8_matmul on every kernel ISA and thread count, against numpy's int64 matmul."""

import numpy as np
import pytest

from cogtensor.quant import int8_matmul

SIZES = (1, 3, 17, 63, 65)


def reference(a, b):
    return np.asarray(a, np.int64) @ np.asarray(b, np.int64)


def check(a, b):
    out = int8_matmul(a, b)
    ref = reference(a, b)
    assert out.dtype == np.int32 and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


def rand(shape, seed, values=None):
    rng = np.random.default_rng(seed)
    if values is not None:
        return rng.choice(np.array(values, np.int8), shape)
    return rng.integers(-128, 128, shape, dtype=np.int8)


@pytest.mark.parametrize("k", SIZES + (32, 64, 1100, 2100))
def test_random_odd_shapes(isa, threads, k):
    for m in SIZES:
        for n in SIZES:
            a, b = rand((m, k), m * n + k), rand((k, n), m + n * k)
            check(a, b)
            check(a, np.ascontiguousarray(b.T).T)  # the weight layout: rows of w = columns of b


@pytest.mark.parametrize("fill", [(-128, -128), (127, 127), (-128, 127), (127, -128)])
def test_constant_extremes(isa, threads, fill):
    for m, k, n in [(1, 1, 1), (3, 65, 17), (20, 2100, 33), (1, 4096, 70)]:
        a, b = np.full((m, k), fill[0], np.int8), np.full((k, n), fill[1], np.int8)
        check(a, b)
        check(a, np.ascontiguousarray(b.T).T)


@pytest.mark.parametrize("values", [(-128, 127), (-128, -127, 0, 127), (-128, 1, -1)])
def test_mixed_extremes(isa, threads, values):
    for m, k, n in [(5, 63, 9), (40, 1100, 20), (1, 3000, 48)]:
        a, b = rand((m, k), k, values), rand((k, n), k + 1, values)
        check(a, b)
        a[:, ::3] = -128  # many rows with -128 in A: the correction pass
        check(a, np.ascontiguousarray(b.T).T)


def test_largest_depth_is_exact(isa):
    k = 131071  # 128 * 128 * k < 2**31
    a, b = np.full((1, k), -128, np.int8), np.full((k, 2), -128, np.int8)
    b[:, 1] = 127
    out = int8_matmul(a, b)
    np.testing.assert_array_equal(out, [[128 * 128 * k, -128 * 127 * k]])
    with pytest.raises(ValueError, match="int8_matmul: k=131072 could overflow int32"):
        int8_matmul(np.ones((1, k + 1), np.int8), np.ones((k + 1, 1), np.int8))


def test_many_rows_few_columns_split_by_rows(isa, threads):
    a, b = rand((300, 70), 1), rand((70, 3), 2)
    check(a, b)
    check(a, rand((70, 1), 3))


def test_layouts_and_views(isa):
    a, b = rand((24, 80), 4), rand((80, 30), 5)
    for x in (a, a[:, ::2], a[::3], a[::-1], np.asfortranarray(a)):
        for y in (b, b[: x.shape[1]], b[::2][: x.shape[1]], b[: x.shape[1], ::-1], np.asfortranarray(b)):
            if x.shape[1] == y.shape[0]:
                check(x, y)


def test_one_dimensional_operands_follow_numpy(isa):
    a, b, v = rand((4, 9), 6), rand((9, 5), 7), rand(9, 8)
    for x, y in ((v, b), (a, v), (v, v)):
        out = int8_matmul(x, y)
        np.testing.assert_array_equal(out, reference(x, y))
        assert out.shape == np.matmul(x, y).shape and out.dtype == np.int32


@pytest.mark.parametrize("m,k,n", [(0, 5, 3), (4, 5, 0), (4, 0, 3), (0, 0, 0)])
def test_empty_dimensions(isa, m, k, n):
    out = int8_matmul(np.ones((m, k), np.int8), np.ones((k, n), np.int8))
    assert out.shape == (m, n) and out.dtype == np.int32 and not out.any()


def test_errors():
    ok = np.ones((2, 3), np.int8)
    for bad in (ok.astype(np.int16), ok.astype(np.uint8), ok.astype(np.float32), [[1, 2, 3]]):
        with pytest.raises(TypeError, match="int8_matmul: expected a of dtype int8"):
            int8_matmul(bad, ok.T)
        with pytest.raises(TypeError, match="int8_matmul: expected b of dtype int8"):
            int8_matmul(ok, np.asarray(bad).T)
    with pytest.raises(ValueError, match=r"inner dimensions 3 and 2 differ"):
        int8_matmul(ok, ok)
    with pytest.raises(ValueError, match="expected 1-d or 2-d operands"):
        int8_matmul(np.ones((2, 2, 3), np.int8), ok.T)
    with pytest.raises(ValueError, match="expected 1-d or 2-d operands"):
        int8_matmul(np.int8(3), ok)
