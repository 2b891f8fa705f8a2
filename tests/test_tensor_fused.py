"""Fused arithmetic, closeness, NaN-aware reductions, cumprod and diff against torch: values,
dtypes, gradients (torch, float64 gradcheck, double backward), errors; hypothesis properties."""

import numpy as np
import pytest
import torch
from grad_compare import leaves
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
from cogtensor import autograd


def same(ours, theirs, rtol=1e-12):
    o, t = ours.detach().numpy(), theirs.detach().numpy()
    assert o.shape == t.shape and o.dtype == t.dtype, (o.shape, t.shape, o.dtype, t.dtype)
    np.testing.assert_allclose(o, t, rtol=rtol, atol=1e-12, equal_nan=True)


# (label, input shapes, fn(lib, *xs)); lib is cogtensor or torch
CASES = [
    ("addmm", [(3, 4), (3, 5), (5, 4)], lambda lib, m, a, b: lib.addmm(m, a, b)),
    ("addmm scaled bcast", [(4,), (3, 5), (5, 4)], lambda lib, m, a, b: m.addmm(a, b, beta=0.5, alpha=-2)),
    ("addmm beta 0", [(3, 4), (3, 5), (5, 4)], lambda lib, m, a, b: lib.addmm(m, a, b, beta=0)),
    ("addmv", [(3,), (3, 5), (5,)], lambda lib, m, a, v: lib.addmv(m, a, v, alpha=3)),
    ("addr", [(3, 1), (3,), (4,)], lambda lib, m, a, b: m.addr(a, b, beta=2)),
    ("baddbmm", [(2, 3, 4), (2, 3, 5), (2, 5, 4)], lambda lib, m, a, b: lib.baddbmm(m, a, b, beta=0.3, alpha=1.5)),
    ("baddbmm bcast", [(4,), (2, 3, 5), (2, 5, 4)], lambda lib, m, a, b: m.baddbmm(a, b)),
    ("addbmm", [(3, 4), (2, 3, 5), (2, 5, 4)], lambda lib, m, a, b: lib.addbmm(m, a, b, alpha=0.5)),
    ("addcmul", [(3, 4), (3, 1), (4,)], lambda lib, m, a, b: lib.addcmul(m, a, b, value=-0.5)),
    ("addcdiv", [(3, 4), (1, 4), (3, 4)], lambda lib, m, a, b: m.addcdiv(a, b.abs() + 1, value=2)),
    ("cumprod", [(3, 5)], lambda lib, x: x.cumprod(1)),
    ("cumprod dim0", [(4, 2, 3)], lambda lib, x: lib.cumprod(x, 0)),
    ("nansum", [(3, 4)], lambda lib, x: lib.nansum(x, 1)),
    ("nanmean", [(3, 4)], lambda lib, x: x.nanmean((0, 1), keepdim=True)),
    ("nan_to_num", [(3, 4)], lambda lib, x: lib.nan_to_num(x, nan=1.0)),
    ("diff", [(3, 6)], lambda lib, x: x.diff()),
    ("diff n2 dim0 append", [(4, 3)], lambda lib, x: lib.diff(x, 2, 0, append=x[:2] * 2)),
    ("diff prepend", [(5,)], lambda lib, x: x.diff(prepend=x[:1] ** 2)),
    ("kron", [(2, 3), (4, 1, 2)], lambda lib, a, b: lib.kron(a, b)),
    ("kron 1d", [(3,), (2,)], lambda lib, a, b: a.kron(b)),
    ("inner", [(2, 3), (4, 5, 3)], lambda lib, a, b: lib.inner(a, b)),
    ("inner 1d", [(3,), (3,)], lambda lib, a, b: a.inner(b)),
]


def arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("label, shapes, fn", CASES, ids=[c[0] for c in CASES])
def test_values_gradients_match_torch_and_gradcheck(label, shapes, fn):
    xs, ts = leaves(arrays(shapes))
    ours, theirs = fn(ct, *xs), fn(torch, *ts)
    same(ours, theirs)
    g = np.random.default_rng(1).standard_normal(tuple(theirs.shape))
    ours.backward(ct.tensor(g))
    theirs.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    fresh = [ct.tensor(a).requires_grad_() for a in arrays(shapes, seed=2)]
    assert autograd.gradcheck(lambda *zs: fn(ct, *zs), fresh)


@pytest.mark.parametrize("label", ["addmm", "addcmul", "cumprod", "baddbmm"])
def test_hessian_vector_products_match_torch(label):
    _, shapes, fn = next(c for c in CASES if c[0] == label)
    xs, ts = leaves(arrays(shapes, seed=3))
    gx = autograd.grad((fn(ct, *xs) ** 2).sum(), xs, create_graph=True)
    gt = torch.autograd.grad((fn(torch, *ts) ** 2).sum(), ts, create_graph=True)
    v = arrays(shapes, seed=4)
    hx = autograd.grad(sum((g * ct.tensor(w)).sum() for g, w in zip(gx, v)), xs)
    ht = torch.autograd.grad(sum((g * torch.tensor(w)).sum() for g, w in zip(gt, v)), ts)
    for a, b in zip(hx, ht):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("zeros", [[0], [2], [1, 3], [0, 4]])
def test_cumprod_gradient_with_zeros_matches_torch(zeros):
    a = np.random.default_rng(5).standard_normal((2, 5))
    a[:, zeros] = 0.0
    (x,), (t,) = leaves([a])
    g = np.random.default_rng(6).standard_normal((2, 5))
    x.cumprod(1).backward(ct.tensor(g))
    t.cumprod(1).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert autograd.gradcheck(lambda z: z.cumprod(1), (ct.tensor(a).requires_grad_(),))


