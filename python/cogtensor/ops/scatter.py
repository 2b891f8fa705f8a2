"""Ops that write values into a copy of a tensor: scatter, scatter_add, index_add,
index_fill, masked_fill, masked_scatter, each with its backward, and the machinery
their in-place forms (``scatter_``, ``fill_``, ``copy_``, ...) run on.

Semantics follow PyTorch (see :mod:`cogtensor.ops.indexing` for the index rules).
Backward formulas are torch's, written with tensor ops (``gather``, ``index_select``,
``where``, ...) so that they can be differentiated again.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from cogtensor.errors import DTypeError, ShapeError, ValueRangeError
from cogtensor.graph import attach, requires_grad
from cogtensor.ops.autograd_methods import commit_in_place, graph_alias, snapshot
from cogtensor.ops.index_checks import (
    _as_1d, _broadcast, _check_gather_shape, _check_range, _fill_value, _index_array, _is_tensor, _mask_array,
    _require_tensor, scalar_to,
)
from cogtensor.ops.views import cat, normalize_dim

__all__ = ["scatter", "scatter_add", "index_add", "index_fill", "masked_fill", "masked_scatter"]


# ------------------------------------------------------------------ helpers
def _zeros(like, shape):
    """A constant zero tensor of ``shape`` and ``like``'s dtype."""
    return like._wrap(np.zeros(shape, like._data.dtype))


def _wants(x) -> bool:
    """Whether ``x`` is a tensor in the graph (its gradient is worth computing)."""
    return getattr(x, "_node", None) is not None


def _pad_to(t, shape):
    """``t`` (no larger than ``shape`` in any dim) padded with zeros at the end of each dim up to
    ``shape``: the gradient of a src that scatter read only the leading part of."""
    if tuple(t.shape) == tuple(shape):
        return t
    if t.numel() == 0:  # an empty index (of any shape, as torch allows) read nothing
        return _zeros(t, shape)
    target = _as_1d(shape)
    t = t.reshape(_as_1d(t.shape))
    for k, n in enumerate(target):
        if t.shape[k] < n:
            fill = list(t.shape)
            fill[k] = n - t.shape[k]
            t = cat([t, _zeros(t, fill)], k)
    return t.reshape(shape)


def run_in_place(op: str, t, operands, out_of_place, write, reads_self: bool = True) -> None:
    """Run an in-place op on ``t``.

    While recording (``t`` or an operand requires grad), ``out_of_place(source)``
    computes the result from a snapshot of ``t`` (just ``t``'s place in the graph when
    the op does not read ``t``'s values: ``reads_self=False``) and
    :func:`commit_in_place` writes it (version counter, history); otherwise
    ``write()`` changes the memory directly and the version goes up. Arguments must
    already be checked.
    """
    if not t._data.flags.writeable:
        raise ValueRangeError(f"{op}: the tensor's memory is read-only (an expanded view or a read-only buffer); "
                              "clone() it before writing in place")
    if requires_grad(t, *operands):
        commit_in_place(op, t, out_of_place(snapshot(t) if reads_self else graph_alias(t)))
        return
    write()
    t._bump_version()


# ------------------------------------------------------------------ scatter
def _scatter_coords(i_arr: np.ndarray, d: int):
    """Advanced-index coordinates for writing element i of ``index`` at (..., index[i], ...)."""
    coords = list(np.indices(i_arr.shape, sparse=True))
    coords[d] = i_arr
    return tuple(coords)


def _reduce_at(ufunc, out: np.ndarray, where, values) -> None:
    """``ufunc.at(out, where, values)``; float16/bfloat16 accumulate in float32, rounded once."""
    half = out.dtype in (np.float16, ml_dtypes.bfloat16)
    target = out.astype(np.float32) if half else out
    ufunc.at(target, where, np.asarray(values).astype(target.dtype, copy=False))
    if half:
        out[...] = target.astype(out.dtype)


def scatter_into(out: np.ndarray, d: int, idx: np.ndarray, src, reduce) -> None:
    """Write (or reduce) ``src`` (an array shaped at least like ``idx``, or a 0-d value) into ``out``."""
    coords = _scatter_coords(idx, d)
    if src.ndim:
        src = src[tuple(slice(0, s) for s in idx.shape)]
    if reduce is None:
        out[coords] = src
        return
    _reduce_at(np.add if reduce == "add" else np.multiply, out, coords, np.broadcast_to(src, idx.shape))


