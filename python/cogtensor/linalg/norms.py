"""Norms and the cross product: vector_norm, matrix_norm, cross, with torch's backward formulas
(norm_backward for vector norms; matrix norms are composed as torch composes them, from
vector_norm, svdvals and amax/amin)."""

from __future__ import annotations

import math
import numbers

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType
from cogtensor.graph import attach, requires_grad
from cogtensor.linalg._common import (
    LinalgArgumentError, LinalgShapeError, check_float, check_tensor, reduce_dims,
)
from cogtensor.linalg.decompositions import svdvals
from cogtensor.ops.views import normalize_dim

__all__ = ["vector_norm", "matrix_norm", "cross"]

_HALF = (dtypes.float16, dtypes.bfloat16)


def _ord_text(ord) -> str:
    return str(int(ord)) if math.isfinite(ord) and float(ord).is_integer() else str(ord)


# ----------------------------------------------------------------- vector_norm
def _norm_dtype(op: str, x, dtype) -> dtypes.dtype:
    """The result dtype: x's, or ``dtype`` when x converts to it without narrowing (as torch)."""
    if dtype is None:
        return x.dtype
    if not isinstance(dtype, dtypes.dtype):
        raise TypeError(f"{op}: dtype must be a cogtensor dtype, not {type(dtype).__name__}")
    if not dtype.is_floating_point:
        raise DTypeError(f"{op}: dtype should be floating point, but got {dtype.name}")
    if dtypes.promote_types(x.dtype, dtype) is not dtype:
        raise DTypeError(f"{op}: the dtype of the input ({x.dtype.name}) should be convertible without narrowing "
                         f"to the specified dtype ({dtype.name})")
    return dtype


def _check_not_empty(op: str, x, ord, axes) -> None:
    """inf, -inf and negative orders have no identity: an empty reduction is an error, as torch."""
    if ord >= 0 and not math.isinf(ord):
        return
    if len(axes) == x.ndim and x.numel() == 0:
        raise LinalgShapeError(f"{op} cannot compute the {_ord_text(ord)} norm on an empty tensor because the "
                               "operation does not have an identity")
    for a in axes:
        if x.shape[a] == 0:
            raise LinalgShapeError(f"{op} cannot compute the {_ord_text(ord)} norm on the dimension {a} because "
                                   "this dimension is empty and the operation does not have an identity")


def _norm_array(a: np.ndarray, ord, axes, keepdim: bool) -> np.ndarray:
    a = np.abs(a)
    with np.errstate(all="ignore"):
        if ord == 2:
            return np.sqrt(np.sum(a * a, axis=axes, keepdims=keepdim))
        if ord == 1:
            return np.sum(a, axis=axes, keepdims=keepdim)
        if ord == math.inf:
            return np.max(a, axis=axes, keepdims=keepdim, initial=0)
        if ord == -math.inf:
            return np.min(a, axis=axes, keepdims=keepdim)
        if ord == 0:
            return np.sum(a != 0, axis=axes, keepdims=keepdim).astype(a.dtype)
        return np.sum(a ** ord, axis=axes, keepdims=keepdim) ** (1.0 / ord)


def vector_norm(x, ord=2, dim=None, keepdim: bool = False, *, dtype=None):
    """Vector norm of x over ``dim`` (all elements when None or ``()``).

    ``ord``: 2 (default), 1, inf (max |x|), -inf (min |x|), 0 (number of non-zeros) or any
    other real p: ``sum(|x|^p)^(1/p)``.

    Args:
        x: a floating tensor (float16/bfloat16 accumulate in float32).
        dim: an int, a sequence of ints, or None.
        keepdim: keep the reduced dimensions with size 1.
        dtype: compute and return in this floating dtype (x must convert to it without narrowing).

    Raises:
        ShapeError (a RuntimeError too): inf, -inf or negative ``ord`` over an empty dimension.

    Example:
        >>> cogtensor.linalg.vector_norm(cogtensor.tensor([3.0, -4.0])).item()
        5.0
    """
    op = "linalg.vector_norm"
    check_tensor(op, x, "x")
    if not x.dtype.is_floating_point:
        raise NotImplementedForDType(f"{op}: Expected a floating point tensor as input. Got {x.dtype.name}")
    if isinstance(ord, bool) or not isinstance(ord, numbers.Real):
        raise TypeError(f"{op}: argument 'ord' must be a real number, not {type(ord).__name__}")
    ord = float(ord)
    out_dtype = _norm_dtype(op, x, dtype)
    axes = reduce_dims(op, dim, x.ndim)
    _check_not_empty(op, x, ord, axes)
    work = np.float32 if out_dtype in _HALF else out_dtype.numpy
    out = x._wrap(_norm_array(x._data.astype(work, copy=False), ord, axes, bool(keepdim)).astype(out_dtype.numpy))
    if requires_grad(x):
        attach(out, "LinalgVectorNormBackward0", (x,),
               lambda g, norm: _norm_backward(g, x, ord, norm, axes, bool(keepdim), out_dtype),
               saved=(x,), with_output=True)
    return out


