"""Layout ops against torch: values and dtypes, views sharing memory, gradients (torch and
float64 gradcheck, double backward), errors; hypothesis properties."""

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


def same(ours, theirs):
    o, t = ours.detach().numpy(), theirs.detach().numpy()
    assert o.shape == t.shape and o.dtype == t.dtype, (o.shape, t.shape, o.dtype, t.dtype)
    np.testing.assert_array_equal(o, t)


# (label, input shape, fn(lib, x)); lib is cogtensor or torch, so one lambda serves both
CASES = [
    ("t 2d", (3, 4), lambda lib, x: x.t()),
    ("t 1d", (5,), lambda lib, x: x.t()),
    ("flip", (2, 3, 4), lambda lib, x: x.flip(0, 2)),
    ("flip neg dims fn", (2, 3, 4), lambda lib, x: lib.flip(x, (-1,))),
    ("fliplr", (3, 4), lambda lib, x: lib.fliplr(x)),
    ("flipud", (3, 4, 2), lambda lib, x: x.flipud()),
    ("roll flat", (3, 4), lambda lib, x: x.roll(5)),
    ("roll dims", (3, 4, 2), lambda lib, x: lib.roll(x, (1, -3), (0, 1))),
    ("repeat", (2, 3), lambda lib, x: x.repeat(2, 1, 3)),
    ("repeat zero", (2, 3), lambda lib, x: x.repeat(0, 2)),
    ("tile", (2, 3, 2), lambda lib, x: lib.tile(x, (2, 2))),
    ("repeat_interleave", (3, 2), lambda lib, x: x.repeat_interleave(2, dim=0)),
    ("repeat_interleave flat", (3, 2), lambda lib, x: x.repeat_interleave(3)),
    ("repeat_interleave tensor", (3, 2), lambda lib, x: lib.repeat_interleave(x, lib.tensor([1, 0, 3]), dim=0)),
    ("tril", (4, 5), lambda lib, x: x.tril()),
    ("tril batched offset", (2, 4, 3), lambda lib, x: lib.tril(x, -1)),
    ("triu", (4, 5), lambda lib, x: x.triu(2)),
    ("diagonal", (4, 5), lambda lib, x: x.diagonal()),
    ("diagonal offset dims", (3, 4, 5), lambda lib, x: x.diagonal(1, 2, 0)),
    ("diagonal below", (4, 5), lambda lib, x: lib.diagonal(x, -2)),
    ("diagonal empty", (4, 5), lambda lib, x: x.diagonal(7)),
    ("diag 1d", (4,), lambda lib, x: lib.diag(x, 1)),
    ("diag 2d", (4, 5), lambda lib, x: x.diag(-1)),
    ("diag_embed", (2, 3), lambda lib, x: lib.diag_embed(x, -1)),
    ("diag_embed dims", (2, 3), lambda lib, x: x.diag_embed(1, 0, 2)),
    ("trace", (4, 3), lambda lib, x: x.trace()),
    ("movedim", (2, 3, 4), lambda lib, x: x.movedim(0, -1)),
    ("movedim many", (2, 3, 4, 5), lambda lib, x: lib.movedim(x, (0, 3), (2, 0))),
    ("moveaxis", (2, 3, 4), lambda lib, x: lib.moveaxis(x, 2, 0)),
    ("tensor_split sections", (7, 2), lambda lib, x: x.tensor_split(3)[0]),
    ("tensor_split last", (7, 2), lambda lib, x: x.tensor_split(3)[2]),
    ("tensor_split indices", (2, 7), lambda lib, x: lib.tensor_split(x, [1, 5, 9], dim=1)[1]),
    ("masked_select", (3, 4), lambda lib, x: x.masked_select(lib.tensor([True, False, True, True]))),
    ("select", (3, 4, 2), lambda lib, x: x.select(1, -2)),
    ("unfold overlapping", (3, 7), lambda lib, x: x.unfold(1, 3, 2)),
    ("unfold dim0", (6, 2), lambda lib, x: x.unfold(0, 2, 1)),
    ("unfold gaps", (9,), lambda lib, x: x.unfold(0, 2, 4)),
    ("ravel", (3, 4), lambda lib, x: lib.ravel(x)),
    ("take_along_dim", (3, 4), lambda lib, x: x.take_along_dim(lib.tensor([[0], [3], [1]]), 1)),
    ("take_along_dim bcast", (3, 4), lambda lib, x: lib.take_along_dim(x, lib.tensor([[2, 0, 1, 2]]), 0)),
    ("take_along_dim flat", (3, 4), lambda lib, x: x.take_along_dim(lib.tensor([11, 0, 5]))),
    ("broadcast_tensors", (3, 1), lambda lib, x: lib.broadcast_tensors(x, lib.ones(4))[0]),
    ("hstack", (3, 2), lambda lib, x: lib.hstack([x, x * 2])),
    ("hstack 1d", (5,), lambda lib, x: lib.hstack([x, x[:2]])),
    ("vstack", (4,), lambda lib, x: lib.vstack([x, x.flip(0)])),
    ("meshgrid ij", (3,), lambda lib, x: lib.meshgrid(x, x[:2], indexing="ij")[1]),
    ("meshgrid xy", (3,), lambda lib, x: lib.meshgrid(x, x[:2] * 3, x[:1], indexing="xy")[0]),
]


