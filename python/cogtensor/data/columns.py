"""Arrow columns -> tensors, zero-copy where the layout allows, and batches -> samples.

Column types and what they become (n rows):

====================================  =====================================  ==========
Arrow type                            value                                  copy?
====================================  =====================================  ==========
int8/16/32/64, uint8, float16/32/64   ``(n,)`` tensor                        no
uint16, uint32                        ``(n,)`` int32 / int64 tensor          yes
bool                                  ``(n,)`` bool tensor                   yes (bits)
FixedSizeList<T, d> (nested)          ``(n, d, ...)`` tensor                 no
fixed_shape_tensor                    ``(n, *shape)`` tensor                 no
List<T> of equal lengths              ``(n, d, ...)`` tensor                 no
FixedSizeBinary(W)                    ``(n, W)`` uint8 tensor                no
string, binary (variable)             list of str / bytes                    yes
dictionary                            the decoded values                     yes
====================================  =====================================  ==========

A column split into several chunks is joined first (a copy of that column only).
Nulls raise ValueError: fill them (``COALESCE`` in SQL, ``fill_null`` in pyarrow) or drop the rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cogtensor import arrow
from cogtensor.tensor import Tensor

__all__ = ["arrow_to_tensor", "column_layout", "batch_to_sample", "first_rows", "check_transform"]

_WIDEN = {np.dtype(np.uint16): np.int32, np.dtype(np.uint32): np.int64}  # exact: tensors have no uint16/32


def arrow_to_tensor(array, name: str = "column"):
    """Convert one Arrow column to a tensor (or a list of str/bytes for text columns).

    Args:
        array: a ``pyarrow.Array`` or ``ChunkedArray``.
        name: the column's name, for error messages.

    Returns:
        a Tensor whose first dimension is the row count (a zero-copy, read-only view of the
        Arrow buffers where the table above says so), or a list for string/binary columns.

    Raises:
        ValueError: nulls, or a List column whose lists differ in length.
        TypeError: a type with no tensor form (timestamps, decimals, structs, uint64, ...).

    Example:
        >>> col = arrow.fixed_size_list_from_numpy(np.zeros((4, 3), np.float32))
        >>> arrow_to_tensor(col).shape
        cogtensor.Size([4, 3])
    """
    if isinstance(array, pa.ChunkedArray):
        array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    if not isinstance(array, pa.Array):
        raise TypeError(f"arrow_to_tensor: {name!r} is a {type(array).__name__}, expected a pyarrow Array")
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    t = array.type
    if _is_text(t):
        return array.to_pylist()
    if array.null_count:
        raise ValueError(f"column {name!r} holds {array.null_count} null(s); fill them (COALESCE in SQL, "
                         "fill_null in pyarrow) or drop those rows")
    return Tensor(_numpy_of(array, name))


def _is_text(t: pa.DataType) -> bool:
    return (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t)
            or pa.types.is_large_binary(t) or pa.types.is_string_view(t) or pa.types.is_binary_view(t))


def _numpy_of(array: pa.Array, name: str) -> np.ndarray:
    t = array.type
    if pa.types.is_boolean(t):
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.bool_)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _tensor_dtype(array.to_numpy(zero_copy_only=True), name, t)
    if isinstance(t, pa.FixedShapeTensorType) or pa.types.is_fixed_size_list(t) or pa.types.is_fixed_size_binary(t):
        try:
            return _tensor_dtype(arrow.to_numpy(array), name, t)
        except TypeError as e:
            raise TypeError(f"column {name!r} of type {t}: {e}") from None
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _equal_lists(array, name)
    raise TypeError(f"column {name!r} has type {t}, which has no tensor form; cast it to a number type "
                    "(e.g. CAST(x AS DOUBLE) in SQL) or leave the column out")


def _tensor_dtype(values: np.ndarray, name: str, t: pa.DataType) -> np.ndarray:
    if values.dtype in _WIDEN:
        return values.astype(_WIDEN[values.dtype])
    if values.dtype == np.uint64:
        raise TypeError(f"column {name!r} of type {t}: uint64 has no tensor dtype; cast it to int64")
    return values


def _equal_lists(array: pa.Array, name: str) -> np.ndarray:
    """A List column whose lists all have one length, as ``(n, d, ...)`` over the child values."""
    n = len(array)
    lengths = array.value_lengths().to_numpy(zero_copy_only=False) if n else np.zeros(0, np.int64)
    width = int(lengths[0]) if n else 0
    if n and (lengths != width).any():
        raise ValueError(f"column {name!r}: lists of lengths {int(lengths.min())}..{int(lengths.max())} can't form "
                         "a tensor; every row needs the same length")
    flat = array.flatten()  # the child values of these rows (a zero-copy slice)
    if flat.null_count:
        raise ValueError(f"column {name!r}: list values hold {flat.null_count} null(s)")
    inner = _numpy_of(flat, name)
    return inner.reshape(n, width, *inner.shape[1:])


def column_layout(columns, names: list, op: str) -> tuple[str, list]:
    """How a sample is laid out: ``("dict", all names)`` for None, ``("single", [name])`` for a str,
    ``("tuple", names)`` for a list."""
    if columns is None:
        return "dict", list(names)
    wanted = [columns] if isinstance(columns, str) else list(columns)
    for c in wanted:
        if not isinstance(c, str):
            raise TypeError(f"{op}: column names must be str, got {type(c).__name__} {c!r}")
        if c not in names:
            raise ValueError(f"{op}: no column {c!r}; the columns are {list(names)}")
    return ("single" if isinstance(columns, str) else "tuple"), wanted


def batch_to_sample(batch, layout: tuple[str, list], transform=None):
    """Convert the chosen columns of a Table / RecordBatch to tensors, laid out as ``layout``.

    ``transform`` (optional) is a callable applied to the laid-out batch, or a dict of
    per-column callables; either way it receives batched values (a leading row dimension).
    """
    kind, names = layout
    values = {name: arrow_to_tensor(batch.column(name), name) for name in names}
    if isinstance(transform, dict):
        values = {name: transform[name](v) if name in transform else v for name, v in values.items()}
    sample = values if kind == "dict" else values[names[0]] if kind == "single" else tuple(values[n] for n in names)
    return transform(sample) if callable(transform) else sample


def first_rows(sample):
    """Row 0 of a laid-out batch (the sample of a one-row batch)."""
    if isinstance(sample, dict):
        return {k: first_rows(v) for k, v in sample.items()}
    if isinstance(sample, tuple):
        return tuple(first_rows(v) for v in sample)
    return sample[0]


def check_transform(transform, names: list, op: str) -> None:
    """A transform is None, a callable, or a dict of callables keyed by chosen column names."""
    if transform is None or callable(transform):
        return
    if not isinstance(transform, dict) or not all(callable(f) for f in transform.values()):
        raise TypeError(f"{op}: transform must be a callable or a dict of column name -> callable, got "
                        f"{type(transform).__name__}")
    unknown = [k for k in transform if k not in names]
    if unknown:
        raise ValueError(f"{op}: transform names columns {unknown} that are not among {names}")
