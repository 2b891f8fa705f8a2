"""Sorting and searching against torch: values, indices (exact where torch's are defined:
sort is stable; elsewhere indices must point at equal values), dtypes, gradients, errors."""

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

DTYPES = ["float32", "float64", "int64", "int32", "int8", "uint8", "bool", "float16"]


def sample(shape, dtype, seed=0, nan=True):
    """Few distinct values (many ties), with NaN and inf among floats."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-3, 4, shape)
    if dtype == "bool":
        return a > 0
    if dtype == "uint8":
        return (a + 3).astype(np.uint8)
    a = a.astype(dtype)
    if np.dtype(dtype).kind == "f" and nan and a.size:
        flat = a.reshape(-1)
        flat[rng.integers(0, a.size, max(1, a.size // 7))] = np.nan
        flat[rng.integers(0, a.size, max(1, a.size // 9))] = np.inf
    return a


def both(a):
    return ct.tensor(a), torch.tensor(a)


def same(ours, theirs):
    o, t = ours.numpy(), theirs.numpy()
    assert o.shape == t.shape and o.dtype == t.dtype, (o.shape, t.shape, o.dtype, t.dtype)
    np.testing.assert_array_equal(o, t)


def indices_point_at_values(x, values, indices, dim):
    """Indices valid, and x gathered at them gives the values (NaN included)."""
    if x.ndim == 0:
        same(values, ct.tensor(x.numpy()))
        return
    picked = np.take_along_axis(x.numpy(), indices.numpy(), dim)
    np.testing.assert_array_equal(picked, values.numpy())


SHAPES = [(7,), (4, 6), (3, 1, 5), (0, 4), (4, 0), ()]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_and_argsort_match_torch_exactly(dtype, shape, descending):
    a = sample(shape, dtype)
    x, t = both(a)
    for dim in ([-1, 0] if len(shape) else [0, -1]):
        for stable in (False, True):
            ours, theirs = x.sort(dim, descending, stable), t.sort(dim=dim, descending=descending, stable=stable)
            same(ours.values, theirs.values)
            same(ours.indices, theirs.indices)
            same(x.argsort(dim, descending, stable), torch.argsort(t, dim=dim, descending=descending, stable=stable))
    same(ct.msort(x) if len(shape) else x.sort(0).values, torch.msort(t) if len(shape) else t.sort(0).values)


@pytest.mark.parametrize("dtype", [d for d in DTYPES if d != "bool"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_values_match_torch(dtype, largest):
    a = sample((5, 8), dtype, seed=1)
    x, t = both(a)
    for dim, k in [(-1, 3), (0, 5), (1, 0), (1, 8)]:
        ours, theirs = x.topk(k, dim, largest), t.topk(k, dim, largest)
        same(ours.values, theirs.values)
        assert ours.indices.dtype == ct.int64
        indices_point_at_values(x, ours.values, ours.indices, dim)


def test_topk_distinct_values_give_torch_indices_and_zero_d():
    a = np.random.default_rng(2).permutation(40).reshape(4, 10).astype(np.float32)
    x, t = both(a)
    same(x.topk(4).indices, t.topk(4).indices)
    same(x.topk(2, 0, largest=False).indices, t.topk(2, 0, largest=False).indices)
    same(ct.tensor(5.0).topk(1).values, torch.tensor(5.0).topk(1).values)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "uint8"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue_median_nanmedian_match_torch(dtype, keepdim):
    a = sample((5, 7), dtype, seed=3)
    x, t = both(a)
    for dim in (0, 1, -1):
        for ours, theirs in [(x.kthvalue(3, dim, keepdim), t.kthvalue(3, dim, keepdim)),
                             (x.median(dim, keepdim), t.median(dim, keepdim)),
                             (x.nanmedian(dim, keepdim), t.nanmedian(dim, keepdim))]:
            same(ours.values, theirs.values)
            assert ours.indices.shape == theirs.indices.shape
            picked = np.take_along_axis(a, ours.indices.numpy() if keepdim else np.expand_dims(ours.indices.numpy(), dim),
                                        dim)
            np.testing.assert_array_equal(picked.squeeze(dim) if not keepdim else picked, ours.values.numpy())
    same(x.median(), t.median())
    same(x.nanmedian(), t.nanmedian())


def test_median_edge_cases_match_torch():
    for a in [np.array([], np.float32), np.array([np.nan, np.nan], np.float32), np.array(2.5), np.array([1, 2, 3, 4])]:
        x, t = both(a)
        same(x.median(), t.median())
        same(x.nanmedian(), t.nanmedian())
    x, t = both(np.array([[np.nan, 1.0, np.nan], [np.nan, np.nan, np.nan]], np.float32))
    same(x.nanmedian(1).values, t.nanmedian(1).values)
    same(x.median(1).values, t.median(1).values)
    with pytest.raises(IndexError, match="Expected reduction dim 1 to have non-zero size"):
        ct.zeros(2, 0).median(1)


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_unique_matches_torch(dtype):
    a = sample((4, 6), dtype, seed=4, nan=False)
    x, t = both(a)
    for kw in [{}, {"return_inverse": True}, {"return_counts": True}, {"return_inverse": True, "return_counts": True}]:
        ours, theirs = x.unique(**kw), torch.unique(t, **kw)
        for o, th in zip(ours if isinstance(ours, tuple) else [ours], theirs if isinstance(theirs, tuple) else [theirs]):
            same(o, th)
        for dim in (0, 1):
            ours, theirs = ct.unique(x, dim=dim, **kw), torch.unique(t, dim=dim, **kw)
            for o, th in zip(ours if isinstance(ours, tuple) else [ours], theirs if isinstance(theirs, tuple) else [theirs]):
                same(o, th)


def test_unique_consecutive_matches_torch():
    a = np.array([[1, 1, 2, 2, 2, 1], [1, 1, 2, 3, 3, 1]])
    x, t = both(a)
    kw = {"return_inverse": True, "return_counts": True}
    for dim in (None, 0, 1):
        for o, th in zip(x.unique_consecutive(dim=dim, **kw), t.unique_consecutive(dim=dim, **kw)):
            same(o, th)
    same(ct.unique_consecutive(ct.tensor([], dtype=ct.float32)), torch.unique_consecutive(torch.tensor([])))


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_and_bucketize_match_torch(right):
    rng = np.random.default_rng(5)
    seq = np.sort(rng.integers(0, 10, 12)).astype(np.float32)
    vals = rng.integers(-1, 12, (3, 4)).astype(np.float32)
    (s, v), (ts, tv) = (ct.tensor(seq), ct.tensor(vals)), (torch.tensor(seq), torch.tensor(vals))
    same(ct.searchsorted(s, v, right=right), torch.searchsorted(ts, tv, right=right))
    same(ct.searchsorted(s, v, side="right" if right else "left", out_int32=True),
         torch.searchsorted(ts, tv, side="right" if right else "left", out_int32=True))
    same(ct.bucketize(v, s, right=right), torch.bucketize(tv, ts, right=right))
    batched = np.sort(rng.standard_normal((3, 5)), axis=1)
    queries = rng.standard_normal((3, 4))
    same(ct.searchsorted(ct.tensor(batched), ct.tensor(queries), right=right),
         torch.searchsorted(torch.tensor(batched), torch.tensor(queries), right=right))
    perm = rng.permutation(12)
    unsorted = seq[perm]
    sorter = np.argsort(unsorted, kind="stable")
    same(ct.searchsorted(ct.tensor(unsorted), v, sorter=ct.tensor(sorter)),
         torch.searchsorted(torch.tensor(unsorted), tv, sorter=torch.tensor(sorter)))
    same(ct.searchsorted(s, 3.0), torch.searchsorted(ts, 3.0))


# ---------------------------------------------------------------- gradients
GRAD_CASES = [
    ("sort", lambda x: x.sort(1, descending=True).values),
    ("topk", lambda x: x.topk(3, 0).values),
    ("topk smallest", lambda x: x.topk(2, -1, largest=False).values),
    ("kthvalue", lambda x: x.kthvalue(2, 1, keepdim=True).values),
    ("median dim", lambda x: x.median(0).values),
    ("nanmedian dim", lambda x: x.nanmedian(1).values),
    ("median", lambda x: x.median()),
    ("msort", lambda x: ct.msort(x) if isinstance(x, ct.Tensor) else torch.msort(x)),
]


@pytest.mark.parametrize("name, fn", GRAD_CASES)
def test_gradients_match_torch_and_gradcheck(name, fn):
    a = np.random.default_rng(6).permutation(24).reshape(4, 6).astype(np.float64)  # distinct: no ties
    (x,), (t,) = leaves([a])
    g = np.random.default_rng(7).standard_normal(tuple(fn(t).shape))
    fn(x).backward(ct.tensor(g))
    fn(t).backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())
    x_nc = ct.tensor(a.T.copy()).requires_grad_()
    assert autograd.gradcheck(lambda y: fn(y.mT), (x_nc,))


def test_median_gradient_with_ties_spreads_as_torch():
    (x,), (t,) = leaves([np.array([1.0, 1.0, 1.0, 2.0])])
    x.median().backward()
    t.median().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_sort_double_backward():
    (x,), (t,) = leaves([np.array([[3.0, 1.0, 2.0]])])
    gx, = autograd.grad((x.sort().values ** 2).sum(), x, create_graph=True)
    gt, = torch.autograd.grad((t.sort().values ** 2).sum(), t, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), gt.detach().numpy())
    gx.sum().backward()
    gt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


# ---------------------------------------------------------------- errors
def test_errors_match_torch_types():
    x, t = both(np.arange(5.0))
    for fn in (lambda z: z.topk(6), lambda z: z.topk(-1), lambda z: z.kthvalue(0), lambda z: z.kthvalue(6)):
        with pytest.raises(RuntimeError):
            fn(t)
        with pytest.raises(RuntimeError, match="out of range"):
            fn(x)
    with pytest.raises(IndexError, match="dimension out of range"):
        x.sort(1)
    with pytest.raises(TypeError, match="k must be an integer"):
        x.topk(1.5)
    with pytest.raises(RuntimeError, match="topk does not support bool"):
        ct.tensor([True, False]).topk(1)
    with pytest.raises(ct.DTypeError, match="complex"):
        ct.tensor([1 + 1j]).sort()
    with pytest.raises(RuntimeError, match="boundaries tensor must be 1 dimension"):
        ct.bucketize(x, ct.zeros(2, 2))
    with pytest.raises(RuntimeError, match="side and right can't be set to opposites"):
        ct.searchsorted(x, x, right=True, side="left")
    with pytest.raises(RuntimeError, match="first N-1 dimensions"):
        ct.searchsorted(ct.zeros(2, 3), ct.zeros(3, 1))


# ---------------------------------------------------------------- properties
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                  elements=st.floats(allow_nan=True, allow_infinity=True, width=32)),
       st.booleans(), st.integers(-1, 0))
def test_sort_property_permutation_and_order(a, descending, dim):
    x = ct.tensor(a)
    values, indices = x.sort(dim, descending)
    idx = indices.numpy()
    assert (np.sort(idx, axis=dim) == np.arange(a.shape[dim]).reshape([-1 if i == dim % a.ndim else 1
                                                                        for i in range(a.ndim)])).all()
    np.testing.assert_array_equal(np.take_along_axis(a, idx, dim), values.numpy())
    t = torch.tensor(a).sort(dim=dim, descending=descending, stable=True)
    np.testing.assert_array_equal(idx, t.indices.numpy())
