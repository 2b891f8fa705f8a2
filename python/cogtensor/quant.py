"""int8 and ternary quantization and integer matrix products (numpy level; the SQL
layer and cogtensor.nn.quantized build on it).

int8 vectors

Symmetric, zero point 0: ``scale = max|x| / 127`` over a row (``axis=0``, one
scale per row) or over a column (``axis=1``, one scale per column / channel),
``q = clamp(round_half_to_even(x / scale), -127, 127)``, all in float32. A slice
of zeros gets scale 0 and q 0. Every element obeys ``|x - q * scale| <= scale / 2``
as long as the slice's ``max|x| >= 127 * 2**-126`` (about 1.5e-36); below that
``scale`` is a float32 subnormal and loses precision (the bound can fail, and below
about 9e-44 ``scale`` underflows to 0 and q is 0).

Integer products
----------------
:func:`int8_matmul` multiplies int8 matrices into exact int32. :func:`ternary_matmul`
multiplies int8 activations by ternary weights stored 2 bits each (:func:`pack_ternary`)
without unpacking them to memory.

BitNet b1.58
------------
:func:`absmean_quantize` maps weights to {-1, 0, +1} with one scale, mean|W|, for the
tensor; :func:`absmax_quantize` maps activations to int8 with one scale, max|x| / 127,
per token (last axis). :func:`pack_ternary` stores 4 ternary weights per byte and
:func:`pack_ternary_base3` 5 per byte (3^5 = 243 <= 256).
"""

from __future__ import annotations

import numpy as np

from cogtensor import _kernels

__all__ = [
    "quantize_int8", "dequantize_int8", "int8_matmul", "absmean_quantize", "absmax_quantize", "pack_ternary",
    "unpack_ternary", "pack_ternary_base3", "unpack_ternary_base3", "quantize_ternary", "ternary_matmul",
]


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


