"""Training batches streamed from Arrow record batches: DataFusion query results
(:func:`from_query`) and any iterable of Arrow batches, e.g. a Ray Dataset's
``iter_batches(batch_format="pyarrow")`` (:func:`arrow_batches_to_tensors`).

Record batches are pulled one at a time and cut into training batches of exactly
``batch_size`` rows: a training batch inside one record batch is a zero-copy slice;
one that straddles two record batches is joined (a copy of that batch only). The
whole result is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from cogtensor.data.columns import batch_to_sample, check_transform, column_layout
from cogtensor.data.dataset import IterableDataset

__all__ = ["from_query", "QueryDataset", "arrow_batches_to_tensors", "rebatch"]


class QueryDataset(IterableDataset):
    """Batches of a DataFusion DataFrame's result; each pass runs the query again.

    Build it with :func:`from_query`. It yields whole batches, so give it to a DataLoader
    with ``batch_size=None`` (or iterate it directly).
    """

    def __init__(self, df, batch_size: int, columns=None, drop_last: bool = False, transform=None):
        if not callable(getattr(df, "execute_stream", None)):
            raise TypeError(f"from_query: expected a DataFusion DataFrame (with execute_stream()), got "
                            f"{type(df).__name__}")
        _check_batch_size(batch_size, "from_query")
        self.df, self.batch_size, self.columns, self.drop_last = df, batch_size, columns, drop_last
        self.transform = transform
        schema = df.schema() if callable(getattr(df, "schema", None)) else None
        if isinstance(schema, pa.Schema):  # check the columns before running anything
            check_transform(transform, column_layout(columns, schema.names, "from_query")[1], "from_query")

    def __iter__(self) -> Iterator:
        batches = (_as_arrow(b) for b in self.df.execute_stream())
        yield from arrow_batches_to_tensors(rebatch(batches, self.batch_size, self.drop_last), self.columns,
                                            self.transform, op="from_query")

    def __repr__(self) -> str:
        return f"QueryDataset(batch_size={self.batch_size}, columns={self.columns!r}, drop_last={self.drop_last})"


def from_query(df, batch_size: int, columns=None, *, drop_last: bool = False, transform=None) -> QueryDataset:
    """Stream a DataFusion query's result as training batches of ``batch_size`` rows.

    Record batches are pulled from ``df.execute_stream()`` only as training batches are
    consumed; columns convert as :func:`cogtensor.data.columns.arrow_to_tensor` says
    (FixedSizeList<float32, d> -> ``(b, d)`` float32 views, FixedSizeBinary(W) -> ``(b, W)``
    uint8 views, numbers -> ``(b,)``). Shuffle in the query (``ORDER BY random()``) if needed.

    Args:
        df: a ``datafusion.DataFrame`` (``ctx.sql(...)`` or ``ctx.table(...)``).
        batch_size: rows per training batch.
        columns: None: dict batches of every column; a list: tuples in that order; a str:
            that column's tensor alone.
        drop_last: drop the last batch when it is short.
        transform: a callable applied to each batch, or a dict of per-column callables.

    Returns:
        a :class:`QueryDataset`: iterate it directly, or pass it to
        ``DataLoader(..., batch_size=None)``.

    Example:
        >>> df = ctx.sql("SELECT embedding, label FROM train ORDER BY random()")
        >>> for x, y in from_query(df, batch_size=128, columns=["embedding", "label"]):
        ...     loss = loss_fn(model(x), y)
    """
    return QueryDataset(df, batch_size, columns, drop_last, transform)


def arrow_batches_to_tensors(batches, columns=None, transform=None, *, op: str = "arrow_batches_to_tensors"):
    """Convert each Arrow batch of an iterable to tensors (one output per input batch).

    Feeds on ``pyarrow.Table`` / ``RecordBatch`` objects, DataFusion record batches, or
    anything with the Arrow C data interface, e.g.
    ``ray_dataset.iter_batches(batch_size=256, batch_format="pyarrow")``. Batch sizes are
    kept; cut them with :func:`rebatch` first if needed.

    Args:
        batches: an iterable of Arrow batches (or one Table / RecordBatch).
        columns: None: dicts of every column; a list: tuples in that order; a str: one tensor.
        transform: a callable applied to each batch, or a dict of per-column callables.

    Yields:
        the tensors of each batch, zero-copy where the column type allows.

    Example:
        >>> for x, y in arrow_batches_to_tensors(ds.iter_batches(batch_format="pyarrow"), ["x", "y"]):
        ...     ...
    """
    if isinstance(batches, (pa.Table, pa.RecordBatch)):
        batches = [batches]
    layout = None
    for batch in batches:
        batch = _as_arrow(batch)
        if layout is None:
            layout = column_layout(columns, batch.schema.names, op)
            check_transform(transform, layout[1], op)
        yield batch_to_sample(batch, layout, transform)


def rebatch(batches: Iterable, batch_size: int, drop_last: bool = False) -> Iterator:
    """Cut a stream of record batches into batches of exactly ``batch_size`` rows (the last may
    be short unless ``drop_last``), pulling input batches only as needed.

    Yields:
        a ``RecordBatch`` slice when the rows lie in one input batch (no copy), else a
        ``Table`` of the pieces.

    Example:
        >>> [b.num_rows for b in rebatch([pa.record_batch({"x": range(5)})] * 2, 4)]
        [4, 4, 2]
    """
    _check_batch_size(batch_size, "rebatch")
    pending, count = [], 0
    for batch in batches:
        batch, start = _as_arrow(batch), 0
        while start < batch.num_rows:
            piece = batch.slice(start, min(batch_size - count, batch.num_rows - start))
            start += piece.num_rows
            if not pending and piece.num_rows == batch_size:
                yield piece  # a whole training batch inside one record batch: zero-copy
                continue
            pending.append(piece)
            count += piece.num_rows
            if count == batch_size:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if pending and not drop_last:
        yield pending[0] if len(pending) == 1 else pa.Table.from_batches(pending)


def _as_arrow(batch):
    if isinstance(batch, (pa.RecordBatch, pa.Table)):
        return batch
    if callable(getattr(batch, "to_pyarrow", None)):  # datafusion.RecordBatch
        return batch.to_pyarrow()
    if hasattr(batch, "__arrow_c_array__"):
        return pa.record_batch(batch)
    if hasattr(batch, "__arrow_c_stream__"):
        return pa.table(batch)
    raise TypeError(f"expected Arrow record batches (pyarrow Table / RecordBatch or an Arrow C data interface "
                    f"object), got {type(batch).__name__}")


def _check_batch_size(batch_size, op: str) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"{op}: batch_size should be a positive integer value, but got batch_size={batch_size}")
