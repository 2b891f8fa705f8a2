"""Gradients of the indexing ops (index_select, gather, take, scatter, scatter_add, index_add,
index_fill, masked_fill, masked_scatter, where) and of the in-place writes (scatter_, masked_fill_,
..., zero_, fill_, copy_) against PyTorch; float64 gradchecks; double backward; and the forward
values and errors of index_add, index_fill, masked_scatter, zero_, fill_ and copy_."""

import warnings

import numpy as np
import pytest
import torch

import cogtensor as ct
from cogtensor.errors import DTypeError, ShapeError, ValueRangeError
from grad_compare import compare_grads, gradcheck, hvp_matches, leaves
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

RNG = np.random.default_rng(11)
X = RNG.standard_normal((3, 4, 5))


def I(m, values):  # noqa: E743 - an index tensor for either library
    return m.from_numpy(np.array(values, dtype=np.int64))


def B(m, values):  # a bool mask for either library
    return m.from_numpy(np.array(values, dtype=bool))


def _distinct_rows(shape, size, seed):
    """An index of ``shape`` (along dim 0) whose columns hold distinct rows in [0, size)."""
    rng = np.random.default_rng(seed)
    cols = int(np.prod(shape[1:]))
    return np.stack([rng.permutation(size)[: shape[0]] for _ in range(cols)], -1).reshape(shape)


REPEATED = [2, 0, 2, 4, 1]
GATHER = RNG.integers(0, 3, (2, 4, 3))
TAKE = np.array([[0, -1, 7], [59, 7, -60]])
SCATTER = _distinct_rows((2, 4, 5), 3, 1)
MASK = RNG.random((4, 5)) < 0.5
SRC = RNG.standard_normal((2, 4, 5))

# (name, fn(module, *tensors), arrays): each differentiable op with its operands
OPS = [
    ("index_select", lambda m, x: x.index_select(-1, I(m, REPEATED)), [X]),
    ("index_select_0d_index", lambda m, x: x.index_select(1, I(m, 3)), [X]),
    ("gather", lambda m, x: x.gather(0, I(m, GATHER)), [X]),
    ("gather_last_dim", lambda m, x: x.gather(-1, I(m, GATHER % 5)), [X]),
    ("take", lambda m, x: x.take(I(m, TAKE)), [X]),
    ("scatter_src", lambda m, x, s: x.scatter(0, I(m, SCATTER), s), [X, SRC]),
    ("scatter_value", lambda m, x: x.scatter(0, I(m, SCATTER), 2.5), [X]),
    ("scatter_add", lambda m, x, s: x.scatter_add(0, I(m, GATHER), s[:, :, :3]), [X, SRC]),
    ("index_add", lambda m, x, s: x.index_add(2, I(m, REPEATED), s), [X, RNG.standard_normal((3, 4, 5))]),
    ("index_add_alpha", lambda m, x, s: x.index_add(0, I(m, [2, 2]), s, alpha=-1.5),
     [X, RNG.standard_normal((2, 4, 5))]),
    ("index_fill", lambda m, x: x.index_fill(1, I(m, [3, 0, 3]), -2.0), [X]),
    ("index_fill_tensor", lambda m, x, v: x.index_fill(1, I(m, [3, 0, 3]), v), [X, np.array(0.7)]),
    ("masked_fill", lambda m, x: x.masked_fill(B(m, MASK), 1.5), [X]),
    ("masked_fill_tensor", lambda m, x, v: x.masked_fill(B(m, MASK), v), [X, np.array(-0.3)]),
    ("masked_fill_grows", lambda m, x, v: x[0, :1].masked_fill(B(m, MASK), v), [X, np.array(2.0)]),
    ("masked_scatter", lambda m, x, s: x.masked_scatter(B(m, MASK), s), [X, RNG.standard_normal(70)]),
    ("masked_scatter_grows", lambda m, x, s: x[0, :1].masked_scatter(B(m, MASK), s), [X, RNG.standard_normal((4, 6))]),
    ("where", lambda m, x, y: m.where(B(m, MASK), x, y), [X, RNG.standard_normal(5)]),
    ("where_scalar", lambda m, x: m.where(B(m, MASK), 0.5, x), [X]),
]
IDS = [name for name, _, _ in OPS]
CASES = [(fn, arrays) for _, fn, arrays in OPS]


@pytest.mark.parametrize("fn,arrays", CASES, ids=IDS)
def test_gradients_match_torch(fn, arrays):
    compare_grads(fn, *arrays)


