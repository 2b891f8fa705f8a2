"""DataLoader: batches of a dataset, with ``torch.utils.data.DataLoader``'s arguments and semantics.

Differences from torch, both invisible to a training loop:

- ``num_workers > 0`` loads map-style batches ahead in a pool of threads (numpy, Arrow
  and the kernels release the GIL) instead of processes; batches still come in sampler
  order. An IterableDataset is read in the calling thread (``get_worker_info()`` is None
  there), so each item is yielded once.
- when ``collate_fn`` is the default and the dataset can fetch a whole batch at once
  (TensorDataset, ArrowDataset, a Subset of one), the batch is built without a Python
  loop over the rows; the result equals ``default_collate`` of the rows.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from cogtensor.data.collate import default_collate, default_convert
from cogtensor.data.dataset import IterableDataset
from cogtensor.data.sampler import BatchSampler, RandomSampler, SequentialSampler
from cogtensor.random import default_generator

__all__ = ["DataLoader", "get_worker_info", "WorkerInfo"]

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")
_local = threading.local()


@dataclass(frozen=True)
class WorkerInfo:
    """What a loading thread knows about itself (``torch.utils.data.get_worker_info()``)."""

    id: int
    num_workers: int
    seed: int
    dataset: object


def get_worker_info() -> WorkerInfo | None:
    """The current loading worker's info, or None in the main thread."""
    return getattr(_local, "info", None)


class DataLoader:
    """Iterate over a dataset in batches.

    Args:
        dataset: a map-style Dataset (``__getitem__`` + ``__len__``) or an IterableDataset.
        batch_size: samples per batch; None turns automatic batching off.
        shuffle: reshuffle the indices every epoch (map-style only).
        sampler: an iterable of indices (exclusive with shuffle).
        batch_sampler: an iterable of index lists (exclusive with batch_size, shuffle,
            sampler and drop_last).
        num_workers: threads loading batches ahead (0: load in the calling thread).
        collate_fn: merges a list of samples into a batch (default :func:`default_collate`;
            :func:`default_convert` without automatic batching).
        pin_memory: accepted for ports; tensors live in host memory already.
        drop_last: drop the last batch when it is short.
        timeout: seconds to wait for a batch from the workers (0: forever).
        worker_init_fn: called with the worker id in each loading thread as it starts.
        generator: the Generator of the default RandomSampler.
        prefetch_factor: batches loaded ahead per worker (default 2 with workers).
        persistent_workers: keep the worker threads between epochs.

    Raises:
        ValueError: incompatible options, as torch.

    Example:
        >>> loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True,
        ...                     generator=cogtensor.Generator().manual_seed(0))
        >>> for xb, yb in loader:
        ...     ...
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None, sampler=None,
                 batch_sampler=None, num_workers: int = 0, collate_fn=None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None, multiprocessing_context=None,
                 generator=None, *, prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True):
        prefetch_factor = _check_workers(num_workers, timeout, prefetch_factor, persistent_workers,
                                         multiprocessing_context)
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            _check_iterable_options(shuffle, sampler, batch_sampler)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if sampler is None and not iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and iterable:
            BatchSampler([], batch_size, drop_last)  # the same checks of batch_size and drop_last
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.num_workers, self.prefetch_factor, self.timeout = num_workers, prefetch_factor, timeout
        self.worker_init_fn, self.persistent_workers = worker_init_fn, persistent_workers
        self.pin_memory, self.pin_memory_device, self.in_order = pin_memory, pin_memory_device, in_order
        self.multiprocessing_context = multiprocessing_context
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else default_convert)
        self._pool = None
        self._initialized = True

    def __setattr__(self, name, value):
        if getattr(self, "_initialized", False) and name in _FROZEN:
            raise ValueError(f"{name} attribute should not be set after DataLoader is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None or (isinstance(self.dataset, IterableDataset)
                                                  and self.batch_size is not None)

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # TypeError for a stream of unknown length, as torch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self):
        if isinstance(self.dataset, IterableDataset):
            return _LoaderIterator(self._iterate_stream(), self)
        indices = iter(self.batch_sampler if self.batch_sampler is not None else self.sampler)
        if self.num_workers == 0:
            return _LoaderIterator(map(self._fetch, indices), self)
        return _LoaderIterator(self._prefetched(indices), self)

    # ------------------------------------------------------------- fetching
    def _fetch(self, index):
        dataset = self.dataset
        if not self._auto_collation:
            return self.collate_fn(dataset[index])
        if self.collate_fn is default_collate and hasattr(dataset, "_fetch_batch"):
            return dataset._fetch_batch(index)
        get_items = getattr(dataset, "__getitems__", None)
        return self.collate_fn(get_items(index) if callable(get_items) else [dataset[i] for i in index])

    def _iterate_stream(self):
        items = iter(self.dataset)
        if not self._auto_collation:
            yield from map(self.collate_fn, items)
            return
        while batch := list(itertools.islice(items, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield self.collate_fn(batch)

    def _prefetched(self, indices):
        pool = self._pool or self._start_workers()
        ahead = max(1, self.num_workers * self.prefetch_factor)
        pending = deque()
        try:
            for index in indices:
                pending.append(pool.submit(self._fetch, index))
                if len(pending) >= ahead:
                    yield self._result(pending.popleft())
            while pending:
                yield self._result(pending.popleft())
        finally:
            for future in pending:
                future.cancel()
            if not self.persistent_workers:
                pool.shutdown(wait=True, cancel_futures=True)

    def _start_workers(self) -> ThreadPoolExecutor:
        ids = itertools.count()
        base_seed = (self.generator or default_generator).initial_seed()  # read, not drawn: RNG streams stay put

        def start():
            worker_id = next(ids)
            _local.info = WorkerInfo(worker_id, self.num_workers, base_seed + worker_id, self.dataset)
            if self.worker_init_fn is not None:
                self.worker_init_fn(worker_id)

        pool = ThreadPoolExecutor(self.num_workers, thread_name_prefix="DataLoader", initializer=start)
        if self.persistent_workers:
            self._pool = pool
        return pool

    def _result(self, future):
        try:
            return future.result(timeout=self.timeout or None)
        except FutureTimeout:
            raise RuntimeError(f"DataLoader timed out after {self.timeout} seconds") from None


class _LoaderIterator:
    """The iterator of one epoch; ``len()`` gives the loader's length, as torch's."""

    def __init__(self, batches, loader: DataLoader):
        self._batches, self._loader = batches, loader

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)


def _check_workers(num_workers, timeout, prefetch_factor, persistent_workers, context):
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
    if timeout < 0:
        raise ValueError("timeout option should be non-negative")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 to "
                         "enable multiprocessing, otherwise set prefetch_factor to None.")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("persistent_workers option needs num_workers > 0")
    if context is not None and num_workers == 0:
        raise ValueError("multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                         f"but got num_workers={num_workers}")
    return 2 if num_workers > 0 and prefetch_factor is None else prefetch_factor


def _check_iterable_options(shuffle, sampler, batch_sampler) -> None:
    if shuffle not in (False, None):
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                         f"shuffle={shuffle}")
    if sampler is not None:
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got "
                         f"sampler={sampler}")
    if batch_sampler is not None:
        raise ValueError(f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got "
                         f"batch_sampler={batch_sampler}")
