"""Indexing operations beyond ``[]``: index_select, gather, scatter, scatter_add,
masked_fill, where, take, nonzero.

Semantics follow PyTorch: index tensors are int64 (int32 where torch accepts
it too), indices are checked before anything is read or written (an index
out of range raises IndexError naming the index, the dimension and its size;
never a wrong answer), negative indices are accepted only by ``take`` (as in
torch), and Python scalars written into a tensor must fit its dtype.
"""

from __future__ import annotations

import builtins
import warnings

import ml_dtypes
import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, ShapeError, ValueRangeError
from cogtensor.graph import attach
from cogtensor.ops.views import normalize_dim

__all__ = ["index_select", "gather", "scatter", "scatter_add", "masked_fill", "where", "take", "nonzero"]

_INT32_OR_64 = ("int32", "int64")


# ------------------------------------------------------------------ helpers
def _is_tensor(x) -> bool:
    return isinstance(x, IndexingOps)


def _require_tensor(op: str, name: str, x) -> None:
    if not _is_tensor(x):
        raise TypeError(f"{op}: argument '{name}' must be a Tensor, not {type(x).__name__}")


def _index_array(op: str, index, allowed=_INT32_OR_64) -> np.ndarray:
    """The index tensor's array as int64, after checking its type and dtype."""
    _require_tensor(op, "index", index)
    if index.dtype.name not in allowed:
        expected = " or ".join(allowed)
        raise DTypeError(f"{op}: expected dtype {expected} for index, but got {index.dtype.name}")
    return index._data.astype(np.int64, copy=False)


def _check_range(op: str, idx: np.ndarray, size: int, what: str, negative: bool = False) -> None:
    """IndexError unless every index lies in [0, size) (or [-size, size) when ``negative``);
    ``what`` names the indexed range, e.g. "dimension 1 with size 4"."""
    if not idx.size:
        return
    low = -size if negative else 0
    lo, hi = int(idx.min()), int(idx.max())
    if lo < low or hi >= size:
        bad = lo if lo < low else hi
        valid = f"[{low}, {size})" if size else "none: the dimension is empty"
        raise IndexError(f"{op}: index {bad} is out of bounds for {what} (valid indices: {valid})")


def _finfo(d: dtypes.dtype):
    return ml_dtypes.finfo(d.numpy) if d is dtypes.bfloat16 else np.finfo(d.numpy)


def scalar_to(value, d: dtypes.dtype, op: str) -> np.ndarray:
    """A Python (or 0-d tensor) value as a 0-d array of dtype ``d``; ValueRangeError when it
    does not fit: an integer overflow, a NaN or inf into integers, a finite float beyond the
    floating range (floats into integers truncate, as in torch)."""
    if _is_tensor(value):
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (builtins.bool, builtins.int, builtins.float)):
        raise TypeError(f"{op}: expected a number or a 0-d tensor as the value, got {type(value).__name__}")
    if d is dtypes.bool:
        return np.asarray(builtins.bool(value))
    if not d.is_floating_point:
        info = np.iinfo(d.numpy)
        if isinstance(value, builtins.float) and not np.isfinite(value) or not info.min <= value <= info.max:
            raise ValueRangeError(f"{op}: value {value!r} cannot be converted to type {d.name} without overflow "
                                  f"(range [{info.min}, {info.max}])")
        return np.asarray(builtins.int(value), dtype=d.numpy)
    big = float(_finfo(d).max)
    if np.isfinite(value) and abs(value) > big:
        raise ValueRangeError(f"{op}: value {value!r} cannot be converted to type {d.name} without overflow "
                              f"(largest finite {d.name} is {big:g})")
    return np.asarray(value, dtype=np.float64).astype(d.numpy)


def _as_1d(shape) -> tuple[int, ...]:
    """torch treats 0-d tensors as 1-element vectors in gather/scatter."""
    return tuple(shape) if len(shape) else (1,)


def _broadcast(op: str, *shapes) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(list(s)) for s in shapes)
        raise ShapeError(f"{op}: shapes {listed} do not broadcast (sizes must be equal or 1 in each "
                         "dimension, aligned from the right)") from None


