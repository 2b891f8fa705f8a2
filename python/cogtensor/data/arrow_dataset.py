"""ArrowDataset: a map-style dataset over a pyarrow Table, a Parquet file or directory,
a CSV file or an Arrow IPC (Feather v2) file, read in batches by slicing the table."""

from __future__ import annotations

import operator
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from cogtensor.data.columns import batch_to_sample, check_transform, column_layout, first_rows
from cogtensor.data.dataset import Dataset

__all__ = ["ArrowDataset"]

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".arrow": "ipc", ".feather": "ipc",
            ".ipc": "ipc"}


class ArrowDataset(Dataset):
    """Rows of an Arrow table, fetched a batch at a time without a Python loop over rows.

    With ``DataLoader(ds, batch_size=b)`` (no shuffle) each batch is a slice of the table, so
    numeric, FixedSizeList, fixed_shape_tensor and FixedSizeBinary columns come out as
    read-only tensor views of the Arrow buffers (see :mod:`cogtensor.data.columns` for every
    type); a batch that spans two chunks of a column, or a shuffled batch (a gather), is
    a copy.

    Args:
        source: a ``pyarrow.Table`` or ``RecordBatch``, or a path to a Parquet file or
            directory, a CSV file, or an Arrow IPC / Feather file.
        columns: None: samples are dicts of every column; a list: tuples in that order;
            a str: that column's value alone.
        format: ``"parquet"``, ``"csv"`` or ``"ipc"``; by default guessed from the suffix
            (a directory is read as Parquet).
        transform: a callable applied to each batch (laid out as above), or a dict of
            per-column callables; they always receive batched values with a leading row
            dimension (a single item is transformed as a batch of one).
        **read_options: passed to ``pyarrow.parquet.read_table`` or ``pyarrow.csv.read_csv``.

    Raises:
        ValueError: an unknown format or column. TypeError: an unsupported source.

    Example:
        >>> ds = ArrowDataset("train.parquet", columns=["embedding", "label"])
        >>> for x, y in DataLoader(ds, batch_size=256):
        ...     ...
    """

    def __init__(self, source, columns=None, *, format: str | None = None, transform=None, **read_options):
        table = _read(source, format, columns, read_options)
        self.layout = column_layout(columns, table.column_names, "ArrowDataset")
        check_transform(transform, self.layout[1], "ArrowDataset")
        self.table = table.select(self.layout[1])
        self.transform = transform

    def __len__(self) -> int:
        return self.table.num_rows

    def __getitem__(self, index):
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"ArrowDataset indices must be integers, got {type(index).__name__}") from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"ArrowDataset: index {index} is out of range for {n} rows")
        return first_rows(batch_to_sample(self.table.slice(i % n, 1), self.layout, self.transform))

    def _fetch_batch(self, indices):
        """The collated batch of rows ``indices``: a slice when they are consecutive, else a gather."""
        rows = np.asarray(indices, dtype=np.int64)
        n = len(self)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"ArrowDataset: indices out of range for {n} rows")
        rows = np.where(rows < 0, rows + n, rows)
        if rows.size and (rows.size == 1 or (np.diff(rows) == 1).all()):
            part = self.table.slice(int(rows[0]), rows.size)
        else:
            part = self.table.take(pa.array(rows))
        return _as_list(batch_to_sample(part, self.layout, self.transform))

    def __repr__(self) -> str:
        return f"ArrowDataset({self.table.num_rows} rows, columns={self.layout[1]})"


def _as_list(sample):
    """What default_collate makes of tuple rows: a list, whose text columns are tuples (as torch's)."""
    if type(sample) is not tuple:
        return sample
    return [tuple(v) if isinstance(v, list) else v for v in sample]


def _read(source, format: str | None, columns, options: dict) -> pa.Table:
    if isinstance(source, pa.RecordBatch):
        return pa.Table.from_batches([source])
    if isinstance(source, pa.Table):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"ArrowDataset: source must be a pyarrow Table / RecordBatch or a file path, "
                        f"got {type(source).__name__}")
    path = Path(source)
    if not path.exists():
        raise FileNotFoundError(f"ArrowDataset: no such file or directory: {path}")
    format = format or ("parquet" if path.is_dir() else _FORMATS.get(path.suffix.lower()))
    if format == "parquet":
        import pyarrow.parquet as pq

        wanted = [columns] if isinstance(columns, str) else None if columns is None else list(columns)
        return pq.read_table(path, columns=wanted, **{"memory_map": True, **options})
    if format == "csv":
        import pyarrow.csv

        return pyarrow.csv.read_csv(path, **options)
    if format == "ipc":
        # not closed here: the table's buffers point into the mapping (zero-copy from the page cache)
        return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    raise ValueError(f"ArrowDataset: unknown format {format!r} for {path}; pass format='parquet', 'csv' or 'ipc'")
