"""Nearest-record search over partitions: each task finds its partition's best rows with the
kernel, the driver merges them exactly, ordered by (distance, id).

The id of a row is its position in the source (partition by partition, file order within a
file) unless ``id_column`` names an integer column. A partition's best k rows under that
order contain every row of the global best k that lives there, so merging the partitions'
lists gives the single-machine answer exactly, ties included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from cogtensor import _kernels
from cogtensor.arrow import to_numpy, validity
from cogtensor.distributed import _partitions
from cogtensor.hdc import TopK, _as_rows

_U64 = 1 << 64


@dataclass(frozen=True)
class _Search:
    op: str
    query: np.ndarray  # (m, W) uint8, C-contiguous
    k: int | None  # None in range mode
    column: str
    id_column: str | None
    mode: str  # "topk", "cascade" or "range"
    threshold: int = 0
    stages: tuple[int, int] = (16, 4)
    sigmas: float = 4.0


@dataclass(frozen=True)
class _Found:
    distances: np.ndarray  # (m, h) uint32, each row ordered by (distance, key)
    keys: np.ndarray  # (m, h) int64: row within the partition, or the row's id
    rows: int  # rows in the partition (null records included: they hold a position)
    valid: int  # rows with a non-null record


def _merge(distances: list[np.ndarray], keys: list[np.ndarray], k: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate (m, h_i) candidate lists and keep each row's k best by (distance, key);
    equal (distance, key) pairs keep their input order."""
    d = np.concatenate(distances, axis=1)
    i = np.concatenate(keys, axis=1)
    by_key = np.argsort(i, axis=1, kind="stable")
    d, i = np.take_along_axis(d, by_key, 1), np.take_along_axis(i, by_key, 1)
    by_distance = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, by_distance, 1), np.take_along_axis(i, by_distance, 1)


def canonical(x: np.ndarray) -> np.ndarray:
    """The same array under numpy's own uint8 dtype object: an array unpickled in a Ray
    worker carries an equal but distinct dtype instance, which the kernels reject."""
    return x.view(np.uint8)


