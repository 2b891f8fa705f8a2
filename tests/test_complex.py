"""Complex tensors against torch: dtypes and promotion, creation and repr, element-wise arithmetic,
real/imag views, conj/angle/sgn/polar/complex, view_as_real/view_as_complex, sums and means,
refusals, and gradients by torch's convention (dL/dRe + i dL/dIm)."""

import itertools
import zlib

import numpy as np
import pytest
import torch
from complex_reference import compare_with_torch, hvp_with_torch, numerical_gradcheck, random_array
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ShapeError
from cogtensor.ops import complex as cx

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
         "complex64", "complex128"]
F32 = {"rtol": 2e-6, "atol": 2e-6}


def rng_for(*key) -> np.random.Generator:
    """A generator seeded by the test's parameters (the same inputs every run)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


# ------------------------------------------------------------------ dtypes
def test_promote_types_matches_torch():
    for a, b in itertools.product(NAMES, NAMES):
        ours = dtypes.promote_types(getattr(dtypes, a), getattr(dtypes, b))
        theirs = torch.promote_types(getattr(torch, a), getattr(torch, b))
        assert ours.name == str(theirs).removeprefix("torch."), (a, b)


@pytest.mark.parametrize("name", NAMES)
def test_result_type_with_complex_operands_matches_torch(name):
    """Dimensioned tensors, 0-d tensors and Python scalars each keep their priority; a floating
    tensor meeting a complex operand keeps its precision (float64 * 1j -> complex128)."""
    x, t = ct.zeros(2, dtype=getattr(dtypes, name)), torch.zeros(2, dtype=getattr(torch, name))
    others = [(1j, 1j), (2.5, 2.5), (ct.zeros((), dtype=dtypes.complex128), torch.zeros((), dtype=torch.complex128)),
              (ct.zeros((), dtype=dtypes.complex64), torch.zeros((), dtype=torch.complex64)),
              (ct.zeros(2, dtype=dtypes.complex64), torch.zeros(2, dtype=torch.complex64))]
    for ours, theirs in others:
        want = torch.result_type(t, theirs)
        if want == torch.complex32:  # float16 with a complex operand: torch's chalf, which we do not have
            with pytest.raises(TypeError, match="complex32"):
                dtypes.result_type(x, ours)
            continue
        assert dtypes.result_type(x, ours).name == str(want).removeprefix("torch."), (name, ours)


def test_dtype_properties():
    c64, c128 = dtypes.complex64, dtypes.complex128
    assert c64.is_complex and not c64.is_floating_point and c64.is_signed and c64.itemsize == 8
    assert dtypes.cfloat is c64 and dtypes.cdouble is c128 and repr(c128) == "cogtensor.complex128"
    assert dtypes.float32.to_complex() is c64 and dtypes.float64.to_complex() is c128 and c64.to_complex() is c64
    assert c64.to_real() is dtypes.float32 and c128.to_real() is dtypes.float64 and dtypes.int8.to_real() is dtypes.int8
    with pytest.raises(TypeError, match="no complex dtype for int64"):
        dtypes.int64.to_complex()
    assert dtypes.from_numpy_dtype(np.complex64) is c64


def test_default_complex_follows_the_default_dtype():
    try:
        dtypes.set_default_dtype(dtypes.float64)
        assert (ct.ones(2, dtype=dtypes.int64) * 1j).dtype is dtypes.complex128
        assert repr(ct.full((1,), 1j)) == "tensor([0.+1.j])"  # complex128 is now the default: no dtype shown
    finally:
        dtypes.set_default_dtype(dtypes.float32)
    assert (ct.ones(2, dtype=dtypes.int64) * 1j).dtype is dtypes.complex64


# ------------------------------------------------------- creation and repr
def test_creation_from_numpy_and_numbers():
    a = np.array([[1 + 2j, 3 - 4j]], np.complex64)
    x = ct.from_numpy(a)
    assert x.dtype is dtypes.complex64 and x.numpy() is a and x.is_complex() and cx.is_complex(x)
    assert ct.tensor(a.astype(np.complex128)).dtype is dtypes.complex128
    assert ct.full((2,), 1j).dtype is dtypes.complex64 and ct.zeros(2, dtype=dtypes.complex128).tolist() == [0j, 0j]
    assert x[0, 1].item() == 3 - 4j and x.tolist() == [[1 + 2j, 3 - 4j]]
    assert not ct.ones(2).is_complex()
    with pytest.raises(TypeError, match="Arrow has no complex type"):
        x.to_arrow()


@pytest.mark.parametrize("values,dtype", [
    ([1 + 2j, -3.5 - 4j], "complex64"), ([1 + 2j, -3 - 4j], "complex64"), ([1 + 2j, -3 - 4j], "complex128"),
    ([[1.123456 + 2j, -300 - 4j], [1e-5j, 7]], "complex64"), ([1e9 + 2j, 1], "complex64"),
    ([complex("nan") + 2j, complex(1, float("inf"))], "complex64"), (1 + 2j, "complex64"),
    ([0j, complex(-0.0, -0.0)], "complex64"), ([complex(0, -0.0)], "complex128"), ([], "complex64"),
    ([[1j, 2], [3, 4 + 1e-3j]], "complex64"), ([1e-5 + 1e-5j], "complex128"),
    ([0.5 + 1j * k for k in range(8)], "complex64"),
])
def test_repr_matches_torch(values, dtype):
    ours = ct.from_numpy(np.array(values, dtype=dtype))
    theirs = torch.tensor(values, dtype=getattr(torch, dtype))
    assert repr(ours) == repr(theirs).replace("torch.", "cogtensor.")


# ----------------------------------------------------------- arithmetic
UNARY = ["exp", "log", "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid",
         "reciprocal", "square", "neg", "abs", "expm1", "log1p", "log2", "log10", "exp2", "sgn", "angle", "conj"]


@pytest.mark.parametrize("name", UNARY)
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_unary_functions_match_torch(name, dtype):
    """Values and dtypes (abs and angle are real), and gradients of complex128 inputs."""
    a = random_array(rng_for(name, dtype), (3, 4), "c", dtype)
    method = lambda t: getattr(t, name)()  # noqa: E731 - the method form exists on both
    compare_with_torch(method, method, a, **(F32 if dtype == "complex64" else {}))


@pytest.mark.parametrize("name", ["exp", "log", "sin", "tanh", "sqrt", "reciprocal", "abs", "sgn", "angle", "sigmoid"])
def test_unary_gradcheck(name):
    numerical_gradcheck(lambda t: getattr(t, name)(), random_array(rng_for("gc", name), (2, 3), "c"))


BINARY = ["add", "sub", "mul", "div", "pow"]


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("kinds,shapes", [("cc", ((3, 4), (3, 4))), ("fc", ((3, 4), (4,))),
                                          ("cf", ((2, 1, 4), (3, 1))), ("cc", ((1, 4), (3, 1)))])
def test_binary_ops_match_torch(name, kinds, shapes):
    """Complex with complex and with real operands, broadcasting; real inputs get real gradients."""
    rng = rng_for(name, kinds, shapes)
    a, b = (random_array(rng, s, k) + (2 if k == "f" else 0) for k, s in zip(kinds, shapes))
    fn = lambda x, y: getattr(x, name)(y)  # noqa: E731
    compare_with_torch(fn, fn, a, b, rtol=1e-8)
    numerical_gradcheck(fn, a, b)


@pytest.mark.parametrize("scalar", [1.5 - 2j, 2.0, 3, np.complex128(0.5j)])
@pytest.mark.parametrize("name", BINARY)
def test_binary_ops_with_scalars_match_torch(name, scalar):
    rng = rng_for("scalar", name, scalar)
    for kind in "cf":
        a = random_array(rng, (2, 3), kind) + 3
        compare_with_torch(lambda x: getattr(x, name)(scalar), lambda x: getattr(x, name)(scalar), a, rtol=1e-8)
    reflected = {"add": lambda x: scalar + x, "sub": lambda x: scalar - x, "mul": lambda x: scalar * x,
                 "div": lambda x: scalar / x, "pow": lambda x: scalar ** x}[name]
    for kind in "cf":  # a real tensor under a Python base: 2 ** x (its exponent gradient takes log(2))
        compare_with_torch(reflected, reflected, random_array(rng, (2, 3), kind), rtol=1e-8)


def test_power_of_negative_real_base_to_complex_exponent():
    """The exponent's gradient takes the log of the base promoted to complex, as torch."""
    base, exponent = np.array([-1.5, 2.0, -0.5]), np.array([0.5 + 1j, -1 + 0.25j, 2 - 1j])
    compare_with_torch(lambda a, b: a ** b, lambda a, b: a ** b, base, exponent)
    compare_with_torch(lambda b: -2.0 ** b, lambda b: -2.0 ** b, exponent)
    compare_with_torch(lambda b: (-2.0) ** b, lambda b: (-2.0) ** b, exponent)
    numerical_gradcheck(lambda a, b: a ** b, base, exponent)