def _norm_backward(g, x, ord, norm, axes, keepdim: bool, dtype):
    """torch's norm_backward (real case); 0 where the norm is 0 (and at x = 0 for p < 1)."""
    if ord == 0:
        return None  # piecewise constant: no gradient, as torch
    if x.dtype is not dtype:
        x = _cast(x, dtype)
    if not keepdim:
        kept = [1 if i in axes else n for i, n in enumerate(x.shape)]
        g, norm = g.reshape(kept), norm.reshape(kept)
    if ord == 1:
        return x.sign() * g
    nonzero_norm = norm != 0
    safe_norm = norm.where(nonzero_norm, 1.0)
    if ord == 2:
        return g * (x / safe_norm)  # x is all zeros where the norm is
    absx = x.abs()
    if math.isinf(ord):  # the gradient is shared by the extremes (and the NaNs), as amax's
        hit = (absx._data == norm._data) | np.isnan(absx._data)
        share = hit / np.sum(hit, axis=axes, keepdims=True)
        return x.sign() * g * x._wrap(share.astype(x._data.dtype))
    nonzero_x = x != 0
    if ord < 1:
        scaled = x.sign() * absx.where(nonzero_x, 1.0).pow(ord - 1).where(nonzero_x, 0.0)
        return scaled * g * norm.pow(1 - ord)
    scale = (g / safe_norm.pow(ord - 1)).where(nonzero_norm, 0.0)
    if ord < 2:
        return x.sign() * absx.pow(ord - 1) * scale
    return x * absx.pow(ord - 2) * scale


def _cast(x, dtype):
    """x converted to ``dtype``, recorded so gradients flow back (cast to x's dtype by the engine)."""
    out = x._wrap(x._data.astype(dtype.numpy))
    return attach(out, "ToCopyBackward0", (x,), lambda g: g)


# ----------------------------------------------------------------- matrix_norm
def _extreme(x, dim: int, keepdim: bool, largest: bool):
    """amax/amin over one dim; an empty amax is 0 (norms are non-negative, as torch's matrix_norm)."""
    name = "amax" if largest else "amin"
    d = normalize_dim(dim, x.ndim, name)
    if x.shape[d] == 0 and not largest:
        raise IndexError(f"amin(): Expected reduction dim {dim} to have non-zero size.")
    reduce = np.max if largest else np.min
    kwargs = {"initial": 0} if largest else {}
    out = x._wrap(reduce(x._data, axis=d, keepdims=keepdim, **kwargs))
    if requires_grad(x):
        attach(out, "AmaxBackward0" if largest else "AminBackward0", (x,),
               lambda g, r: _extreme_backward(g, x, r, d, keepdim), saved=(x,), with_output=True)
    return out


def _extreme_backward(g, x, result, d: int, keepdim: bool):
    """Split evenly among the elements equal to the extreme (torch's scale_grad_by_count)."""
    if not keepdim:
        g, result = g.unsqueeze(d), result.unsqueeze(d)
    hit = x._data == result._data
    share = hit / np.maximum(np.sum(hit, axis=d, keepdims=True), 1)
    return g * x._wrap(share.astype(x._data.dtype))