def _int8_operand(x, op: str, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.int8:
        raise TypeError(f"{op}: expected {name} of dtype int8, got {x.dtype}")
    return x


def _rows_contiguous(x: np.ndarray) -> np.ndarray:
    """x itself when each row is contiguous (what the kernels read), else a C-contiguous copy."""
    return x if x.shape[1] <= 1 or x.strides[1] == x.itemsize else np.ascontiguousarray(x)


def int8_matmul(a, b) -> np.ndarray:
    """Exact integer matrix product of int8 matrices, accumulated in int32.

    Same contract as ``torch._int_mm`` / ``numpy.matmul`` on int8 inputs with an int32
    result, for every int8 value (all -128 included) and ``k <= 131071`` (beyond that
    int32 could overflow). ``b`` is ``(k, n)`` as in ``a @ b``. Fastest layout: ``b`` the
    transpose of a C-contiguous ``(n, k)`` array, e.g. ``int8_matmul(x, w.T)`` for a
    weight ``w`` stored ``(out_features, in_features)`` as ``nn.Linear`` keeps it: its rows
    are read in place. Any other ``b`` is first transposed into that layout (a copy of
    ``b``: negligible next to a matrix product, several times the cost of an ``m = 1``
    product). Where ``a`` holds -128 the kernels add a correction (about 12% of a large
    product, up to 2x for a few rows); the symmetric quantizers never produce -128.

    Args:
        a: ``(m, k)`` or ``(k,)`` int8.
        b: ``(k, n)`` or ``(k,)`` int8.

    Returns:
        int32 ``(m, n)``; a 1-d operand drops its dimension as in ``numpy.matmul``.

    Raises:
        TypeError: an operand not int8. ValueError: operands not 1-d/2-d, inner
        dimensions that differ, or ``k > 131071``.

    Example:
        >>> a = np.array([[-128, 127]], np.int8)
        >>> int8_matmul(a, np.array([[-128], [-128]], np.int8))
        array([[128]], dtype=int32)
    """
    a, b = _int8_operand(a, "int8_matmul", "a"), _int8_operand(b, "int8_matmul", "b")
    if a.ndim not in (1, 2) or b.ndim not in (1, 2):
        raise ValueError(f"int8_matmul: expected 1-d or 2-d operands, got shapes {a.shape} and {b.shape}")
    a2, b2 = a.reshape(1, -1) if a.ndim == 1 else a, b.reshape(-1, 1) if b.ndim == 1 else b
    if a2.shape[1] != b2.shape[0]:
        raise ValueError(f"int8_matmul: a {a.shape} and b {b.shape} do not multiply: "
                         f"inner dimensions {a2.shape[1]} and {b2.shape[0]} differ")
    (m, k), n = a2.shape, b2.shape[1]
    bt = b2.T
    if m == 0 or n == 0 or k == 0:
        out = np.zeros((m, n), np.int32)
    elif bt.strides[1] == 1 and (n == 1 or bt.strides[0] == k):  # b is w.T for a C-contiguous w
        out = _kernels.int8_matmul(_rows_contiguous(a2), bt, False)
    else:
        out = _kernels.int8_matmul(_rows_contiguous(a2), _rows_contiguous(b2), True)
    return out.reshape(a.shape[:-1] + b.shape[1:])


def _float_operand(x, op: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating array, got {x.dtype}")
    x = x.astype(np.float32) if x.dtype.itemsize < 4 else x
    if not np.isfinite(x).all():
        raise ValueError(f"{op}: input holds NaN or infinity")
    return x


def _check_eps(eps, op: str):
    if not (isinstance(eps, (int, float, np.floating)) and eps > 0):
        raise ValueError(f"{op}: eps must be a positive number, got {eps!r}")


def absmean_quantize(w, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """BitNet b1.58 weight quantization to {-1, 0, +1} with one scale per tensor.

    ``scale = max(mean|w|, eps)`` and ``q = clip(round_half_even(w / scale), -1, 1)``,
    computed in ``w``'s precision (float16 in float32); ``w ~= q * scale``.

    Args:
        w: floating array of any shape (at least one element).
        eps: lower bound of the scale (keeps an all-zero tensor finite).

    Returns:
        ``(q, scale)``: int8 ``q`` of ``w``'s shape; ``scale`` a 0-d array of ``w``'s
        float dtype.

    Raises:
        TypeError: non-floating ``w``. ValueError: empty ``w``, NaN/infinity, ``eps <= 0``.

    Example:
        >>> q, s = absmean_quantize(np.array([0.9, -0.1, -2.0, 0.4], np.float32))
        >>> q, s
        (array([ 1,  0, -1,  0], dtype=int8), array(0.85, dtype=float32))
    """
    w = _float_operand(w, "absmean_quantize")
    _check_eps(eps, "absmean_quantize")
    if w.size == 0:
        raise ValueError("absmean_quantize: expected at least one weight, got shape " + str(w.shape))
    scale = np.maximum(np.abs(w).mean(dtype=w.dtype), w.dtype.type(eps))
    q = np.clip(np.rint(w / scale), -1, 1).astype(np.int8)
    return q, np.asarray(scale, w.dtype)


def absmax_quantize(x, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """BitNet b1.58 activation quantization: int8 with one scale per token (last axis).

    ``scale = max(max|x|, eps) / 127`` over the last axis and ``q = clip(round_half_even(
    x / scale), -128, 127)``, in ``x``'s precision; every element obeys
    ``|x - q * scale| <= scale / 2`` (up to float rounding of the scale).

    Args:
        x: floating ``(..., k)`` array, ``k >= 1``.
        eps: lower bound of max|x| (an all-zero token gets scale eps / 127 and q = 0).

    Returns:
        ``(q, scale)``: int8 ``q`` of ``x``'s shape; ``scale`` of shape ``(..., 1)``
        and ``x``'s float dtype, so ``q * scale`` dequantizes.

    Raises:
        TypeError: non-floating ``x``. ValueError: a 0-d or ``k = 0`` input,
        NaN/infinity, ``eps <= 0``.

    Example:
        >>> q, s = absmax_quantize(np.array([[0.5, -1.0, 0.25]], np.float32))
        >>> q
        array([[  64, -127,   32]], dtype=int8)
    """
    x = _float_operand(x, "absmax_quantize")
    _check_eps(eps, "absmax_quantize")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"absmax_quantize: expected (..., k) with k >= 1, got shape {x.shape}")
    peak = np.abs(x).max(axis=-1, keepdims=True) if x.size else np.zeros(x.shape[:-1] + (1,), x.dtype)
    scale = np.maximum(peak, x.dtype.type(eps)) / x.dtype.type(127)
    q = np.clip(np.rint(x / scale), -128, 127).astype(np.int8)
    return q, scale


def _ternary_codes(w, op: str) -> np.ndarray:
    """w in {-1, 0, +1} as 2-bit codes 0 -> 0, +1 -> 1, -1 -> 2 (uint8)."""
    w = np.asarray(w)
    if w.dtype.kind not in "iu":
        raise TypeError(f"{op}: expected an integer array of -1, 0, +1, got {w.dtype}")
    if w.ndim == 0:
        raise ValueError(f"{op}: expected (..., k) weights, got a 0-d array")
    if w.size and (w.min() < -1 or w.max() > 1):
        raise ValueError(f"{op}: weights must be -1, 0 or +1, got values in [{w.min()}, {w.max()}]")
    return np.where(w < 0, 2, w).astype(np.uint8)


def _padded_groups(codes: np.ndarray, per_byte: int, fill: int) -> np.ndarray:
    """(..., k) -> (..., ceil(k / per_byte), per_byte), padded with `fill`."""
    k = codes.shape[-1]
    pad = -k % per_byte
    if pad:
        codes = np.concatenate([codes, np.full(codes.shape[:-1] + (pad,), fill, codes.dtype)], axis=-1)
    return codes.reshape(codes.shape[:-1] + ((k + pad) // per_byte, per_byte))


def pack_ternary(w) -> np.ndarray:
    """Pack ternary weights 4 per byte, 2 bits each, along the last axis.

    Weight ``p`` takes bits ``2 * (p % 4)`` and ``2 * (p % 4) + 1`` of byte ``p // 4``:
    code ``0b00`` = 0, ``0b01`` = +1, ``0b10`` = -1 (``0b11`` is never written); the bits
    past the last weight are zero. This is the layout :func:`ternary_matmul` reads.

    Args:
        w: integer ``(..., k)`` array of -1, 0 and +1.

    Returns:
        uint8 ``(..., ceil(k / 4))``.

    Raises:
        TypeError: non-integer ``w``. ValueError: a 0-d ``w`` or a value outside {-1, 0, 1}.

    Example:
        >>> pack_ternary(np.array([1, -1, 0, 1, -1], np.int8))
        array([73,  2], dtype=uint8)
    """
    groups = _padded_groups(_ternary_codes(w, "pack_ternary"), 4, 0)
    return (groups << np.array([0, 2, 4, 6], np.uint8)).sum(axis=-1, dtype=np.uint8)


_CODE_VALUES = np.array([0, 1, -1, 0], np.int8)


def unpack_ternary(packed, k: int) -> np.ndarray:
    """Inverse of :func:`pack_ternary`: ``(..., ceil(k / 4))`` uint8 -> int8 ``(..., k)``.

    Raises:
        TypeError: ``packed`` not uint8. ValueError: a last axis other than
        ``ceil(k / 4)``, ``k < 0``, or the invalid code ``0b11`` among the first k weights.

    Example:
        >>> unpack_ternary(np.array([73, 2], np.uint8), 5)
        array([ 1, -1,  0,  1, -1], dtype=int8)
    """
    packed = _packed_operand(packed, k, 4, "unpack_ternary")
    codes = (packed[..., None] >> np.array([0, 2, 4, 6], np.uint8)) & 3
    codes = codes.reshape(packed.shape[:-1] + (-1,))[..., :k]
    if (codes == 3).any():
        raise ValueError("unpack_ternary: packed weights hold the invalid 2-bit code 0b11")
    return _CODE_VALUES[codes]


def _packed_operand(packed, k, per_byte: int, op: str) -> np.ndarray:
    packed = np.asarray(packed)
    if packed.dtype != np.uint8:
        raise TypeError(f"{op}: expected uint8 packed weights, got {packed.dtype}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"{op}: k must be a non-negative integer, got {k!r}")
    want = -(-int(k) // per_byte)
    if packed.ndim == 0 or packed.shape[-1] != want:
        raise ValueError(f"{op}: k={k} weights need {want} bytes on the last axis, got shape {packed.shape}")
    return packed


_POWERS_OF_3 = np.array([1, 3, 9, 27, 81], np.uint8)


def pack_ternary_base3(w) -> np.ndarray:
    """Pack ternary weights 5 per byte as base-3 digits along the last axis (1.6 bits each).

    Byte ``j`` holds ``sum_t (w[5 j + t] + 1) * 3**t`` for ``t = 0..4`` (0..242); past
    the last weight the digits are those of 0 weights. Denser than :func:`pack_ternary`
    (for storage); unpack before computing with it.

    Args:
        w: integer ``(..., k)`` array of -1, 0 and +1.

    Returns:
        uint8 ``(..., ceil(k / 5))``.

    Raises:
        TypeError: non-integer ``w``. ValueError: a 0-d ``w`` or a value outside {-1, 0, 1}.

    Example:
        >>> pack_ternary_base3(np.array([1, -1, 0, 1, -1, 1], np.int8))
        array([ 65, 122], dtype=uint8)
    """
    codes = _ternary_codes(w, "pack_ternary_base3")
    digits = np.where(codes == 2, 0, codes + 1).astype(np.uint8)  # w + 1
    return (_padded_groups(digits, 5, 1) * _POWERS_OF_3).sum(axis=-1, dtype=np.uint8)


def unpack_ternary_base3(packed, k: int) -> np.ndarray:
    """Inverse of :func:`pack_ternary_base3`: ``(..., ceil(k / 5))`` uint8 -> int8 ``(..., k)``.

    Raises:
        TypeError: ``packed`` not uint8. ValueError: a last axis other than
        ``ceil(k / 5)``, ``k < 0``, or a byte above 242 (not 5 base-3 digits).

    Example:
        >>> unpack_ternary_base3(np.array([65, 122], np.uint8), 6)
        array([ 1, -1,  0,  1, -1,  1], dtype=int8)
    """
    packed = _packed_operand(packed, k, 5, "unpack_ternary_base3")
    if packed.size and packed.max() > 242:
        raise ValueError(f"unpack_ternary_base3: byte {packed.max()} is above 242 = 3**5 - 1")
    digits = (packed[..., None] // _POWERS_OF_3) % 3
    return (digits.reshape(packed.shape[:-1] + (-1,))[..., :k].astype(np.int8) - 1).astype(np.int8)


def quantize_ternary(w, eps: float = 1e-5, packing: str = "2bit") -> tuple[np.ndarray, np.ndarray]:
    """:func:`absmean_quantize` then pack: ``(packed, scale)`` with ``w ~= unpack(packed) * scale``.

    Args:
        w: floating ``(..., k)`` weights. eps: as in :func:`absmean_quantize`.
        packing: ``"2bit"`` (4 per byte, :func:`pack_ternary`, what :func:`ternary_matmul`
            reads) or ``"base3"`` (5 per byte, :func:`pack_ternary_base3`).

    Raises:
        ValueError: an unknown packing, and as :func:`absmean_quantize`.

    Example:
        >>> packed, scale = quantize_ternary(np.array([[0.9, -0.1, -2.0, 0.4]], np.float32))
        >>> packed, scale
        (array([[33]], dtype=uint8), array(0.85, dtype=float32))
    """
    packers = {"2bit": pack_ternary, "base3": pack_ternary_base3}
    if packing not in packers:
        raise ValueError(f"quantize_ternary: packing must be '2bit' or 'base3', got {packing!r}")
    q, scale = absmean_quantize(w, eps)
    if q.ndim == 0:
        raise ValueError("quantize_ternary: expected (..., k) weights, got a 0-d array")
    return packers[packing](q), scale


def ternary_matmul(x_q, packed, k: int | None = None, *, x_scale=None, w_scale=None) -> np.ndarray:
    """``x_q @ W.T`` for int8 activations and 2-bit packed ternary weights ``W`` (n, k).

    The kernel reads the packed bytes directly: each weight adds, subtracts or skips its
    activation, accumulated exactly in int32 (``k <= 16777215``). ``W`` is laid out as
    ``nn.Linear`` keeps its weight, ``(out_features, in_features)``, packed by
    :func:`pack_ternary` along ``in_features``. With a scale given, the int32 result is
    scaled in float32: ``acc * x_scale * w_scale`` (a missing scale counts as 1).

    Args:
        x_q: int8 ``(..., k)`` activations (e.g. from :func:`absmax_quantize`).
        packed: uint8 ``(n, ceil(k / 4))`` from :func:`pack_ternary`.
        k: the weights' depth; defaults to ``x_q.shape[-1]`` and must equal it.
        x_scale: per-token scale broadcastable to ``(..., 1)`` (as ``absmax_quantize``
            returns) or ``None``. w_scale: a scalar or ``(n,)`` per-row scale, or ``None``.

    Returns:
        ``(..., n)``: int32 without scales, float32 with.

    Raises:
        TypeError: ``x_q`` not int8 or ``packed`` not uint8. ValueError: a 0-d ``x_q``,
        ``packed`` not 2-d with ``ceil(k / 4)`` bytes per row, ``k`` not the depth of
        ``x_q``, the invalid code ``0b11`` among the weights, or scales that do not broadcast.

    Example:
        >>> w = pack_ternary(np.array([[1, -1, 0], [0, 1, 1]], np.int8))
        >>> ternary_matmul(np.array([[10, 20, -128]], np.int8), w)
        array([[ -10, -108]], dtype=int32)
    """
    x_q = _int8_operand(x_q, "ternary_matmul", "x_q")
    if x_q.ndim == 0:
        raise ValueError("ternary_matmul: expected (..., k) activations, got a 0-d array")
    depth = x_q.shape[-1]
    if k is not None and k != depth:
        raise ValueError(f"ternary_matmul: k={k!r} but x_q has {depth} values per token")
    packed = _packed_operand(packed, depth, 4, "ternary_matmul")
    if packed.ndim != 2:
        raise ValueError(f"ternary_matmul: expected packed weights (n, {packed.shape[-1]}), got shape {packed.shape}")
    rows, packed = x_q.reshape(int(np.prod(x_q.shape[:-1])), depth), _rows_contiguous(packed)
    if depth == 0 or rows.shape[0] == 0 or packed.shape[0] == 0:
        acc = np.zeros((rows.shape[0], packed.shape[0]), np.int32)
        if depth and packed.size:
            _kernels.ternary_matmul(rows, packed)  # validates the codes
    else:
        acc = _kernels.ternary_matmul(_rows_contiguous(rows), packed)
    acc = acc.reshape(x_q.shape[:-1] + (packed.shape[0],))
    if x_scale is None and w_scale is None:
        return acc
    scale = np.float32(1)
    for s in (x_scale, w_scale):
        scale = scale if s is None else scale * np.asarray(s, np.float32)
    try:
        return acc.astype(np.float32) * scale
    except ValueError:
        raise ValueError(f"ternary_matmul: scales of shape {np.shape(x_scale)} and {np.shape(w_scale)} "
                         f"do not broadcast to the output {acc.shape}") from None