@pytest.mark.parametrize("fn,arrays", CASES, ids=IDS)
def test_gradients_of_non_contiguous_inputs(fn, arrays):
    """The first operand as a permuted view of a base: the gradient reaches the base."""
    base = np.ascontiguousarray(np.moveaxis(arrays[0], 0, -1))
    compare_grads(lambda m, b, *rest: fn(m, b.permute(2, 0, 1), *rest), base, *arrays[1:])


@pytest.mark.parametrize("fn,arrays", CASES, ids=IDS)
def test_double_backward_matches_torch(fn, arrays):
    """Hessian-vector products of fn(x)^2: the backward formulas are differentiable."""
    hvp_matches(lambda m, *xs: fn(m, *xs) ** 2, *arrays)


@pytest.mark.parametrize("fn,arrays", CASES, ids=IDS)
def test_gradcheck(fn, arrays):
    gradcheck(lambda *ts: fn(ct, *ts), *arrays, second_order=True)


def test_scatter_src_larger_than_index_gets_zero_gradient_outside():
    """torch refuses this backward; the gradient of the part scatter did not read is 0."""
    x, src = np.zeros((3, 3)), RNG.standard_normal((3, 4))
    idx = np.array([[0, 1], [2, 0]])
    ours, _ = leaves([x, src])
    ours[0].scatter(0, ct.from_numpy(idx), ours[1]).backward(ct.from_numpy(np.arange(9.0).reshape(3, 3)))
    t_src = torch.from_numpy(src[:2, :2].copy()).requires_grad_()
    torch.zeros(3, 3, dtype=torch.float64).scatter(0, torch.from_numpy(idx), t_src).backward(
        torch.arange(9.0, dtype=torch.float64).reshape(3, 3))
    want = np.zeros((3, 4))
    want[:2, :2] = t_src.grad.numpy()
    assert np.array_equal(ours[1].grad.numpy(), want)
    gradcheck(lambda a, s: a.scatter(0, ct.from_numpy(idx), s), x, src)


def test_scatter_with_reduce():
    """reduce='add' differentiates as scatter_add; 'multiply' has no derivative, as in torch."""
    idx = GATHER
    ours, theirs = leaves([X, SRC[:, :, :3]])
    ours[0].scatter(0, ct.from_numpy(idx), ours[1], reduce="add").sum().backward()
    theirs[0].scatter_add(0, torch.from_numpy(idx), theirs[1]).sum().backward()
    assert np.array_equal(ours[0].grad.numpy(), theirs[0].grad.numpy())
    assert np.array_equal(ours[1].grad.numpy(), theirs[1].grad.numpy())
    x = ct.ones(3, dtype=ct.float64).requires_grad_()
    with pytest.raises(NotImplementedError, match="reduce='multiply'"):
        x.scatter(0, ct.tensor([0, 0]), 2.0, reduce="multiply").sum().backward()


def test_zero_dim_and_empty_operands():
    compare_grads(lambda m, x: x.index_select(0, I(m, [0])), np.array(2.0))
    compare_grads(lambda m, x: x.gather(0, I(m, 0)), np.array(2.0))
    compare_grads(lambda m, x: x.take(I(m, [[0, 0]])), np.array(2.0))
    compare_grads(lambda m, x: x.gather(1, I(m, np.zeros((3, 0)))), X[:, :, 0])
    compare_grads(lambda m, x: x.index_select(1, I(m, [])), X[:, :, 0])
    compare_grads(lambda m, x, s: x.scatter_add(1, I(m, np.zeros((3, 0))), s), X[:, :, 0], X[:, :0, 1])
    compare_grads(lambda m, x, s: x.index_add(0, I(m, [0]), s), np.array(1.0), np.array(3.0))
    x, s = ct.zeros(2, 3, dtype=ct.float64).requires_grad_(), ct.ones(2, 3, dtype=ct.float64).requires_grad_()
    x.scatter(1, ct.zeros(0, dtype=ct.int64), s).sum().backward()  # an empty index of another shape: torch fails
    assert x.grad.tolist() == [[1.0] * 3] * 2 and s.grad.tolist() == [[0.0] * 3] * 2


