"""cogtensor.fft against torch.fft: values, dtypes, gradients (incl. the Hermitian subtleties of
rfft/irfft, cropping and zero-padding, every norm), double backward, shifts, frequencies, errors."""

import zlib

import numpy as np
import pytest
import torch
from complex_reference import (
    compare_with_torch, hvp_with_torch, numerical_gradcheck, numerical_gradgradcheck, random_array,
)
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
import cogtensor.fft as cfft
from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ShapeError, ValueRangeError

NORMS = (None, "backward", "ortho", "forward")
F32 = {"rtol": 1e-5, "atol": 1e-5}


def rng_for(*key) -> np.random.Generator:
    """A generator seeded by the test's parameters (the same inputs every run)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def both(name, **kwargs):
    return (lambda x: getattr(cfft, name)(x, **kwargs)), (lambda x: getattr(torch.fft, name)(x, **kwargs))


# --------------------------------------------------------------- 1-d transforms
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n", [(6, None), (5, None), (6, 4), (5, 3), (6, 9), (5, 8), (1, None), (4, 1)])
@pytest.mark.parametrize("name,kind", [("fft", "f"), ("fft", "c"), ("ifft", "c"), ("ifft", "f"), ("rfft", "f")])
def test_forward_transforms_match_torch(name, kind, m, n, norm):
    """Values and gradients (float64 / complex128), cropping (n < m) and zero-padding (n > m)."""
    a = random_array(rng_for(name, kind, m, n, norm), (3, m), kind)
    compare_with_torch(*both(name, n=n, norm=norm), a)


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("m,n", [(4, None), (5, None), (4, 6), (4, 7), (5, 4), (5, 5), (3, 10), (3, 11), (2, 1),
                                 (1, 1)])
@pytest.mark.parametrize("kind", ["c", "f"])
def test_irfft_matches_torch(kind, m, n, norm):
    """The Hermitian rules: imaginary parts of the zero (and Nyquist) entries are ignored and the
    mirrored entries count twice in the gradient, for odd and even n, cropped and padded spectra."""
    a = random_array(rng_for("irfft", kind, m, n, norm), (2, m), kind)
    compare_with_torch(*both("irfft", n=n, norm=norm), a)


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft"])
def test_other_dims_and_non_contiguous_inputs(name):
    kind = "f" if name == "rfft" else "c"
    a = random_array(rng_for(name, "nc"), (4, 3, 6), kind)
    transposed = lambda t: t.transpose(0, 2)[::2]  # noqa: E731 - strides (.., .., 1) no more
    ours = lambda x: getattr(cfft, name)(x, n=5, dim=1)  # noqa: E731
    theirs = lambda x: getattr(torch.fft, name)(x, n=5, dim=1)  # noqa: E731
    compare_with_torch(ours, theirs, a, prepare=transposed)
    compare_with_torch(*both(name, dim=0), a)


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "int64", "bool"])
def test_dtypes_follow_torch(dtype):
    base = random_array(rng_for(dtype), (3, 8), "c" if dtype.startswith("complex") else "f") * 4
    a = base > 0 if dtype == "bool" else base.astype(dtype)
    tol = F32 if dtype in ("float32", "complex64", "int64", "bool") else {}
    for name in ("fft", "ifft", "fft2", "fftn", "ifftn"):
        compare_with_torch(*both(name), a, **tol)
    if not np.iscomplexobj(a):
        for name in ("rfft", "rfft2", "rfftn"):
            compare_with_torch(*both(name), a, **tol)
    for name in ("irfft", "irfft2", "irfftn"):
        compare_with_torch(*both(name), a, **tol)


# --------------------------------------------------------------- n-d transforms
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("s", [None, (4, 7), (2, 6), (-1, 5), (3, 4)])
@pytest.mark.parametrize("name,kind", [("fft2", "c"), ("ifft2", "f"), ("rfft2", "f"), ("irfft2", "c"), ("irfft2", "f")])
def test_two_dimensional_transforms_match_torch(name, kind, s, norm):
    a = random_array(rng_for(name, kind, s, norm), (2, 3, 5), kind)
    compare_with_torch(*both(name, s=s, norm=norm), a)


@pytest.mark.parametrize("s,dim", [(None, None), ((4,), None), ((3, 4, 5), None), (None, (0, 2)), ((6, 3), (2, 0)),
                                   (None, -1), (5, 1), ((-1, 7), (1, 2))])
@pytest.mark.parametrize("name,kind", [("fftn", "c"), ("ifftn", "c"), ("rfftn", "f"), ("irfftn", "c")])
def test_n_dimensional_transforms_match_torch(name, kind, s, dim):
    a = random_array(rng_for(name, s, dim), (3, 4, 5), kind)
    compare_with_torch(*both(name, s=s, dim=dim, norm="ortho"), a)
    compare_with_torch(*both(name, s=s, dim=dim), a, prepare=lambda t: t.permute(2, 0, 1).permute(1, 2, 0))


def test_transform_over_no_dims_converts_to_complex():
    a = np.arange(6.0).reshape(2, 3)
    compare_with_torch(*both("fftn", dim=()), a)
    compare_with_torch(*both("fftn"), np.array(2.5))  # a 0-d tensor: nothing to transform


def test_round_trips_and_empty_batches():
    x = ct.from_numpy(random_array(rng_for("rt"), (2, 3, 7), "f"))
    np.testing.assert_allclose(cfft.ifftn(cfft.fftn(x)).real.numpy(), x.numpy(), atol=1e-12)
    np.testing.assert_allclose(cfft.irfft2(cfft.rfft2(x), s=(3, 7)).numpy(), x.numpy(), atol=1e-12)
    np.testing.assert_allclose(cfft.irfft(cfft.rfft(x, norm="ortho"), n=7, norm="ortho").numpy(), x.numpy(), atol=1e-12)
    empty = ct.zeros(0, 4, dtype=dtypes.float64)  # torch's MKL refuses empty batches; numpy's answer
    assert cfft.fft(empty).shape == (0, 4) and cfft.fft(empty).dtype is dtypes.complex128
    assert cfft.rfft(empty).shape == (0, 3) and cfft.irfft(cfft.rfft(empty), n=4).shape == (0, 4)


# -------------------------------------------------------------- gradcheck, HVP
@pytest.mark.parametrize("norm", ["backward", "ortho", "forward"])
def test_numerical_gradcheck(norm):
    rng = rng_for("gc", norm)
    x, z = random_array(rng, (2, 5), "f"), random_array(rng, (2, 4), "c")
    for fn, a in [(lambda t: cfft.fft(t, n=7, norm=norm), x), (lambda t: cfft.ifft(t, n=3, norm=norm), z),
                  (lambda t: cfft.rfft(t, n=6, norm=norm), x), (lambda t: cfft.rfft(t, n=4, norm=norm), x),
                  (lambda t: cfft.irfft(t, n=6, norm=norm), z), (lambda t: cfft.irfft(t, n=7, norm=norm), z),
                  (lambda t: cfft.irfft(t, n=3, norm=norm), z), (lambda t: cfft.rfft2(t, s=(3, 5), norm=norm), x),
                  (lambda t: cfft.irfft2(t, s=(3, 5), norm=norm), z), (lambda t: cfft.fft2(t, norm=norm), z),
                  (lambda t: cfft.fftshift(cfft.fft(t), dim=1), x)]:
        numerical_gradcheck(fn, a)


def test_gradcheck_of_real_losses():
    rng = rng_for("real losses")
    w = ct.from_numpy(random_array(rng, (3, 4), "c"))
    x = random_array(rng, (3, 6), "f")
    numerical_gradcheck(lambda t: (cfft.rfft(t, n=6) * w).abs().sum(), x)
    numerical_gradcheck(lambda t: (cfft.irfft(cfft.fft(t)[..., :4], n=6) * 2).sum(), x)


@pytest.mark.parametrize("fn,kind", [(lambda t: cfft.fft(t, n=5).abs() ** 2, "c"),
                                     (lambda t: cfft.rfft(t, norm="ortho") * cfft.rfft(t), "f"),
                                     (lambda t: cfft.irfft(t * t, n=5), "c")])
def test_gradgradcheck(fn, kind):
    numerical_gradgradcheck(fn, random_array(rng_for("gg", kind), (2, 3), kind))


@pytest.mark.parametrize("name,kind,kwargs", [("fft", "c", {"n": 6}), ("rfft", "f", {"norm": "ortho"}),
                                              ("irfft", "c", {"n": 7}), ("fft2", "f", {"s": (3, 5)})])
def test_double_backward_matches_torch(name, kind, kwargs):
    """Hessian-vector products of |transform|^2-style losses (create_graph=True)."""
    a = random_array(rng_for("hvp", name), (3, 4), kind)
    ours = lambda x: getattr(cfft, name)(x, **kwargs).abs() ** 3  # noqa: E731
    theirs = lambda x: getattr(torch.fft, name)(x, **kwargs).abs() ** 3  # noqa: E731
    hvp_with_torch(ours, theirs, a, rtol=1e-8, atol=1e-9)


def test_gradients_flow_through_chains():
    """A spectral filter: rfft, complex multiply, irfft; and fft of a complex product."""
    rng = rng_for("chain")
    x, h = random_array(rng, (2, 9), "f"), random_array(rng, (5,), "c")
    compare_with_torch(lambda a, b: cfft.irfft(cfft.rfft(a) * b, n=9),
                       lambda a, b: torch.fft.irfft(torch.fft.rfft(a) * b, n=9), x, h)
    compare_with_torch(lambda a, b: cfft.fft(a * b, norm="forward").abs(),
                       lambda a, b: torch.fft.fft(a * b, norm="forward").abs(),
                       random_array(rng, (3, 5), "c"), random_array(rng, (5,), "f"))


# -------------------------------------------------------- frequencies, shifts
@pytest.mark.parametrize("n", [0, 1, 4, 5, 8])
@pytest.mark.parametrize("d", [1.0, 0.1, 3])
@pytest.mark.parametrize("dtype", [None, "float64", "float16", "bfloat16"])
def test_frequencies_match_torch(n, d, dtype):
    kw_ours = {} if dtype is None else {"dtype": getattr(dtypes, dtype)}
    kw_torch = {} if dtype is None else {"dtype": getattr(torch, dtype)}
    for name in ("fftfreq", "rfftfreq"):
        ours, theirs = getattr(cfft, name)(n, d, **kw_ours), getattr(torch.fft, name)(n, d, **kw_torch)
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(ours.float().numpy(), theirs.float().numpy())


def test_frequency_arguments():
    assert cfft.fftfreq(3, requires_grad=True).requires_grad
    np.testing.assert_array_equal(cfft.fftfreq(3, d=0).numpy(), torch.fft.fftfreq(3, d=0).numpy())
    with pytest.raises(ValueError, match="negative dimension"):
        cfft.fftfreq(-1)
    with pytest.raises(DTypeError, match="floating point"):
        cfft.rfftfreq(4, dtype=dtypes.int64)
    with pytest.raises(TypeError, match="must be int"):
        cfft.fftfreq(4.0)


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 1), (1, -2), (0, 0)])
@pytest.mark.parametrize("shape", [(4, 5), (5, 4), (1, 3), (0, 3)])
def test_shifts_match_torch(shape, dim):
    a = random_array(rng_for("shift", shape, dim), shape, "f")
    for name in ("fftshift", "ifftshift"):
        compare_with_torch(*both(name, dim=dim), a)
    x = ct.from_numpy(a)
    np.testing.assert_array_equal(cfft.ifftshift(cfft.fftshift(x, dim), dim).numpy(), a)


def test_shift_of_integers_and_complex():
    a = np.arange(10).reshape(2, 5)
    compare_with_torch(*both("fftshift"), a)
    compare_with_torch(*both("ifftshift", dim=1), random_array(rng_for("cs"), (2, 5), "c"))


# ------------------------------------------------------------------- errors
@pytest.mark.parametrize("call,error", [
    (lambda m, x: m.fft.fft(x[:0]), ValueRangeError),  # no data points
    (lambda m, x: m.fft.fft(x, n=0), ValueRangeError),
    (lambda m, x: m.fft.irfft(x[:1]), ValueRangeError),  # default n = 2 * (1 - 1)
    (lambda m, x: m.fft.irfftn(x, s=(0,)), ValueRangeError),
    (lambda m, x: m.fft.fft(x, norm="bad"), ValueRangeError),
    (lambda m, x: m.fft.rfft(x * 1j), DTypeError),
    (lambda m, x: m.fft.fft(x.half()), NotImplementedForDType),
    (lambda m, x: m.fft.rfft(x.bfloat16()), NotImplementedForDType),
    (lambda m, x: m.fft.fft2(x), IndexError),
    (lambda m, x: m.fft.fft(x, dim=1), IndexError),
    (lambda m, x: m.fft.fft(x.sum()), IndexError),
    (lambda m, x: m.fft.fftn(x.reshape(2, 3), dim=(0, 0)), ShapeError),
    (lambda m, x: m.fft.fftn(x.reshape(2, 3), s=(2,), dim=(0, 1)), ShapeError),
    (lambda m, x: m.fft.fftn(x.reshape(2, 3), s=(2, 3, 4)), ShapeError),
    (lambda m, x: m.fft.rfftn(x, dim=()), ShapeError),
    (lambda m, x: m.fft.irfftn(x, dim=()), ShapeError),
    (lambda m, x: m.fft.fftshift(x.sum()), ShapeError),
    (lambda m, x: m.fft.fft(x, n=2.0), TypeError),
    (lambda m, x: m.fft.fft(x, dim=(0,)), TypeError),
])
def test_errors_match_torch(call, error):
    """The same mistakes fail in torch; ours raise errors naming the op (RuntimeError where torch's is)."""
    x = np.arange(6.0)
    with pytest.raises(Exception) as theirs:
        call(torch, torch.from_numpy(x))
    with pytest.raises(error) as ours:
        call(ct, ct.from_numpy(x))
    if isinstance(theirs.value, RuntimeError):
        assert isinstance(ours.value, RuntimeError), (ours.value, theirs.value)
    elif not isinstance(theirs.value, TypeError):
        assert isinstance(ours.value, type(theirs.value)), (ours.value, theirs.value)


def test_non_tensor_input_is_a_type_error():
    with pytest.raises(TypeError, match="fft: expected a tensor"):
        cfft.fft([1.0, 2.0])
    with pytest.raises(TypeError, match="fftshift: expected a tensor"):
        cfft.fftshift(np.ones(3))
