"""Query records without a per-row copy.

DataFusion expands a literal or parameter argument into a full column before a
batch reaches a UDF: ``hamming(rec, $1)`` copies the 8 KB query once per row.
Two ways around it:

- :func:`bind_query` registers a one-argument UDF with the query captured, so
  ``ORDER BY dist_q(rec) LIMIT 10`` reads each record once and the query never;
- the table function ``hamming_topk('table', 'column', query, k)`` scans the
  table's batches with the top-k kernel and returns the k nearest rows with a
  ``distance`` column, ordered by (distance, scan order); the scan reads the
  table's partitions one after the other, so ties come out the same on every run.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from datafusion import SessionContext, Table, udtf

from cogtensor import _kernels
from cogtensor.hdc import _as_rows
from cogtensor.sql._arrays import rows, valid_mask, wrap_values
from cogtensor.sql.scalar import make_udf

# Per-context queries bound by name, for hamming_topk('t', 'c', 'name', k). Weak keys: a
# dropped context frees its queries, and a new context never sees them.
_BOUND: "weakref.WeakKeyDictionary[SessionContext, dict[str, np.ndarray]]" = weakref.WeakKeyDictionary()


def _query_row(query, name: str) -> np.ndarray:
    q, single = _as_rows(query, name)
    if not single:
        raise ValueError(f"{name}: expected one query record (W,), got {q.shape[0]} rows")
    return np.ascontiguousarray(q)


def bind_query(ctx: SessionContext, name: str, query) -> None:
    """Register ``name(rec) -> UInt32``: the Hamming distance of ``rec`` to ``query``.

    Args:
        ctx: the session to register on.
        name: SQL function name (also usable as the query argument of ``hamming_topk``).
        query: one record: ``(W,)`` uint8, ``bytes`` or an Arrow binary scalar; the
            function takes FixedSizeBinary(W).

    Example:
        >>> bind_query(ctx, "dist_q", base[42])
        >>> ctx.sql("SELECT id FROM cogs ORDER BY dist_q(rec), id LIMIT 10")
    """
    q = _query_row(query, "bind_query")

    def distance(records: pa.Array) -> np.ndarray:
        r = rows(records)
        if r.shape[1] != q.shape[1]:
            raise ValueError(f"expected records of {q.shape[1]} bytes, got {r.shape[1]}")
        return _kernels.hamming(r, q)

    ctx.register_udf(make_udf(name, distance, [pa.binary(q.shape[1])], pa.uint32()))
    _BOUND.setdefault(ctx, {})[name] = q


def _literal(expr, what: str):
    try:
        value = expr.python_value()
    except Exception as e:  # noqa: BLE001 - DataFusion raises a bare Exception for non-literals
        raise ValueError(f"hamming_topk: {what} must be a literal") from e
    return value.as_py() if isinstance(value, pa.Scalar) else value


def _table(ctx: SessionContext, name: str):
    """The table (or view) named exactly ``name``, else as SQL resolves it unquoted:
    ``ctx.from_arrow(t, "MyT")`` registers ``myt``, which ``'MyT'`` then finds."""
    for reference in ('"' + name.replace('"', '""') + '"', name):
        try:
            return ctx.table(reference)
        except Exception:  # noqa: BLE001, S112 - KeyError or a DataFusion error: try the next form
            continue
    raise ValueError(f"hamming_topk: no table named {name!r}")


def _scan_topk(ctx: SessionContext, table: str, column: str, q: np.ndarray, k: int) -> pa.Table:
    """k nearest rows of `table` by `column`, one top-k kernel call per batch."""
    frame = _table(ctx, table)
    schema = frame.schema()
    if column not in schema.names:
        raise ValueError(f"hamming_topk: table {table!r} has no column {column!r}")
    best = pa.Table.from_batches([], schema.append(pa.field("distance", pa.uint32())))
    # partitions one after the other (not execute_stream, which interleaves them as they come):
    # the scan order that breaks distance ties is then the same on every run
    batches = (b.to_pyarrow() for stream in frame.execute_stream_partitioned() for b in stream)
    for batch in batches:
        if batch.num_rows == 0:
            continue
        col = batch.column(column)
        if col.type != pa.binary(q.shape[1]):
            raise ValueError(f"hamming_topk: column {column!r} is {col.type}, expected fixed_size_binary[{q.shape[1]}]")
        keep = valid_mask(col)
        recs = rows(col)
        if keep is not None:
            batch, recs = batch.filter(pa.array(keep)), recs[keep]
        n = min(k, len(recs))
        dist, idx = _kernels.topk(q, recs, n)
        found = pa.Table.from_batches([batch.take(pa.array(idx[0]))]).append_column(
            "distance", wrap_values(dist[0], None, pa.uint32())
        )
        best = pa.concat_tables([best, found])
        order = np.lexsort((np.arange(best.num_rows), best.column("distance").to_numpy()))[:k]
        best = best.take(pa.array(order))
    return best


def _hamming_topk(ctx: SessionContext):
    # ctx holds this function: a strong reference back would keep ctx and its tables alive forever
    context = weakref.ref(ctx)

    def hamming_topk(*args):
        if len(args) != 4:
            raise ValueError(f"hamming_topk: expected 4 arguments (table, column, query, k), got {len(args)}")
        table, column, query, k = args
        ctx = context()
        if ctx is None:
            raise ValueError("hamming_topk: its SessionContext no longer exists")
        table, column, k = _literal(table, "table"), _literal(column, "column"), _literal(k, "k")
        for what, name in (("table", table), ("column", column)):
            if not isinstance(name, str):
                raise ValueError(f"hamming_topk: {what} must be a name in quotes, got {name!r}")
        value = _literal(query, "query")
        if value is None:
            raise ValueError("hamming_topk: query is NULL; expected a record or the name of a bound query")
        if isinstance(value, str):
            bound = _BOUND.get(ctx, {})
            if value not in bound:
                raise ValueError(f"hamming_topk: no query bound as {value!r}; use cogtensor.sql.bind_query first")
            q = bound[value]
        else:
            q = _query_row(value, "hamming_topk")
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ValueError(f"hamming_topk: k must be a non-negative integer, got {k!r}")
        # Planning runs inside DataFusion's runtime, which cannot block on a
        # nested query: scan from a separate thread.
        result: dict = {}

        def scan():
            try:
                result["table"] = _scan_topk(ctx, table, column, q, k)
            except Exception as e:  # noqa: BLE001 - re-raised in the planning thread
                result["error"] = e

        worker = threading.Thread(target=scan)
        worker.start()
        worker.join()
        if "error" in result:
            raise result["error"]
        return Table(ds.dataset(result["table"]))

    return udtf(hamming_topk, "hamming_topk")


def register_table_functions(ctx: SessionContext) -> None:
    ctx.register_udtf(_hamming_topk(ctx))