def test_alpha_and_dtypes_of_mixed_operands():
    z = random_array(rng_for("alpha"), (3,), "c")
    compare_with_torch(lambda x, y: x.add(y, alpha=2 - 1j), lambda x, y: x.add(y, alpha=2 - 1j), z, z[::-1].copy())
    compare_with_torch(lambda x, y: x.sub(y, alpha=0.5), lambda x, y: x.sub(y, alpha=0.5), z, np.arange(3.0))
    assert (ct.ones(2, dtype=dtypes.float64) * ct.ones(2, dtype=dtypes.complex64)).dtype is dtypes.complex128
    assert (ct.ones(2, dtype=dtypes.float32) * ct.ones((), dtype=dtypes.complex128)).dtype is dtypes.complex64
    assert (ct.arange(3) * 1j).dtype is dtypes.complex64 and (ct.tensor([True]) + 1j).dtype is dtypes.complex64
    with pytest.raises(DTypeError, match="alpha must not be a complex number"):
        ct.ones(2).add(ct.ones(2), alpha=1j)
    with pytest.raises(TypeError, match="complex32"):
        ct.ones(2, dtype=dtypes.float16) * 1j


def test_equality_and_float_tests():
    a = np.array([1 + 2j, complex("nan"), complex(0, float("inf")), 0j])
    for fn in (lambda t: t == (1 + 2j), lambda t: t.ne(0), lambda t: t.isnan(), lambda t: t.isinf(),
               lambda t: t.isfinite(), lambda t: t.logical_not(), lambda t: t.bool()):
        compare_with_torch(fn, fn, a)


