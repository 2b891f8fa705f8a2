"""BitNet b1.58 quantizers, ternary packing and the packed ternary kernel, on every kernel ISA."""

import numpy as np
import pytest
import torch

from cogtensor.quant import (
    absmax_quantize, absmean_quantize, pack_ternary, pack_ternary_base3, quantize_ternary, ternary_matmul,
    unpack_ternary, unpack_ternary_base3,
)


def ternary(shape, seed):
    return np.random.default_rng(seed).integers(-1, 2, shape).astype(np.int8)


def packed_by_hand(w):
    """2-bit codes 0 -> 0, +1 -> 1, -1 -> 2, weight p at bits 2 (p % 4) of byte p // 4."""
    n, k = w.shape
    out = np.zeros((n, -(-k // 4)), np.uint8)
    for j in range(n):
        for p in range(k):
            out[j, p // 4] |= {0: 0, 1: 1, -1: 2}[int(w[j, p])] << (2 * (p % 4))
    return out


# ---- packing ----

@pytest.mark.parametrize("k", [0, 1, 3, 4, 5, 9, 127, 128, 130])
def test_pack_round_trips(k):
    for shape in [(k,), (3, k), (2, 4, k)]:
        w = ternary(shape, k)
        packed = pack_ternary(w)
        assert packed.dtype == np.uint8 and packed.shape == shape[:-1] + (-(-k // 4),)
        np.testing.assert_array_equal(unpack_ternary(packed, k), w)
        dense = pack_ternary_base3(w)
        assert dense.dtype == np.uint8 and dense.shape == shape[:-1] + (-(-k // 5),)
        assert (dense <= 242).all()
        np.testing.assert_array_equal(unpack_ternary_base3(dense, k), w)


def test_pack_layout():
    w = ternary((5, 23), 1)
    np.testing.assert_array_equal(pack_ternary(w), packed_by_hand(w))
    digits = np.array([-1, 0, 1, 1, -1, 0, 1], np.int8)  # base 3, least significant first, 0-weight padding
    np.testing.assert_array_equal(pack_ternary_base3(digits), [0 + 3 + 18 + 54 + 0, 1 + 6 + 9 + 27 + 81])
    every_byte = np.arange(243, dtype=np.uint8)
    np.testing.assert_array_equal(pack_ternary_base3(unpack_ternary_base3(every_byte, 5 * 243).reshape(-1)), every_byte)


def test_pack_accepts_any_integer_dtype_and_views():
    w = ternary((6, 40), 2)
    for view in (w.astype(np.int64), w[:, ::2], w[::-1], np.asfortranarray(w)):
        np.testing.assert_array_equal(unpack_ternary(pack_ternary(view), view.shape[-1]), view)
        np.testing.assert_array_equal(unpack_ternary_base3(pack_ternary_base3(view), view.shape[-1]), view)


def test_pack_errors():
    for pack in (pack_ternary, pack_ternary_base3):
        with pytest.raises(ValueError, match="weights must be -1, 0 or \\+1"):
            pack(np.array([0, 2, 1]))
        with pytest.raises(TypeError, match="expected an integer array"):
            pack(np.array([0.0, 1.0]))
        with pytest.raises(ValueError, match="0-d"):
            pack(np.int8(1))
    with pytest.raises(ValueError, match="invalid 2-bit code 0b11"):
        unpack_ternary(np.array([0b00110000], np.uint8), 3)
    np.testing.assert_array_equal(unpack_ternary(np.array([0b11000000], np.uint8), 3), [0, 0, 0])  # past k: ignored
    with pytest.raises(ValueError, match="byte 243 is above 242"):
        unpack_ternary_base3(np.array([243], np.uint8), 5)
    for unpack, per_byte in ((unpack_ternary, 4), (unpack_ternary_base3, 5)):
        with pytest.raises(ValueError, match="k=9 weights need"):
            unpack(np.zeros(3 if per_byte == 5 else 4, np.uint8), 9)
        with pytest.raises(TypeError, match="expected uint8"):
            unpack(np.zeros(3, np.int8), 9)
        with pytest.raises(ValueError, match="k must be a non-negative integer"):
            unpack(np.zeros(3, np.uint8), -1)


# ---- BitNet b1.58 quantizers against their torch formulation ----

def torch_absmean(w, eps=1e-5):
    t = torch.from_numpy(w)
    scale = t.abs().mean().clamp(min=eps)
    return (t / scale).round().clamp(-1, 1).to(torch.int8).numpy(), scale.numpy()


def torch_absmax(x, eps=1e-5):
    t = torch.from_numpy(x)
    scale = t.abs().amax(dim=-1, keepdim=True).clamp(min=eps) / 127
    return (t / scale).round().clamp(-128, 127).to(torch.int8).numpy(), scale.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_absmean_matches_torch(dtype):
    rng = np.random.default_rng(3)
    for shape in [(1,), (7,), (16, 33), (3, 4, 5)]:
        w = (rng.standard_normal(shape) * rng.uniform(1e-3, 10)).astype(dtype)
        q, scale = absmean_quantize(w)
        q_ref, scale_ref = torch_absmean(w)
        assert q.dtype == np.int8 and scale.dtype == dtype and scale.shape == ()
        np.testing.assert_array_equal(q, q_ref)
        np.testing.assert_allclose(scale, scale_ref, rtol=1e-6)
    q, scale = absmean_quantize(np.zeros((4, 4), np.float32))
    assert not q.any() and scale == np.float32(1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_absmax_matches_torch_and_error_bound(dtype):
    rng = np.random.default_rng(4)
    for shape in [(1,), (9,), (5, 33), (2, 3, 130)]:
        x = (rng.standard_normal(shape) * np.exp(rng.uniform(-6, 6, shape[:-1] + (1,)))).astype(dtype)
        q, scale = absmax_quantize(x)
        q_ref, scale_ref = torch_absmax(x)
        assert q.dtype == np.int8 and scale.shape == shape[:-1] + (1,) and scale.dtype == dtype
        np.testing.assert_array_equal(q, q_ref)
        np.testing.assert_allclose(scale, scale_ref, rtol=1e-6)
        err = np.abs(x.astype(np.float64) - q * scale.astype(np.float64))
        assert (err <= scale / 2 * (1 + 1e-5)).all()
        assert (np.abs(q).max(axis=-1) == 127).all()
    q, scale = absmax_quantize(np.zeros((2, 3), np.float32))
    assert not q.any() and np.allclose(scale, 1e-5 / 127)
    assert absmax_quantize(np.zeros((0, 3), np.float32))[1].shape == (0, 1)


def test_quantizer_errors():
    for fn in (absmean_quantize, absmax_quantize):
        with pytest.raises(TypeError, match="expected a floating array"):
            fn(np.ones(3, np.int32))
        with pytest.raises(ValueError, match="NaN or infinity"):
            fn(np.array([1.0, np.nan]))
        with pytest.raises(ValueError, match="eps must be a positive number"):
            fn(np.ones(3), eps=0)
    with pytest.raises(ValueError, match="absmean_quantize: expected at least one weight"):
        absmean_quantize(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="absmax_quantize: expected \\(..., k\\) with k >= 1"):
        absmax_quantize(np.zeros((3, 0)))


def test_quantize_ternary_packs_absmean():
    w = np.random.default_rng(5).standard_normal((6, 21)).astype(np.float32)
    q, scale = absmean_quantize(w)
    packed, s = quantize_ternary(w)
    np.testing.assert_array_equal(unpack_ternary(packed, 21), q)
    packed, s3 = quantize_ternary(w, packing="base3")
    np.testing.assert_array_equal(unpack_ternary_base3(packed, 21), q)
    assert s == scale == s3
    with pytest.raises(ValueError, match="packing must be '2bit' or 'base3'"):
        quantize_ternary(w, packing="3bit")


# ---- the packed ternary kernel ----

def check_kernel(x, w):
    out = ternary_matmul(x, pack_ternary(w))
    ref = x.astype(np.int64) @ w.T.astype(np.int64)
    assert out.dtype == np.int32 and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("k", [1, 3, 17, 63, 65, 127, 128, 129, 255, 256, 257, 2048 + 129, 4096])
def test_kernel_random_odd_shapes(isa, threads, k):
    rng = np.random.default_rng(k)
    for m, n in [(1, 1), (1, 70), (3, 17), (5, 33), (17, 5)]:
        check_kernel(rng.integers(-128, 128, (m, k), dtype=np.int8), ternary((n, k), m * n + k))


@pytest.mark.parametrize("x_fill,w_fill", [(-128, -1), (-128, 1), (127, 1), (127, -1)])
def test_kernel_extremes(isa, threads, x_fill, w_fill):
    for m, k, n in [(1, 5, 3), (4, 2048 * 2 + 5, 9), (6, 129, 40)]:  # > 16 blocks: int16 partial sums widen
        check_kernel(np.full((m, k), x_fill, np.int8), np.full((n, k), w_fill, np.int8))


def test_kernel_many_rows_and_views(isa, threads):
    rng = np.random.default_rng(6)
    x, w = rng.integers(-128, 128, (200, 300), dtype=np.int8), ternary((3, 150), 7)
    check_kernel(x[:, ::2], w)
    check_kernel(x[::-1, :150], w)
    packed = pack_ternary(ternary((8, 150), 8))
    ref = ternary_matmul(x[:5, :150], packed)
    np.testing.assert_array_equal(ternary_matmul(x[:5, :150], np.asfortranarray(packed)), ref)
    np.testing.assert_array_equal(ternary_matmul(x[:5, :150], packed[::-1])[:, ::-1], ref)


def test_kernel_batch_dims_vectors_and_scales(isa):
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((2, 3, 40)).astype(np.float32), rng.standard_normal((11, 40)).astype(np.float32)
    x_q, x_scale = absmax_quantize(x)
    packed, w_scale = quantize_ternary(w)
    acc = ternary_matmul(x_q, packed)
    assert acc.shape == (2, 3, 11) and acc.dtype == np.int32
    np.testing.assert_array_equal(acc, x_q.astype(np.int64) @ unpack_ternary(packed, 40).T.astype(np.int64))
    np.testing.assert_array_equal(ternary_matmul(x_q[0, 0], packed), acc[0, 0])
    y = ternary_matmul(x_q, packed, x_scale=x_scale, w_scale=w_scale)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, acc.astype(np.float32) * x_scale * w_scale, rtol=1e-6)
    per_row = rng.uniform(0.5, 2, 11).astype(np.float32)
    np.testing.assert_allclose(ternary_matmul(x_q, packed, w_scale=per_row), acc * per_row, rtol=1e-6)
    with pytest.raises(ValueError, match="scales of shape \\(5,\\)"):
        ternary_matmul(x_q, packed, x_scale=np.ones(5))


def test_kernel_empty(isa):
    packed = pack_ternary(ternary((4, 10), 9))
    assert ternary_matmul(np.zeros((0, 10), np.int8), packed).shape == (0, 4)
    assert ternary_matmul(np.zeros((3, 10), np.int8), packed[:0]).shape == (3, 0)
    out = ternary_matmul(np.zeros((3, 0), np.int8), np.zeros((4, 0), np.uint8))
    assert out.shape == (3, 4) and not out.any()


def test_kernel_invalid_codes(isa):
    x = np.ones((2, 130), np.int8)
    packed = pack_ternary(ternary((5, 130), 10))
    for where in (0, 31, 32):
        bad = packed.copy()
        bad[3, where] |= 0b11 << (2 if where == 32 else 4)  # byte 32 holds weights 128 and 129
        with pytest.raises(ValueError, match="invalid 2-bit code 0b11"):
            ternary_matmul(x, bad)
        with pytest.raises(ValueError, match="invalid 2-bit code 0b11"):
            ternary_matmul(x[:0], bad)  # checked with no activations too
    past_k = packed.copy()
    past_k[:, -1] |= 0b1111 << 4  # k = 130: the last byte holds 2 weights; the rest is ignored
    np.testing.assert_array_equal(ternary_matmul(x, past_k), ternary_matmul(x, packed))


def test_kernel_errors():
    packed = pack_ternary(ternary((4, 10), 11))
    with pytest.raises(TypeError, match="ternary_matmul: expected x_q of dtype int8"):
        ternary_matmul(np.ones((2, 10), np.float32), packed)
    with pytest.raises(TypeError, match="expected uint8 packed weights"):
        ternary_matmul(np.ones((2, 10), np.int8), packed.astype(np.int8))
    with pytest.raises(ValueError, match="k=11 weights need 3 bytes"):
        ternary_matmul(np.ones((2, 11), np.int8), packed[:, :2])
    with pytest.raises(ValueError, match="expected packed weights \\(n, 3\\)"):
        ternary_matmul(np.ones((2, 10), np.int8), packed[0])
    with pytest.raises(ValueError, match="k=9 but x_q has 10"):
        ternary_matmul(np.ones((2, 10), np.int8), packed, k=9)
    with pytest.raises(ValueError, match="0-d"):
        ternary_matmul(np.int8(1), packed)
