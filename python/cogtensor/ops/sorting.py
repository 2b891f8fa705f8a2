"""Sorting and searching: sort, argsort, msort, topk, kthvalue, median, nanmedian, unique,
unique_consecutive, searchsorted, bucketize.

Order is torch's: NaN sorts as the largest value (last ascending, first descending), and
sorts are stable (equal elements keep their input order, descending too). Where torch picks
among equal elements by its partial-sort internals (the indices of tied values in topk,
kthvalue, median), the values agree and the indices point at equal elements.

The selecting ops (sort, topk, kthvalue, median along a dim) send each value's gradient to
the element it came from.
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import DTypeError, NotImplementedForDType
from cogtensor.graph import attach
from cogtensor.ops.reduction import _evenly_distribute, _scatter_to_indices, return_types
from cogtensor.ops.views import normalize_dim

__all__ = [
    "sort", "argsort", "msort", "topk", "kthvalue", "median", "nanmedian", "unique", "unique_consecutive",
    "searchsorted", "bucketize",
]


# ------------------------------------------------------------------ helpers
def _sort_key(data: np.ndarray) -> np.ndarray:
    """An array numpy sorts in torch's order: bool as uint8, half floats widened (exactly)."""
    if data.dtype == np.bool_:
        return data.view(np.uint8)
    if data.dtype.kind == "f" and data.dtype.itemsize < 4 or data.dtype.kind not in "biuf":  # float16, bfloat16
        return data.astype(np.float32)
    return data


def _order(data: np.ndarray, d: int, descending: bool) -> np.ndarray:
    """Stable argsort along ``d`` (NaN last ascending, first descending)."""
    if data.ndim == 0:
        return np.zeros((), np.int64)
    key = _sort_key(data)
    if not descending:
        return np.argsort(key, axis=d, kind="stable")
    # an ascending stable sort of the reversed input, reversed, keeps ties in input order
    n = data.shape[d]
    flipped = np.argsort(np.flip(key, d), axis=d, kind="stable")
    return np.flip(n - 1 - flipped, d)


def _take(x, indices: np.ndarray, d: int) -> np.ndarray:
    return x._data.copy() if x.ndim == 0 else np.take_along_axis(x._data, indices, d)


def _selected(x, values: np.ndarray, indices: np.ndarray, d: int, keepdim: bool, name: str, kind: str):
    """(values, indices) named ``kind`` whose gradient goes back to the chosen elements."""
    index_t = x._wrap(indices)
    out = attach(x._wrap(values), name, (x,), lambda g: _scatter_to_indices(g, x.shape, d, index_t, keepdim),
                 saved=(index_t,))
    return getattr(return_types, kind)(out, index_t)


def _dim_size(x, d: int) -> int:
    return x.shape[d] if x.ndim else 1


def _check_k(k, size: int, op: str, message: str) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"{op}: k must be an integer, got {type(k).__name__}")
    if not 0 <= k <= size if op == "topk" else not 1 <= k <= size:
        raise RuntimeError(message)
    return int(k)


def _no_complex(x, op: str) -> None:
    if x.dtype.is_complex:
        raise DTypeError(f"{op}: complex tensors have no order, got {x.dtype}")