@pytest.mark.parametrize("call", [
    lambda m, z: z < z, lambda m, z: z.le(1), lambda m, z: z.gt(1j), lambda m, z: z >= z,
    lambda m, z: m.maximum(z, z), lambda m, z: m.minimum(z, z), lambda m, z: z.clamp(0, 1), lambda m, z: z.clamp(min=0),
    lambda m, z: z.floor(), lambda m, z: z.ceil(), lambda m, z: z.trunc(), lambda m, z: z.round(),
    lambda m, z: z.sign(),
    lambda m, z: z % 2, lambda m, z: z.fmod(2), lambda m, z: z // 2, lambda m, z: z.div(2, rounding_mode="trunc"),
    lambda m, z: z & 1, lambda m, z: ~z,
])
def test_ordering_ops_refuse_complex_as_torch(call):
    z = random_array(rng_for("refuse"), (3,), "c")
    with pytest.raises((NotImplementedError, RuntimeError, TypeError)):
        call(torch, torch.from_numpy(z))
    with pytest.raises(NotImplementedForDType, match="complex"):
        call(ct, ct.from_numpy(z))


def test_in_place_rules():
    x = ct.ones(3)
    with pytest.raises(DTypeError, match="ComplexFloat can't be cast to the desired output type Float"):
        x += ct.ones(3) * 1j
    z = ct.ones(3, dtype=dtypes.complex64)
    z *= 2j
    z += ct.ones(3)
    assert z.tolist() == [1 + 2j] * 3


def test_casting_complex_to_real_warns_as_torch():
    z = ct.from_numpy(np.array([1.5 + 2j, 0j]))
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        assert z.to(dtypes.float32).tolist() == [1.5, 0.0]
    assert z.bool().tolist() == [True, False]  # no warning: a truth test of both parts
    assert z.real.to(dtypes.complex64).dtype is dtypes.complex64
    to_complex = lambda t: (t.to(t.dtype.to_complex()) * (1 + 2j)).exp()  # noqa: E731 - real leaf, real gradient
    compare_with_torch(to_complex, to_complex, np.array([0.5, -1.0, 2.0]))


