"""Indexing operations beyond ``[]``: index_select, gather, take, nonzero, where, and
(from :mod:`cogtensor.ops.scatter`) scatter, scatter_add, index_add, index_fill,
masked_fill, masked_scatter; the Tensor methods for all of them, their in-place
forms, and ``zero_``, ``fill_`` and ``copy_``.

Semantics follow PyTorch: index tensors are int64 (int32 where torch accepts
it too), indices are checked before anything is read or written (an index
out of range raises IndexError naming the index, the dimension and its size;
never a wrong answer), negative indices are accepted only by ``take`` and
``index_fill`` (as in torch), and Python scalars written into a tensor must fit
its dtype. Every differentiable op records its backward (torch's formulas, in
tensor ops, so they can be differentiated again); in-place forms keep version
counters and history as the element-wise ones do.
"""

from __future__ import annotations

import warnings

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, ShapeError
from cogtensor.graph import attach
from cogtensor.ops.index_checks import (
    _as_1d, _broadcast, _check_gather_shape, _check_range, _fill_value, _index_array, _is_tensor, _mask_array,
    _require_tensor, scalar_to,
)
from cogtensor.ops.scatter import (  # the writing ops and the in-place machinery
    _wants, _zeros, add_along, fill_along, index_add, index_add_args, index_fill, index_fill_args, masked_fill,
    masked_scatter, masked_scatter_args, run_in_place, scatter, scatter_add, scatter_args, scatter_into,
)
from cogtensor.ops.views import normalize_dim

__all__ = [
    "index_select", "gather", "scatter", "scatter_add", "index_add", "index_fill", "masked_fill",
    "masked_scatter", "where", "take", "nonzero",
]


# ------------------------------------------------------------------ selection
def index_select(input, dim: int, index):
    """The entries of ``input`` at positions ``index`` (1-D or 0-d, int64 or int32) along ``dim``.

    (..., n, ...) -> (..., len(index), ...); indices must be in [0, n). The gradient
    adds back into the selected positions (repeated indices add up).

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
        return attach(input._wrap(input._data.copy()), "IndexSelectBackward0", (input,), lambda g: g)
    _check_range("index_select", idx, input.shape[d], f"dimension {d} with size {input.shape[d]}")
    out = input._wrap(np.take(input._data, idx, axis=d))
    return attach(out, "IndexSelectBackward0", (input,),
                  lambda g: _zeros(g, input.shape).index_add(d, index, g), saved=(index,))


def gather(input, dim: int, index):
    """``out[i][j][k] = input[index[i][j][k]][j][k]`` for dim 0 (and so on for other dims).

    ``index`` (int64 or int32) has as many dimensions as ``input``, no larger
    than it apart from ``dim``; the result has ``index``'s shape. The gradient
    adds back into the gathered positions.

    Example:
        >>> x = cogtensor.tensor([[1, 2], [3, 4]])
        >>> x.gather(1, cogtensor.tensor([[0, 0], [1, 0]])).tolist()
        [[1, 1], [4, 3]]
    """
    _require_tensor("gather", "input", input)
    _require_tensor("gather", "index", index)
    d = normalize_dim(dim, input.ndim, "gather")
    if index.numel() == 0:  # as torch: an empty index is not checked further
        out = input._wrap(np.empty(index.shape, input._data.dtype))
        return attach(out, "GatherBackward0", (input,), lambda g: _zeros(g, input.shape))
    idx = _index_array("gather", index)
    x_shape, i_shape = _as_1d(input.shape), _as_1d(idx.shape)
    _check_gather_shape("gather", x_shape, i_shape, d)
    _check_range("gather", idx, x_shape[d], f"dimension {d} with size {x_shape[d]}")
    x = input._data.reshape(x_shape)
    x = x[tuple(slice(None) if k == d else slice(0, s) for k, s in enumerate(i_shape))]
    out = input._wrap(np.take_along_axis(x, idx.reshape(i_shape), axis=d).reshape(idx.shape))
    return attach(out, "GatherBackward0", (input,),
                  lambda g: _zeros(g, input.shape).scatter_add(d, index, g), saved=(index,))


def take(input, index):
    """Elements of ``input`` as if flattened, at ``index`` (int64; negative counts from the end).

    The result has ``index``'s shape; the gradient adds back into the taken positions.

    Example:
        >>> cogtensor.tensor([[1, 2], [3, 4]]).take(cogtensor.tensor([0, -1])).tolist()
        [1, 4]
    """
    _require_tensor("take", "input", input)
    idx = _index_array("take", index, ("int64",))
    n = input.numel()
    if n == 0 and idx.size:
        raise IndexError("take: tried to take from an empty tensor")
    _check_range("take", idx, n, f"a tensor of {n} elements", negative=True)
    flat = input._wrap(np.where(idx < 0, idx + n, idx).reshape(-1))
    return attach(input._wrap(input._data.reshape(-1)[idx]), "TakeBackward0", (input,),
                  lambda g: _zeros(g, (n,)).index_add(0, flat, g.reshape(-1)).reshape(input.shape))


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


def _where_operand(x, d: dtypes.dtype) -> np.ndarray:
    if _is_tensor(x):
        return x._data.astype(d.numpy, copy=False)
    return scalar_to(x, d, "where")


def where(condition, input=None, other=None):
    """Elements of ``input`` where ``condition`` is True, else of ``other``.

    ``input`` and ``other`` are tensors or Python numbers; all three
    broadcast, and the result dtype follows torch's promotion
    (``result_type(input, other)``). ``where(condition)`` alone is
    ``nonzero(condition, as_tuple=True)``. Each operand's gradient is the
    output's gradient where it was taken, 0 elsewhere.

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
        condition = condition._wrap(condition._data != 0)  # bool from here on: backward does not warn again
    elif condition.dtype is not dtypes.bool:
        raise DTypeError(f"where: expected condition to be a boolean tensor, but got a tensor of dtype "
                         f"{condition.dtype.name}")
    d = dtypes.result_type(input, other)
    a, b = _where_operand(input, d), _where_operand(other, d)
    cond = condition._data
    _broadcast("where", cond.shape, a.shape, b.shape)
    out = condition._wrap(np.where(cond, a, b))
    return attach(out, "WhereBackward0", (condition, input, other),
                  lambda g: (None, g.where(condition, 0.0) if _wants(input) else None,
                             g.where(condition.logical_not(), 0.0) if _wants(other) else None),
                  saved=(condition,))


