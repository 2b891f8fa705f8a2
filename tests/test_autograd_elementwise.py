"""Gradients of element-wise ops, views and indexing: float64 gradcheck, PyTorch's
gradients on broadcast and non-contiguous inputs, and Hessian-vector products."""

import numpy as np
import pytest
import torch
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
from cogtensor.autograd import gradcheck, gradgradcheck

RNG = np.random.default_rng(5)

# name -> (function of the tensor namespace, input transform keeping the op in its domain)
UNARY = {
    "neg": lambda m, x: m.neg(x), "abs": lambda m, x: m.abs(x), "exp": lambda m, x: m.exp(x),
    "exp2": lambda m, x: m.exp2(x), "expm1": lambda m, x: m.expm1(x), "log": lambda m, x: m.log(x.abs() + 0.5),
    "log2": lambda m, x: m.log2(x.abs() + 0.5), "log10": lambda m, x: m.log10(x.abs() + 0.5),
    "log1p": lambda m, x: m.log1p(x.abs()), "sqrt": lambda m, x: m.sqrt(x.abs() + 0.5),
    "rsqrt": lambda m, x: m.rsqrt(x.abs() + 0.5), "sin": lambda m, x: m.sin(x), "cos": lambda m, x: m.cos(x),
    "tan": lambda m, x: m.tan(x * 0.5), "asin": lambda m, x: m.asin(x * 0.3), "acos": lambda m, x: m.acos(x * 0.3),
    "atan": lambda m, x: m.atan(x), "sinh": lambda m, x: m.sinh(x), "cosh": lambda m, x: m.cosh(x),
    "tanh": lambda m, x: m.tanh(x), "sigmoid": lambda m, x: m.sigmoid(x),
    "reciprocal": lambda m, x: m.reciprocal(x.abs() + 0.5), "square": lambda m, x: m.square(x),
    "clamp": lambda m, x: m.clamp(x, -0.5, 0.7), "clamp_min": lambda m, x: m.clamp_min(x, 0.1),
    "floor": lambda m, x: m.floor(x), "sign": lambda m, x: m.sign(x), "round": lambda m, x: m.round(x),
    "pow_scalar": lambda m, x: m.pow(x, 3), "pow_frac": lambda m, x: m.pow(x.abs() + 0.5, 1.7),
    "scalar_pow": lambda m, x: m.pow(2.0, x) if m is torch else ct.tensor(2.0, dtype=ct.float64) ** x,
    "rsub": lambda m, x: 2.0 - x, "rdiv": lambda m, x: 2.0 / (x.abs() + 0.5),
}
BINARY = {
    "add": lambda m, x, y: m.add(x, y, alpha=2), "sub": lambda m, x, y: m.sub(x, y), "mul": lambda m, x, y: x * y,
    "div": lambda m, x, y: x / (y.abs() + 0.5), "pow": lambda m, x, y: m.pow(x.abs() + 0.5, y),
    "maximum": lambda m, x, y: m.maximum(x, y), "minimum": lambda m, x, y: m.minimum(x, y),
    "remainder": lambda m, x, y: m.remainder(x, y.abs() + 0.5), "fmod": lambda m, x, y: m.fmod(x, y.abs() + 0.5),
    "clamp_tensors": lambda m, x, y: m.clamp(x, min=y, max=y + 0.5), "where": lambda m, x, y: m.where(x > y, x, y),
    "lerp": lambda m, x, y: m.lerp(x, y, 0.3), "atan_mix": lambda m, x, y: m.atan(x * y) + m.exp(y),
}
SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 3))]


def leaf(a: np.ndarray, lib):
    return ct.tensor(a).requires_grad_() if lib is ct else torch.tensor(a, requires_grad=True)


def grads_of(fn, lib, *arrays):
    xs = [leaf(a, lib) for a in arrays]
    out = fn(lib, *xs)
    g = np.random.default_rng(123).standard_normal(tuple(out.shape))  # the same on both sides
    out.backward(ct.tensor(g) if lib is ct else torch.tensor(g))
    return out, [x.grad for x in xs]


def compare(fn, *arrays):
    ours, ours_grads = grads_of(fn, ct, *arrays)
    theirs, their_grads = grads_of(fn, torch, *arrays)
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(ours_grads, their_grads):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradients_match_torch_and_gradcheck(name):
    fn = UNARY[name]
    x = RNG.standard_normal((3, 4))
    compare(fn, x)
    compare(fn, x.T)  # non-contiguous
    if name not in ("floor", "sign", "round"):  # piecewise constant: finite differences jump at the steps
        assert gradcheck(lambda t: fn(ct, t), (ct.tensor(x).requires_grad_(),))


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradients_broadcast_like_torch(name, shapes):
    x, y = RNG.standard_normal(shapes[0]), RNG.standard_normal(shapes[1])
    fn = BINARY[name]
    compare(fn, x, y)
    assert gradcheck(lambda a, b: fn(ct, a, b), (ct.tensor(x).requires_grad_(), ct.tensor(y).requires_grad_()))


def test_maximum_ties_split_the_gradient_like_torch():
    x = np.array([1.0, 2.0, 3.0])
    compare(lambda m, a, b: m.maximum(a, b) * 3, x, np.array([1.0, 1.0, 3.0]))
    compare(lambda m, a, b: m.clamp(a, min=b, max=b), x, x.copy())


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid", "sin", "log", "sqrt", "reciprocal", "pow_frac",
                                  "atan", "rsqrt", "square", "asin", "cosh", "expm1", "log1p"])