# ------------------------------------------------------- complex-only ops
def test_real_and_imag_are_views():
    a = np.array([[1 + 2j, 3 - 4j], [5 + 6j, 7 - 8j]])
    z = ct.from_numpy(a)
    re, im = z.real, z.imag
    assert re.dtype is dtypes.float64 and re.tolist() == [[1, 3], [5, 7]] and im.tolist() == [[2, -4], [6, -8]]
    assert np.shares_memory(re.numpy(), a) and re.stride() == torch.from_numpy(a).real.stride()
    re[0, 0] = 10.0
    z.imag = ct.zeros(2, 2, dtype=dtypes.float64)  # a setter writes through, as torch's
    assert a[0, 0] == 10 and not a.imag.any()
    x = ct.ones(2)
    assert x.real is x and cx.real(x) is x
    with pytest.raises(NotImplementedForDType, match="imag is not implemented"):
        x.imag


def test_in_place_through_real_view_while_recording_is_refused():
    z = (ct.from_numpy(np.array([1 + 1j, 2 - 1j])).requires_grad_() * 2)
    with pytest.raises(NotImplementedError, match=r"in-place change through the \.real view"):
        z.real.mul_(2.0)


@pytest.mark.parametrize("name", ["conj", "angle", "sgn"])
def test_real_inputs_of_complex_functions(name):
    a = np.array([-2.0, -0.0, 0.0, 3.0, np.nan])
    fn = lambda t: getattr(t, name)()  # noqa: E731
    compare_with_torch(fn, fn, a)
    compare_with_torch(fn, fn, np.array([-2, 0, 3]))
    x = ct.ones(2)
    assert x.conj() is x and x.resolve_conj() is x and not x.is_conj()


def test_complex_and_polar_match_torch():
    rng = rng_for("construct")
    re, im = random_array(rng, (3, 1), "f"), random_array(rng, (4,), "f")
    compare_with_torch(cx.complex, torch.complex, re, im)
    compare_with_torch(cx.polar, torch.polar, np.abs(re), im)
    compare_with_torch(cx.polar, torch.polar, np.array([0.0, 1.0, 2.0]), np.array([0.3, -1.0, 2.5]))
    compare_with_torch(cx.complex, torch.complex, re.astype(np.float32), im.astype(np.float32))
    numerical_gradcheck(cx.polar, np.abs(re) + 0.5, im)
    numerical_gradcheck(cx.complex, re, im)


@pytest.mark.parametrize("call,error", [
    (lambda m: m.complex(m.ones(2), m.ones(2, dtype=m.float64)), DTypeError),
    (lambda m: m.polar(m.ones(2, dtype=m.int64), m.ones(2, dtype=m.int64)), DTypeError),
    (lambda m: m.complex(m.ones(2), m.ones(3)), ShapeError),
    (lambda m: m.view_as_real(m.ones(3)), DTypeError),
    (lambda m: m.view_as_complex(m.ones(3)), ShapeError),
    (lambda m: m.view_as_complex(m.ones(3, 2).T.contiguous().T), ShapeError),
    (lambda m: m.view_as_complex(m.ones(3, 3)[:, 1:]), ShapeError),
    (lambda m: m.view_as_complex(m.ones(3, 2, dtype=m.int64)), DTypeError),
])
def test_construction_errors(call, error):
    with pytest.raises(RuntimeError):
        call(torch)
    ours = type("ours", (), {"complex": cx.complex, "polar": cx.polar, "view_as_real": cx.view_as_real,
                             "view_as_complex": cx.view_as_complex, "ones": ct.ones, "float64": dtypes.float64,
                             "int64": dtypes.int64})
    with pytest.raises(error):
        call(ours)


def test_view_as_real_and_complex_share_memory():
    a = random_array(rng_for("views"), (3, 4), "c")[:, ::2]  # non-contiguous
    z = ct.from_numpy(a)
    pairs = cx.view_as_real(z)
    assert pairs.shape == (3, 2, 2) and np.shares_memory(pairs.numpy(), a)
    assert pairs.stride() == torch.view_as_real(torch.from_numpy(a)).stride()
    back = cx.view_as_complex(pairs)
    assert np.shares_memory(back.numpy(), a) and back.tolist() == z.tolist()
    f = np.arange(12.0).reshape(3, 2, 2)[:, 1]  # rows of pairs with an even stride
    assert cx.view_as_complex(ct.from_numpy(f)).tolist() == [2 + 3j, 6 + 7j, 10 + 11j]


