"""Argument checks shared by the layer functional forms (convolution, pooling, normalization,
attention, embedding): tensor and dtype checks, the compute dtype, and int-or-tuple
arguments (``kernel_size=3`` or ``(3, 5)``), with torch's rules and clear errors.

Nothing here is public: :mod:`cogtensor.nn.functional` re-exports the functional forms,
not these helpers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType

__all__: list[str] = []

_HALF = (dtypes.float16.numpy, dtypes.bfloat16.numpy)


def is_tensor(x) -> bool:
    return hasattr(x, "_data") and hasattr(x, "_node")


def require_tensor(x, op: str, name: str = "input") -> None:
    """TypeError unless ``x`` is a tensor."""
    if not is_tensor(x):
        raise TypeError(f"{op}: argument '{name}' must be a Tensor, not {type(x).__name__}")


def wants(x) -> bool:
    """Whether ``x`` is a tensor in the graph (its gradient is worth computing)."""
    return getattr(x, "_node", None) is not None


def floating_data(x, op: str, name: str = "input") -> np.ndarray:
    """``x``'s values in the compute dtype: float32/float64 as they are, float16 and bfloat16
    in float32 (as torch computes them on CPU); NotImplementedForDType for other dtypes."""
    require_tensor(x, op, name)
    if not x.dtype.is_floating_point:
        raise NotImplementedForDType(f"{op}: not implemented for {x.dtype} ({name}); expected a floating point "
                                     "tensor (float16, bfloat16, float32 or float64)")
    data = x._data
    return data.astype(np.float32) if data.dtype in _HALF else data


def compute_dtype(np_dtype) -> np.dtype:
    """The dtype an op computes in for values of ``np_dtype`` (float32 for the half types)."""
    return np.dtype(np.float32) if np_dtype in _HALF else np.dtype(np_dtype)


def same_dtype(op: str, first, *others) -> None:
    """DTypeError unless every tensor in ``others`` (None skipped) has ``first``'s dtype, as torch."""
    for name, t in others:
        if t is None:
            continue
        require_tensor(t, op, name)
        if t._data.dtype != first._data.dtype:
            raise DTypeError(f"{op}: expected {name} to have the input's dtype {first.dtype}, got {t.dtype}; "
                             f"convert it with .to({first.dtype})")


def as_array(x, like: np.ndarray) -> np.ndarray:
    """A tensor's (or None's) values in ``like``'s dtype, None kept."""
    if x is None:
        return None
    data = x._data
    return data if data.dtype == like.dtype else data.astype(like.dtype)


def int_tuple(value, n: int, name: str, op: str, minimum: int | None = None) -> tuple[int, ...]:
    """``value`` (an int, or a sequence of ``n`` ints or of one) as an ``n``-tuple of ints.

    Raises:
        TypeError: not an int or a sequence of ints.
        ValueError: a sequence of another length, or a value below ``minimum``.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = list(value)
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
            raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {value!r}")
        if len(items) == 1:
            items = items * n
        if len(items) != n:
            raise ValueError(f"{op}: {name} must be an int or a tuple of {n} ints, got {value!r}")
        values = tuple(int(v) for v in items)
    else:
        raise TypeError(f"{op}: {name} must be an int or a tuple of ints, got {type(value).__name__}")
    if minimum is not None and any(v < minimum for v in values):
        raise ValueError(f"{op}: {name} must be at least {minimum}, got {value!r}")
    return values


def check_probability(p, op: str) -> float:
    """A dropout probability in [0, 1] (ValueError otherwise, as torch)."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)):
        raise TypeError(f"{op}: p must be a number in [0, 1], got {type(p).__name__}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return float(p)
