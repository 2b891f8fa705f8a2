"""Map-style and iterable datasets, as ``torch.utils.data``: Dataset, IterableDataset,
TensorDataset, Subset, ConcatDataset and random_split.

A map-style dataset may also define ``_fetch_batch(indices)``, returning what
``default_collate([self[i] for i in indices])`` would, built without a Python loop
over the rows; DataLoader uses it when the collate function is the default one.
"""

from __future__ import annotations

import bisect
import math
import operator
import warnings

import numpy as np

from cogtensor.creation import randperm
from cogtensor.random import Generator
from cogtensor.tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__``.

    Example:
        >>> class Squares(Dataset):
        ...     def __len__(self): return 10
        ...     def __getitem__(self, i): return i * i
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define ``__iter__``.

    Example:
        >>> class Count(IterableDataset):
        ...     def __iter__(self): return iter(range(5))
    """

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def __add__(self, other):
        raise TypeError("IterableDataset does not support + (ConcatDataset needs map-style datasets)")


class TensorDataset(Dataset):
    """Rows of tensors that share their first dimension: item i is ``(t[i] for t in tensors)``.

    Args:
        *tensors: tensors (or numpy arrays) of shapes ``(n, ...)``.

    Raises:
        ValueError: first dimensions differ. TypeError: a value is not a tensor.

    Example:
        >>> ds = TensorDataset(cogtensor.randn(100, 4), cogtensor.arange(100))
        >>> x, y = ds[3]
    """

    def __init__(self, *tensors):
        converted = []
        for i, t in enumerate(tensors):
            if isinstance(t, np.ndarray):
                t = Tensor(t)
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset: argument {i} is a {type(t).__name__}, expected a Tensor")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset: argument {i} is 0-d; tensors need a first (row) dimension")
            converted.append(t)
        sizes = {t.shape[0] for t in converted}
        if len(sizes) > 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: first dimensions "
                             f"{[t.shape[0] for t in converted]}")
        self.tensors = tuple(converted)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0] if self.tensors else 0

    def _fetch_batch(self, indices):
        # default_collate stacks the rows into fresh memory; fancy indexing does the same at once
        rows = np.asarray(indices, dtype=np.int64)
        return [Tensor(t.numpy()[rows]) for t in self.tensors]


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``, in that order.

    Example:
        >>> Subset(ds, [0, 2, 4])[1] == ds[2]
    """

    def __init__(self, dataset: Dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list) -> list:
        items = getattr(self.dataset, "__getitems__", None)
        mapped = [self.indices[i] for i in indices]
        return items(mapped) if callable(items) else [self.dataset[i] for i in mapped]

    def __len__(self) -> int:
        return len(self.indices)

    def __getattr__(self, name):
        # a batch fetcher only where the wrapped dataset has one
        if name == "_fetch_batch" and hasattr(self.dataset, "_fetch_batch"):
            return lambda indices: self.dataset._fetch_batch([self.indices[i] for i in indices])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


class ConcatDataset(Dataset):
    """Map-style datasets one after the other.

    Example:
        >>> len(ConcatDataset([ds_a, ds_b])) == len(ds_a) + len(ds_b)
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]).tolist())

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        idx = operator.index(idx)
        if idx < 0:
            if -idx > len(self):
                raise ValueError("ConcatDataset: absolute value of index should not exceed dataset length")
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        if which == len(self.datasets):
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {len(self)}")
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][idx - start]


def random_split(dataset: Dataset, lengths, generator: Generator | None = None) -> list:
    """Split a dataset into non-overlapping random subsets (``torch.utils.data.random_split``).

    Args:
        dataset: a map-style dataset with ``__len__``.
        lengths: the subset lengths (summing to ``len(dataset)``), or fractions summing
            to 1: each gets ``floor(frac * n)`` items and the remainder is dealt one by one
            round-robin from the first subset, as torch.
        generator: the Generator of the permutation (default: the default generator).

    Returns:
        a list of :class:`Subset`.

    Raises:
        ValueError: a fraction outside [0, 1], or lengths that do not sum to ``len(dataset)``.

    Example:
        >>> train, val = random_split(ds, [0.8, 0.2], generator=cogtensor.Generator().manual_seed(0))
    """
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        lengths = _lengths_of_fractions(lengths, n)
    if any(isinstance(x, float) and not float(x).is_integer() for x in lengths) or any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative integers or fractions summing to 1, "
                         f"got {lengths}")
    lengths = [int(x) for x in lengths]
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    indices = randperm(n, generator=generator).tolist()
    subsets, offset = [], 0
    for length in lengths:
        subsets.append(Subset(dataset, indices[offset:offset + length]))
        offset += length
    return subsets


def _lengths_of_fractions(fractions: list, n: int) -> list:
    lengths = []
    for i, frac in enumerate(fractions):
        if frac < 0 or frac > 1:
            raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        lengths.append(math.floor(n * frac))
    for i in range(n - sum(lengths)):  # the remainder, one by one round-robin
        lengths[i % len(lengths)] += 1
    for i, length in enumerate(lengths):
        if length == 0:
            warnings.warn(f"Length of split at index {i} is 0. This might result in an empty dataset.",
                          stacklevel=3)
    return lengths
