"""The numpy side of the reductions: dims, accumulation dtypes and the kernels that
compute each reduction's values (``cogtensor.ops.reduction`` wraps them as Tensor
methods and records their backward).

float16 and bfloat16 accumulate in float32 and round once at the end (float32
cumsum accumulates in float64), as torch does on CPU.
"""

from __future__ import annotations

import builtins
import math
import warnings

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, ShapeError
from cogtensor.ops.views import normalize_dim

_I64, _F32, _F64 = np.dtype(np.int64), np.dtype(np.float32), np.dtype(np.float64)
_HALF = (dtypes.float16.numpy, dtypes.bfloat16.numpy)


class ReductionError(ShapeError, RuntimeError):
    """A reduction that cannot be done for these dims or this shape (a repeated dim,
    an empty tensor with no identity). A ShapeError, and also the RuntimeError torch raises."""


# ---------------------------------------------------------------------- helpers
def reduce_dims(dim, ndim: int, op: str) -> tuple[int, ...] | None:
    """The numpy axes for ``dim`` (int, tuple or list; negative allowed); None for all of them."""
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        if not dim:
            return None
        axes = tuple(normalize_dim(d, ndim, op) for d in dim)
        if len(set(axes)) != len(axes):
            repeated = next(a for a in axes if axes.count(a) > 1)
            raise ReductionError(f"{op}: dim {repeated} appears multiple times in the list of dims {list(dim)}")
    else:
        axes = (normalize_dim(dim, ndim, op),)
    return axes if ndim else None


def _count(shape, axes) -> int:
    """How many elements each output element reduces over."""
    return math.prod(shape if axes is None else (shape[a] for a in axes))


def _acc(np_dtype: np.dtype) -> np.dtype:
    """The accumulation dtype: float32 for float16/bfloat16, else the dtype itself."""
    return _F32 if np_dtype in _HALF else np_dtype


def _exact32(data: np.ndarray) -> np.ndarray:
    """float16/bfloat16 widened to float32 (exact), for comparisons numpy does best there."""
    return data.astype(_F32) if data.dtype in _HALF else data


def _cast(values, np_dtype: np.dtype) -> np.ndarray:
    """Values rounded to a result dtype without numpy's warnings: overflow gives inf, as torch."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(values).astype(np_dtype, copy=False)


def _check_dtype_arg(dtype, op: str) -> None:
    if dtype is not None and not isinstance(dtype, dtypes.dtype):
        raise TypeError(f"{op}: dtype must be a cogtensor dtype (e.g. cogtensor.float64), got {dtype!r}")


def _sum_input(x, dtype, op: str):
    """The array to sum (cast to ``dtype`` first, as torch) and the result dtype:
    ``dtype``, or int64 for bool and integer inputs, or the input's floating dtype."""
    _check_dtype_arg(dtype, op)
    if dtype is not None:
        return _cast(x._data, dtype.numpy), dtype.numpy
    return x._data, (x._data.dtype if x.dtype.is_floating_point else _I64)


def _need_floating(x, op: str) -> None:
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected a floating point tensor (float16, bfloat16, float32 or float64), "
                         f"got {x.dtype}")


def _check_nonempty(shape, axes, op: str) -> None:
    """Reductions without an identity (max, min, argmax, argmin) refuse empty reductions, as torch."""
    if axes is None:
        if 0 in shape:
            raise ReductionError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0. "
                                 "Specify the reduction dim with the 'dim' argument.")
        return
    for a in axes:
        if shape[a] == 0:
            raise IndexError(f"{op}(): Expected reduction dim {a} to have non-zero size.")


# --------------------------------------------------------------- the reductions
def _extreme(x, dim, keepdim: bool, op: str) -> np.ndarray:
    """amax/amin over ``dim`` (None or () for all); NaN propagates."""
    axes = reduce_dims(dim, x.ndim, op)
    _check_nonempty(x.shape, axes, op)
    fn = np.max if op in ("max", "amax") else np.min
    return fn(_exact32(x._data), axis=axes, keepdims=keepdim).astype(x._data.dtype, copy=False)


