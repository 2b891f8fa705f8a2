"""int8 quantization of float32 vectors (numpy level; the SQL layer builds on it).

Symmetric, zero point 0: ``scale = max|x| / 127`` over a row (``axis=0``, one
scale per row) or over a column (``axis=1``, one scale per column / channel),
``q = clamp(round_half_to_even(x / scale), -127, 127)``, all in float32. A slice
of zeros gets scale 0 and q 0. Every element obeys ``|x - q * scale| <= scale / 2``
as long as the slice's ``max|x| >= 127 * 2**-126`` (about 1.5e-36); below that
``scale`` is a float32 subnormal and loses precision (the bound can fail, and below
about 9e-44 ``scale`` underflows to 0 and q is 0).
"""

from __future__ import annotations

import numpy as np

from cogtensor import _kernels

__all__ = ["quantize_int8", "dequantize_int8"]


def _axis(axis) -> bool:
    """True for per-column scales."""
    if isinstance(axis, bool) or axis not in (0, 1):
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
        TypeError: non-floating input. ValueError: NaN or infinity in ``x``
        (float64 values beyond float32 range count as infinity), a shape other
        than ``(d,)``/``(n, d)`` with ``d >= 1``, or an axis other than 0 or 1.

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
    with np.errstate(over="ignore"):  # float64 beyond float32 range -> inf -> ValueError below
        rows = np.ascontiguousarray(x.reshape(1, -1) if x.ndim == 1 else x, dtype=np.float32)
    try:
        q, scale = _kernels.quantize(rows, per_column)
    except ValueError as e:
        raise ValueError(f"quantize_int8: {str(e).removeprefix('quantize: ')} (after the cast to float32)") from None
    if x.ndim == 1:
        return q[0], (scale if per_column else scale[0])
    return q, scale


def dequantize_int8(q, scale, axis: int = 0) -> np.ndarray:
    """Inverse of :func:`quantize_int8`: ``q * scale`` as float32, same shape as ``q``.

    ``scale`` holds one value per row (``axis=0``; a scalar for a single vector)
    or one per column (``axis=1``).

    Raises:
        TypeError: ``q`` not int8. ValueError: a bad shape, axis, or scale count.

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
    try:
        out = _kernels.dequantize(np.ascontiguousarray(rows), scale, per_column)
    except ValueError as e:
        raise ValueError(f"dequantize_int8: {str(e).removeprefix('dequantize: ')}") from None
    return out[0] if q.ndim == 1 else out