def scatter_args(op: str, input, dim, index, src, reduce):
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


def _scattered(input, args, reduce):
    """A copy of ``input`` with the checked scatter ``args`` applied."""
    out = np.array(input._data, copy=True, order="C").reshape(_as_1d(input.shape))
    if args is not None:
        scatter_into(out, *args, reduce)
    return input._wrap(out.reshape(input.shape))


def scatter(input, dim: int, index, src=None, *, value=None, reduce: str | None = None):
    """A copy of ``input`` with ``src`` written at ``index`` along ``dim`` (the inverse of gather).

    For dim 0, ``out[index[i][j]][j] = src[i][j]``; ``src`` is a tensor of
    ``input``'s dtype (at least as large as ``index``) or a number (also as
    ``value=``). ``reduce='add'`` / ``'multiply'`` combine instead of
    overwriting. With duplicate indices and no reduce, which write wins is
    unspecified (as in torch); use :func:`scatter_add` to sum them.

    Gradients: ``input`` gets the gradient where nothing was written, ``src`` the
    gradient gathered at ``index`` (zeros where it was not read). ``reduce='multiply'``
    has no gradient (as in torch).

    Example:
        >>> cogtensor.zeros(2, 3).scatter(1, cogtensor.tensor([[2], [0]]), 1.0).tolist()
        [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    if src is None:
        src = value
    if src is None:
        raise TypeError("scatter: expected src (a tensor) or value (a number)")
    out = _scattered(input, scatter_args("scatter", input, dim, index, src, reduce), reduce)
    d = normalize_dim(dim, input.ndim, "scatter")
    if not _is_tensor(src):
        return attach(out, "ScatterBackward1", (input,), lambda g: _scatter_self_grad(g, d, index, reduce),
                      saved=(index,))
    return attach(out, "ScatterBackward0", (input, src),
                  lambda g: (_scatter_self_grad(g, d, index, reduce) if _wants(input) else None,
                             _pad_to(g.gather(d, index), src.shape) if _wants(src) else None),
                  saved=(index,))


def _scatter_self_grad(g, d: int, index, reduce):
    """What ``input`` gets back from a scatter: the gradient where nothing was written over it."""
    if reduce == "multiply":
        raise NotImplementedError("scatter: the derivative of reduce='multiply' is not implemented (as in torch)")
    return g if reduce == "add" else g.scatter(d, index, 0.0)


def scatter_add(input, dim: int, index, src):
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim``; duplicate indices all add.

    For dim 0, ``out[index[i][j]][j] += src[i][j]``. Gradients: ``input`` gets it
    all, ``src`` the gradient gathered at ``index``.

    Example:
        >>> cogtensor.zeros(3).scatter_add(0, cogtensor.tensor([0, 0, 2]), cogtensor.ones(3)).tolist()
        [2.0, 0.0, 1.0]
    """
    _require_tensor("scatter_add", "src", src)
    out = _scattered(input, scatter_args("scatter_add", input, dim, index, src, "add"), "add")
    d = normalize_dim(dim, input.ndim, "scatter_add")
    return attach(out, "ScatterAddBackward0", (input, src),
                  lambda g: (g, _pad_to(g.gather(d, index), src.shape) if _wants(src) else None), saved=(index,))


# ---------------------------------------------------------------- index_add
def _vector_index(op: str, index, allowed=("int32", "int64")) -> np.ndarray:
    """A 1-D (or 0-d) index tensor's values as a 1-D int64 array."""
    idx = _index_array(op, index, allowed)
    if idx.ndim > 1:
        raise IndexError(f"{op}: index is supposed to be a vector (1-D or 0-d), got shape {list(idx.shape)}")
    return idx.reshape(-1)