def test_view_gradients_match_torch():
    rng = rng_for("view grads")
    z, pairs = random_array(rng, (2, 3), "c"), random_array(rng, (4, 3, 2), "f")
    compare_with_torch(lambda t: t.real * t.imag, lambda t: t.real * t.imag, z)
    compare_with_torch(cx.view_as_real, torch.view_as_real, z, prepare=lambda t: t.T)
    compare_with_torch(lambda t: cx.view_as_complex(t) ** 2, lambda t: torch.view_as_complex(t) ** 2, pairs)
    numerical_gradcheck(lambda t: cx.view_as_real(t.exp()), z)
    numerical_gradcheck(lambda t: cx.view_as_complex(t).abs(), pairs)
    numerical_gradcheck(lambda t: t.imag * t.real.exp(), z)


# ---------------------------------------------------------- sums and means
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False), (-1, True),
                                         ((), False)])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_and_mean_match_torch(op, dim, keepdim):
    a = random_array(rng_for(op, dim, keepdim), (2, 3, 4), "c")
    fn = (lambda t: getattr(t, op)()) if dim is None else (lambda t: getattr(t, op)(dim, keepdim))
    compare_with_torch(fn, fn, a)
    compare_with_torch(fn, fn, a.astype(np.complex64), **F32)


def test_sums_of_empty_tensors_and_with_dtype():
    e = np.zeros((0, 3), np.complex64)
    compare_with_torch(lambda t: t.sum(0), lambda t: t.sum(0), e)
    compare_with_torch(lambda t: t.mean(0), lambda t: t.mean(0), e)
    x = ct.from_numpy(np.arange(4.0))
    assert x.sum(dtype=dtypes.complex128).item() == 6 and x.mean(dtype=dtypes.complex64).dtype is dtypes.complex64


# ------------------------------------------------------------- gradients
def test_gradients_of_non_contiguous_inputs_match_torch():
    rng = rng_for("nc")
    z, w = random_array(rng, (4, 3), "c"), random_array(rng, (4, 3), "c")
    fn = lambda a, b: (a * b.conj()).exp() / (a.abs() + 1)  # noqa: E731
    compare_with_torch(fn, fn, z, w, prepare=lambda t: t.T)
    compare_with_torch(lambda a: a[::2, 1:] * 1j, lambda a: a[::2, 1:] * 1j, z)


@pytest.mark.parametrize("name", ["mul", "div", "exp", "abs", "sgn", "reciprocal", "pow"])
def test_double_backward_matches_torch(name):
    rng = rng_for("hvp", name)
    z, w = random_array(rng, (2, 3), "c"), random_array(rng, (2, 3), "c")
    if name in ("mul", "div", "pow"):
        fn = lambda a, b: getattr(a, name)(b)  # noqa: E731
        hvp_with_torch(fn, fn, z, w + 2, rtol=1e-8, atol=1e-9)
    else:
        fn = lambda a: getattr(a, name)() * a  # noqa: E731 - something with a non-zero Hessian
        hvp_with_torch(fn, fn, z, rtol=1e-8, atol=1e-9)


def test_real_losses_of_complex_leaves():
    """The gradient of |z|^2 is 2z; of Re(z) it is 1; of Im(z) it is i (torch's convention)."""
    z = ct.from_numpy(np.array([1 + 2j, -3 + 0.5j])).requires_grad_()
    (z.abs() ** 2).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), 2 * z.numpy())
    z.grad = None
    (z.real + z.imag * 3).sum().backward()
    assert z.grad.tolist() == [1 + 3j, 1 + 3j]


def test_backward_formulas_of_real_tensors_are_unchanged():
    """conj() of a real tensor is the tensor itself, so real gradients (and HVPs) still match torch."""
    rng = rng_for("real")
    x, y = np.abs(random_array(rng, (3, 4), "f")) + 0.5, np.abs(random_array(rng, (4,), "f")) + 0.5
    for fn in (lambda a, b: a * b, lambda a, b: a / b, lambda a, b: a ** b, lambda a, b: (a.exp() + b.log()).tanh(),
               lambda a, b: a.rsqrt() * b.sigmoid(),
               lambda a, b: 2.0 ** a + b.reciprocal().square()):
        hvp_with_torch(fn, fn, x, y, rtol=1e-9, atol=1e-10)
