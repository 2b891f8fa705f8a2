"""Aggregate SQL functions: ``bundle(rec)`` and ``bundle_weighted(rec, w)``.

The state of a group is its per-bit vote counts (int64, packed into one binary
value) and its total weight, so partial states from several partitions add up
exactly and the result equals the single-pass :func:`cogtensor.hdc.bundle`,
ties included. NULL records (and NULL weights) are skipped; a group with no
non-NULL record gives NULL.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from datafusion import Accumulator, AggregateUDF, udaf

from cogtensor import _kernels
from cogtensor.sql._arrays import int_column, rows, valid_mask

_STATE = [pa.binary(), pa.int64(), pa.int64()]  # packed counts, total weight, rows seen
_PACKINGS = [np.dtype(f"<i{size}") for size in (1, 2, 4, 8)]


def _pack(counts: np.ndarray | None) -> bytes:
    """Counts in the narrowest little-endian integer type that holds them (b"" for none):
    a group of a few rows ships 64 KB per 8 KB record instead of 512 KB."""
    if counts is None:
        return b""
    lo, hi = counts.min(), counts.max()
    packing = next(t for t in _PACKINGS if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max)
    return counts.astype(packing).tobytes()


def _unpack(raw: bytes, width: int) -> np.ndarray:
    """Inverse of _pack: the integer size follows from the length (8 * width counts)."""
    return np.frombuffer(raw, dtype=f"<i{len(raw) // (8 * width)}").astype(np.int64)


class _Bundle(Accumulator):
    def __init__(self, width: int, name: str):
        self.width, self.name = width, name
        self.counts: np.ndarray | None = None  # int64 per bit, allocated by the first rows
        self.total = 0
        self.rows = 0

    def _add_counts(self, counts: np.ndarray) -> None:
        if self.counts is None:
            self.counts = counts
        else:
            self.counts += counts

    def _add(self, records: np.ndarray, weights: np.ndarray | None) -> None:
        if len(records) == 0:
            return
        if weights is None:
            self._add_counts(_kernels.bit_counts(records, None))
            self.total += len(records)
        else:
            if weights.size and (weights.min() < -(2**31) or weights.max() > 2**31 - 1):
                raise ValueError(f"{self.name}: weights must fit in 32 bits")
            self._add_counts(_kernels.bit_counts(records, np.ascontiguousarray(weights, dtype=np.int32)))
            self.total += int(weights.sum())
        self.rows += len(records)

    def update(self, values: pa.Array, weights: pa.Array | None = None) -> None:
        valid = valid_mask(values) if weights is None else valid_mask(values, weights)
        records = rows(values)
        w = None if weights is None else int_column(weights)
        if valid is not None:
            records = records[valid]
            w = None if w is None else w[valid]
        self._add(records, w)

    def merge(self, states: list[pa.Array]) -> None:
        packed, totals, counts = states
        for i in range(len(packed)):
            raw = packed[i].as_py() if packed[i].is_valid else b""
            if not raw:
                continue
            self._add_counts(_unpack(raw, self.width))
            self.total += totals[i].as_py()
            self.rows += counts[i].as_py()

    def state(self) -> list[pa.Scalar]:
        return [
            pa.scalar(_pack(self.counts), pa.binary()),
            pa.scalar(self.total, pa.int64()),
            pa.scalar(self.rows, pa.int64()),
        ]

    def evaluate(self) -> pa.Scalar:
        if self.rows == 0:
            return pa.scalar(None, pa.binary(self.width))
        out = _kernels.majority_from_counts(self.counts, self.total)
        return pa.scalar(out.tobytes(), pa.binary(self.width))


def bundle_functions(width: int, suffix: str) -> list[AggregateUDF]:
    """``bundle`` and ``bundle_weighted`` over FixedSizeBinary(width) (+ name suffix)."""
    record = pa.binary(width)
    plain, weighted = "bundle" + suffix, "bundle_weighted" + suffix
    return [
        udaf(lambda: _Bundle(width, plain), [record], record, _STATE, "immutable", plain),
        udaf(lambda: _Bundle(width, weighted), [record, pa.int64()], record, _STATE, "immutable", weighted),
    ]