# ------------------------------------------------------------------ selection
def index_select(input, dim: int, index):
    """The entries of ``input`` at positions ``index`` (1-D or 0-d, int64 or int32) along ``dim``.

    (..., n, ...) -> (..., len(index), ...); indices must be in [0, n).

    Example:
        >>> cogtensor.arange(6).reshape(2, 3).index_select(1, cogtensor.tensor([2, 0])).tolist()
        [[2, 0], [5, 3]]
    """
    _require_tensor("index_select", "input", input)
    d = normalize_dim(dim, input.ndim, "index_select")
    idx = _index_array("index_select", index)
    if idx.ndim > 1:
        raise IndexError(f"index_select: index is supposed to be a vector (1-D or 0-d), got shape {list(idx.shape)}")
    idx = idx.reshape(-1)
    if input.ndim == 0:
        if idx.size != 1:
            raise IndexError(f"index_select: an index into a 0-d tensor must have exactly one value, got {idx.size}")
        _check_range("index_select", idx, 1, "a 0-d tensor")
        return input._wrap(input._data.copy())
    _check_range("index_select", idx, input.shape[d], f"dimension {d} with size {input.shape[d]}")
    return input._wrap(np.take(input._data, idx, axis=d))


def _check_gather_shape(op: str, x_shape, i_shape, d: int, src_shape=None) -> None:
    if len(i_shape) != len(x_shape):
        raise ShapeError(f"{op}: index tensor must have the same number of dimensions as the input tensor, "
                         f"got index shape {list(i_shape)} and input shape {list(x_shape)}")
    if src_shape is not None and len(i_shape) != len(src_shape):
        raise ShapeError(f"{op}: index tensor must have the same number of dimensions as the src tensor, "
                         f"got index shape {list(i_shape)} and src shape {list(src_shape)}")
    for k, s in enumerate(i_shape):
        if (k != d and s > x_shape[k]) or (src_shape is not None and s > src_shape[k]):
            rule = f"no larger than the input {list(x_shape)} apart from dimension {d}"
            if src_shape is not None:
                rule += f" and no larger than src {list(src_shape)}"
            raise ShapeError(f"{op}: index shape {list(i_shape)} must be {rule}; dimension {k} does not fit")