def test_where_uint8_condition_warns_once_and_differentiates():
    c = np.array([1, 0, 2], dtype=np.uint8)
    x, y = ct.tensor([1.0, 2.0, 3.0]).requires_grad_(), ct.tensor([4.0, 5.0, 6.0]).requires_grad_()
    with pytest.warns(UserWarning, match="uint8 condition"):
        out = ct.where(ct.from_numpy(c), x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out.backward(ct.tensor([1.0, 10.0, 100.0]))
    assert x.grad.tolist() == [1.0, 0.0, 100.0] and y.grad.tolist() == [0.0, 10.0, 0.0]


def test_where_gives_no_gradient_to_operands_that_need_none():
    x = ct.tensor([1.0, 2.0]).requires_grad_()
    out = ct.where(ct.tensor([True, False]), x, ct.tensor([5.0, 6.0]))
    out.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0]


# ---------------------------------------------------------------------- in place
IN_PLACE = [
    ("scatter_", lambda m, y, s: y.scatter_(0, I(m, SCATTER), s)),
    ("scatter_value_", lambda m, y, s: y.scatter_(1, I(m, np.zeros((3, 1, 5))), 2.0)),
    ("scatter_add_", lambda m, y, s: y.scatter_add_(0, I(m, GATHER), s[:, :, :3])),
    ("index_add_", lambda m, y, s: y.index_add_(0, I(m, [1, 1]), s, alpha=2.0)),
    ("index_fill_", lambda m, y, s: y.index_fill_(2, I(m, [4, 1]), s[0, 0, 0])),
    ("masked_fill_", lambda m, y, s: y.masked_fill_(B(m, MASK), s[1, 2, 3])),
    ("masked_scatter_", lambda m, y, s: y.masked_scatter_(B(m, MASK), m.cat([s, s]))),
    ("zero_", lambda m, y, s: y.zero_()),
    ("fill_", lambda m, y, s: y.fill_(s[0, 1, 2])),
    ("fill_number", lambda m, y, s: y.fill_(3.5)),
    ("copy_", lambda m, y, s: y.copy_(s[1])),
]


@pytest.mark.parametrize("op", [fn for _, fn in IN_PLACE], ids=[name for name, _ in IN_PLACE])
def test_in_place_gradients_match_torch(op):
    """The in-place op on a non-leaf (y = x * 2): gradients to x and to the operands, and the
    result's values, as torch."""
    def fn(m, x, s):
        y = x * 2
        out = op(m, y, s)
        assert out is y
        return y * y
    compare_grads(fn, X, SRC)


@pytest.mark.parametrize("op", [fn for _, fn in IN_PLACE], ids=[name for name, _ in IN_PLACE])
def test_in_place_on_a_view_rewrites_the_base_history(op):
    """The in-place op on a view of a non-leaf: the base's gradient follows (CopySlices)."""
    def fn(m, x, s):
        base = x * 1
        op(m, base[1:], s[:, :, :] * 1)
        return base.exp()
    compare_grads(fn, np.concatenate([X[:1], X]), SRC)


@pytest.mark.parametrize("op", [fn for _, fn in IN_PLACE], ids=[name for name, _ in IN_PLACE])
def test_in_place_on_a_leaf_that_requires_grad_raises(op):
    x = ct.from_numpy(X.copy()).requires_grad_()
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
        op(ct, x, ct.from_numpy(SRC.copy()))
    with ct.graph.no_grad():  # allowed without recording (an optimizer step)
        op(ct, x, ct.from_numpy(SRC.copy()))
    assert x.grad_fn is None and x.requires_grad


@pytest.mark.parametrize("op", [fn for _, fn in IN_PLACE], ids=[name for name, _ in IN_PLACE])
def test_in_place_change_of_a_saved_tensor_raises_at_backward(op):
    x = ct.from_numpy(X.copy()).requires_grad_()
    y = x.exp()  # exp's backward reads y
    op(ct, y, ct.from_numpy(SRC.copy()))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_in_place_with_only_the_operand_requiring_grad():
    """A plain tensor takes history from a src/value that requires grad."""
    v = ct.tensor(2.0, dtype=ct.float64).requires_grad_()
    y = ct.zeros(3, dtype=ct.float64)
    y.masked_fill_(ct.tensor([True, False, True]), v)
    assert y.requires_grad and y.grad_fn.name == "MaskedFillBackward1"
    (y * ct.tensor([1.0, 10.0, 100.0], dtype=ct.float64)).sum().backward()
    assert v.grad.item() == 101.0
    s = ct.tensor([1.0, 2.0], dtype=ct.float32).requires_grad_()
    y = ct.zeros(3, 2, dtype=ct.float64).copy_(s)
    assert y.grad_fn.name == "CopyBackwards"
    (y * 3).sum().backward()
    assert s.grad.dtype is ct.float32 and s.grad.tolist() == [9.0, 9.0]