def index_add_args(op: str, input, dim, index, source, alpha):
    """The checked (dim, 1-D index array) of an index_add."""
    _require_tensor(op, "input", input)
    _require_tensor(op, "source", source)
    d = normalize_dim(dim, input.ndim, op)
    idx = _vector_index(op, index)
    if source.dtype is not input.dtype:
        raise DTypeError(f"{op}: self ({input.dtype.name}) and source ({source.dtype.name}) must have the same "
                         f"dtype; convert source first, e.g. source.to({input.dtype})")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: alpha must be a number, got {type(alpha).__name__}")
    if not input.dtype.is_floating_point and isinstance(alpha, (float, np.floating)):
        raise DTypeError(f"{op}: for integral input tensors, argument alpha must not be a floating point number")
    size = input.shape[d] if input.ndim else 1
    if input.ndim == 0 and source.numel() == 1 and source.ndim <= 1:
        pass  # a 0-d tensor takes a one-element source
    elif source.ndim != input.ndim or any(a != b for k, (a, b) in enumerate(zip(source.shape, input.shape))
                                          if k != d):
        raise ShapeError(f"{op}: source tensor shape must match self tensor shape, excluding the specified "
                         f"dimension {d}. Got self.shape = {list(input.shape)} source.shape = {list(source.shape)}")
    elif source.shape[d] != idx.size:
        raise ShapeError(f"{op}: number of indices ({idx.size}) should be equal to source.size(dim) "
                         f"({source.shape[d]}), for dim: {d}")
    if input.ndim == 0 and idx.size != 1:
        raise IndexError(f"{op}: an index into a 0-d tensor must have exactly one value, got {idx.size}")
    _check_range(op, idx, size, f"dimension {d} with size {size}" if input.ndim else "a 0-d tensor")
    return d, idx


def add_along(out: np.ndarray, d: int, idx: np.ndarray, source: np.ndarray, alpha) -> None:
    """``out[..., idx[i], ...] += alpha * source[..., i, ...]`` along axis ``d``; duplicates all add."""
    values = source if alpha == 1 else source * alpha
    if out.ndim == 0:
        out[...] = (out + values.reshape(())).astype(out.dtype)
        return
    _reduce_at(np.add, out, (slice(None),) * d + (idx,), values)


def index_add(input, dim: int, index, source, *, alpha=1):
    """A copy of ``input`` with ``alpha * source`` added at positions ``index`` along ``dim``.

    ``index`` is 1-D (or 0-d) int64/int32 with values in [0, n); ``source`` has
    ``input``'s shape except ``len(index)`` along ``dim``, and ``input``'s dtype.
    Duplicate indices all add. Gradients: ``input`` gets it all, ``source`` the
    gradient selected at ``index`` (times ``alpha``).

    Example:
        >>> x = cogtensor.zeros(2, 3)
        >>> x.index_add(1, cogtensor.tensor([0, 0]), cogtensor.ones(2, 2)).tolist()
        [[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]]
    """
    d, idx = index_add_args("index_add", input, dim, index, source, alpha)
    out = np.array(input._data, copy=True, order="C")
    add_along(out, d, idx, source._data, alpha)
    return attach(input._wrap(out), "IndexAddBackward0", (input, source),
                  lambda g: (g, _index_add_source_grad(g, d, index, source, alpha) if _wants(source) else None),
                  saved=(index,))


def _index_add_source_grad(g, d: int, index, source, alpha):
    picked = g.index_select(d, index).reshape(source.shape)
    return picked if alpha == 1 else picked * alpha


# --------------------------------------------------------------- index_fill
def index_fill_args(op: str, input, dim, index, value):
    """The checked (dim, 1-D index array with negatives wrapped, 0-d fill array) of an index_fill."""
    _require_tensor(op, "input", input)
    d = normalize_dim(dim, input.ndim, op)
    idx = _vector_index(op, index, ("int64",))
    fill = _fill_value(op, value, input.dtype)
    size = input.shape[d] if input.ndim else 1
    _check_range(op, idx, size, f"dimension {d} with size {size}", negative=True)
    return d, np.where(idx < 0, idx + size, idx), fill


def fill_along(out: np.ndarray, d: int, idx: np.ndarray, fill: np.ndarray) -> None:
    if out.ndim == 0:
        if idx.size:
            out[...] = fill
        return
    out[(slice(None),) * d + (idx,)] = fill