def _median_position(key: np.ndarray, sorted_key: np.ndarray, d: int, ignore_nan: bool) -> np.ndarray:
    """Position (in sorted order) of each slice's lower median; a slice holding NaN picks its
    first NaN (median propagates NaN) unless ``ignore_nan`` (then NaN is left out; an all-NaN
    slice picks its first NaN)."""
    n = key.shape[d]
    nan_count = np.isnan(key).sum(axis=d, keepdims=True) if key.dtype.kind == "f" else np.zeros(1, np.int64)
    valid = n - nan_count
    if ignore_nan:
        return np.where(valid > 0, (valid - 1) // 2, 0)
    return np.where(nan_count > 0, valid, (n - 1) // 2)


# ------------------------------------------------------------------ the ops
class SortingOps:
    """sort, argsort, msort, topk, kthvalue, median, nanmedian, unique, unique_consecutive."""

    __slots__ = ()

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """Sorted values along ``dim`` and their indices (``torch.sort``); always stable.

        Example:
            >>> cogtensor.tensor([3.0, 1.0, 2.0]).sort()
            sort(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
        """
        _no_complex(self, "sort")
        d = normalize_dim(dim, self.ndim, "sort")
        indices = _order(self._data, d, descending)
        return _selected(self, _take(self, indices, d), indices, d, True, "SortBackward0", "sort")

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False):
        """Indices that sort ``dim`` (``torch.argsort``); int64."""
        _no_complex(self, "argsort")
        return self._wrap(_order(self._data, normalize_dim(dim, self.ndim, "argsort"), descending))

    def msort(self):
        """Sorted along the first dimension (``torch.msort``)."""
        return self.sort(0).values

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002 - torch's name
        """The ``k`` largest (or smallest) values along ``dim`` and their indices, best first.

        Example:
            >>> cogtensor.tensor([1, 5, 3]).topk(2)
            topk(values=tensor([5, 3]), indices=tensor([1, 2]))
        """
        _no_complex(self, "topk")
        if self.dtype.name == "bool":
            raise NotImplementedForDType("topk does not support bool dtypes on CPU")
        d = normalize_dim(dim, self.ndim, "topk")
        k = _check_k(k, _dim_size(self, d), "topk", "topk: selected index k out of range")
        indices = _order(self._data, d, descending=largest)
        if self.ndim:
            indices = np.take(indices, np.arange(k), axis=d)
        return _selected(self, _take(self, indices, d), indices, d, True, "TopkBackward0", "topk")

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        """The ``k``-th smallest value (counting from 1) along ``dim`` and its index."""
        _no_complex(self, "kthvalue")
        d = normalize_dim(dim, self.ndim, "kthvalue")
        k = _check_k(k, _dim_size(self, d), "kthvalue",
                     f"kthvalue(): selected number k out of range for dimension {d}")
        return self._pick_sorted(d, keepdim, "kthvalue", "KthvalueBackward0", lambda key, s: np.full(1, k - 1))

    def median(self, dim=None, keepdim: bool = False):
        """Lower median (``torch.median``): of all elements (a 0-d tensor) when ``dim`` is None,
        else (values, indices) along ``dim``. NaN propagates."""
        return self._median(dim, keepdim, "median", ignore_nan=False)

    def nanmedian(self, dim=None, keepdim: bool = False):
        """:meth:`median` leaving NaN out (NaN only where every element is NaN)."""
        return self._median(dim, keepdim, "nanmedian", ignore_nan=True)

    def _median(self, dim, keepdim: bool, op: str, ignore_nan: bool):
        _no_complex(self, op)
        node = "MedianBackward" if op == "median" else "NanmedianBackward"
        if dim is None:
            flat = self.reshape(-1)
            if flat.shape[0] == 0:
                return attach(self._wrap(np.array(np.nan, self._data.dtype)), node + "0", (self,),
                              lambda g: g.expand(self.shape) * 0.0)
            value = flat._pick_sorted(0, False, op, node + "1", lambda k, s: _median_position(k, s, 0, ignore_nan))
            result = value.values.detach()
            return attach(result, node + "0", (self,), lambda g, y: _evenly_distribute(g, self, y),
                          saved=(self,), with_output=True)
        d = normalize_dim(dim, self.ndim, op)
        if _dim_size(self, d) == 0:
            raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
        return self._pick_sorted(d, keepdim, op, node + "1",
                                 lambda key, s: _median_position(key, s, d, ignore_nan))

    def _pick_sorted(self, d: int, keepdim: bool, kind: str, node: str, position):
        """(values, indices) of the element at sorted position ``position(key, sorted_key)``
        (an array broadcasting against a slice) of each slice along ``d``."""
        if self.ndim == 0:
            return _selected(self, self._data.copy(), np.zeros((), np.int64), 0, True, node, kind)
        order = _order(self._data, d, descending=False)
        key = _sort_key(self._data)
        where = np.broadcast_to(position(key, np.take_along_axis(key, order, d)),
                                [1 if i == d else n for i, n in enumerate(self.shape)])
        indices = np.take_along_axis(order, where.astype(np.int64), d)
        values = np.take_along_axis(self._data, indices, d)
        if not keepdim:
            values, indices = values.squeeze(d), indices.squeeze(d)
        return _selected(self, values, indices, d, keepdim, node, kind)

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False,  # noqa: A002
               dim=None):
        """The distinct elements (or distinct slices along ``dim``), sorted (``torch.unique``).

        Returns the tensor, or a tuple with the inverse indices (each element's place in the
        result, shaped as the input, or as ``dim``) and the counts when asked for.
        """
        _no_complex(self, "unique")
        data = _sort_key(self._data)
        if dim is None:
            values, inverse, counts = np.unique(data, return_inverse=True, return_counts=True)
            inverse = inverse.reshape(self.shape)
        else:
            d = normalize_dim(dim, self.ndim, "unique")
            if self.ndim == 0:
                raise IndexError("unique: dim given for a 0-d tensor")
            values, inverse, counts = np.unique(data, return_inverse=True, return_counts=True, axis=d)
            inverse = inverse.reshape(-1)
        return self._unique_result(values, inverse, counts, return_inverse, return_counts)

    def unique_consecutive(self, return_inverse: bool = False, return_counts: bool = False, dim=None):
        """Collapse runs of equal consecutive elements (or slices along ``dim``)."""
        _no_complex(self, "unique_consecutive")
        data = _sort_key(self._data)
        if dim is None:
            rows, shape = data.reshape(-1, 1), self.shape
        else:
            d = normalize_dim(dim, self.ndim, "unique_consecutive")
            rows, shape = np.moveaxis(data, d, 0).reshape(_dim_size(self, d), -1), (_dim_size(self, d),)
        starts = np.ones(len(rows), bool)
        starts[1:] = (rows[1:] != rows[:-1]).any(axis=1)
        first = np.flatnonzero(starts)
        counts = np.diff(np.append(first, len(rows)))
        inverse = (np.cumsum(starts) - 1).reshape(shape)
        values = data.reshape(-1)[first] if dim is None else np.take(data, first, axis=d)
        return self._unique_result(values, inverse, counts, return_inverse, return_counts)

    def _unique_result(self, values, inverse, counts, return_inverse: bool, return_counts: bool):
        out = [self._wrap(values.astype(self._data.dtype, copy=False))]
        if return_inverse:
            out.append(self._wrap(inverse.astype(np.int64)))
        if return_counts:
            out.append(self._wrap(counts.astype(np.int64)))
        return out[0] if len(out) == 1 else tuple(out)