def _matrix_norm_args(op: str, A, ord, dim):
    """Checks; returns the two normalized dims."""
    check_tensor(op, A, "A")
    valid = ord in ("fro", "nuc") if isinstance(ord, str) else (
        isinstance(ord, numbers.Real) and not isinstance(ord, bool) and abs(ord) in (1, 2, math.inf))
    if not valid:
        raise LinalgArgumentError(f"{op}: Order {ord} not supported.")
    check_float(op, A, low_precision=ord not in ("nuc", 2, -2))
    if A.ndim < 2:
        raise LinalgShapeError(f"{op}: The input tensor A must have at least 2 dimensions, but it has shape "
                               f"{list(A.shape)}")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise LinalgShapeError(f"{op}: dim must be a 2-tuple. Got {dim!r}")
    d0, d1 = (normalize_dim(d, A.ndim, op) for d in dim)
    if d0 == d1:
        raise LinalgShapeError(f"{op}: dims must be different. Got ({dim[0]}, {dim[1]})")
    return d0, d1


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim: bool = False, *, dtype=None):
    """Matrix norm over the two dims ``dim``.

    ``ord``: 'fro' (default), 'nuc' (sum of singular values), 2 / -2 (largest / smallest
    singular value), 1 / -1 (max / min column sum of |A|), inf / -inf (max / min row sum).

    Args:
        A: (*, m, n) floating (float16/bfloat16 only for 'fro', ±1, ±inf).
        dim: the two dims holding the matrices.
        keepdim: keep them with size 1.
        dtype: compute and return in this floating dtype.

    Example:
        >>> cogtensor.linalg.matrix_norm(cogtensor.tensor([[1.0, -2.0], [3.0, 4.0]]), 1).item()
        6.0
    """
    op = "linalg.matrix_norm"
    d0, d1 = _matrix_norm_args(op, A, ord, dim)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim, dtype=dtype)
    if ord == "nuc" or abs(ord) == 2:
        target = _norm_dtype(op, A, dtype)
        A = _cast(A, target) if target is not A.dtype else A
        rest = [i for i in range(A.ndim) if i not in (d0, d1)]
        S = svdvals(A.permute(rest + [d0, d1]))
        result = S.sum(-1) if ord == "nuc" else _extreme(S, -1, False, ord > 0)
        if keepdim:
            result = result.reshape([1 if i in (d0, d1) else n for i, n in enumerate(A.shape)])
        return result
    if math.isinf(ord):  # the inf norm is the 1 norm of the transpose
        d0, d1 = d1, d0
    if not keepdim and d0 < d1:
        d1 -= 1
    return _extreme(vector_norm(A, 1, d0, keepdim, dtype=dtype), d1, keepdim, ord > 0)


# ----------------------------------------------------------------------- cross
def _cross_args(op: str, input, other, dim) -> int:
    check_tensor(op, input, "input")
    check_tensor(op, other, "other")
    if input.ndim != other.ndim:
        raise LinalgShapeError(f"{op}: inputs must have the same number of dimensions, got shapes "
                               f"{list(input.shape)} and {list(other.shape)}.")
    if input.dtype is not other.dtype:
        raise DTypeError(f"{op}: expected both inputs to have the same dtype, got {input.dtype.name} and "
                         f"{other.dtype.name}")
    if input.dtype is dtypes.bool:
        raise NotImplementedForDType(f'"{op}" not implemented for bool tensors')
    if input.ndim == 0:
        raise IndexError(f"{op}: dimension specified as {dim} but the tensors have no dimensions")
    d = normalize_dim(dim, input.ndim, op)
    if input.shape[d] != 3 or other.shape[d] != 3:
        raise LinalgShapeError(f"{op}: inputs dimension {dim} must have length 3. Got {input.shape[d]} and "
                               f"{other.shape[d]}")
    try:
        np.broadcast_shapes(tuple(input.shape), tuple(other.shape))
    except ValueError:
        raise LinalgShapeError(f"{op}: shapes {list(input.shape)} and {list(other.shape)} do not broadcast") from None
    return d


def cross(input, other, *, dim: int = -1):
    """Cross product of 3-vectors along ``dim``; the other dims broadcast (same number of dims).

    Example:
        >>> cogtensor.linalg.cross(cogtensor.tensor([1.0, 0.0, 0.0]), cogtensor.tensor([0.0, 1.0, 0.0])).tolist()
        [0.0, 0.0, 1.0]
    """
    op = "linalg.cross"
    d = _cross_args(op, input, other, dim)
    a, b = input._data, other._data
    if input.dtype in _HALF:
        a, b = a.astype(np.float32), b.astype(np.float32)
    out = input._wrap(np.cross(a, b, axis=d).astype(input._data.dtype, copy=False))
    if requires_grad(input, other):
        attach(out, "LinalgCrossBackward0", (input, other),
               lambda g: (cross(other, g, dim=d) if input._node is not None else None,
                          cross(g, input, dim=d) if other._node is not None else None),
               saved=(input, other))
    return out
