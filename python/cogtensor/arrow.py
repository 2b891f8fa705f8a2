"""Zero-copy bridges between Arrow arrays and numpy arrays.

Arrow -> numpy views share the Arrow buffers (the arrays come back read-only);
numpy -> Arrow arrays wrap the numpy memory. A copy is made only where the
layouts cannot be shared, and each function says when.

- ``FixedSizeBinary(W)`` (and ``Binary``/``LargeBinary`` of equal-length values)
  <-> ``(n, W)`` uint8 records;
- ``FixedSizeList<T, d>`` (nested for more dimensions) <-> ``(n, d, ...)`` arrays;
- the canonical ``arrow.fixed_shape_tensor`` extension <-> ``(n, *shape)`` arrays.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

__all__ = [
    "to_numpy",
    "validity",
    "records_from_numpy",
    "fixed_size_list_from_numpy",
    "fixed_shape_tensor_from_numpy",
]

_NULL_MODES = ("raise", "keep", "zero")


def validity(array: pa.Array | pa.ChunkedArray) -> np.ndarray | None:
    """Validity mask of an Arrow array: ``(n,)`` bool, True where valid; None if no nulls."""
    if array.null_count == 0:
        return None
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


def to_numpy(array, *, nulls: str = "raise") -> np.ndarray:
    """View an Arrow array of fixed-width values as a numpy array, without copying.

    Args:
        array: ``FixedSizeBinary(W)``, ``Binary``/``LargeBinary`` whose values all
            have the same length, ``FixedSizeList`` (possibly nested) of a numeric
            type, an ``arrow.fixed_shape_tensor`` extension array, or a
            ``ChunkedArray`` of one of these (several chunks are concatenated: a copy).
        nulls: what to do with null slots: ``"raise"`` (ValueError), ``"keep"``
            (return the buffer as is; null rows hold unspecified bytes, pair the
            result with :func:`validity`), or ``"zero"`` (a copy with null rows zeroed).

    Returns:
        ``(n, W)`` uint8 for binary arrays; ``(n, d1, d2, ...)`` of the value type
        for lists and tensors (a tensor with a ``permutation`` comes back in its
        logical order, a strided view: logical dimension i is physical dimension
        ``permutation[i]``, as the Arrow spec says). Read-only when it is a view of
        Arrow memory.

    Raises:
        TypeError: not an Arrow array, or values of another type (strings,
            booleans, lists of non-numeric values).
        ValueError: nulls with ``nulls="raise"``, nulls inside a non-null list row,
            binary values of unequal or zero length, or an unknown ``nulls`` mode.

    Example:
        >>> recs = pa.array([b"\\x01\\x02", b"\\x03\\x04"], pa.binary(2))
        >>> to_numpy(recs)
        array([[1, 2],
               [3, 4]], dtype=uint8)
    """
    if nulls not in _NULL_MODES:
        raise ValueError(f"to_numpy: nulls must be one of {_NULL_MODES}, got {nulls!r}")
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    if not isinstance(array, pa.Array):
        raise TypeError(f"to_numpy: expected a pyarrow Array or ChunkedArray, got {type(array).__name__}")
    if array.null_count and nulls == "raise":
        raise ValueError(
            f"to_numpy: the array holds {array.null_count} null(s); drop them first "
            "(array.drop_null()) or pass nulls='keep' / nulls='zero'"
        )
    view = _view(array)
    if array.null_count and nulls == "zero":
        view = view.copy()
        view[~validity(array)] = 0
    return view


def _view(array: pa.Array) -> np.ndarray:
    t = array.type
    if isinstance(t, pa.FixedShapeTensorType):
        return _tensor_view(array)
    if pa.types.is_fixed_size_binary(t):
        return _buffer_view(array.buffers()[1], np.uint8, array.offset * t.byte_width, len(array) * t.byte_width).reshape(
            len(array), t.byte_width
        )
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return _binary_view(array)
    if pa.types.is_fixed_size_list(t):
        return _list_view(array)
    raise TypeError(
        f"to_numpy: expected FixedSizeBinary, Binary, FixedSizeList or fixed_shape_tensor values, got {t}"
    )


def _buffer_view(buf: pa.Buffer | None, dtype, start: int, count: int) -> np.ndarray:
    """count items of dtype starting at item `start` of an Arrow buffer (no copy, read-only)."""
    if count == 0:
        view = np.empty(0, dtype=dtype)
    else:
        view = np.frombuffer(buf, dtype=dtype, count=count, offset=start * np.dtype(dtype).itemsize)
    view.flags.writeable = False  # Arrow arrays are immutable, even over a mutable buffer
    return view


def _binary_view(array: pa.Array) -> np.ndarray:
    off_type = np.int64 if pa.types.is_large_binary(array.type) else np.int32
    n = len(array)
    offsets = _buffer_view(array.buffers()[1], off_type, array.offset, n + 1) if n else np.zeros(1, off_type)
    lengths = np.diff(offsets)
    valid = validity(array)
    known = lengths if valid is None else lengths[valid]
    if n and not len(known):
        raise ValueError("to_numpy: every binary value is null, so the record width is unknown")
    width = int(known[0]) if len(known) else 0
    if len(known) and (known != width).any():
        bad = int(known[known != width][0])
        raise ValueError(f"to_numpy: binary values must all have the same length; found {width} and {bad} bytes")
    if n == 0:
        return np.empty((0, 0), dtype=np.uint8)
    if width == 0:
        raise ValueError("to_numpy: binary values are empty (0 bytes); records need at least 1 byte")
    if (lengths == width).all():  # evenly spaced: the data buffer is already (n, width)
        return _buffer_view(array.buffers()[2], np.uint8, int(offsets[0]), n * width).reshape(n, width)
    # null slots of another length break the spacing: gather the valid rows (a copy)
    out = np.zeros((n, width), dtype=np.uint8)
    data = _buffer_view(array.buffers()[2], np.uint8, 0, int(offsets[-1]))
    for i in np.flatnonzero(valid):
        out[i] = data[offsets[i] : offsets[i] + width]
    return out


def _list_view(array: pa.Array) -> np.ndarray:
    n = len(array)
    shape = [n]
    start, count = array.offset, n  # physical index range of the current level
    rows_valid = validity(array)
    values = array
    while pa.types.is_fixed_size_list(values.type):
        size = values.type.list_size
        shape.append(size)
        child = values.values  # ignores the parent's offset: index it with the parent's physical range
        start, count = start * size, count * size
        _check_child_nulls(child.slice(start, count), n, rows_valid)
        start += child.offset
        values = child
    t = values.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise TypeError(f"to_numpy: list values must be a numeric type, got {t}")
    return _buffer_view(values.buffers()[1], t.to_pandas_dtype(), start, count).reshape(shape)


def _check_child_nulls(part: pa.Array, n: int, rows_valid: np.ndarray | None) -> None:
    """Nulls inside a list are an error, except under a row that is null itself."""
    if not n or not part.null_count:
        return
    bad = ~validity(part).reshape(n, -1).all(axis=1)
    if rows_valid is not None:
        bad &= rows_valid
    if bad.any():
        raise ValueError(
            f"to_numpy: list values hold nulls in {int(bad.sum())} non-null row(s); fill or drop them first"
        )


def _tensor_view(array: pa.Array) -> np.ndarray:
    t = array.type
    flat = _list_view(array.storage)
    view = flat.reshape(len(array), *t.shape)
    if t.permutation:
        view = view.transpose(0, *(1 + p for p in t.permutation))
    return view


def _contiguous(x: np.ndarray, name: str, min_ndim: int) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < min_ndim:
        raise ValueError(f"{name}: expected at least {min_ndim} dimensions, got shape {x.shape}")
    return np.ascontiguousarray(x)


def records_from_numpy(records: np.ndarray) -> pa.FixedSizeBinaryArray:
    """Wrap ``(n, W)`` uint8 records as ``FixedSizeBinary(W)`` without copying.

    A C-contiguous input is shared (the Arrow array keeps it alive); other
    layouts are copied to a contiguous array first.

    Raises:
        TypeError: a dtype other than uint8. ValueError: not 2-d, or width 0.

    Example:
        >>> records_from_numpy(np.zeros((3, 8192), np.uint8)).type
        FixedSizeBinaryType(fixed_size_binary[8192])
    """
    x = np.asarray(records)
    if x.dtype != np.uint8:
        raise TypeError(f"records_from_numpy: expected (n, W) uint8 records, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"records_from_numpy: expected (n, W) uint8 records, got shape {x.shape}")
    if x.shape[1] < 1:
        raise ValueError("records_from_numpy: records need a width of at least 1 byte")
    x = np.ascontiguousarray(x)
    return pa.Array.from_buffers(pa.binary(x.shape[1]), x.shape[0], [None, pa.py_buffer(x)])


def fixed_size_list_from_numpy(x: np.ndarray) -> pa.FixedSizeListArray:
    """Wrap an ``(n, d1, ..., dk)`` numeric array as nested ``FixedSizeList`` (no copy if C-contiguous).

    Example:
        >>> fixed_size_list_from_numpy(np.zeros((4, 1024), np.float32)).type
        FixedSizeListType(fixed_size_list<item: float>[1024])
    """
    x = _contiguous(x, "fixed_size_list_from_numpy", 2)
    if x.dtype.kind not in "iuf":
        raise TypeError(f"fixed_size_list_from_numpy: expected a numeric dtype, got {x.dtype}")
    if 0 in x.shape[1:]:
        raise ValueError(f"fixed_size_list_from_numpy: list sizes must be at least 1, got shape {x.shape}")
    if not x.dtype.isnative:  # Arrow data is native-endian: convert (a copy)
        x = x.astype(x.dtype.newbyteorder("="))
    try:
        value_type = pa.from_numpy_dtype(x.dtype)
    except (pa.ArrowNotImplementedError, NotImplementedError) as e:
        raise TypeError(f"fixed_size_list_from_numpy: dtype {x.dtype} has no Arrow equivalent") from e
    values = pa.Array.from_buffers(value_type, x.size, [None, pa.py_buffer(x)])
    for size in reversed(x.shape[1:]):
        values = pa.FixedSizeListArray.from_arrays(values, size)
    return values


def fixed_shape_tensor_from_numpy(x: np.ndarray) -> pa.ExtensionArray:
    """Wrap ``(n, *shape)`` as an ``arrow.fixed_shape_tensor`` array (no copy if C-contiguous).

    Example:
        >>> fixed_shape_tensor_from_numpy(np.zeros((2, 3, 4), np.float32)).type.shape
        [3, 4]
    """
    x = _contiguous(x, "fixed_shape_tensor_from_numpy", 2)
    storage = fixed_size_list_from_numpy(x.reshape(x.shape[0], int(np.prod(x.shape[1:]))))
    tensor_type = pa.fixed_shape_tensor(storage.type.value_type, list(x.shape[1:]))
    return pa.ExtensionArray.from_storage(tensor_type, storage)
