"""What the losses in :mod:`cogtensor.nn.functional_loss` share: the ``reduction`` argument
(with torch's deprecated ``size_average`` / ``reduce``), applying it, argument checks, the
errors they raise (torch's types: shape mismatches are ``RuntimeError`` there, so
:class:`LossShapeError` is a ``ShapeError`` and a ``RuntimeError``), and the row layout and
log-softmax of the cross entropies."""

from __future__ import annotations

import warnings

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ShapeError
from cogtensor.graph import attach, is_grad_enabled

REDUCTIONS = ("none", "mean", "sum")
HALF = (dtypes.float16.numpy, dtypes.bfloat16.numpy)


class LossShapeError(ShapeError, RuntimeError):
    """Inputs of a loss whose shapes do not fit each other (torch raises RuntimeError or
    ValueError for these; this is both)."""


def legacy_reduction(size_average, reduce, stacklevel: int = 3) -> str:
    """The reduction torch's deprecated ``size_average`` / ``reduce`` flags name (with torch's warning)."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    name = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{name}' instead.",
                  UserWarning, stacklevel=stacklevel)
    return name


def resolve_reduction(reduction, size_average, reduce, op: str, extra=()) -> str:
    """``reduction`` checked ('none', 'mean', 'sum' and any of ``extra``), or the one the legacy flags name.

    Raises:
        ValueError: any other value (torch's error type).
    """
    if size_average is not None or reduce is not None:
        return legacy_reduction(size_average, reduce, stacklevel=4)
    if reduction in REDUCTIONS or reduction in extra:
        return reduction
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                      UserWarning, stacklevel=3)
        return "mean"
    expected = ", ".join(repr(r) for r in (*REDUCTIONS, *extra))
    raise ValueError(f"{op}: {reduction!r} is not a valid value for reduction (expected one of {expected})")


def reduce_loss(loss, reduction: str):
    """The element-wise ``loss`` tensor reduced: itself ('none'), its mean (NaN when empty) or its sum."""
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def require_tensor(x, op: str, name: str) -> None:
    if not hasattr(x, "_data"):
        raise TypeError(f"{op}: argument '{name}' must be a Tensor, not {type(x).__name__}")


def require_floating(x, op: str, name: str = "input") -> None:
    """NotImplementedForDType unless ``x`` is a floating tensor (torch's ``not implemented for 'Long'``)."""
    if not x.dtype.is_floating_point:
        raise NotImplementedForDType(f"{op}: not implemented for {x.dtype} {name}; expected a floating point "
                                     "tensor (float16, bfloat16, float32 or float64)")


def compute_dtype(np_dtype) -> np.dtype:
    """The dtype a loss computes in: float32 for float16/bfloat16 (rounded once at the end, as torch on CPU)."""
    return np.dtype(np.float32) if np_dtype in HALF else np.dtype(np_dtype)


def warn_size_mismatch(op: str, input, target) -> None:
    """torch's warning for element-wise losses whose target only broadcasts to the input."""
    if input.shape != target.shape:
        warnings.warn(f"{op}: Using a target size ({list(target.shape)}) that is different to the input size "
                      f"({list(input.shape)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


def broadcast_shape(op: str, *named_shapes) -> tuple:
    """The broadcast shape of ``(name, shape)`` pairs, or LossShapeError naming them."""
    try:
        return np.broadcast_shapes(*(tuple(shape) for _, shape in named_shapes))
    except ValueError:
        listed = ", ".join(f"{name} {list(shape)}" for name, shape in named_shapes)
        raise LossShapeError(f"{op}: shapes do not broadcast: {listed}") from None


def expandable_to(op: str, name: str, shape, target_shape) -> None:
    """LossShapeError unless ``shape`` broadcasts to ``target_shape`` without growing it."""
    if broadcast_shape(op, (name, shape), ("input", target_shape)) != tuple(target_shape):
        raise LossShapeError(f"{op}: {name} of shape {list(shape)} does not broadcast to the input's shape "
                             f"{list(target_shape)}")


def forbid_grad(x, op: str, name: str) -> None:
    """RuntimeError when ``x`` requires grad while recording: torch has no derivative for it either."""
    if x is not None and is_grad_enabled() and x._node is not None:
        raise RuntimeError(f"{op}: not differentiable with respect to argument '{name}'; this input cannot have "
                           "requires_grad=True (pass weight.detach())")


def same_dtype(x, expected, op: str, name: str) -> None:
    """DTypeError unless ``x`` has ``expected``'s dtype (torch's ``expected scalar type Float but found Double``)."""
    if x._data.dtype != expected._data.dtype:
        raise DTypeError(f"{op}: expected {name} of dtype {expected.dtype} (the input's), but found {x.dtype}")


# ------------------------------------------------------------ class rows
# cross_entropy / nll_loss view an input (C,), (N, C) or (N, C, d1, ...) as rows (M, C), the
# classes last (M = N * d1 * ...); these convert both ways, in numpy and with (recorded) tensor ops.
def class_dim(ndim: int) -> int:
    return 0 if ndim == 1 else 1


def to_rows(values: np.ndarray, dt) -> np.ndarray:
    """(C,) / (N, C) / (N, C, d1, ...) -> (M, C) with the classes last, in dtype ``dt``."""
    if values.ndim == 1:
        values = values.reshape(1, -1)
    elif values.ndim > 2:
        values = np.moveaxis(values, 1, -1).reshape(-1, values.shape[1])
    return values.astype(dt, copy=False)


def from_rows(rows: np.ndarray, shape) -> np.ndarray:
    """The inverse of :func:`to_rows`: (M, C) back to ``shape``."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    return np.moveaxis(rows.reshape(shape[0], *shape[2:], shape[1]), -1, 1)


def to_rows_tensor(t):
    """:func:`to_rows` with tensor ops (recorded, so gradients flow through it)."""
    if t.ndim == 1:
        return t.reshape(1, -1)
    if t.ndim == 2:
        return t
    return t.permute(0, *range(2, t.ndim), 1).reshape(-1, t.shape[1])


def from_rows_tensor(rows, shape):
    """:func:`from_rows` with tensor ops."""
    if len(shape) <= 2:
        return rows.reshape(shape)
    n = len(shape)
    return rows.reshape(shape[0], *shape[2:], shape[1]).permute(0, n - 1, *range(1, n - 1))


def row_sums(values: np.ndarray) -> np.ndarray:
    """Each row's sum, (M, C) -> (M,): a matrix-vector product, several times faster than
    ``sum(axis=1)`` over short rows."""
    return values @ np.ones(values.shape[1], values.dtype)


def log_softmax_rows(rows: np.ndarray, with_softmax: bool):
    """(log_softmax, softmax or None) of each row, the row maximum subtracted first (no overflow;
    rows of only -inf, or holding +inf, give NaN, as torch)."""
    if rows.size == 0:
        return rows.copy(), (rows.copy() if with_softmax else None)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        shifted = rows - rows.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = row_sums(e)[:, None]
        logp = shifted - np.log(total)
        return logp, (np.divide(e, total, out=e) if with_softmax else None)


def softmax_node(rows_t, values: np.ndarray, log: bool):
    """``values``, the (log-)softmax of the rows tensor ``rows_t`` computed already, as a tensor
    recorded as softmax's output: differentiating through it again is exact."""
    out = rows_t._wrap(values)
    if log:
        return attach(out, "LogSoftmaxBackward0", (rows_t,), lambda g, y: g - y.exp() * g.sum(1, keepdim=True),
                      with_output=True)
    return attach(out, "SoftmaxBackward0", (rows_t,), lambda g, y: y * (g - (g * y).sum(1, keepdim=True)),
                  with_output=True)
