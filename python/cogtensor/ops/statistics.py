"""Statistics: quantile, nanquantile, var_mean, std_mean, cummax, cummin, bincount, isin.

quantile composes sort, index_select and lerp, so its gradient flows through the sort to the
elements each quantile interpolates between; cummax/cummin send each gradient to the
element the running extreme came from (torch's index rule: the latest equal element, and
once a NaN appears, the latest NaN).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from cogtensor.errors import DTypeError, NotImplementedForDType
from cogtensor.graph import attach
from cogtensor.ops.reduction import return_types
from cogtensor.ops.views import normalize_dim

__all__ = ["quantile", "nanquantile", "var_mean", "std_mean", "cummax", "cummin", "bincount", "isin"]

return_types.cummax = namedtuple("cummax", ["values", "indices"], module="cogtensor.return_types")
return_types.cummin = namedtuple("cummin", ["values", "indices"], module="cogtensor.return_types")

_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(x, q, dim, keepdim: bool, interpolation: str, ignore_nan: bool):
    op = "nanquantile" if ignore_nan else "quantile"
    if not x.is_floating_point():
        raise DTypeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise RuntimeError(f"{op}() interpolation must be one of {', '.join(_INTERPOLATIONS)}. Got {interpolation}")
    if hasattr(q, "_data") and q.dtype != x.dtype:
        raise RuntimeError(f"{op}() q tensor must be same dtype as the input tensor")
    qs = np.asarray(q._data if hasattr(q, "_data") else q, np.float64)
    if qs.ndim > 1:
        raise RuntimeError(f"{op}() q must be a scalar or 1D tensor")
    if not ((qs >= 0) & (qs <= 1)).all():
        raise RuntimeError(f"{op}() q values must be in the range [0, 1]")
    flat = x.reshape(-1) if dim is None else x
    d = 0 if dim is None else normalize_dim(dim, x.ndim, op)
    if flat.numel() == 0:
        raise RuntimeError(f"{op}() input tensor must be non-empty")
    if flat.ndim == 0:
        flat = flat.reshape(1)
    ordered = flat.sort(d).values  # NaN last
    nan = flat.isnan()
    count = (~nan).sum(d, keepdim=True) if ignore_nan else flat.shape[d] + nan.sum(d, keepdim=True) * 0
    # rank of each quantile in every slice (slices differ only when NaN are left out)
    qs_shape = [1] * flat.ndim
    qs_shape[d] = len(qs.reshape(-1))
    qt = flat._wrap(qs.reshape(qs_shape).astype(flat._data.dtype))
    rank = qt * (count - 1).clamp(min=0).to(flat.dtype)
    lo_rank, hi_rank = rank.floor(), rank.ceil()
    if interpolation == "nearest":
        lo_rank = hi_rank = rank.round()
    shape = list(flat.shape)
    shape[d] = qs_shape[d]
    lo = ordered.gather(d, lo_rank.long().expand(shape))
    hi = ordered.gather(d, hi_rank.long().expand(shape))
    if interpolation == "lower" or interpolation == "nearest":
        result = lo
    elif interpolation == "higher":
        result = hi
    elif interpolation == "midpoint":
        result = lo + (hi - lo) * 0.5
    else:
        result = lo.lerp(hi, (rank - lo_rank).expand(shape))
    empty = (count == 0) if ignore_nan else nan.any(d, keepdim=True)
    result = result.where(~empty, float("nan"))
    result = result.movedim(d, 0)  # (quantiles, the other dims)
    if keepdim:
        result = result.reshape([-1] + [1] * x.ndim) if dim is None else result.unsqueeze(d + 1)
    return result[0] if qs.ndim == 0 else result


def _cumulative_extreme(x, dim: int, op: str):
    d = normalize_dim(dim, x.ndim, op)
    data = x._data
    if x.dtype.is_complex:
        raise DTypeError(f"{op}: complex tensors have no order")
    if x.ndim == 0 or data.size == 0:
        values, indices = data.copy(), np.zeros(data.shape, np.int64)
    else:
        accumulate = np.maximum.accumulate if op == "cummax" else np.minimum.accumulate
        key = data.astype(np.float32) if data.dtype.kind == "f" and data.itemsize < 4 or data.dtype.kind not in "biuf" \
            else data
        values_key = accumulate(key, axis=d)
        positions = np.arange(data.shape[d]).reshape([-1 if i == d else 1 for i in range(data.ndim)])
        is_nan = np.isnan(key) if key.dtype.kind == "f" else np.zeros(key.shape, bool)
        candidate = is_nan | (~np.isnan(values_key) if key.dtype.kind == "f" else True) & (key == values_key)
        indices = np.maximum.accumulate(np.where(candidate, positions, 0), axis=d).astype(np.int64)
        values = np.take_along_axis(data, indices, d)
    index_t = x._wrap(indices)
    out = attach(x._wrap(values), "CummaxBackward0" if op == "cummax" else "CumminBackward0", (x,),
                 lambda g: g._wrap(np.zeros(x.shape, g._data.dtype)).scatter_add(d, index_t, g) if x.ndim else g,
                 saved=(index_t,))
    return getattr(return_types, op)(out, index_t)


class StatisticsOps:
    """quantile, nanquantile, var_mean, std_mean, cummax, cummin, bincount, isin."""

    __slots__ = ()

    def quantile(self, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
        """The ``q``-th quantiles (a number or a 1-D tensor in [0, 1]) over ``dim`` (all
        elements when None); a 1-D ``q`` adds a leading dim. NaN in a slice gives NaN."""
        return _quantile(self, q, dim, keepdim, interpolation, ignore_nan=False)

    def nanquantile(self, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear"):
        """:meth:`quantile` leaving NaN out (NaN where a slice holds nothing else)."""
        return _quantile(self, q, dim, keepdim, interpolation, ignore_nan=True)

    def var_mean(self, dim=None, *, correction=1, keepdim: bool = False):
        """(variance, mean) over ``dim``."""
        return self.var(dim, keepdim=keepdim, correction=correction), self.mean(dim, keepdim=keepdim)

    def std_mean(self, dim=None, *, correction=1, keepdim: bool = False):
        """(standard deviation, mean) over ``dim``."""
        return self.std(dim, keepdim=keepdim, correction=correction), self.mean(dim, keepdim=keepdim)

    def cummax(self, dim: int):
        """Running maximum along ``dim`` and the index it came from."""
        return _cumulative_extreme(self, dim, "cummax")

    def cummin(self, dim: int):
        """Running minimum along ``dim`` and the index it came from."""
        return _cumulative_extreme(self, dim, "cummin")

    def bincount(self, weights=None, minlength: int = 0):
        """Occurrences of each value 0..max of a 1-D non-negative integer tensor (summed
        ``weights`` instead of counts when given)."""
        if self.dtype.is_floating_point or self.dtype.is_complex or self.dtype.name == "bool":
            raise NotImplementedForDType(f'"bincount_cpu" not implemented for \'{self.dtype}\'')
        if self.ndim != 1:
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        if minlength < 0:
            raise RuntimeError("minlength should be >= 0")
        if self.numel() and self._data.min() < 0:
            raise RuntimeError("bincount only supports 1-d non-negative integral inputs.")
        if weights is None:
            return self._wrap(np.bincount(self._data, minlength=minlength).astype(np.int64))
        if tuple(weights.shape) != tuple(self.shape):
            raise RuntimeError("weights should be 1-d and have the same length as input")
        w = weights._data
        out_dtype = w.dtype if w.dtype.kind == "f" else np.float64
        return self._wrap(np.bincount(self._data, weights=w.astype(np.float64), minlength=minlength)
                          .astype(out_dtype))


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False):
    """Whether each element of ``elements`` occurs in ``test_elements`` (bool, ``elements``'
    shape; either may be a number)."""
    ref = elements if hasattr(elements, "_data") else test_elements
    if not hasattr(ref, "_data"):
        raise TypeError("isin: expected at least one tensor")
    a = elements._data if hasattr(elements, "_data") else np.asarray(elements)
    b = test_elements._data if hasattr(test_elements, "_data") else np.asarray(test_elements)
    return ref._wrap(np.isin(a, b, assume_unique=assume_unique, invert=invert))


quantile, nanquantile = StatisticsOps.quantile, StatisticsOps.nanquantile
var_mean, std_mean = StatisticsOps.var_mean, StatisticsOps.std_mean
cummax, cummin, bincount = StatisticsOps.cummax, StatisticsOps.cummin, StatisticsOps.bincount