def gather(input, dim: int, index):
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` for dim 0 (and so on for other dims).

    ``index`` (int64 or int32) has as many dimensions as ``input``, no larger
    than it apart from ``dim``; the result has ``index``'s shape.

    Example:
        >>> x = cogtensor.tensor([[1, 2], [3, 4]])
        >>> x.gather(1, cogtensor.tensor([[0, 0], [1, 0]])).tolist()
        [[1, 1], [4, 3]]
    """
    _require_tensor("gather", "input", input)
    _require_tensor("gather", "index", index)
    d = normalize_dim(dim, input.ndim, "gather")
    if index.numel() == 0:  # as torch: an empty index is not checked further
        return input._wrap(np.empty(index.shape, input._data.dtype))
    idx = _index_array("gather", index)
    x_shape, i_shape = _as_1d(input.shape), _as_1d(idx.shape)
    _check_gather_shape("gather", x_shape, i_shape, d)
    _check_range("gather", idx, x_shape[d], f"dimension {d} with size {x_shape[d]}")
    x = input._data.reshape(x_shape)
    x = x[tuple(slice(None) if k == d else slice(0, s) for k, s in enumerate(i_shape))]
    return input._wrap(np.take_along_axis(x, idx.reshape(i_shape), axis=d).reshape(idx.shape))


def take(input, index):
    """Elements of ``input`` as if flattened, at ``index`` (int64; negative counts from the end).

    The result has ``index``'s shape.
    """
    _require_tensor("take", "input", input)
    idx = _index_array("take", index, ("int64",))
    n = input.numel()
    if n == 0 and idx.size:
        raise IndexError("take: tried to take from an empty tensor")
    _check_range("take", idx, n, f"a tensor of {n} elements", negative=True)
    return input._wrap(input._data.reshape(-1)[idx])


def nonzero(input, *, as_tuple: bool = False):
    """Indices of the non-zero (True, NaN included) elements.

    Returns an int64 tensor of shape (n, ndim), one row per element in
    row-major order; with ``as_tuple=True`` a tuple of ndim 1-D tensors (one
    per dimension; a 0-d input counts as 1-D).
    """
    _require_tensor("nonzero", "input", input)
    x = input._data
    mask = x if x.dtype == np.bool_ else x != 0
    if as_tuple:
        return tuple(input._wrap(i.astype(np.int64, copy=False)) for i in np.nonzero(np.atleast_1d(mask)))
    return input._wrap(np.argwhere(mask).astype(np.int64, copy=False))


# ------------------------------------------------------------------- writing
def _scatter_coords(i_arr: np.ndarray, d: int):
    """Advanced-index coordinates for writing element i of ``index`` at (..., index[i], ...)."""
    coords = list(np.indices(i_arr.shape, sparse=True))
    coords[d] = i_arr
    return tuple(coords)


def _scatter_into(out: np.ndarray, d: int, idx: np.ndarray, src, reduce) -> None:
    """Write (or reduce) ``src`` (an array shaped at least like ``idx``, or a 0-d value) into ``out``."""
    coords = _scatter_coords(idx, d)
    if src.ndim:
        src = src[tuple(slice(0, s) for s in idx.shape)]
    if reduce is None:
        out[coords] = src
        return
    half = out.dtype in (np.float16, ml_dtypes.bfloat16)
    target = out.astype(np.float32) if half else out
    ufunc = np.add if reduce == "add" else np.multiply
    ufunc.at(target, coords, np.broadcast_to(src, idx.shape).astype(target.dtype, copy=False))
    if half:
        out[...] = target.astype(out.dtype)


def _scatter_args(op: str, input, dim, index, src, reduce):
    """The checked (dim, index array, values) of a scatter; None when ``index`` is empty
    (nothing to write: as torch, its dtype and shape are not checked further)."""
    _require_tensor(op, "input", input)
    _require_tensor(op, "index", index)
    d = normalize_dim(dim, input.ndim, op)
    if reduce not in (None, "add", "multiply"):
        raise ValueError(f"{op}: reduce argument must be either 'add' or 'multiply', got {reduce!r}")
    if _is_tensor(src) and src.dtype is not input.dtype:
        raise DTypeError(f"{op}: expected self.dtype to be equal to src.dtype, but got {input.dtype.name} "
                         f"and {src.dtype.name}; convert src first, e.g. src.to({input.dtype})")
    if index.numel() == 0:
        return None
    idx = _index_array(op, index)
    x_shape, i_shape = _as_1d(input.shape), _as_1d(idx.shape)
    if _is_tensor(src):
        _check_gather_shape(op, x_shape, i_shape, d, _as_1d(src.shape))
        values = src._data.reshape(_as_1d(src.shape))
    else:
        _check_gather_shape(op, x_shape, i_shape, d)
        values = scalar_to(src, input.dtype, op)
    _check_range(op, idx, x_shape[d], f"dimension {d} with size {x_shape[d]}")
    return d, idx.reshape(i_shape), values


def scatter(input, dim: int, index, src=None, *, value=None, reduce: str | None = None):
    """A copy of ``input`` with ``src`` written at ``index`` along ``dim`` (the inverse of gather).

    For dim 0, ``out[index[i][j]][j] = src[i][j]``; ``src`` is a tensor of
    ``input``'s dtype (at least as large as ``index``) or a number (also as
    ``value=``). ``reduce='add'`` / ``'multiply'`` combine instead of
    overwriting. With duplicate indices and no reduce, which write wins is
    unspecified (as in torch); use :func:`scatter_add` to sum them.
    """
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: expected src (a tensor) or value (a number)")
    args = _scatter_args("scatter", input, dim, index, src, reduce)
    out = np.array(input._data, copy=True, order="C").reshape(_as_1d(input.shape))
    if args is not None:
        _scatter_into(out, *args, reduce)
    return input._wrap(out.reshape(input.shape))


def scatter_add(input, dim: int, index, src):
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim``; duplicate indices all add.

    For dim 0, ``out[index[i][j]][j] += src[i][j]``.
    """
    _require_tensor("scatter_add", "src", src)
    args = _scatter_args("scatter_add", input, dim, index, src, "add")
    out = np.array(input._data, copy=True, order="C").reshape(_as_1d(input.shape))
    if args is not None:
        _scatter_into(out, *args, "add")
    return input._wrap(out.reshape(input.shape))


def _mask_array(op: str, mask) -> np.ndarray:
    _require_tensor(op, "mask", mask)
    if mask.dtype is not dtypes.bool:
        raise DTypeError(f"{op}: only boolean masks are supported, but got a mask of dtype {mask.dtype.name}; "
                         "compare first, e.g. mask != 0")
    return mask._data


def _fill_value(op: str, value, d: dtypes.dtype) -> np.ndarray:
    if _is_tensor(value) and value.ndim:
        raise ShapeError(f"{op}: only supports a 0-dimensional value tensor, but got a tensor of shape "
                         f"{list(value.shape)}")
    return scalar_to(value, d, op)


def masked_fill(input, mask, value):
    """A copy of ``input`` with ``value`` where the bool ``mask`` (broadcast) is True.

    The result has the broadcast shape of ``input`` and ``mask`` and
    ``input``'s dtype; ``value`` is a number or a 0-d tensor that must fit it.
    """
    _require_tensor("masked_fill", "input", input)
    m = _mask_array("masked_fill", mask)
    fill = _fill_value("masked_fill", value, input.dtype)
    _broadcast("masked_fill", input.shape, m.shape)
    return input._wrap(np.where(m, fill, input._data))


def _where_operand(x, d: dtypes.dtype) -> np.ndarray:
    if _is_tensor(x):
        return x._data.astype(d.numpy, copy=False)
    return scalar_to(x, d, "where")


def where(condition, input=None, other=None):
    """Elements of ``input`` where ``condition`` is True, else of ``other``.

    ``input`` and ``other`` are tensors or Python numbers; all three
    broadcast, and the result dtype follows torch's promotion
    (``result_type(input, other)``). ``where(condition)`` alone is
    ``nonzero(condition, as_tuple=True)``.

    Example:
        >>> x = cogtensor.tensor([-1.0, 2.0])
        >>> cogtensor.where(x > 0, x, 0).tolist()
        [0.0, 2.0]
    """
    _require_tensor("where", "condition", condition)
    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: expected both input and other (or neither, for where(condition))")
    if condition.dtype is dtypes.uint8:
        warnings.warn("where received a uint8 condition tensor; this is deprecated (as in torch), "
                      "use a boolean condition instead", UserWarning, stacklevel=2)
        cond = condition._data != 0
    elif condition.dtype is not dtypes.bool:
        raise DTypeError(f"where: expected condition to be a boolean tensor, but got a tensor of dtype "
                         f"{condition.dtype.name}")
    else:
        cond = condition._data
    d = dtypes.result_type(input, other)
    a, b = _where_operand(input, d), _where_operand(other, d)
    _broadcast("where", cond.shape, a.shape, b.shape)
    out = condition._wrap(np.where(cond, a, b))
    return attach(out, "WhereBackward0", (condition, input, other),
                  lambda g: (None, g.where(condition, 0.0), g.where(condition.logical_not(), 0.0)),
                  saved=(condition,))


class IndexingOps:
    """Gather/scatter style methods (out-of-place, and in-place ``*_`` forms)."""

    __slots__ = ()

    def index_select(self, dim: int, index):
        return index_select(self, dim, index)

    def gather(self, dim: int, index):
        return gather(self, dim, index)

    def take(self, index):
        return take(self, index)

    def nonzero(self, *, as_tuple: bool = False):
        return nonzero(self, as_tuple=as_tuple)

    def scatter(self, dim: int, index, src=None, *, value=None, reduce: str | None = None):
        return scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_add(self, dim: int, index, src):
        return scatter_add(self, dim, index, src)

    def masked_fill(self, mask, value):
        return masked_fill(self, mask, value)

    def where(self, condition, other):
        """``where(condition, self, other)``."""
        return where(condition, self, other)

    # in-place forms: write into this tensor's memory and return it
    def scatter_(self, dim: int, index, src=None, *, value=None, reduce: str | None = None):
        src = value if src is None else src
        if src is None:
            raise TypeError("scatter_: expected src (a tensor) or value (a number)")
        args = _scatter_args("scatter_", self, dim, index, src, reduce)
        if args is not None:
            _scatter_into(self._data.reshape(_as_1d(self.shape)), *args, reduce)
        return self

    def scatter_add_(self, dim: int, index, src):
        _require_tensor("scatter_add_", "src", src)
        args = _scatter_args("scatter_add_", self, dim, index, src, "add")
        if args is not None:
            _scatter_into(self._data.reshape(_as_1d(self.shape)), *args, "add")
        return self

    def masked_fill_(self, mask, value):
        m = _mask_array("masked_fill_", mask)
        fill = _fill_value("masked_fill_", value, self.dtype)
        if _broadcast("masked_fill_", self.shape, m.shape) != tuple(self.shape):
            raise ShapeError(f"masked_fill_: mask of shape {list(m.shape)} does not broadcast to the tensor's "
                             f"shape {list(self.shape)} (an in-place fill cannot grow the tensor)")
        np.copyto(self._data, fill, where=m)
        return self