# ------------------------------------------------------------- fill and copy
def _filled(t, fill: np.ndarray, value):
    """``t``'s shape filled with ``fill``, recorded as torch's fill_: ``t``'s old values get a
    zero gradient, a 0-d tensor ``value`` the sum of the gradient."""
    out = t._wrap(np.full(t._data.shape, fill, t._data.dtype))
    if not _is_tensor(value):
        return attach(out, "FillBackward2" if value is not None else "ZeroBackward0", (t,),
                      lambda g: _zeros(g, g.shape))
    return attach(out, "FillBackward3", (t, value), lambda g: (_zeros(g, g.shape), g.sum()))


def _broadcast_source(t, src) -> np.ndarray:
    """``src``'s values broadcast to ``t``'s shape (a view), or ShapeError."""
    try:
        return np.broadcast_to(src._data, t._data.shape)
    except ValueError:
        raise ShapeError(f"copy_: src of shape {list(src.shape)} cannot be broadcast to the tensor's shape "
                         f"{list(t.shape)}") from None


def _cast_into(out: np.ndarray, values: np.ndarray) -> None:
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or overflow into integers: as a C cast, like torch
        np.copyto(out, values, casting="unsafe")


def _copied(t, src, values: np.ndarray):
    """``values`` (``src`` broadcast) in ``t``'s shape and dtype, recorded as torch's copy_:
    ``t``'s old values get a zero gradient, ``src`` the gradient (summed over broadcast dims)."""
    out = t._wrap(np.empty(t._data.shape, t._data.dtype))
    _cast_into(out._data, values)
    return attach(out, "CopyBackwards", (t, src), lambda g: (_zeros(g, g.shape), g))


def _scatter_in_place(t, args, reduce) -> None:
    if args is not None:  # an empty index writes nothing
        scatter_into(t._data.reshape(_as_1d(t.shape)), *args, reduce)