# ------------------------------------------------------- forward values and errors
DTYPES = ["float64", "float32", "float16", "bfloat16", "int64", "int8", "uint8", "bool"]


def _values(dtype, shape, seed):
    a = np.random.default_rng(seed).integers(-3, 4, shape)
    t = torch.from_numpy(a).to(getattr(torch, dtype))
    return t, ct.from_numpy(t.float().numpy() if dtype == "bfloat16" else t.numpy()).to(getattr(ct, dtype))


def _same(ours, theirs):
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert np.array_equal(np.asarray(ours.to(ct.float64).numpy() if ours.dtype is ct.bfloat16 else ours.numpy()),
                          (theirs.double() if theirs.dtype == torch.bfloat16 else theirs).numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_new_writes_match_torch_values(dtype):
    t, x = _values(dtype, (3, 4), 0)
    ts, s = _values(dtype, (3, 3), 1)
    idx = [3, 0, 3]
    alpha = 2 if dtype != "bool" else 1
    _same(x.index_add(1, ct.tensor(idx), s, alpha=alpha), t.index_add(1, torch.tensor(idx), ts, alpha=alpha))
    _same(x.index_add(0, ct.tensor([2], dtype=ct.int32), s[:1, :1].expand(1, 4).clone()),
          t.index_add(0, torch.tensor([2], dtype=torch.int32), ts[:1, :1].expand(1, 4).clone()))
    _same(x.index_fill(1, ct.tensor([-1, 0]), 1), t.index_fill(1, torch.tensor([-1, 0]), 1))
    _same(x.index_fill(0, ct.tensor(2), s[0, 0]), t.index_fill(0, torch.tensor(2), ts[0, 0]))
    mask = np.random.default_rng(2).random((3, 4)) < 0.5
    _same(x.masked_scatter(ct.from_numpy(mask), s), t.masked_scatter(torch.from_numpy(mask), ts))
    _same(x.masked_scatter(ct.from_numpy(mask[:1]), s.reshape(-1)),
          t.masked_scatter(torch.from_numpy(mask[:1]), ts.reshape(-1)))
    _same(x.clone().zero_(), t.clone().zero_())
    _same(x.clone().fill_(1), t.clone().fill_(1))
    _same(x.clone().fill_(s[0, 1]), t.clone().fill_(ts[0, 1]))
    _same(x.clone().index_add_(1, ct.tensor(idx), s), t.clone().index_add_(1, torch.tensor(idx), ts))
    _same(x.clone().index_fill_(1, ct.tensor([1]), 0), t.clone().index_fill_(1, torch.tensor([1]), 0))
    _same(x.clone().masked_scatter_(ct.from_numpy(mask), s), t.clone().masked_scatter_(torch.from_numpy(mask), ts))


@pytest.mark.parametrize("src_dtype", DTYPES)
@pytest.mark.parametrize("dtype", ["float32", "int64", "uint8", "bool", "bfloat16"])
def test_copy_casts_and_broadcasts_like_torch(dtype, src_dtype):
    t, x = _values(dtype, (2, 3), 0)
    ts, s = _values(src_dtype, (3,), 1)
    if src_dtype.startswith("float") or src_dtype == "bfloat16":
        ts, s = ts / 2, s / 2  # fractions: casts into integers truncate, as torch
    assert x.copy_(s) is x
    _same(x, t.copy_(ts))


def test_copy_handles_overlapping_memory():
    x, t = ct.arange(6.0), torch.arange(6.0)
    x[1:].copy_(x[:5])
    t[1:].copy_(t[:5].clone())
    _same(x, t)


def test_write_errors():
    x = ct.zeros(3, 4)
    with pytest.raises(ShapeError, match=r"index_add: number of indices \(2\) should be equal to source.size"):
        x.index_add(1, ct.tensor([0, 1]), ct.ones(3, 1))
    with pytest.raises(ShapeError, match="source tensor shape must match self tensor shape"):
        x.index_add(1, ct.tensor([0]), ct.ones(2, 1))
    with pytest.raises(DTypeError, match="must have the same dtype"):
        x.index_add(1, ct.tensor([0]), ct.ones(3, 1, dtype=ct.float64))
    with pytest.raises(IndexError, match="index 4 is out of bounds for dimension 1 with size 4"):
        x.index_add_(1, ct.tensor([4]), ct.ones(3, 1))
    with pytest.raises(IndexError, match="supposed to be a vector"):
        x.index_add(1, ct.tensor([[0]]), ct.ones(3, 1))
    with pytest.raises(DTypeError, match="alpha must not be a floating point number"):
        ct.zeros(3, dtype=ct.int64).index_add(0, ct.tensor([0]), ct.ones(1, dtype=ct.int64), alpha=0.5)
    with pytest.raises(IndexError, match="index -5 is out of bounds"):
        x.index_fill(1, ct.tensor([-5]), 1.0)
    with pytest.raises(DTypeError, match="expected dtype int64 for index"):
        x.index_fill(1, ct.tensor([1], dtype=ct.int32), 1.0)
    with pytest.raises(ShapeError, match="only supports a 0-dimensional value tensor"):
        x.index_fill(1, ct.tensor([1]), ct.ones(2))
    with pytest.raises(ValueRangeError, match="without overflow"):
        ct.zeros(3, dtype=ct.int8).index_fill_(0, ct.tensor([1]), 1000)
    with pytest.raises(ShapeError, match="source has 5 elements, fewer than the 12 True values"):
        x.masked_scatter(ct.ones(3, 4, dtype=ct.bool), ct.ones(5))
    with pytest.raises(DTypeError, match="only boolean masks"):
        x.masked_scatter(ct.ones(4, dtype=ct.uint8), ct.ones(12))
    with pytest.raises(DTypeError, match="same dtype"):
        x.masked_scatter(ct.ones(4, dtype=ct.bool), ct.ones(12, dtype=ct.int64))
    with pytest.raises(ShapeError, match="cannot grow the tensor"):
        x.masked_scatter_(ct.ones(2, 3, 4, dtype=ct.bool), ct.ones(24))
    with pytest.raises(ShapeError, match=r"copy_: src of shape \[2\] cannot be broadcast to the tensor's shape"):
        x.copy_(ct.ones(2))
    with pytest.raises(TypeError, match="argument 'src' must be a Tensor"):
        x.copy_([1.0, 2.0])
    with pytest.raises(ShapeError, match="only supports a 0-dimensional value tensor"):
        x.fill_(ct.ones(2))
    with pytest.raises(ValueRangeError, match="without overflow"):
        ct.zeros(2, dtype=ct.uint8).fill_(-1)
    with pytest.raises(ValueRangeError, match="read-only"):
        ct.zeros(4).expand(3, 4).zero_()
    assert np.array_equal(x.numpy(), np.zeros((3, 4)))  # nothing was written by a failed call


def test_grad_fn_names_follow_torch():
    x, t = ct.from_numpy(X.copy()).requires_grad_(), torch.from_numpy(X.copy()).requires_grad_()
    v, tv = ct.tensor(1.0, dtype=ct.float64).requires_grad_(), torch.tensor(1.0, dtype=torch.float64).requires_grad_()
    cases = [
        lambda m, a, b: a.index_select(0, I(m, [0])), lambda m, a, b: a.gather(0, I(m, GATHER)),
        lambda m, a, b: a.take(I(m, [0])), lambda m, a, b: a.scatter(0, I(m, SCATTER), a[:2]),
        lambda m, a, b: a.scatter(0, I(m, SCATTER), 1.0), lambda m, a, b: a.scatter_add(0, I(m, GATHER), a),
        lambda m, a, b: a.masked_fill(B(m, MASK), 1.0), lambda m, a, b: a.masked_fill(B(m, MASK), b),
        lambda m, a, b: a.index_add(0, I(m, [0]), a[:1]), lambda m, a, b: a.index_fill(0, I(m, [0]), 1.0),
        lambda m, a, b: a.index_fill(0, I(m, [0]), b), lambda m, a, b: a.masked_scatter(B(m, MASK), a),
        lambda m, a, b: (a * 1).zero_(), lambda m, a, b: (a * 1).fill_(2.0), lambda m, a, b: (a * 1).fill_(b),
        lambda m, a, b: (a * 1).copy_(a), lambda m, a, b: m.where(B(m, MASK), a, b),
    ]
    for fn in cases:
        assert fn(ct, x, v).grad_fn.name == type(fn(torch, t, tv).grad_fn).__name__
