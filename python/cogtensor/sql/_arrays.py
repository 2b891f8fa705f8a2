"""Arrow <-> numpy plumbing shared by the SQL functions: one view per batch, nulls
carried through as a validity mask."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cogtensor.arrow import to_numpy, validity


def rows(array: pa.Array) -> np.ndarray:
    """``(n, W)`` view of a binary column (null slots hold unspecified bytes)."""
    return to_numpy(array, nulls="keep")


def valid_mask(*arrays: pa.Array) -> np.ndarray | None:
    """True where every argument is non-null; None when no argument has nulls."""
    masks = [m for m in (validity(a) for a in arrays) if m is not None]
    if not masks:
        return None
    return np.logical_and.reduce(masks)


def _validity_buffer(valid: np.ndarray | None) -> pa.Buffer | None:
    return None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))


def wrap_values(values: np.ndarray, valid: np.ndarray | None, arrow_type: pa.DataType) -> pa.Array:
    """A numeric result array; rows where ``valid`` is False become NULL."""
    return pa.array(values, type=arrow_type, mask=None if valid is None else ~valid)


def wrap_records(records: np.ndarray, valid: np.ndarray | None, binary: bool = False) -> pa.Array:
    """``(n, W)`` uint8 as FixedSizeBinary(W) (or Binary), sharing the numpy memory."""
    records = np.ascontiguousarray(records)
    n, width = records.shape
    nulls = 0 if valid is None else int(n - valid.sum())
    data = pa.py_buffer(records)
    if binary:
        offsets = pa.py_buffer(np.arange(0, (n + 1) * width, width, dtype=np.int32))
        return pa.Array.from_buffers(pa.binary(), n, [_validity_buffer(valid), offsets, data], null_count=nulls)
    return pa.Array.from_buffers(pa.binary(width), n, [_validity_buffer(valid), data], null_count=nulls)


def wrap_vectors(values: np.ndarray, valid: np.ndarray | None) -> pa.Array:
    """``(n, d)`` float32 as FixedSizeList<float32, d>; rows where ``valid`` is False become NULL."""
    values = np.ascontiguousarray(values, dtype=np.float32)
    n, d = values.shape
    child = pa.Array.from_buffers(pa.float32(), n * d, [None, pa.py_buffer(values)])
    nulls = 0 if valid is None else int(n - valid.sum())
    return pa.Array.from_buffers(pa.list_(pa.float32(), d), n, [_validity_buffer(valid)], null_count=nulls, children=[child])


def int_column(array: pa.Array) -> np.ndarray:
    """An integer argument as int64 numpy (null slots read as 0; mask them separately)."""
    return np.asarray(array.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