def index_fill(input, dim: int, index, value):
    """A copy of ``input`` with ``value`` written at positions ``index`` (1-D or 0-d int64;
    negative counts from the end) along ``dim``; ``value`` is a number or a 0-d tensor.

    Example:
        >>> cogtensor.zeros(2, 3).index_fill(1, cogtensor.tensor([-1]), 5.0).tolist()
        [[0.0, 0.0, 5.0], [0.0, 0.0, 5.0]]
    """
    d, idx, fill = index_fill_args("index_fill", input, dim, index, value)
    out = np.array(input._data, copy=True, order="C")
    fill_along(out, d, idx, fill)
    out = input._wrap(out)
    if not _is_tensor(value):
        return attach(out, "IndexFillBackward0", (input,), lambda g: g.index_fill(d, index, 0.0), saved=(index,))
    unique = input._wrap(np.unique(idx))  # a position filled twice still takes the value once
    return attach(out, "IndexFillBackward1", (input, value),
                  lambda g: (g.index_fill(d, index, 0.0) if _wants(input) else None,
                             g.index_select(d, unique).sum() if _wants(value) else None), saved=(index,))


# ------------------------------------------------------------- masked ops
def masked_fill(input, mask, value):
    """A copy of ``input`` with ``value`` where the bool ``mask`` (broadcast) is True.

    The result has the broadcast shape of ``input`` and ``mask`` and
    ``input``'s dtype; ``value`` is a number or a 0-d tensor that must fit it
    (a 0-d tensor value gets the sum of the gradient where it was written).

    Example:
        >>> x = cogtensor.tensor([1.0, 2.0, 3.0])
        >>> x.masked_fill(x > 1.5, 0.0).tolist()
        [1.0, 0.0, 0.0]
    """
    _require_tensor("masked_fill", "input", input)
    m = _mask_array("masked_fill", mask)
    fill = _fill_value("masked_fill", value, input.dtype)
    _broadcast("masked_fill", input.shape, m.shape)
    out = input._wrap(np.where(m, fill, input._data))
    if not _is_tensor(value):
        return attach(out, "MaskedFillBackward0", (input,), lambda g: g.where(mask.logical_not(), 0.0),
                      saved=(mask,))
    return attach(out, "MaskedFillBackward1", (input, value),
                  lambda g: (g.where(mask.logical_not(), 0.0) if _wants(input) else None,
                             g.where(mask, 0.0).sum() if _wants(value) else None), saved=(mask,))


def masked_scatter_args(op: str, input, mask, source, in_place: bool):
    """The checked (broadcast shape, broadcast mask array, count of True) of a masked_scatter."""
    _require_tensor(op, "input", input)
    m = _mask_array(op, mask)
    _require_tensor(op, "source", source)
    if source.dtype is not input.dtype:
        raise DTypeError(f"{op}: expected self and source to have the same dtype, but got {input.dtype.name} "
                         f"and {source.dtype.name}")
    shape = _broadcast(op, input.shape, m.shape)
    if in_place and shape != tuple(input.shape):
        raise ShapeError(f"{op}: mask of shape {list(m.shape)} does not broadcast to the tensor's shape "
                         f"{list(input.shape)} (an in-place op cannot grow the tensor)")
    m = np.broadcast_to(m, shape)
    count = int(np.count_nonzero(m))
    if source.numel() < count:
        raise ShapeError(f"{op}: source has {source.numel()} elements, fewer than the {count} True values of "
                         "the mask")
    return shape, m, count


def masked_scatter(input, mask, source):
    """A copy of ``input`` (broadcast with the bool ``mask``) whose masked positions take the
    first elements of ``source`` in row-major order.

    ``source`` has ``input``'s dtype and at least as many elements as the mask has True.

    Example:
        >>> x = cogtensor.zeros(2, 2)
        >>> x.masked_scatter(cogtensor.tensor([[True, False], [False, True]]), cogtensor.tensor([7., 8.])).tolist()
        [[7.0, 0.0], [0.0, 8.0]]
    """
    shape, m, count = masked_scatter_args("masked_scatter", input, mask, source, False)
    out = np.array(np.broadcast_to(input._data, shape), copy=True)
    out[m] = source._data.reshape(-1)[:count]
    mask_t = input._wrap(m)
    return attach(input._wrap(out), "MaskedScatterBackward0", (input, source),
                  lambda g: (g.where(mask_t.logical_not(), 0.0) if _wants(input) else None,
                             _masked_scatter_source_grad(g, mask_t, source.shape, count) if _wants(source) else None),
                  saved=(mask,))


def _masked_scatter_source_grad(g, mask, shape, count: int):
    """The gradient at the masked positions, in order, padded with zeros to ``source``'s size."""
    picked = g[mask._data]
    n = int(np.prod(shape, dtype=np.int64))
    if n > count:
        picked = cat([picked, _zeros(g, (n - count,))], 0)
    return picked.reshape(shape)
