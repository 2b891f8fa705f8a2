"""Partitions of a distributed source and the Ray task that processes one of them.

A source is Parquet files (paths, directories or URIs pyarrow can open) or a Ray
Dataset. Each Parquet file is one partition; a Dataset contributes its blocks, in
dataset order. Partition order is the row order every merge follows: row ``r`` of
partition ``p`` comes after every row of partitions ``0 .. p-1``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import ray

from cogtensor import _kernels

# Ray retries a task whose worker died (max_retries), but not one whose own code raised:
# a corrupt file fails the same way on every attempt.
DEFAULT_TASK_OPTIONS = {"num_cpus": 1, "max_retries": 3, "retry_exceptions": False}


class PartitionError(RuntimeError):
    """A partition could not be read or processed; the message names the partition
    (the Parquet file, or the block of a Ray Dataset) and the underlying error."""

    def __init__(self, message: str, partition: str = ""):
        super().__init__(message, partition)

    @property
    def partition(self) -> str:
        return self.args[1]

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class Partition:
    """One unit of work: ``source`` is a file path (read with ``filesystem``) or an
    ObjectRef of a pyarrow Table (a Dataset block); ``label`` names it in errors."""

    label: str
    source: Any
    filesystem: pafs.FileSystem | None = None


@dataclass(frozen=True)
class Source:
    partitions: list[Partition]
    schema: Callable[[], pa.Schema]  # the table schema, fetched only when needed


def ensure_ray() -> None:
    """Connect to Ray unless already connected: ``ray.init()`` joins the cluster named by
    ``RAY_ADDRESS`` when it is set, and otherwise starts a local instance."""
    if not ray.is_initialized():
        # a cluster (or Ray Client) address takes no options for starting a local instance
        ray.init() if os.environ.get("RAY_ADDRESS") else ray.init(include_dashboard=False)


def _dataset_class():
    # a user holding a Dataset has imported ray.data; never import it ourselves (slow)
    module = sys.modules.get("ray.data")
    return getattr(module, "Dataset", None)


def resolve(source, op: str, filesystem: pafs.FileSystem | None = None) -> Source:
    """The partitions of ``source``: Parquet path(s) or a Ray Dataset."""
    dataset = _dataset_class()
    if dataset is not None and isinstance(source, dataset):
        ensure_ray()
        refs = source.to_arrow_refs()
        parts = [Partition(f"block {i} of the Ray Dataset", ref) for i, ref in enumerate(refs)]
        return Source(parts, lambda: source.schema(fetch_if_missing=True).base_schema)
    if isinstance(source, (str, os.PathLike)):
        source = [source]
    if not isinstance(source, (list, tuple)) or not source:
        raise TypeError(
            f"{op}: expected Parquet path(s) (a file, a directory, or a non-empty list of them) or a "
            f"ray.data.Dataset, got {type(source).__name__}"
        )
    parts = [p for path in source for p in _parquet_files(path, filesystem, op)]
    if not parts:
        raise ValueError(f"{op}: no Parquet files found in {list(source)!r}")
    first = parts[0]
    return Source(parts, lambda: _read_schema(first, op))


def _parquet_files(path, filesystem: pafs.FileSystem | None, op: str) -> list[Partition]:
    """A file, or a directory's ``*.parquet`` files (recursively, sorted by path)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{op}: expected a path or URI, got {type(path).__name__}")
    path = os.fspath(path)
    if filesystem is None:
        if "://" in path:
            filesystem, path = pafs.FileSystem.from_uri(path)
        else:
            filesystem, path = pafs.LocalFileSystem(), os.path.abspath(path)
    info = filesystem.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [Partition(path, path, filesystem)]
    if info.type != pafs.FileType.Directory:
        raise FileNotFoundError(f"{op}: no such file or directory: {path!r}")
    found = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
    files = sorted(f.path for f in found if f.type == pafs.FileType.File and f.path.endswith(".parquet"))
    return [Partition(f, f, filesystem) for f in files]