def _best_by_id(dist: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k best of each row of ``dist`` (m, n) by (distance, id)."""
    m, n = dist.shape
    kk = min(k, n)
    out_d, out_i = np.empty((m, kk), np.uint32), np.empty((m, kk), np.int64)
    for r in range(m):
        row = dist[r]
        # every row at or below the k-th smallest distance competes; ties at it go by id
        cand = np.flatnonzero(row <= np.partition(row, kk - 1)[kk - 1]) if 0 < kk < n else np.arange(n)
        order = np.lexsort((ids[cand], row[cand]))[:kk]
        out_d[r], out_i[r] = row[cand[order]], ids[cand[order]]
    return out_d, out_i


def _search_rows(s: _Search, recs: np.ndarray, keys: np.ndarray, by_id: bool) -> tuple[np.ndarray, np.ndarray]:
    """Best rows of one block of valid records; ``keys`` are their positions or ids."""
    q = canonical(s.query)
    if s.mode == "range":
        d, i = _kernels.cascade_range(q, recs, s.threshold, *s.stages)
        return d.reshape(1, -1), keys[i].reshape(1, -1)
    kk = min(s.k, len(recs))
    if kk == 0:
        return np.empty((len(q), 0), np.uint32), np.empty((len(q), 0), np.int64)
    if by_id and s.mode == "topk":
        return _best_by_id(_kernels.hamming_matrix(q, recs), keys, kk)
    if s.mode == "topk":
        d, i = _kernels.topk(q, recs, kk)
    else:
        d, i = _kernels.cascade_topk(q, recs, kk, *s.stages, s.sigmas)
    return d, keys[i]


def _ids(table: pa.Table, s: _Search, label: str) -> np.ndarray | None:
    if s.id_column is None:
        return None
    col = table.column(s.id_column)
    if not pa.types.is_integer(col.type):
        raise TypeError(f"{s.op}: id column {s.id_column!r} of {label!r} is {col.type}, expected an integer type")
    if col.null_count:
        raise ValueError(f"{s.op}: id column {s.id_column!r} of {label!r} holds {col.null_count} null(s)")
    ids = col.to_numpy()
    if ids.dtype == np.uint64 and len(ids) and ids.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{s.op}: id column {s.id_column!r} of {label!r} holds values beyond int64")
    return ids.astype(np.int64, copy=False)


def _records(chunk: pa.Array, s: _Search, label: str) -> np.ndarray:
    t, width = chunk.type, s.query.shape[1]
    if pa.types.is_fixed_size_binary(t) and t.byte_width != width:
        raise ValueError(f"{s.op}: column {s.column!r} of {label!r} holds {t.byte_width}-byte records, "
                         f"the query is {width} bytes")
    try:
        recs = to_numpy(chunk, nulls="keep")
    except (TypeError, ValueError) as e:
        raise type(e)(f"{s.op}: column {s.column!r} of {label!r}: {e}") from None
    if recs.shape[0] and recs.shape[1] != width:
        raise ValueError(f"{s.op}: column {s.column!r} of {label!r} holds {recs.shape[1]}-byte records, "
                         f"the query is {width} bytes")
    return recs


def search_partition(table: pa.Table, label: str, s: _Search) -> _Found:
    """The partition's best rows (runs in a Ray task). Null records are skipped but keep
    their position; the search runs chunk by chunk over the Arrow buffers, without copies."""
    ids = _ids(table, s, label)
    found_d, found_k = [], []
    offset = valid = 0
    for chunk in table.column(s.column).chunks:
        n = len(chunk)
        recs = _records(chunk, s, label)
        positions = np.arange(offset, offset + n, dtype=np.int64)
        mask = validity(chunk)
        if mask is not None:
            recs, positions = np.ascontiguousarray(recs[mask]), positions[mask]
        if len(recs):
            keys = positions if ids is None else ids[positions]
            d, i = _search_rows(s, recs, keys, ids is not None)
            found_d.append(d)
            found_k.append(i)
        offset += n
        valid += len(recs)
    m = s.query.shape[0]
    if not found_d:
        return _Found(np.empty((m, 0), np.uint32), np.empty((m, 0), np.int64), table.num_rows, 0)
    d, i = _merge(found_d, found_k, s.k)
    return _Found(d, i, table.num_rows, valid)


def _collect(source, s: _Search, filesystem, task_options) -> TopK:
    src = _partitions.resolve(source, s.op, filesystem)
    columns = [s.column] + ([s.id_column] if s.id_column and s.id_column != s.column else [])
    dists, keys, total = [], [], 0
    offset = 0
    for found in _partitions.run(s.op, search_partition, src.partitions, s, columns, task_options):
        dists.append(found.distances)
        keys.append(found.keys if s.id_column else found.keys + offset)
        offset += found.rows
        total += found.valid
    if s.k is not None and s.k > total:
        raise ValueError(f"{s.op}: k={s.k} is larger than the number of records ({total})")
    return TopK(*_merge(dists, keys, s.k))


def _query(query, op: str) -> tuple[np.ndarray, bool]:
    q, single = _as_rows(query, op)
    return np.ascontiguousarray(q), single


def _count(v, name: str, op: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{op}: {name} must be an integer, got {type(v).__name__}")
    if v < 0:
        raise ValueError(f"{op}: {name} must be >= 0, got {v}")
    return int(v)


def _shape(result: TopK, single: bool) -> TopK:
    return TopK(result.distances[0], result.indices[0]) if single else result


def knn(source, query, k: int, column: str = "rec", id_column: str | None = None, *,
        filesystem=None, task_options: dict | None = None) -> TopK:
    """The ``k`` records nearest to ``query`` by Hamming distance, over partitions in Ray tasks.

    Each task reads one partition (a Parquet file or a Dataset block), finds its ``k``
    best rows with the top-k kernel, and the driver merges the lists exactly: the
    result equals :func:`cogtensor.hdc.topk` over all records concatenated in partition
    order, ties included.

    Args:
        source: a Parquet file, a directory of ``*.parquet`` files (sorted by path), a
            list of those (local paths every Ray node can read, or URIs such as
            ``s3://...``), or a ``ray.data.Dataset`` (its blocks, in dataset order).
        query: one record ``(W,)`` or queries ``(m, W)`` (uint8, bytes or Arrow).
        k: neighbours per query, ``0 <= k <=`` the number of non-null records.
        column: the ``FixedSizeBinary(W)`` column holding the records (NULL rows are skipped).
        id_column: an integer column whose value identifies each row; by default a row's
            id is its position in the source (counting from 0 over all partitions).
        filesystem: a ``pyarrow.fs.FileSystem`` to open the paths with (picked from the
            URI scheme when None).
        task_options: Ray task options (defaults ``num_cpus=1``, ``max_retries=3``).

    Returns:
        TopK(distances uint32, indices int64) ordered by (distance, id), ``(k,)`` each,
        or ``(m, k)`` for several queries; ``indices`` hold ids when ``id_column`` is given.

    Raises:
        ValueError: k larger than the number of records, a missing column or a width
            that differs from the query's (message names the file).
        PartitionError: a partition cannot be read (message names the file).

    Example:
        >>> knn("cogs/", base[42], k=10)        # TopK over every cogs/*.parquet
    """
    q, single = _query(query, "knn")
    s = _Search("knn", q, _count(k, "k", "knn"), column, id_column, "topk")
    return _shape(_collect(source, s, filesystem, task_options), single)


def cascade_knn(source, query, k: int | None = None, column: str = "rec", id_column: str | None = None, *,
                threshold: int | None = None, stages: tuple[int, int] = (16, 4), sigmas: float = 4.0,
                filesystem=None, task_options: dict | None = None) -> TopK:
    """:func:`cogtensor.hdc.cascade_search` over partitions in Ray tasks, merged by (distance, id).

    - ``threshold``: exact range search, every record within ``threshold`` bits,
      identical to ``hdc.cascade_search(query, all_records, threshold=...)``.
    - ``k``: each block of rows (a Parquet row group or a Dataset block) runs the
      cascade's approximate top-k on its own, and the lists are merged exactly. Every
      returned distance is exact, and when every block's cascade finds its exact k
      nearest the result equals :func:`knn`'s. Which rows are found can otherwise differ
      from one cascade over all rows, because each block calibrates its pruning on its
      own running k-th distance. With ``id_column``, equal distances at a block's k-th
      place are decided by position inside the block, then by id in the merge.

    Args:
        source, column, id_column, filesystem, task_options: as :func:`knn`.
        query: ``(W,)``, or ``(m, W)`` in top-k mode.
        k, threshold: exactly one of them.
        stages, sigmas: as ``hdc.cascade_search``.

    Returns:
        TopK(distances uint32, indices int64): ``(k,)`` / ``(m, k)`` in top-k mode,
        ``(hits,)`` in range mode, ordered by (distance, id).

    Example:
        >>> cascade_knn(paths, q, threshold=20_000)
    """
    if (k is None) == (threshold is None):
        raise ValueError("cascade_knn: give exactly one of k (top-k mode) or threshold (range mode)")
    s1, s2 = (min(_count(v, "stages", "cascade_knn"), _U64 - 1) for v in stages)
    if not s1 >= s2 >= 1:
        raise ValueError(f"cascade_knn: stages must satisfy stages[0] >= stages[1] >= 1, got {stages}")
    q, single = _query(query, "cascade_knn")
    if threshold is not None:
        if not single:
            raise ValueError("cascade_knn: range mode takes one query record (W,)")
        limit = min(_count(threshold, "threshold", "cascade_knn"), _U64 - 1)
        s = _Search("cascade_knn", q, None, column, id_column, "range", limit, (s1, s2))
        return _shape(_collect(source, s, filesystem, task_options), True)
    if not sigmas >= 0:
        raise ValueError(f"cascade_knn: sigmas must be >= 0, got {sigmas}")
    s = _Search("cascade_knn", q, _count(k, "k", "cascade_knn"), column, id_column, "cascade", 0, (s1, s2),
                float(sigmas))
    return _shape(_collect(source, s, filesystem, task_options), single)