def _extreme_along(x, dim, keepdim: bool, op: str):
    """(values, int64 indices) of max/min along one dim; the first NaN or first extreme wins."""
    d = normalize_dim(dim, x.ndim, op)
    data = x._data
    if data.ndim == 0:
        return data.copy(), np.zeros((), _I64)
    _check_nonempty(data.shape, (d,), op)
    arg = np.argmax if op == "max" else np.argmin
    idx = arg(_exact32(data), axis=d, keepdims=True)
    values = np.take_along_axis(data, idx, axis=d)
    if not keepdim:
        values, idx = np.squeeze(values, axis=d), np.squeeze(idx, axis=d)
    return values, idx.astype(_I64, copy=False)


def _arg_extreme(x, dim, keepdim: bool, op: str) -> np.ndarray:
    """argmax/argmin: int64 index of the first extreme (first NaN) along ``dim``, or flat when dim is None."""
    if x.dtype is dtypes.bool:
        raise DTypeError(f"{op}(): does not support bool input")
    data, arg = _exact32(x._data), (np.argmax if op == "argmax" else np.argmin)
    if dim is None:
        if data.size == 0:
            raise IndexError(f"{op}(): Expected reduction dim to be specified for input.numel() == 0.")
        flat = np.asarray(arg(data), _I64)
        return flat.reshape((1,) * data.ndim) if keepdim else flat
    d = normalize_dim(dim, x.ndim, op)
    if data.ndim == 0:
        return np.zeros((), _I64)
    _check_nonempty(data.shape, (d,), op)
    return arg(data, axis=d, keepdims=keepdim).astype(_I64, copy=False)


def _variance(x, dim, unbiased, keepdim: bool, correction, op: str):
    """Sum of squared deviations / max(0, N - correction) in the accumulation dtype (two passes).

    Returns ``(values, axes, N, correction)``: the backward needs all four."""
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{op}: std and var only support floating point dtypes, got {x.dtype}")
    if unbiased is not None and correction is not None:
        raise TypeError(f"{op}: pass either unbiased or correction, not both")
    c = correction if correction is not None else (0 if unbiased is False else 1)
    axes = reduce_dims(dim, x.ndim, op)
    acc = _acc(x._data.dtype)
    data = x._data.astype(acc, copy=False)
    n = _count(x.shape, axes)
    kept = 1 if axes is None else math.prod(s for a, s in enumerate(x.shape) if a not in axes)
    if (n if kept else 0) - c <= 0:  # torch's test: (input numel / output numel, 0 if none) - correction
        warnings.warn(f"{op}(): degrees of freedom is <= 0. Correction should be strictly less than the reduction "
                      "factor (input numel divided by output numel).", UserWarning, stacklevel=3)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = data - np.sum(data, axis=axes, keepdims=True, dtype=acc) / n
        m2 = np.sum(dev * dev, axis=axes, keepdims=keepdim)
        values = m2 / builtins.max(0, n - c) if data.size else m2 * np.nan  # empty input: NaN, as torch
    return values, axes, n, c


def _logsumexp(x, dim, keepdim: bool) -> np.ndarray:
    """log(sum(exp(x))) with the max subtracted; ±inf maxima count as 0 (as torch), empty -> -inf."""
    out = x._data.dtype if x.dtype.is_floating_point else dtypes.get_default_dtype().numpy
    axes = reduce_dims(dim, x.ndim, "logsumexp")
    data = x._data.astype(_acc(out), copy=False)
    if data.size == 0:
        return np.full(np.sum(data, axis=axes, keepdims=keepdim).shape, -np.inf, out)
    m = np.max(data, axis=axes, keepdims=True)
    m = np.where(np.isinf(m), 0, m)
    with np.errstate(divide="ignore", over="ignore"):  # log(0) = -inf for rows of -inf; exp(big) = inf
        s = np.log(np.sum(np.exp(data - m), axis=axes, keepdims=keepdim))
    return _cast(s + (m if keepdim else m.reshape(s.shape)), out)