@pytest.mark.parametrize("label, shape, fn", CASES, ids=[c[0] for c in CASES])
def test_values_gradients_match_torch_and_gradcheck(label, shape, fn):
    a = np.random.default_rng(0).standard_normal(shape)
    (x,), (t,) = leaves([a])
    ours, theirs = fn(ct, x), fn(torch, t)
    same(ours, theirs)
    g = np.random.default_rng(1).standard_normal(tuple(theirs.shape))
    ours.backward(ct.tensor(g))
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-12)
    # non-contiguous input of the same shape, float64 finite differences
    y = ct.tensor(np.ascontiguousarray(np.swapaxes(a, 0, -1))).requires_grad_()
    assert autograd.gradcheck(lambda z: fn(ct, z.transpose(0, -1)), (y,))


@pytest.mark.parametrize("label, shape, fn", [c for c in CASES if c[0] in
                                              ("diagonal", "diag 2d", "diag_embed", "repeat", "roll dims",
                                               "repeat_interleave", "tril")])
def test_double_backward(label, shape, fn):
    a = np.random.default_rng(2).standard_normal(shape)
    (x,), (t,) = leaves([a])
    gx, = autograd.grad((fn(ct, x) ** 3).sum(), x, create_graph=True)
    gt, = torch.autograd.grad((fn(torch, t) ** 3).sum(), t, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    (gx * gx).sum().backward()
    (gt * gt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("dtype", ["int64", "int8", "bool", "float16", "uint8"])
def test_other_dtypes_match_torch(dtype):
    a = (np.random.default_rng(3).integers(0, 3, (3, 4)) > 0) if dtype == "bool" else \
        np.random.default_rng(3).integers(0, 9, (3, 4)).astype(dtype)
    x, t = ct.tensor(a), torch.tensor(a)
    for label, shape, fn in CASES:
        if shape == (3, 4) and not (dtype == "bool" and label == "trace"):
            same(fn(ct, x), fn(torch, t))


def test_views_share_memory_and_version():
    x = ct.zeros(3, 4)
    d = x.diagonal(1)
    d[...] = 7.0
    t = torch.zeros(3, 4)
    t.diagonal(1)[...] = 7.0
    same(x, t)
    w = ct.zeros(6)
    w.unfold(0, 2, 2)[1, 0] = 3.0  # windows are views
    assert w[2].item() == 3.0
    x.t()[0, 1] = 5.0
    assert x[1, 0].item() == 5.0
    before = x._version
    x.movedim(0, 1).mul_(2)
    assert x._version > before and x[1, 0].item() == 10.0
    assert np.shares_memory(x.t().numpy(), x.numpy())
    assert not np.shares_memory(x.flip(0).numpy(), x.numpy())  # a copy, as torch


def test_in_place_triangles_and_gradient_through_view():
    a = np.random.default_rng(4).standard_normal((3, 3))
    (x,), (t,) = leaves([a])
    ours, theirs = x * 1.0, t * 1.0
    assert ours.tril_(-1) is ours
    theirs.tril_(-1)
    same(ours, theirs)
    ours.triu_()
    theirs.triu_()
    (ours.sum() + x.diagonal().sum()).backward()
    (theirs.sum() + t.diagonal().sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_new_factories_and_triangle_indices_match_torch():
    x, t = ct.ones(2, dtype=ct.float64), torch.ones(2, dtype=torch.float64)
    same(x.new_zeros(2, 3), t.new_zeros(2, 3))
    same(x.new_ones((3,)), t.new_ones((3,)))
    same(x.new_full((2, 2), 4), t.new_full((2, 2), 4))
    same(x.new_tensor([1, 2]), t.new_tensor([1, 2]))
    same(x.new_zeros(2, dtype=ct.int32), t.new_zeros(2, dtype=torch.int32))
    assert x.new_empty(0, 3).shape == (0, 3) and x.new_ones(2, requires_grad=True).requires_grad
    for args in [(3, 4), (4, 3, 1), (3, 3, -1), (0, 3), (3, 5, -4)]:
        same(ct.tril_indices(*args), torch.tril_indices(*args))
        same(ct.triu_indices(*args), torch.triu_indices(*args))


def test_broadcast_shapes_argwhere_and_meshgrid_warning_match_torch():
    assert ct.broadcast_shapes((2, 1), (3,), 1) == torch.broadcast_shapes((2, 1), (3,), 1)
    with pytest.raises(RuntimeError):
        ct.broadcast_shapes((2,), (3,))
    a = np.array([[0, 1], [2, 0]])
    same(ct.argwhere(ct.tensor(a)), torch.argwhere(torch.tensor(a)))
    with pytest.warns(UserWarning, match="indexing argument"):
        ct.meshgrid(ct.arange(2), ct.arange(3))


def test_errors():
    x = ct.zeros(2, 3, 4)
    with pytest.raises(IndexError, match="out of range"):
        x.select(1, 3)
    with pytest.raises(RuntimeError, match="maximum size"):
        x.unfold(1, 4, 1)
    with pytest.raises(RuntimeError, match="must be > 0"):
        x.unfold(1, 2, 0)
    with pytest.raises(RuntimeError, match="should be Long"):
        x.take_along_dim(ct.zeros(1, 1, 1, dtype=ct.int32), 0)
    with pytest.raises(ct.ShapeError, match="<= 2 dimensions"):
        x.t()
    with pytest.raises(RuntimeError, match="appear more than once"):
        x.flip(0, 0)
    with pytest.raises(RuntimeError, match="can not be smaller"):
        x.repeat(2, 2)
    with pytest.raises(RuntimeError, match="shifts and dimensions must align"):
        x.roll((1, 2), 0)
    with pytest.raises(ct.ShapeError, match="2 or more dimensions"):
        ct.zeros(3).tril()
    with pytest.raises(RuntimeError, match="cannot be identical"):
        x.diagonal(0, 1, 1)
    with pytest.raises(ct.ShapeError, match="Supports 1D or 2D"):
        x.diag()
    with pytest.raises(RuntimeError, match="same size as input along dim"):
        x.repeat_interleave(ct.tensor([1, 2]), dim=1)
    with pytest.raises(RuntimeError, match="can not be negative"):
        x.repeat_interleave(-1)
    with pytest.raises(RuntimeError, match="expected BoolTensor"):
        x.masked_select(ct.ones(4))
    with pytest.raises(RuntimeError, match="larger than 0"):
        x.tensor_split(0)
    with pytest.raises(IndexError, match="dimension out of range"):
        x.movedim(3, 0)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, max_side=5)), st.integers(-6, 6),
       st.data())
def test_properties(a, k, data):
    x = ct.tensor(a)
    dims = data.draw(st.lists(st.integers(0, a.ndim - 1), min_size=1, max_size=a.ndim, unique=True))
    np.testing.assert_array_equal(x.flip(dims).flip(dims).numpy(), a)
    np.testing.assert_array_equal(x.roll(a.shape[dims[0]], dims[0]).numpy(), a)
    np.testing.assert_array_equal((x.tril(k) + x.triu(k + 1)).numpy(), a)
    np.testing.assert_array_equal(x.repeat(*([2] * a.ndim)).numpy(), np.tile(a, [2] * a.ndim))
    np.testing.assert_array_equal(x.diagonal(k, -2, -1).numpy(), np.diagonal(a, k, -2, -1))