def searchsorted(sorted_sequence, input, *, out_int32: bool = False, right: bool = False,  # noqa: A002
                 side: str | None = None, sorter=None):
    """Where each value of ``input`` would go in ``sorted_sequence`` (``torch.searchsorted``).

    ``sorted_sequence`` is 1-D, or N-D searched along its last dim with ``input`` holding the
    same leading dims. ``right=True`` (or ``side="right"``) places a value after its equals.

    Example:
        >>> searchsorted(cogtensor.tensor([1, 3, 5]), cogtensor.tensor([3, 6]))
        tensor([1, 3])
    """
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if right and side == "left":
            raise RuntimeError("searchsorted: side and right can't be set to opposites, got side of left "
                               "while right was True")
        right = side == "right"
    seq = sorted_sequence
    if not hasattr(seq, "_data"):
        raise TypeError(f"searchsorted: sorted_sequence must be a tensor, got {type(seq).__name__}")
    _no_complex(seq, "searchsorted")
    scalar = not hasattr(input, "_data")
    values = np.asarray(input) if scalar else input._data
    boundaries = seq._data
    if sorter is not None:
        if tuple(sorter.shape) != tuple(seq.shape):
            raise RuntimeError("searchsorted: boundary and sorter must have the same size, but got boundary "
                               f"tensor {list(seq.shape)} and got sorter tensor {list(sorter.shape)}")
        boundaries = np.take_along_axis(boundaries, sorter._data.astype(np.int64), -1)
    if boundaries.ndim == 0:
        raise RuntimeError("searchsorted: boundaries tensor should be 1 dimension or the first N-1 dimensions "
                           "of boundaries tensor and input value tensor must match, but we got boundaries "
                           "tensor [] and input value tensor " + str(list(values.shape)))
    if boundaries.ndim > 1 and (scalar or boundaries.shape[:-1] != values.shape[:-1]):
        raise RuntimeError("searchsorted: boundaries tensor should be 1 dimension or the first N-1 dimensions "
                           f"of boundaries tensor and input value tensor must match, but we got boundaries "
                           f"tensor {list(boundaries.shape)} and input value tensor {list(values.shape)}")
    how = "right" if right else "left"
    key_b, key_v = _sort_key(boundaries), _sort_key(values)
    if boundaries.ndim == 1:
        result = np.searchsorted(key_b, key_v, side=how)
    else:
        rows_b = key_b.reshape(-1, key_b.shape[-1])
        rows_v = key_v.reshape(-1, key_v.shape[-1])
        result = np.stack([np.searchsorted(b, v, side=how) for b, v in zip(rows_b, rows_v)]).reshape(values.shape)
    result = np.asarray(result, np.int32 if out_int32 else np.int64)
    return seq._wrap(result)


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False):  # noqa: A002
    """The bucket of each value of ``input`` among 1-D ``boundaries`` (``torch.bucketize``):
    ``right=False`` gives ``boundaries[i-1] < x <= boundaries[i]``."""
    if not hasattr(boundaries, "_data") or boundaries.ndim != 1:
        dims = getattr(boundaries, "ndim", None)
        raise RuntimeError(f"bucketize: boundaries tensor must be 1 dimension, but got dim({dims})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# function forms: cogtensor.sort(x, 1) == x.sort(1)
sort, argsort, msort, topk = SortingOps.sort, SortingOps.argsort, SortingOps.msort, SortingOps.topk
kthvalue, median, nanmedian = SortingOps.kthvalue, SortingOps.median, SortingOps.nanmedian
unique, unique_consecutive = SortingOps.unique, SortingOps.unique_consecutive