def test_double_backward_unary_hvp_matches_torch(name):
    fn = UNARY[name]
    x, v = RNG.standard_normal(6), RNG.standard_normal(6)

    def hvp(lib):
        t = leaf(x, lib)
        (g,) = (ct.autograd.grad if lib is ct else torch.autograd.grad)(fn(lib, t).sum() * 1.0, t, create_graph=True)
        (h,) = (ct.autograd.grad if lib is ct else torch.autograd.grad)((g * (ct.tensor(v) if lib is ct else
                                                                           torch.tensor(v))).sum(), t)
        return h.numpy()

    np.testing.assert_allclose(hvp(ct), hvp(torch), rtol=1e-9, atol=1e-12)
    assert gradgradcheck(lambda t: fn(ct, t), (ct.tensor(x).requires_grad_(),))


def test_double_backward_of_piecewise_linear_ops():
    for name in ("abs", "clamp", "clamp_min"):
        assert gradgradcheck(lambda t, fn=UNARY[name]: fn(ct, t), (ct.tensor(RNG.standard_normal(5)).requires_grad_(),))


@pytest.mark.parametrize("name", ["mul", "div", "pow", "atan_mix", "add", "maximum"])
def test_double_backward_binary_gradgradcheck(name):
    fn = BINARY[name]
    x, y = ct.tensor(RNG.standard_normal((2, 3))).requires_grad_(), ct.tensor(RNG.standard_normal(3)).requires_grad_()
    assert gradgradcheck(lambda a, b: fn(ct, a, b), (x, y))


VIEWS = {
    "reshape": lambda t: t.reshape(4, 6), "view": lambda t: t.view(-1), "transpose": lambda t: t.transpose(0, 2),
    "permute": lambda t: t.permute(2, 0, 1), "T": lambda t: t.reshape(6, 4).T, "mT": lambda t: t.mT,
    "squeeze": lambda t: t[:, :1].squeeze(1), "unsqueeze": lambda t: t.unsqueeze(1),
    "expand": lambda t: t[:1].expand(5, 3, 4), "flatten": lambda t: t.flatten(1), "narrow": lambda t: t.narrow(2, 1, 2),
    "unflatten": lambda t: t.unflatten(2, (2, 2)), "split": lambda t: t.split(1, 1)[2] * t.split([1, 2], 1)[0],
    "chunk": lambda t: t.chunk(2, 2)[1], "unbind": lambda t: t.unbind(1)[1] * t.unbind(1)[2],
    "getitem_basic": lambda t: t[1, ::2, None, 1:], "getitem_int": lambda t: t[0, 1, 2],
    "getitem_array": lambda t: t[[0, 1, 0], :, [1, 1, 3]], "getitem_mask": lambda t: t[t > 0],
    "getitem_ellipsis": lambda t: t[..., 1], "cat": lambda t: _cat(t),
    "stack": lambda t: _stack(t),
}


def _cat(t):
    lib = torch if isinstance(t, torch.Tensor) else ct
    return lib.cat([t, t * 2, t[:, :1]], dim=1)


def _stack(t):
    lib = torch if isinstance(t, torch.Tensor) else ct
    return lib.stack([t[0], t[1] * 3], dim=-1)


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_and_indexing_gradients_match_torch(name):
    fn = VIEWS[name]
    x = RNG.standard_normal((2, 3, 4))
    compare(lambda m, t: fn(t) * 1.5, x)
    assert gradcheck(lambda t: fn(t), (ct.tensor(x).requires_grad_(),))


def test_repeated_indices_accumulate():
    x = np.arange(5.0)
    compare(lambda m, t: t[[0, 0, 3, 0]] ** 2, x)


def test_setitem_records_value_and_overwritten_part():
    x, v = RNG.standard_normal((3, 4)), RNG.standard_normal(4)

    def fn(lib, a, b):
        y = a * 2
        y[1] = b * 3
        y[:, 0] = 0.0
        return y.exp()

    compare(fn, x, v)


def test_setitem_into_a_fresh_buffer_flows_to_the_value():
    def fn(lib, a):
        buf = lib.zeros(2, 4, dtype=lib.float64)
        buf[0] = a
        buf[1, 1:3] = a[:2] * a[2:]
        return buf

    compare(fn, RNG.standard_normal(4))


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_", "pow_", "clamp_", "exp_", "tanh_", "sigmoid_"])
def test_in_place_ops_differentiate_like_torch(op):
    args = {"add_": (2.0,), "sub_": (1.5,), "mul_": (3.0,), "div_": (4.0,), "pow_": (2,), "clamp_": (-0.3, 0.4)}.get(op, ())

    def fn(lib, a, b):
        y = a * b
        getattr(y, op)(*args)
        return y * a

    compare(fn, RNG.standard_normal((3, 4)), RNG.standard_normal(4))


def test_in_place_with_a_tensor_operand_that_requires_grad():
    def fn(lib, a, b):
        y = a * 2
        y.mul_(b)
        y += b
        return y

    compare(fn, RNG.standard_normal((2, 3)), RNG.standard_normal(3))


def test_in_place_on_a_view_rewrites_the_base_history():
    def fn(lib, a):
        y = a * 1
        y[1:3].mul_(3)
        y.T[0].add_(1.0)
        return y * y

    compare(fn, RNG.standard_normal((4, 2)))
