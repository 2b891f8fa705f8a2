"""Special functions (erf, erfc, atan2, hypot, logaddexp, xlogy, logit) and statistics
(quantile, nanquantile, var_mean, std_mean, cummax, cummin, bincount, isin) against torch:
values, indices, dtypes, gradients (torch and float64 gradcheck), errors."""

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
    np.testing.assert_allclose(o, t, rtol=rtol, atol=1e-300, equal_nan=True)


EDGES = np.array([-np.inf, -30.0, -3.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 2.0, 6.0, 30.0, np.inf, np.nan])


@pytest.mark.parametrize("name", ["erf", "erfc"])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_erf_erfc_match_torch(name, dtype):
    a = EDGES if dtype != "int64" else np.arange(-4, 5)
    a = a.astype(dtype)
    same(getattr(ct.tensor(a), name)(), getattr(torch.tensor(a), name)(), rtol=1e-14 if dtype == "float64" else 2e-6)
    same(getattr(ct, name)(ct.tensor(a)), getattr(torch, name)(torch.tensor(a)), rtol=1e-14 if dtype == "float64"
         else 2e-6)


BINARY = [
    ("atan2", lambda lib, a, b: lib.atan2(a, b)),
    ("arctan2 method", lambda lib, a, b: a.arctan2(b)),
    ("hypot", lambda lib, a, b: a.hypot(b)),
    ("logaddexp", lambda lib, a, b: lib.logaddexp(a, b)),
    ("xlogy", lambda lib, a, b: lib.xlogy(a, b.abs() + 0.1)),
    ("logit", lambda lib, a, b: (a.sigmoid() * 0.9).logit()),
    ("logit eps", lambda lib, a, b: a.sigmoid().logit(eps=0.3)),
    ("erf", lambda lib, a, b: a.erf() * b),
    ("erfc", lambda lib, a, b: a.erfc() + b),
]


@pytest.mark.parametrize("name, fn", BINARY, ids=[b[0] for b in BINARY])
def test_values_and_gradients_match_torch(name, fn):
    rng = np.random.default_rng(0)
    (x, y), (s, t) = leaves([rng.standard_normal((3, 4)), rng.standard_normal((4,))])
    ours, theirs = fn(ct, x, y), fn(torch, s, t)
    same(ours, theirs)
    g = rng.standard_normal((3, 4))
    ours.backward(ct.tensor(g))
    theirs.backward(torch.tensor(g))
    for ours_leaf, their_leaf in ((x, s), (y, t)):
        if their_leaf.grad is None:
            assert ours_leaf.grad is None
        else:
            np.testing.assert_allclose(ours_leaf.grad.numpy(), their_leaf.grad.numpy(), rtol=1e-10, atol=1e-12)
    fresh = [ct.tensor(rng.standard_normal((2, 3))).requires_grad_(), ct.tensor(rng.standard_normal(3)).requires_grad_()]
    assert autograd.gradcheck(lambda a, b: fn(ct, a, b), fresh)


def test_binary_edge_values_match_torch():
    a = np.array([0.0, 0.0, -0.0, 1.0, np.inf, -np.inf, np.nan, 0.0, 2.0])
    b = np.array([0.0, -0.0, -1.0, np.inf, np.inf, 3.0, 1.0, np.nan, -1.0])
    (x, y), (s, t) = (ct.tensor(a), ct.tensor(b)), (torch.tensor(a), torch.tensor(b))
    for name in ("atan2", "hypot", "logaddexp", "xlogy"):
        same(getattr(ct, name)(x, y), getattr(torch, name)(s, t))
    same(ct.xlogy(x, 2.0), torch.xlogy(s, 2.0))
    same(ct.tensor([1, 2]).atan2(ct.tensor([3, 4])), torch.tensor([1, 2]).atan2(torch.tensor([3, 4])))


def test_xlogy_gradient_at_zero_matches_torch():
    (x, y), (s, t) = leaves([np.array([0.0, 0.0, 1.0]), np.array([0.0, 2.0, 3.0])])
    ct.xlogy(x, y).sum().backward()
    torch.xlogy(s, t).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), s.grad.numpy())


# ---------------------------------------------------------------- statistics
QUANTILE_DATA = np.array([[1.0, 2.0, 3.0, 4.0, 7.0], [1.0, np.nan, 3.0, 4.0, 0.0], [5, 4, 3, 2, 1]])


