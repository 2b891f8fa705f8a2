"""Grouped bundling over partitions: per-partition per-bit vote counts, summed by key on the
driver, then thresholded once with the kernel's tie rule (a tied bit takes bit i of 0x55),
so the result equals the single-machine ``GROUP BY key`` bundle exactly."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cogtensor import _kernels
from cogtensor.arrow import to_numpy, validity
from cogtensor.distributed import _partitions

_PACKINGS = [np.dtype(f"<i{size}") for size in (1, 2, 4, 8)]


@dataclass(frozen=True)
class _Spec:
    key: str
    column: str
    weights: str | None


@dataclass
class _Groups:
    """Per-group vote counts: ``counts[g]`` is None for a group without a valid record."""

    keys: pa.Array
    counts: list
    totals: np.ndarray  # int64: sum of weights (the row count when unweighted)
    rows: np.ndarray  # int64: valid records seen
    width: int


def _pack(counts: np.ndarray) -> np.ndarray:
    """Counts in the narrowest integer type that holds them: a small group ships 64 KB
    per 8 KB record instead of 512 KB."""
    lo, hi = counts.min(), counts.max()
    return counts.astype(next(t for t in _PACKINGS if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max))


def _group_rows(keys) -> tuple[pa.Array, list[np.ndarray]]:
    """Distinct keys (first-appearance order, NULL a key of its own) and each one's row numbers."""
    table = pa.table({"k": keys, "i": pa.array(np.arange(len(keys), dtype=np.int64))})
    grouped = table.group_by("k", use_threads=False).aggregate([("i", "list")])
    lists = grouped.column("i_list").combine_chunks()
    offsets = lists.offsets.to_numpy()
    rows = lists.values.to_numpy()
    return grouped.column("k").combine_chunks(), [rows[a:b] for a, b in zip(offsets[:-1], offsets[1:])]