def _norm_order(p, dim) -> float:
    """The vector-norm order for torch.norm's ``p`` ('fro' is the 2-norm over at most two dims)."""
    if p is None:
        return 2.0
    if isinstance(p, str):
        if p == "fro":
            if isinstance(dim, (tuple, list)) and len(dim) > 2:
                raise ReductionError(f"norm: the Frobenius norm reduces one or two dims, got dim={list(dim)}")
            return 2.0
        if p == "nuc":
            raise NotImplementedError("norm: p='nuc' (the nuclear norm) needs singular values; it is not supported")
        raise ValueError(f"norm: p must be a number, 'fro' or 'nuc', got {p!r}")
    if isinstance(p, builtins.bool) or not isinstance(p, (builtins.int, builtins.float, np.integer, np.floating)):
        raise TypeError(f"norm: p must be a number, 'fro' or 'nuc', got {type(p).__name__}")
    return builtins.float(p)


def _vector_norm(data: np.ndarray, p: float, axes, keepdim: bool) -> np.ndarray:
    """sum(|x|^p)^(1/p) accumulated in float64 (no overflow for float32 inputs); inf/-inf: max/min |x|;
    0: the count of nonzeros."""
    x = _exact32(data)
    if p < 0 or p == math.inf:
        _check_norm_nonempty(data.shape, axes, p)
    if p in (math.inf, -math.inf):
        return (np.max if p > 0 else np.min)(np.abs(x), axis=axes, keepdims=keepdim)
    if p == 0:
        return np.sum(x != 0, axis=axes, keepdims=keepdim, dtype=_F64)
    if p == 1:
        return np.sum(np.abs(x), axis=axes, keepdims=keepdim, dtype=_F64)
    if p == 2:
        return np.sqrt(np.sum(np.square(x, dtype=_F64), axis=axes, keepdims=keepdim))
    with np.errstate(divide="ignore", over="ignore"):
        return np.sum(np.abs(x.astype(_F64)) ** p, axis=axes, keepdims=keepdim) ** (1.0 / p)


def _check_norm_nonempty(shape, axes, p: float) -> None:
    """max |x|, min |x| and negative powers have no value over nothing: refuse, as torch."""
    if axes is None and 0 in shape:
        raise ReductionError(f"norm: cannot compute the {p:g} norm on an empty tensor because the operation does "
                             "not have an identity")
    for a in axes or ():
        if shape[a] == 0:
            raise ReductionError(f"norm: cannot compute the {p:g} norm on the dimension {a} because this dimension "
                                 "is empty and the operation does not have an identity")


def _cumulative_sum(x, dim, dtype) -> np.ndarray:
    data, out = _sum_input(x, dtype, "cumsum")
    d = normalize_dim(dim, x.ndim, "cumsum")
    acc = _F64 if out == _F32 else _acc(out)  # torch's CPU accumulation types
    if data.ndim == 0:
        return data.astype(out, copy=True)
    return _cast(np.cumsum(data, axis=d, dtype=acc), out)


def _truth(x, dim, keepdim: bool, op: str) -> np.ndarray:
    """all/any: bool results (uint8 for uint8 inputs, as torch); NaN counts as true; dim=() reduces nothing."""
    axes = () if isinstance(dim, (tuple, list)) and not dim else reduce_dims(dim, x.ndim, op)
    data = x._data if x._data.dtype == np.bool_ else x._data != 0
    r = (np.all if op == "all" else np.any)(data, axis=axes, keepdims=keepdim)
    return r.astype(np.uint8) if x.dtype is dtypes.uint8 else r
