"""index_select, gather, scatter, scatter_add, masked_fill, where, take and nonzero against
PyTorch (values, shapes, dtypes, errors) and, by property tests, against NumPy."""

import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cogtensor as ct
from cogtensor.errors import DTypeError, ValueRangeError

rng = np.random.default_rng(7)

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "int8", "uint8", "bool"]


def rand(shape, dtype: str) -> np.ndarray:
    d = getattr(ct, dtype)
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if d.is_floating_point:
        return rng.standard_normal(shape).astype(d.numpy)
    return rng.integers(0 if dtype == "uint8" else -50, 50, shape).astype(d.numpy)


def T(shape, dtype="float32") -> ct.Tensor:
    return ct.from_numpy(rand(shape, dtype))


def I(values, dtype=np.int64) -> ct.Tensor:  # noqa: E743 - an index tensor
    return ct.from_numpy(np.asarray(values, dtype=dtype))


def to_torch(t: ct.Tensor) -> torch.Tensor:
    a = np.array(t.numpy())
    if t.dtype is ct.bfloat16:
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(a)


def assert_like(ours, theirs, rtol=0.0):
    """Same shape, dtype and values (exact unless ``rtol``); tuples compare element-wise."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs)
        for o, t in zip(ours, theirs):
            assert_like(o, t, rtol)
        return
    assert isinstance(ours, ct.Tensor)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    got = ours.numpy().astype(np.float64) if ours.dtype.is_floating_point else ours.numpy()
    want = theirs.double().numpy() if theirs.dtype.is_floating_point else theirs.numpy()
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol) if rtol else np.testing.assert_array_equal(got, want)


def raises(exc, pattern):
    return pytest.raises(exc, match=re.escape(pattern))


# ------------------------------------------------------------------ index_select
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_index_select_matches_torch(dtype, index_dtype):
    x = T((4, 5, 3), dtype)
    for dim, idx in [(0, [3, 0, 3]), (1, [4]), (-1, [2, 0, 1, 1]), (2, []), (1, 2)]:
        i = I(idx, index_dtype)
        assert_like(x.index_select(dim, i), to_torch(x).index_select(dim, to_torch(i)))
        assert_like(ct.index_select(x, dim, i), torch.index_select(to_torch(x), dim, to_torch(i)))


def test_index_select_0d_empty_and_views():
    s = ct.tensor(5.0)
    for i in [I([0]), I(0)]:
        assert_like(s.index_select(0, i), to_torch(s).index_select(0, to_torch(i)))
    v = T((6, 8))[::2, 1::3]                         # non-contiguous (3, 3)
    assert_like(v.index_select(1, I([2, 0])), to_torch(v).index_select(1, torch.tensor([2, 0])))
    e = T((0, 3))
    assert_like(e.index_select(1, I([1, 1])), to_torch(e).index_select(1, torch.tensor([1, 1])))
    out = v.index_select(0, I([0]))
    assert not np.shares_memory(out.numpy(), v.numpy())


# ------------------------------------------------------------------------ gather
@pytest.mark.parametrize("dtype", DTYPES)
def test_gather_matches_torch(dtype):
    x = T((3, 4, 5), dtype)
    for dim in [0, 1, 2, -1]:
        size = x.shape[dim]
        ishape = [2, 3, 4]
        ishape[dim] = 6                                   # larger than x along dim is allowed
        for index_dtype in (np.int64, np.int32):
            i = I(rng.integers(0, size, ishape), index_dtype)
            assert_like(x.gather(dim, i), to_torch(x).gather(dim, to_torch(i)))
            assert_like(ct.gather(x, dim, i), torch.gather(to_torch(x), dim, to_torch(i)))


def test_gather_0d_empty_and_views():
    s = ct.tensor(5.0)
    for i in [I(0), I([0, 0])]:
        assert_like(s.gather(0, i), to_torch(s).gather(0, to_torch(i)))
    v = ct.arange(3.0)
    assert_like(v.gather(0, I(1)), to_torch(v).gather(0, torch.tensor(1)))
    x = T((5, 4)).T                                       # non-contiguous (4, 5)
    i = I(rng.integers(0, 5, (4, 2)))
    assert_like(x.gather(1, i), to_torch(x).gather(1, to_torch(i)))
    for ishape, dim in [((0, 2), 0), ((4, 0), 1)]:
        i = I(np.zeros(ishape))
        assert_like(x.gather(dim, i), to_torch(x).gather(dim, to_torch(i)))


def test_empty_index_is_not_checked_further_like_torch():
    # torch skips shape and index-dtype checks for an empty gather/scatter index (e.g. torch.tensor([]))
    x, src = T((3,)), T((1,))
    for i in [I(np.zeros((0, 2, 3))), ct.from_numpy(np.zeros((0,), np.float32))]:
        ti = to_torch(i)
        assert_like(x.gather(0, i), to_torch(x).gather(0, ti))
        assert_like(x.scatter(0, i, src), to_torch(x).scatter(0, ti, to_torch(src)))
        assert_like(x.scatter(0, i, 1.0), to_torch(x).scatter(0, ti, 1.0))
        assert_like(x.scatter_add(0, i, src), to_torch(x).scatter_add(0, ti, to_torch(src)))
    with raises(DTypeError, "scatter: expected self.dtype to be equal to src.dtype"):
        x.scatter(0, I(np.zeros((0,))), T((1,), "float64"))       # the src dtype is still checked


# ------------------------------------------------------------ scatter, scatter_add
def unique_index(shape, dim, size):
    """An index of `shape` whose entries along `dim` are distinct (a well-defined scatter)."""
    perm = np.argsort(rng.random((*shape[:dim], size, *shape[dim + 1:])), axis=dim)
    return np.take(perm, np.arange(shape[dim]), axis=dim)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scatter_matches_torch(dtype):
    x = T((4, 5, 3), dtype)
    for dim in [0, 1, 2, -1]:
        d = dim % 3
        ishape = [3, 4, 2]
        ishape[d] = min(ishape[d], x.shape[d])
        i = I(unique_index(ishape, d, x.shape[d]))
        src = T((4, 5, 3), dtype)                          # larger than the index: its corner is used
        assert_like(x.scatter(dim, i, src), to_torch(x).scatter(dim, to_torch(i), to_torch(src)))
        assert_like(ct.scatter(x, dim, i, src), torch.scatter(to_torch(x), dim, to_torch(i), to_torch(src)))
        value = True if dtype == "bool" else 3
        assert_like(x.scatter(dim, i, value), to_torch(x).scatter(dim, to_torch(i), value))
        assert_like(x.scatter(dim, i, value=value), to_torch(x).scatter(dim, to_torch(i), value=value))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int8"])
@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_reduce_matches_torch(dtype, reduce):
    x = T((4, 5), dtype)
    i = I(rng.integers(0, 4, (6, 5)))                      # duplicates combine
    src = T((6, 5), dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                    # torch deprecates reduce= with a tensor src
        want = to_torch(x).scatter(0, to_torch(i), to_torch(src), reduce=reduce)
        want_value = to_torch(x).scatter(0, to_torch(i), 2, reduce=reduce)
    assert_like(x.scatter(0, i, src, reduce=reduce), want)
    assert_like(x.scatter(0, i, 2, reduce=reduce), want_value)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8"])
def test_scatter_add_sums_duplicates_like_torch(dtype):
    x = T((4, 5, 3), dtype)
    for dim in [0, 1, -1]:
        ishape = [4, 5, 3]
        ishape[dim] = 7
        i = I(rng.integers(0, x.shape[dim], ishape))
        src = T(ishape, dtype)
        rtol = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 1e-6}.get(dtype, 0.0)
        assert_like(x.scatter_add(dim, i, src), to_torch(x).scatter_add(dim, to_torch(i), to_torch(src)), rtol)
        assert_like(ct.scatter_add(x, dim, i, src), torch.scatter_add(to_torch(x), dim, to_torch(i), to_torch(src)), rtol)


def test_scatter_0d_empty_views_and_inplace():
    s = ct.tensor(5.0)
    assert_like(s.scatter(0, I(0), ct.tensor(3.0)), to_torch(s).scatter(0, torch.tensor(0), torch.tensor(3.0)))
    assert_like(s.scatter_add(0, I([0, 0]), ct.tensor([3.0, 4.0])),
                to_torch(s).scatter_add(0, torch.tensor([0, 0]), torch.tensor([3.0, 4.0])))
    x = T((5, 4)).T                                        # non-contiguous (4, 5)
    i = I(unique_index((2, 5), 0, 4))
    src = T((2, 5))
    assert_like(x.scatter(0, i, src), to_torch(x).scatter(0, to_torch(i), to_torch(src)))
    before = x.numpy().copy()
    out = x.scatter(0, I(np.zeros((0, 5))), src)           # empty index: a copy, unchanged
    np.testing.assert_array_equal(out.numpy(), before)
    assert not np.shares_memory(out.numpy(), x.numpy())
    np.testing.assert_array_equal(x.numpy(), before)       # out-of-place left x alone
    y = ct.zeros(3, 4)
    data = y.numpy()
    assert y.scatter_(1, I([[1], [2], [3]]), 1.0) is y and data.sum() == 3
    assert y.scatter_add_(0, I([[0, 0, 0, 0]]), ct.ones(1, 4)) is y and data.sum() == 7
    ty = torch.zeros(3, 4).scatter_(1, torch.tensor([[1], [2], [3]]), 1.0)
    ty.scatter_add_(0, torch.tensor([[0, 0, 0, 0]]), torch.ones(1, 4))
    assert_like(y, ty)


# --------------------------------------------------------------------- masked_fill
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_fill_matches_torch(dtype):
    x = T((3, 4), dtype)
    value = True if dtype == "bool" else 2
    for mshape in [(3, 4), (4,), (3, 1), (2, 3, 4), ()]:
        m = T(mshape, "bool")
        assert_like(x.masked_fill(m, value), to_torch(x).masked_fill(to_torch(m), value))
        assert_like(ct.masked_fill(x, m, value), torch.masked_fill(to_torch(x), to_torch(m), value))


@pytest.mark.parametrize("value", [-1.5, 7, True, 1e30, float("inf"), float("nan")])
def test_masked_fill_values_convert_like_torch(value):
    m = T((3, 4), "bool")
    for dtype in ["float32", "float64", "int64", "int16", "bool", "float16"]:
        x = T((3, 4), dtype)
        try:
            want = to_torch(x).masked_fill(to_torch(m), value)
        except RuntimeError:
            with pytest.raises(RuntimeError, match="cannot be converted to type"):
                x.masked_fill(m, value)
            continue
        assert_like(x.masked_fill(m, value), want)
    x, z = T((3, 4)), ct.tensor(2.5, dtype=ct.float64)     # a 0-d value tensor of another dtype
    assert_like(x.masked_fill(m, z), to_torch(x).masked_fill(to_torch(m), to_torch(z)))


def test_masked_fill_views_and_inplace():
    x = T((6, 4))[::2]                                      # non-contiguous (3, 4)
    m = T((3, 4), "bool")
    assert_like(x.masked_fill(m, 0), to_torch(x).masked_fill(to_torch(m), 0))
    e = T((0, 4))
    assert_like(e.masked_fill(T((4,), "bool"), 1), to_torch(e).masked_fill(to_torch(T((4,), "bool")), 1))
    y = T((3, 4))
    want = to_torch(y).masked_fill_(torch.tensor([True, False, True, False]), -1.0)
    data = y.numpy()
    assert y.masked_fill_(ct.tensor([True, False, True, False]), -1.0) is y
    assert_like(y, want)
    assert y.numpy() is data
    with raises(ct.ShapeError, "masked_fill_: mask of shape [2, 3, 4] does not broadcast to the tensor's shape [3, 4]"):
        y.masked_fill_(T((2, 3, 4), "bool"), 0.0)


# -------------------------------------------------------------------------- where
WHERE_OPERANDS = [
    ("t:float32", 0), ("t:int32", 2.5), (1, 0), (1.0, 0), (True, 0), ("t:int32", True), ("t:float16", "t:float64"),
    ("t:float16", "s:float64"), ("t:int32", "s:float64"), ("t:int8", "t:uint8"), ("t:bfloat16", 1),
    ("t:bool", False), ("s:int64", "t:int16"), ("t:int8", 100),
]


def operand(spec, shape):
    if not isinstance(spec, str):
        return spec
    kind, dtype = spec.split(":")
    return T(shape if kind == "t" else (), dtype)


@pytest.mark.parametrize("a,b", WHERE_OPERANDS)
def test_where_promotes_like_torch(a, b):
    cond = T((3, 4), "bool")
    x, y = operand(a, (3, 4)), operand(b, (4,))
    tx = to_torch(x) if isinstance(x, ct.Tensor) else x
    ty = to_torch(y) if isinstance(y, ct.Tensor) else y
    assert_like(ct.where(cond, x, y), torch.where(to_torch(cond), tx, ty))
    if isinstance(x, ct.Tensor):
        assert_like(x.where(cond, y), tx.where(to_torch(cond), ty))


def test_where_broadcasting_0d_views_and_single_argument():
    cond, x, y = T((3, 1), "bool"), T((1, 4)), T((2, 1, 1))
    assert_like(ct.where(cond, x, y), torch.where(to_torch(cond), to_torch(x), to_torch(y)))
    assert_like(ct.where(ct.tensor(True), 1, 0), torch.where(torch.tensor(True), 1, 0))
    v = T((4, 6))[:, ::2]
    c = T((4, 3), "bool")
    assert_like(ct.where(c, v, 0.0), torch.where(to_torch(c), to_torch(v), 0.0))
    for x in [T((3, 4)), T((3, 4), "bool"), ct.tensor(5.0), ct.tensor(0.0), T((0, 3))]:
        assert_like(ct.where(x), torch.where(to_torch(x)))
    with pytest.warns(UserWarning, match="uint8 condition"):
        out = ct.where(ct.tensor([1, 0], dtype=ct.uint8), 1, 0)
    assert out.tolist() == [1, 0]


# --------------------------------------------------------------------------- take
@pytest.mark.parametrize("dtype", DTYPES)
def test_take_matches_torch(dtype):
    x = T((3, 4), dtype)
    for idx in [[[0, 11], [-1, -12]], [5], 3, [], [[[2]]]]:
        i = I(idx)
        assert_like(x.take(i), to_torch(x).take(to_torch(i)))
        assert_like(ct.take(x, i), torch.take(to_torch(x), to_torch(i)))


def test_take_0d_empty_and_views():
    s = ct.tensor(5.0)
    assert_like(s.take(I([0, -1])), to_torch(s).take(torch.tensor([0, -1])))
    e = ct.ones(0)
    assert_like(e.take(I([])), to_torch(e).take(torch.tensor([], dtype=torch.int64)))
    v = T((4, 6)).T[1:]                                     # non-contiguous (5, 4): row-major order of the view
    i = I(rng.integers(-20, 20, (3, 2)))
    assert_like(v.take(i), to_torch(v).take(to_torch(i)))


# ------------------------------------------------------------------------ nonzero
@pytest.mark.parametrize("dtype", DTYPES)
def test_nonzero_matches_torch(dtype):
    for shape in [(3, 4), (5,), (2, 3, 2), (), (0, 3)]:
        data = rand(shape, dtype)
        if dtype != "bool":
            data = np.where(rng.random(shape) < 0.4, 0, data).astype(data.dtype)
        x = ct.from_numpy(np.asarray(data))
        assert_like(x.nonzero(), to_torch(x).nonzero())
        assert_like(ct.nonzero(x), torch.nonzero(to_torch(x)))
        assert_like(x.nonzero(as_tuple=True), to_torch(x).nonzero(as_tuple=True))


def test_nonzero_counts_nan_and_views():
    x = ct.tensor([0.0, float("nan"), -0.0, 2.0])
    assert_like(x.nonzero(), to_torch(x).nonzero())
    v = T((6, 4))[::2].T
    assert_like(v.nonzero(), to_torch(v).nonzero())
    for s in [ct.tensor(5.0), ct.tensor(0.0)]:
        assert_like(s.nonzero(), to_torch(s).nonzero())
        assert_like(s.nonzero(as_tuple=True), to_torch(s).nonzero(as_tuple=True))


# ------------------------------------------------------------------------- errors
def test_out_of_range_indices_raise_index_error_never_a_wrong_answer():
    x = T((3, 4))
    cases = [
        (lambda: x.index_select(1, I([4])), "index_select: index 4 is out of bounds for dimension 1 with size 4"),
        (lambda: x.index_select(1, I([-1])), "index_select: index -1 is out of bounds for dimension 1 with size 4"),
        (lambda: T((0, 3)).index_select(0, I([0])), "index_select: index 0 is out of bounds for dimension 0 with size 0"),
        (lambda: ct.tensor(5.0).index_select(0, I([1])), "index_select: index 1 is out of bounds for a 0-d tensor"),
        (lambda: x.gather(1, I([[4]])), "gather: index 4 is out of bounds for dimension 1 with size 4"),
        (lambda: x.gather(1, I([[-1]])), "gather: index -1 is out of bounds for dimension 1 with size 4"),
        (lambda: x.scatter(1, I([[0, 5]]), -1.0), "scatter: index 5 is out of bounds for dimension 1 with size 4"),
        (lambda: x.scatter(0, I([[-1]]), T((1, 1))), "scatter: index -1 is out of bounds for dimension 0 with size 3"),
        (lambda: x.scatter_add(1, I([[0, 4]]), T((1, 2))), "scatter_add: index 4 is out of bounds for dimension 1 with size 4"),
        (lambda: x.take(I([12])), "take: index 12 is out of bounds for a tensor of 12 elements (valid indices: [-12, 12))"),
        (lambda: x.take(I([-13])), "take: index -13 is out of bounds"),
        (lambda: ct.ones(0).take(I([0])), "take: tried to take from an empty tensor"),
        (lambda: x.index_select(2, I([0])), "index_select: dimension out of range (expected to be in range of [-2, 1], but got 2)"),
        (lambda: ct.tensor(5.0).index_select(0, I([0, 0])), "index_select: an index into a 0-d tensor must have exactly one value, got 2"),
        (lambda: x.index_select(1, I([[1]])), "index_select: index is supposed to be a vector (1-D or 0-d), got shape [1, 1]"),
    ]
    for fn, message in cases:
        with raises(IndexError, message):
            fn()
    assert x.scatter(1, I([[0]]), 1.0).shape == x.shape      # nothing was left half-written
    y = x.clone()
    with pytest.raises(IndexError):
        y.scatter_(1, I([[0, 1, 9]]), 7.0)
    np.testing.assert_array_equal(y.numpy(), x.numpy())      # checked before writing


def test_index_dtype_errors_name_the_dtype():
    x = T((3, 4))
    cases = [
        (lambda: x.index_select(1, I([1.0], np.float32)), "index_select: expected dtype int32 or int64 for index, but got float32"),
        (lambda: x.index_select(1, I([1], np.int16)), "index_select: expected dtype int32 or int64 for index, but got int16"),
        (lambda: x.gather(1, I([[0]], np.uint8)), "gather: expected dtype int32 or int64 for index, but got uint8"),
        (lambda: x.take(I([1], np.int32)), "take: expected dtype int64 for index, but got int32"),
        (lambda: x.scatter(1, I([[0]]), T((1, 1), "float64")), "scatter: expected self.dtype to be equal to src.dtype, but got float32 and float64"),
        (lambda: x.scatter_add(1, I([[0]]), T((1, 1), "int64")), "scatter_add: expected self.dtype to be equal to src.dtype, but got float32 and int64"),
        (lambda: x.masked_fill(T((3, 4), "int32"), 0), "masked_fill: only boolean masks are supported, but got a mask of dtype int32"),
        (lambda: ct.where(T((3, 4), "int32"), x, 0), "where: expected condition to be a boolean tensor, but got a tensor of dtype int32"),
    ]
    for fn, message in cases:
        with raises(DTypeError, message) as e:
            fn()
        assert isinstance(e.value, TypeError) and isinstance(e.value, RuntimeError)
    with raises(TypeError, "gather: argument 'index' must be a Tensor, not list"):
        x.gather(1, [[0]])
    with raises(TypeError, "where: expected both input and other"):
        ct.where(T((3, 4), "bool"), x)


def test_shape_and_value_errors():
    x = T((3, 4))
    shape_cases = [
        (lambda: x.gather(1, I([0])), "gather: index tensor must have the same number of dimensions as the input tensor, got index shape [1] and input shape [3, 4]"),
        (lambda: x.gather(0, I([[0] * 5])), "gather: index shape [1, 5] must be no larger than the input [3, 4] apart from dimension 0; dimension 1 does not fit"),
        (lambda: x.scatter(1, I([[0, 1], [1, 0]]), T((1, 1))), "scatter: index shape [2, 2] must be no larger than the input [3, 4] apart from dimension 1 and no larger than src [1, 1]"),
        (lambda: x.scatter(1, I([[0]]), ct.tensor(5.0)), "scatter: index tensor must have the same number of dimensions as the src tensor"),
        (lambda: x.masked_fill(T((5,), "bool"), 1), "masked_fill: shapes [3, 4] and [5] do not broadcast"),
        (lambda: x.masked_fill(T((3, 4), "bool"), ct.tensor([2.0])), "masked_fill: only supports a 0-dimensional value tensor, but got a tensor of shape [1]"),
        (lambda: ct.where(T((3, 4), "bool"), x, T((2, 4))), "where: shapes [3, 4] and [3, 4] and [2, 4] do not broadcast"),
    ]
    for fn, message in shape_cases:
        with raises(ct.ShapeError, message):
            fn()
    value_cases = [
        (lambda: T((3, 4), "int32").masked_fill(T((3, 4), "bool"), 2**40), "masked_fill: value 1099511627776 cannot be converted to type int32 without overflow"),
        (lambda: T((3, 4), "float16").masked_fill(T((3, 4), "bool"), 1e6), "masked_fill: value 1000000.0 cannot be converted to type float16 without overflow"),
        (lambda: ct.where(T((3,), "bool"), T((3,), "int8"), 300), "where: value 300 cannot be converted to type int8 without overflow"),
        (lambda: T((3,), "uint8").scatter(0, I([0]), -1), "scatter: value -1 cannot be converted to type uint8 without overflow"),
        (lambda: T((3,), "int64").masked_fill(T((3,), "bool"), float("nan")), "masked_fill: value nan cannot be converted to type int64"),
    ]
    for fn, message in value_cases:
        with raises(ValueRangeError, message) as e:
            fn()
        assert isinstance(e.value, ValueError) and isinstance(e.value, RuntimeError)  # design + torch
    with raises(ValueError, "scatter: reduce argument must be either 'add' or 'multiply', got 'sum'"):
        x.scatter(1, I([[0]]), 2.0, reduce="sum")


# ------------------------------------------------------- property tests vs NumPy
shapes = st.lists(st.integers(0, 4), min_size=1, max_size=3).map(tuple)


@st.composite
def tensor_dim_index(draw, nonempty_dim=True):
    """A float64 array, a dim, and an index array shaped for gather along that dim."""
    shape = draw(shapes)
    dim = draw(st.integers(0, len(shape) - 1))
    if nonempty_dim and shape[dim] == 0:
        shape = shape[:dim] + (1,) + shape[dim + 1:]
    ishape = tuple(draw(st.integers(0, s)) if k != dim else draw(st.integers(0, 5)) for k, s in enumerate(shape))
    seed = draw(st.integers(0, 2**32 - 1))
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape)
    idx = r.integers(0, max(shape[dim], 1), ishape)
    return x, dim, idx


@settings(max_examples=60, deadline=None)
@given(tensor_dim_index())
def test_gather_property_against_numpy(case):
    x, dim, idx = case
    out = ct.from_numpy(x).gather(dim, I(idx))
    corner = x[tuple(slice(None) if k == dim else slice(0, s) for k, s in enumerate(idx.shape))]
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(corner, idx, axis=dim))


@settings(max_examples=60, deadline=None)
@given(tensor_dim_index())
def test_scatter_add_property_against_numpy(case):
    x, dim, idx = case
    src = np.arange(idx.size, dtype=np.float64).reshape(idx.shape)
    out = ct.from_numpy(x).scatter_add(dim, I(idx), ct.from_numpy(src))
    want = x.copy()
    coords = list(np.indices(idx.shape, sparse=True))
    coords[dim] = idx
    np.add.at(want, tuple(coords), src)
    np.testing.assert_allclose(out.numpy(), want)


@settings(max_examples=60, deadline=None)
@given(shapes, st.integers(0, 2), st.integers(0, 2**32 - 1))
def test_index_select_take_nonzero_masked_fill_properties(shape, dim, seed):
    r = np.random.default_rng(seed)
    x = r.integers(-2, 3, shape)
    t = ct.from_numpy(x)
    dim = dim % len(shape)
    if shape[dim]:
        idx = r.integers(0, shape[dim], r.integers(0, 6))
        np.testing.assert_array_equal(t.index_select(dim, I(idx)).numpy(), np.take(x, idx, axis=dim))
    if x.size:
        flat = r.integers(-x.size, x.size, (2, 3))
        np.testing.assert_array_equal(t.take(I(flat)).numpy(), np.take(x.reshape(-1), flat))
    np.testing.assert_array_equal(t.nonzero().numpy(), np.argwhere(x))
    for got, want in zip(t.nonzero(as_tuple=True), np.nonzero(x)):
        np.testing.assert_array_equal(got.numpy(), want)
    mask = np.asarray(r.random(shape[1:]) < 0.5)
    np.testing.assert_array_equal(t.masked_fill(ct.from_numpy(mask), 9).numpy(), np.where(mask, 9, x))
    cond = np.asarray(r.random(shape) < 0.5)
    np.testing.assert_array_equal(ct.where(ct.from_numpy(cond), t, -7).numpy(), np.where(cond, x, -7))
