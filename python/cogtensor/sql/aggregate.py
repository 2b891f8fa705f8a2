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


class _Bundle(Accumulator):
    def __init__(self, width: int, name: str):
        self.width, self.name = width, name
        self.counts = np.zeros(8 * width, dtype=np.int64)
        self.total = 0
        self.rows = 0

    def _add(self, records: np.ndarray, weights: np.ndarray | None) -> None:
        if len(records) == 0:
            return
        if weights is None:
            self.counts += _kernels.bit_counts(records, None)
            self.total += len(records)
        else:
            if weights.size and (weights.min() < -(2**31) or weights.max() > 2**31 - 1):
                raise ValueError(f"{self.name}: weights must fit in 32 bits")
            w = np.ascontiguousarray(weights, dtype=np.int32)
            self.counts += _kernels.bit_counts(records, w)
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
            if not packed[i].is_valid:
                continue
            self.counts += np.frombuffer(packed[i].as_buffer(), dtype="<i8")
            self.total += totals[i].as_py()
            self.rows += counts[i].as_py()

    def state(self) -> list[pa.Scalar]:
        return [
            pa.scalar(self.counts.astype("<i8").tobytes(), pa.binary()),
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