@pytest.mark.parametrize("name", ["quantile", "nanquantile"])
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim, keepdim", [(None, False), (None, True), (1, False), (0, True), (-1, True)])
def test_quantile_matches_torch(name, interpolation, dim, keepdim):
    x, t = ct.tensor(QUANTILE_DATA), torch.tensor(QUANTILE_DATA)
    for q in (0.3, 0.5, [0.0, 0.25, 0.9, 1.0]):
        qs = (ct.tensor(q, dtype=ct.float64), torch.tensor(q, dtype=torch.float64)) if isinstance(q, list) else (q, q)
        same(getattr(x, name)(qs[0], dim, keepdim, interpolation=interpolation),
             getattr(t, name)(qs[1], dim, keepdim, interpolation=interpolation))


def test_quantile_gradient_matches_torch_and_gradcheck():
    a = np.random.default_rng(1).permutation(20).reshape(4, 5).astype(np.float64)
    (x,), (t,) = leaves([a])
    q = [0.1, 0.5, 0.85]
    x.quantile(ct.tensor(q, dtype=ct.float64), 1).sum().backward()
    t.quantile(torch.tensor(q, dtype=torch.float64), 1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    assert autograd.gradcheck(lambda z: z.quantile(0.3, 0), (ct.tensor(a).requires_grad_(),))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "int8", "bool"])
@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_match_torch(dtype, name):
    rng = np.random.default_rng(2)
    a = rng.integers(-2, 3, (4, 7))
    a = a > 0 if dtype == "bool" else a.astype(dtype)
    if dtype.startswith("float"):
        a[1, 3], a[2, [2, 5]] = np.nan, np.nan
    x, t = ct.tensor(a), torch.tensor(a)
    for dim in (0, 1, -1):
        ours, theirs = getattr(x, name)(dim), getattr(t, name)(dim)
        same(ours.values, theirs.values)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    same(getattr(ct, name)(ct.tensor(3.0), 0).values, getattr(torch, name)(torch.tensor(3.0), 0).values)


def test_cummax_gradient_matches_torch():
    a = np.array([[1.0, 3.0, 3.0, 2.0, 5.0], [0.0, -1.0, 4.0, 4.0, 1.0]])
    (x,), (t,) = leaves([a])
    g = np.random.default_rng(3).standard_normal(a.shape)
    (x.cummax(1).values + x.cummin(0).values).backward(ct.tensor(g))
    (t.cummax(1).values + t.cummin(0).values).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_var_mean_std_mean_bincount_isin_match_torch():
    a = np.random.default_rng(4).standard_normal((3, 4))
    x, t = ct.tensor(a), torch.tensor(a)
    for kw in [{}, {"dim": 1}, {"dim": (0, 1), "keepdim": True, "correction": 0}]:
        for name in ("var_mean", "std_mean"):
            for o, th in zip(getattr(ct, name)(x, **kw), getattr(torch, name)(t, **kw)):
                same(o, th)
    ids = np.array([1, 1, 3, 0, 3, 3])
    w = np.array([0.5, 1.0, 2.0, 0.0, 1.0, 1.0], np.float32)
    same(ct.tensor(ids).bincount(), torch.tensor(ids).bincount())
    same(ct.bincount(ct.tensor(ids), ct.tensor(w), minlength=6), torch.bincount(torch.tensor(ids), torch.tensor(w), 6))
    same(ct.tensor(ids[:0]).bincount(), torch.tensor(ids[:0]).bincount())
    same(ct.isin(ct.tensor(ids), ct.tensor([3, 7])), torch.isin(torch.tensor(ids), torch.tensor([3, 7])))
    same(ct.isin(ct.tensor(ids), 3, invert=True), torch.isin(torch.tensor(ids), 3, invert=True))


def test_errors_match_torch_types():
    cases = [
        lambda lib: lib.tensor([1, 2]).quantile(0.5),
        lambda lib: lib.tensor([1.0, 2.0]).quantile(1.5),
        lambda lib: lib.tensor([1.0, 2.0]).quantile(lib.tensor([0.5], dtype=lib.float64)),
        lambda lib: lib.zeros(0).quantile(0.5),
        lambda lib: lib.tensor([1.0]).quantile(0.5, interpolation="cubic"),
        lambda lib: lib.tensor([-1, 2]).bincount(),
        lambda lib: lib.tensor([[1, 2]]).bincount(),
        lambda lib: lib.tensor([1.0]).bincount(),
    ]
    for fn in cases:
        with pytest.raises(Exception) as theirs:
            fn(torch)
        with pytest.raises(type(theirs.value)):
            fn(ct)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6), elements=st.floats(-5, 5)),
       st.floats(0, 1))
def test_quantile_property_against_numpy(a, q):
    np.testing.assert_allclose(ct.tensor(a).quantile(q, -1).numpy(), np.quantile(a, q, axis=-1), rtol=1e-12,
                               atol=1e-12)