class IndexingOps:
    """Gather/scatter style methods (out-of-place, and in-place ``*_`` forms), and the
    in-place ``zero_``, ``fill_`` and ``copy_``."""

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

    def index_add(self, dim: int, index, source, *, alpha=1):
        return index_add(self, dim, index, source, alpha=alpha)

    def index_fill(self, dim: int, index, value):
        return index_fill(self, dim, index, value)

    def masked_fill(self, mask, value):
        return masked_fill(self, mask, value)

    def masked_scatter(self, mask, source):
        return masked_scatter(self, mask, source)

    def where(self, condition, other):
        """``where(condition, self, other)``."""
        return where(condition, self, other)

    # in-place forms: write into this tensor's memory and return it. While recording they
    # compute out of place from a snapshot and take the result's history (run_in_place).
    def scatter_(self, dim: int, index, src=None, *, value=None, reduce: str | None = None):
        src = value if src is None else src
        if src is None:
            raise TypeError("scatter_: expected src (a tensor) or value (a number)")
        args = scatter_args("scatter_", self, dim, index, src, reduce)
        run_in_place("scatter_", self, (src,), lambda s: scatter(s, dim, index, src, reduce=reduce),
                     lambda: _scatter_in_place(self, args, reduce))
        return self

    def scatter_add_(self, dim: int, index, src):
        _require_tensor("scatter_add_", "src", src)
        args = scatter_args("scatter_add_", self, dim, index, src, "add")
        run_in_place("scatter_add_", self, (src,), lambda s: scatter_add(s, dim, index, src),
                     lambda: _scatter_in_place(self, args, "add"))
        return self

    def index_add_(self, dim: int, index, source, *, alpha=1):
        d, idx = index_add_args("index_add_", self, dim, index, source, alpha)
        run_in_place("index_add_", self, (source,), lambda s: index_add(s, dim, index, source, alpha=alpha),
                     lambda: add_along(self._data, d, idx, source._data, alpha))
        return self

    def index_fill_(self, dim: int, index, value):
        d, idx, fill = index_fill_args("index_fill_", self, dim, index, value)
        run_in_place("index_fill_", self, (value,), lambda s: index_fill(s, dim, index, value),
                     lambda: fill_along(self._data, d, idx, fill))
        return self

    def masked_fill_(self, mask, value):
        m = _mask_array("masked_fill_", mask)
        fill = _fill_value("masked_fill_", value, self.dtype)
        if _broadcast("masked_fill_", self.shape, m.shape) != tuple(self.shape):
            raise ShapeError(f"masked_fill_: mask of shape {list(m.shape)} does not broadcast to the tensor's "
                             f"shape {list(self.shape)} (an in-place fill cannot grow the tensor)")
        run_in_place("masked_fill_", self, (value,), lambda s: masked_fill(s, mask, value),
                     lambda: np.copyto(self._data, fill, where=m))
        return self

    def masked_scatter_(self, mask, source):
        _, m, count = masked_scatter_args("masked_scatter_", self, mask, source, True)

        def write():
            self._data[m] = source._data.reshape(-1)[:count]
        run_in_place("masked_scatter_", self, (source,), lambda s: masked_scatter(s, mask, source), write)
        return self

    def zero_(self):
        """Fill with zeros in place; returns self."""
        run_in_place("zero_", self, (), lambda s: _filled(s, np.zeros((), self._data.dtype), None),
                     lambda: self._data.fill(0), reads_self=False)
        return self

    def fill_(self, value):
        """Fill with ``value`` (a number or a 0-d tensor that fits the dtype) in place; returns self."""
        fill = _fill_value("fill_", value, self.dtype)
        run_in_place("fill_", self, (value,), lambda s: _filled(s, fill, value), lambda: self._data.fill(fill),
                     reads_self=False)
        return self

    def copy_(self, src, non_blocking: bool = False):
        """Copy ``src``'s values in place, broadcast to this shape and cast to this dtype; returns self.

        The gradient flows to ``src`` (summed over broadcast dims, cast to its dtype).

        Example:
            >>> x = cogtensor.zeros(2, 3, dtype=cogtensor.int64)
            >>> x.copy_(cogtensor.tensor([1.7, -2.5, 3.0])).tolist()
            [[1, -2, 3], [1, -2, 3]]
        """
        _require_tensor("copy_", "src", src)
        values = _broadcast_source(self, src)
        run_in_place("copy_", self, (src,), lambda s: _copied(s, src, values), lambda: _cast_into(self._data, values),
                     reads_self=False)
        return self