def _read_schema(part: Partition, op: str) -> pa.Schema:
    try:
        return pq.read_schema(part.source, filesystem=part.filesystem)
    except Exception as e:  # noqa: BLE001 - any reader failure is reported with the file's name
        raise PartitionError(f"{op}: cannot read {part.label!r}: {type(e).__name__}: {e}", part.label) from None


def read(source, label: str, filesystem, columns: list[str] | None, op: str) -> pa.Table:
    """The partition as a pyarrow Table holding ``columns`` (all when None).

    Raises:
        ValueError: a column is missing (message names the partition).
        PartitionError: the file cannot be read or decoded.
    """
    if isinstance(source, pa.Table):
        table = source
    else:
        try:
            file = pq.ParquetFile(_open(source, filesystem))
            names = file.schema_arrow.names
        except Exception as e:  # noqa: BLE001
            raise PartitionError(f"{op}: cannot read {label!r}: {type(e).__name__}: {e}", label) from None
        _check_columns(names, columns, label, op)
        try:
            return file.read(columns=columns)
        except Exception as e:  # noqa: BLE001
            raise PartitionError(f"{op}: cannot read {label!r}: {type(e).__name__}: {e}", label) from None
    _check_columns(table.column_names, columns, label, op)
    return table if columns is None else table.select(columns)


def _open(path: str, filesystem: pafs.FileSystem | None):
    # a local file is memory-mapped: uncompressed records then decode without a read copy
    if filesystem is None or isinstance(filesystem, pafs.LocalFileSystem):
        return pa.memory_map(path)
    return filesystem.open_input_file(path)


def _check_columns(names: list[str], columns: list[str] | None, label: str, op: str) -> None:
    missing = [c for c in columns or () if c not in names]
    if missing:
        raise ValueError(f"{op}: {label!r} has no column {missing[0]!r} (columns: {names})")


def _use_assigned_cpus() -> None:
    """Size the kernels' thread pool to the CPUs Ray gave this task (1 by default), so
    concurrent tasks on one node do not oversubscribe its cores."""
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    _kernels.set_num_threads(max(1, int(cpus)))


@ray.remote
def _run_partition(fn, source, label, filesystem, columns, op, payload):
    _use_assigned_cpus()
    table = read(source, label, filesystem, columns, op)
    try:
        return fn(table, label, payload)
    except Exception as e:  # noqa: BLE001 - e.g. a DataFusion execution error inside the partition
        if label in str(e):
            raise  # our own checks (ValueError, TypeError): their messages name the partition already
        raise PartitionError(f"{op}: {label!r} failed: {type(e).__name__}: {e}", label) from None


def run(op: str, fn, parts: list[Partition], payload, columns: list[str] | None,
        task_options: dict | None) -> Iterator:
    """``fn(table, label, payload)`` on every partition as a Ray task; yields the results
    in partition order while later tasks still run. A failed task raises its error here
    (the partition's ValueError or PartitionError) once the remaining tasks have finished."""
    ensure_ray()
    options = {**DEFAULT_TASK_OPTIONS, **(task_options or {})}
    shared = ray.put(payload)  # one copy in the object store, not one per task
    remote = _run_partition.options(**options)
    refs = [remote.remote(fn, p.source, p.label, p.filesystem, columns, op, shared) for p in parts]
    try:
        for ref in refs:
            yield ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        _settle(refs)
        cause = getattr(err, "cause", None)
        if isinstance(cause, Exception):
            raise cause from err
        raise
    except BaseException:
        _settle(refs)
        raise


def _settle(refs) -> None:
    """Let the other tasks finish and collect their outcomes, so that Ray does not log each
    sibling's failure again as an unhandled error. They are not cancelled: in Ray 2.60 a
    cancel that races with a task's completion aborts the driver process."""
    done, _ = ray.wait(refs, num_returns=len(refs))
    for ref in done:
        try:
            ray.get(ref)
        except Exception:  # noqa: BLE001, S112 - the first error was raised already
            continue
