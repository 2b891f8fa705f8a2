"""``default_collate`` and ``default_convert`` with ``torch.utils.data``'s semantics.

default_collate stacks tensors and numpy arrays along a new first dimension, turns
Python floats into a float64 tensor, ints into int64 and bools into bool, keeps
strings and bytes as lists, and recurses into dicts (same type, same keys),
namedtuples (same type), tuples (a list, as torch) and other sequences.
"""

from __future__ import annotations

import collections.abc
import copy
import re

import numpy as np

from cogtensor import dtypes
from cogtensor.creation import as_tensor, tensor
from cogtensor.tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_STRING_OR_OBJECT = re.compile(r"[SaUO]")  # numpy dtype codes default_collate refuses
_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def default_collate(batch):
    """Merge a list of samples into a batch.

    Args:
        batch: a non-empty list of samples that share one structure.

    Returns:
        the same structure with a leading batch dimension on every tensor:
        ``[(x0, y0), (x1, y1)]`` -> ``[stack([x0, x1]), tensor([y0, y1])]``.

    Raises:
        TypeError: an element type it cannot batch (e.g. a numpy array of strings).
        RuntimeError: sequences of unequal length.
        ValueError: tensors of unequal shapes (from the stack).

    Example:
        >>> default_collate([{"x": 1.0, "y": 2}, {"x": 3.0, "y": 4}])
        {'x': tensor([1., 3.], dtype=cogtensor.float64), 'y': tensor([2, 4])}
    """
    if not isinstance(batch, collections.abc.Sequence) or not len(batch):
        raise TypeError(f"default_collate: expected a non-empty list of samples, got {batch!r}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack([t.numpy() for t in batch])
    if isinstance(elem, np.ndarray):
        if _STRING_OR_OBJECT.search(elem.dtype.str):
            raise TypeError(_ERROR.format(elem.dtype))
        return _stack(batch)
    if isinstance(elem, (np.bool_, np.number, np.object_)):
        return as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=dtypes.float64)
    if isinstance(elem, int):  # bools too: the dtype is inferred from all values, as torch.tensor(batch)
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(samples) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(samples) for samples in zip(*batch)]  # tuples: strings stay tuples, as torch
        return columns if isinstance(elem, tuple) else _rebuild_sequence(elem, columns)
    raise TypeError(_ERROR.format(type(elem)))


def default_convert(data):
    """Turn numpy arrays (and numpy scalars) into tensors, recursing into containers; the
    per-sample conversion DataLoader applies when automatic batching is off
    (``batch_size=None``).

    Example:
        >>> default_convert([np.array([0, 1]), np.array([2, 3])])
        [tensor([0, 1]), tensor([2, 3])]
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if _STRING_OR_OBJECT.search(data.dtype.str) else as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # a list, as torch
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _stack(arrays: list) -> Tensor:
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"default_collate: stack expects each tensor to be equal size, got shapes {sorted(shapes)}")
    stacked = np.stack(arrays)
    if stacked.dtype != arrays[0].dtype:  # mixed dtypes: promote by torch's rules, not numpy's
        target = dtypes.from_numpy_dtype(arrays[0].dtype)
        for a in arrays[1:]:
            target = dtypes.promote_types(target, dtypes.from_numpy_dtype(a.dtype))
        stacked = np.stack([a.astype(target.numpy) for a in arrays])
    return Tensor(stacked)


def _rebuild_mapping(elem, values: dict):
    """A mapping of elem's type holding ``values`` (a plain dict where the type can't be rebuilt)."""
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(values)
            return clone
        return type(elem)(values)
    except TypeError:
        return values


def _rebuild_sequence(elem, values: list):
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            for i, v in enumerate(values):
                clone[i] = v
            return clone
        return type(elem)(values)
    except TypeError:
        return values
