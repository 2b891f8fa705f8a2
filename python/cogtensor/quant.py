"""int8 quantization of float32 vectors (numpy level; the SQL layer builds on it).

Symmetric, zero point 0: ``scale = max|x| / 127`` over a row (``axis=0``, one
scale per row) or over a column (``axis=1``, one scale per column / channel),
``q = clamp(round_half_to_even(x / scale), -127, 127)``. A slice of zeros gets
scale 0 and q 0. Every element obeys ``|x - q * scale| <= scale / 2``.
"""

from __future__ import annotations

import numpy as np

from cogtensor import _kernels

__all__ = ["quantize_int8", "dequantize_int8"]


def _axis(axis) -> bool:
    """True for per-column scales."""
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (one scale per row) or 1 (one scale per column), got {axis!r}")
    return axis == 1


def quantize_int8(x, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Quantize float vectors to int8 with symmetric scales.

    Args:
        x: ``(d,)`` or ``(n, d)`` floating array (float64/float16 are cast to float32).
        axis: 0 for one scale per row (per vector), 1 for one scale per column
            (per channel, over the batch).

    Returns:
        ``(q, scale)``: ``q`` int8 of x's shape; ``scale`` float32 ``(n,)`` for
        ``axis=0`` (a scalar array for a single vector) or ``(d,)`` for ``axis=1``.

    Raises:
        TypeError: non-floating input. ValueError: NaN or infinity in ``x``.

    Example:
        >>> q, s = quantize_int8(np.array([0.5, -1.0, 0.25], np.float32))
        >>> q
        array([  64, -127,   32], dtype=int8)
    """
    per_column = _axis(axis)
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"quantize_int8: expected a floating array, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"quantize_int8: expected (d,) or (n, d), got shape {x.shape}")
    if x.shape[-1] == 0:
        raise ValueError("quantize_int8: vectors must have at least one element")
    rows = np.ascontiguousarray(x.reshape(1, -1) if x.ndim == 1 else x, dtype=np.float32)
    q, scale = _kernels.quantize(rows, per_column)
    if x.ndim == 1:
        return q[0], (scale if per_column else scale[0])
    return q, scale


def dequantize_int8(q, scale, axis: int = 0) -> np.ndarray:
    """Inverse of :func:`quantize_int8`: ``q * scale`` as float32, same shape as ``q``.

    Example:
        >>> dequantize_int8(np.array([64, -127], np.int8), np.float32(1 / 127))
        array([ 0.503937, -1.      ], dtype=float32)
    """
    per_column = _axis(axis)
    q = np.asarray(q)
    if q.dtype != np.int8:
        raise TypeError(f"dequantize_int8: expected int8 values, got {q.dtype}")
    if q.ndim not in (1, 2) or q.shape[-1] == 0:
        raise ValueError(f"dequantize_int8: expected (d,) or (n, d) with d >= 1, got shape {q.shape}")
    rows = q.reshape(1, -1) if q.ndim == 1 else q
    scale = np.ascontiguousarray(np.asarray(scale, dtype=np.float32).reshape(-1))
    out = _kernels.dequantize(np.ascontiguousarray(rows), scale, per_column)
    return out[0] if q.ndim == 1 else out
