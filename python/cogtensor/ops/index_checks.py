"""Argument checks shared by the indexing and scatter ops: index tensors, index ranges,
values written into a tensor, masks and broadcast shapes (PyTorch's rules and error types)."""

from __future__ import annotations

import builtins

import ml_dtypes
import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, ShapeError, ValueRangeError

_INT32_OR_64 = ("int32", "int64")


# ------------------------------------------------------------------ helpers
def _is_tensor(x) -> bool:
    """Whether ``x`` is a tensor (duck-typed: this module sits below the Tensor class)."""
    return isinstance(getattr(x, "_data", None), np.ndarray) and hasattr(x, "_wrap")


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