def test_beta_zero_ignores_nan_and_gives_zero_gradient():
    m = np.full((2, 2), np.nan)
    (x, a, b), (t, ta, tb) = leaves([m, np.eye(2), np.ones((2, 2))])
    ours, theirs = x.addmm(a, b, beta=0), t.addmm(ta, tb, beta=0)
    same(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "float32"])
def test_integer_and_bool_inputs_match_torch(dtype):
    rng = np.random.default_rng(7)
    a = rng.integers(-2, 3, (3, 4))
    a = a > 0 if dtype == "bool" else a.astype(dtype)
    x, t = ct.tensor(a), torch.tensor(a)
    same(x.cumprod(0), t.cumprod(0))
    same(x.count_nonzero(), t.count_nonzero())
    same(ct.count_nonzero(x, (0, 1)), torch.count_nonzero(t, (0, 1)))
    same(x.diff(dim=0), t.diff(dim=0))
    same(x.nan_to_num(), t.nan_to_num())
    if dtype != "bool":
        same(x.nansum(), t.nansum())
        same(x.addcmul(x, x, value=2), t.addcmul(t, t, value=2))
    same(x.isclose(x), t.isclose(t))
    assert x.equal(x) and x.allclose(x) if dtype != "bool" else x.equal(x)


def test_closeness_matches_torch():
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1e-9, 1.0, 0.0])
    b = np.array([1.0 + 1e-6, np.nan, np.inf, np.inf, 0.0, 1.1, -0.0])
    (x, y), (s, t) = (ct.tensor(a), ct.tensor(b)), (torch.tensor(a), torch.tensor(b))
    for kw in [{}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 0.0, "rtol": 0.0}]:
        same(x.isclose(y, **kw), s.isclose(t, **kw))
        assert ct.allclose(x, y, **kw) == torch.allclose(s, t, **kw)
    same(ct.isclose(x, y[:1]), torch.isclose(s, t[:1]))
    assert ct.equal(x[:1], x[:1]) and not ct.equal(x, x) and not ct.equal(x[:2], x[:3])
    assert ct.tensor([1, 2]).equal(ct.tensor([1, 2])) and not ct.tensor([1, 2]).equal(ct.tensor([[1, 2]]))


def test_nan_aware_reductions_match_torch():
    a = np.array([[np.nan, 1.0, 2.0], [np.nan, np.nan, np.nan]])
    x, t = ct.tensor(a), torch.tensor(a)
    for dim in (None, 0, 1):
        same(x.nansum(dim) if dim is not None else x.nansum(), t.nansum(dim) if dim is not None else t.nansum())
        same(x.nanmean(dim) if dim is not None else x.nanmean(), t.nanmean(dim) if dim is not None else t.nanmean())
    b = np.array([np.nan, np.inf, -np.inf, 2.0], np.float32)
    same(ct.tensor(b).nan_to_num(), torch.tensor(b).nan_to_num())
    same(ct.tensor(b).nan_to_num(3.0, 4.0, -5.0), torch.tensor(b).nan_to_num(3.0, 4.0, -5.0))
    c = ct.tensor(b)
    assert c.nan_to_num_() is c and np.isfinite(c.numpy()).all()
    same(ct.zeros(0, 3).nansum(0), torch.zeros(0, 3).nansum(0))
    same(ct.zeros(0).cumprod(0), torch.zeros(0).cumprod(0))


def test_in_place_forms_return_self_and_match_torch():
    (m, a, b), (tm, ta, tb) = leaves(arrays([(3, 4), (3, 5), (5, 4)]), grad=False)
    assert m.addmm_(a, b, alpha=2) is m
    tm.addmm_(ta, tb, alpha=2)
    same(m, tm)
    m.addcmul_(m, m, value=0.1)
    tm.addcmul_(tm, tm, value=0.1)
    m.addcdiv_(m, m.abs() + 1)
    tm.addcdiv_(tm, tm.abs() + 1)
    same(m, tm)
    with pytest.raises(ct.ShapeError, match="doesn't match the broadcast shape"):
        ct.zeros(4).addmm_(a, b)


def test_errors():
    a, b = ct.ones(3, 5), ct.ones(5, 4)
    with pytest.raises(ct.ShapeError, match="mat1 must be a 2-D tensor"):
        ct.addmm(ct.ones(3, 4), ct.ones(3), b)
    with pytest.raises(ct.ShapeError, match="does not broadcast"):
        ct.addmm(ct.ones(2, 4), a, b)
    with pytest.raises(RuntimeError, match="Integer division with addcdiv"):
        ct.ones(2).addcdiv(ct.tensor([1, 2]), ct.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="did not match"):
        ct.ones(2).isclose(ct.ones(2, dtype=ct.float64))
    with pytest.raises(RuntimeError, match="floating point"):
        ct.tensor([1, 2]).nanmean()
    with pytest.raises(RuntimeError, match="at least one-dimensional"):
        ct.tensor(1.0).diff()
    with pytest.raises(IndexError, match="dimension out of range"):
        ct.ones(2).cumprod(1)
    with pytest.raises(ct.ShapeError, match="last dimension must match"):
        ct.inner(ct.ones(2, 3), ct.ones(2))


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
                  elements=st.floats(-4, 4)), st.integers(0, 3))
def test_properties(a, n):
    x = ct.tensor(a)
    np.testing.assert_allclose(x.cumprod(-1).numpy(), np.cumprod(a, -1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(x.diff(n).numpy(), np.diff(a, n), rtol=1e-12, atol=1e-12)
    assert x.allclose(x.addcmul(x, x, value=0.0)) and x.count_nonzero().item() == np.count_nonzero(a)