def _weights(table: pa.Table, spec: _Spec, label: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(int32 weights or None, their validity or None)."""
    if spec.weights is None:
        return None, None
    col = table.column(spec.weights)
    if not pa.types.is_integer(col.type):
        raise TypeError(f"bundle_by: weights column {spec.weights!r} of {label!r} is {col.type}, expected integers")
    w = np.asarray(col.fill_null(0).to_numpy(), dtype=np.int64)
    if w.size and (w.min() < -(2**31) or w.max() > 2**31 - 1):
        raise ValueError(f"bundle_by: weights of {label!r} must fit in 32 bits")
    return w.astype(np.int32), validity(col)


def _records(table: pa.Table, spec: _Spec, label: str) -> tuple[np.ndarray, np.ndarray | None, int]:
    col = table.column(spec.column)
    if not pa.types.is_fixed_size_binary(col.type):
        raise TypeError(f"bundle_by: column {spec.column!r} of {label!r} is {col.type}, expected fixed_size_binary")
    return to_numpy(col, nulls="keep"), validity(col), col.type.byte_width


def bundle_partition(table: pa.Table, label: str, spec: _Spec) -> _Groups:
    """Per-key vote counts of one partition (runs in a Ray task)."""
    recs, valid, width = _records(table, spec, label)
    w, w_valid = _weights(table, spec, label)
    if w_valid is not None:
        valid = w_valid if valid is None else valid & w_valid
    keys, groups = _group_rows(table.column(spec.key))
    counts, totals, seen = [], np.zeros(len(groups), np.int64), np.zeros(len(groups), np.int64)
    for g, rows in enumerate(groups):
        if valid is not None:
            rows = rows[valid[rows]]
        if len(rows) == 0:
            counts.append(None)
            continue
        gw = None if w is None else np.ascontiguousarray(w[rows])
        counts.append(_pack(_kernels.bit_counts(np.ascontiguousarray(recs[rows]), gw)))
        totals[g] = len(rows) if gw is None else int(gw.sum(dtype=np.int64))
        seen[g] = len(rows)
    return _Groups(keys, counts, totals, seen, width)


def _add(total: np.ndarray | None, counts: np.ndarray | None) -> np.ndarray | None:
    if counts is None:
        return total
    counts = counts.astype(np.int64)  # packed counts are narrow: widen before adding
    return counts if total is None else total + counts


def _combine(acc: _Groups, part: _Groups, label: str) -> _Groups:
    """Sum two sets of per-key counts (the reduce step)."""
    if part.width != acc.width:
        raise ValueError(f"bundle_by: {label!r} holds {part.width}-byte records, earlier partitions {acc.width}")
    if part.keys.type != acc.keys.type:
        raise ValueError(f"bundle_by: key column of {label!r} is {part.keys.type}, earlier partitions {acc.keys.type}")
    keys, groups = _group_rows(pa.concat_arrays([acc.keys, part.keys]))
    counts = acc.counts + part.counts
    totals = np.concatenate([acc.totals, part.totals])
    rows = np.concatenate([acc.rows, part.rows])
    merged = []
    for members in groups:
        total = None
        for i in members:
            total = _add(total, counts[i])
        merged.append(total)
    return _Groups(keys, merged, np.array([totals[g].sum() for g in groups], np.int64),
                   np.array([rows[g].sum() for g in groups], np.int64), acc.width)


def _finish(groups: _Groups, spec: _Spec) -> pa.Table:
    width = groups.width
    out = np.zeros((len(groups.counts), width), np.uint8)
    for g, counts in enumerate(groups.counts):
        if counts is not None:
            out[g] = _kernels.majority_from_counts(np.ascontiguousarray(counts, dtype=np.int64), int(groups.totals[g]))
    valid = groups.rows > 0
    mask = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
    bundles = pa.Array.from_buffers(pa.binary(width), len(out), [mask, pa.py_buffer(out)],
                                    null_count=int((~valid).sum()))
    table = pa.table({spec.key: groups.keys, spec.column: bundles})
    return table.sort_by([(spec.key, "ascending", "at_end")])


def bundle_by(source, key: str, column: str = "rec", weights: str | None = None, *,
              filesystem=None, task_options: dict | None = None) -> pa.Table:
    """``SELECT key, bundle(column) FROM source GROUP BY key``, partition-parallel in Ray tasks.

    Each task counts, per key, the votes for every bit of its partition's records (the
    kernel's bit-sliced counters); the driver sums the counts by key as the tasks finish
    and thresholds each group once, with the tie rule of :func:`cogtensor.hdc.bundle`
    (a tied bit takes bit ``i`` of the pattern 0x55). So each bundle equals the
    single-machine one exactly, whatever the partitioning.

    Args:
        source: Parquet path(s) or a ``ray.data.Dataset``, as :func:`knn`.
        key: the grouping column (any type pyarrow can group by; NULL is a key of its own).
        column: the ``FixedSizeBinary(W)`` records; NULL records are skipped, and a key
            with no non-NULL record gets a NULL bundle (as SQL's ``bundle``).
        weights: an optional integer column (values within int32): the weighted majority
            ``sum w (2 bit - 1) > 0`` of ``bundle_weighted``; rows with a NULL weight are skipped.
        filesystem, task_options: as :func:`knn`.

    Returns:
        A pyarrow Table with columns ``key`` and ``column`` (``FixedSizeBinary(W)``), one
        row per key, ordered by key (NULL last).

    Example:
        >>> bundle_by("cogs/", "label")           # the class prototypes
    """
    for name, value in (("key", key), ("column", column)):
        if not isinstance(value, str):
            raise TypeError(f"bundle_by: {name} must be a column name, got {type(value).__name__}")
    spec = _Spec(key, column, weights)
    src = _partitions.resolve(source, "bundle_by", filesystem)
    columns = list(dict.fromkeys([key, column] + ([weights] if weights else [])))
    acc = None
    for part, groups in zip(src.partitions,
                            _partitions.run("bundle_by", bundle_partition, src.partitions, spec, columns, task_options)):
        acc = groups if acc is None else _combine(acc, groups, part.label)
    if acc is None:  # a Dataset without blocks: no groups
        schema = src.schema()
        return pa.table({key: pa.array([], schema.field(key).type), column: pa.array([], schema.field(column).type)})
    return _finish(acc, spec)
