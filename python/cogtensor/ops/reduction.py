"""Reductions over one or more dimensions (``dim`` int or tuple, ``keepdim``), as PyTorch,
each with its backward.

Result dtypes follow torch: sums, products and cumulative sums of bool and integer
tensors are int64; mean, var, std and norm need a floating tensor; max/min keep the
input dtype and give int64 indices. float16 and bfloat16 accumulate in float32 and
round once at the end (float32 cumsum accumulates in float64), as torch does on CPU.
``dim=None`` (or an empty tuple) reduces every dimension, except for all/any, where
``dim=()`` reduces none, as torch.

Backward formulas follow torch's (ties of max/min/amax/amin share the gradient,
prod is exact with zeros in the input, a zero vector's 2-norm gets a zero
gradient) and are written with tensor ops, so ``create_graph=True`` gives
gradients that can be differentiated again. The numpy kernels live in
:mod:`cogtensor.ops.reduction_kernels`.
"""

from __future__ import annotations

import math
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError
from cogtensor.graph import attach, is_grad_enabled
from cogtensor.ops.reduction_kernels import (  # noqa: F401 - ReductionError is re-exported for callers
    ReductionError, _acc, _arg_extreme, _cast, _check_dtype_arg, _count, _cumulative_sum, _extreme,
    _extreme_along, _logsumexp, _need_floating, _norm_order, _sum_input, _truth, _variance, _vector_norm,
    reduce_dims,
)
from cogtensor.ops.views import cat, normalize_dim

__all__ = [
    "sum", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin", "prod", "logsumexp", "norm",
    "cumsum", "all", "any", "return_types",
]

#: named (values, indices) results, as ``torch.return_types``
return_types = SimpleNamespace(
    max=namedtuple("max", ["values", "indices"], module="cogtensor.return_types"),
    min=namedtuple("min", ["values", "indices"], module="cogtensor.return_types"),
    **{name: namedtuple(name, ["values", "indices"], module="cogtensor.return_types")
       for name in ("sort", "topk", "kthvalue", "median", "nanmedian")},
)


# ------------------------------------------------------------ backward helpers
def keep_reduced(t, shape, axes, keepdim: bool):
    """A reduction's result (or gradient) ``t`` with the reduced dims of an input of ``shape``
    back as size 1, so it broadcasts against the input."""
    if keepdim or axes == ():
        return t
    return t.reshape([1 if axes is None or i in axes else n for i, n in enumerate(shape)])


def expand_reduced(g, shape, axes, keepdim: bool):
    """A reduction's gradient ``g`` spread back over the input's ``shape`` (a broadcast view)."""
    return keep_reduced(g, shape, axes, keepdim).expand(shape)


def _nonzero_divisor(t):
    """``(t with its zeros replaced by 1, mask of t != 0)``: dividing by the first and masking
    with the second gives 0 where ``t`` is 0, with no inf or NaN in any derivative."""
    nonzero = t != 0
    return t.where(nonzero, 1.0), nonzero


def _var_backward(g, x, axes, keepdim: bool, dof, whole: bool):
    """torch's var_backward: ``g * 2 (x - mean) / (N - correction)``.

    Along dims torch divides by N - correction as it is (inf at 0). Over the whole
    tensor with N - correction <= 0 it gives inf (NaN where x equals the mean); so does this.
    """
    g = keep_reduced(g, x.shape, axes, keepdim)
    centered = x - x.mean(dim=axes, keepdim=True)
    if whole and dof <= 0:
        return g * centered.abs() * math.inf
    return g * centered * (2.0 / dof if dof else math.inf)


def _std_to_var_grad(g, std):
    """d std = d var / (2 std), and 0 where std is 0 (torch's choice for a constant input)."""
    safe, nonzero = _nonzero_divisor(std)
    return (g / (safe * 2.0)).where(nonzero, 0.0)


def _evenly_distribute(g, x, result):
    """max()/min() over everything: the elements equal to the result (the NaNs, when it is
    NaN) share the gradient equally, as torch's evenly_distribute_backward."""
    data, value = x._data, result._data
    mask = np.isnan(data) if np.isnan(value) else data == value
    return g.where(x._wrap(mask), 0.0) / int(np.count_nonzero(mask))


def _scatter_to_indices(g, shape, d: int, indices, keepdim: bool):
    """max/min along a dim: the gradient goes to the element each index picked."""
    if not shape:
        return g
    if not keepdim:
        g, indices = g.unsqueeze(d), indices.unsqueeze(d)
    return g._wrap(np.zeros(shape, g._data.dtype)).scatter(d, indices, g)


def _share_among_extremes(g, x, result, axes, keepdim: bool):
    """amax/amin: each slice's gradient is split evenly among the elements equal to its
    extreme (torch's scale_grad_by_count; a slice whose extreme is NaN gets NaN, as torch)."""
    mask = x == keep_reduced(result, x.shape, axes, keepdim)
    count = mask.sum(dim=axes, keepdim=True)
    return keep_reduced(g, x.shape, axes, keepdim) / count * mask


def _prod_backward(g, x, result, axes, keepdim: bool):
    """torch's prod_backward: ``g * prod / x`` without zeros; with zeros, ``g`` times the
    product of all the other elements (exact: one zero, several zeros)."""
    if x.ndim == 0:
        return g
    g, result = keep_reduced(g, x.shape, axes, keepdim), keep_reduced(result, x.shape, axes, keepdim)
    if not np.any(x._data == 0):
        return g * (result / x)
    line, d = (x.reshape(-1), 0) if axes is None else (x, axes[0])
    if is_grad_enabled():  # create_graph: products built from tensor ops, differentiable again
        others = _others_product_graph(line, d)
    else:
        others = line._wrap(_others_product(line._data.astype(g._data.dtype), d))
    return g * others.reshape(x.shape)


def _others_product(a: np.ndarray, d: int) -> np.ndarray:
    """For each element, the product of the other elements along axis ``d`` (no division:
    exact with zeros): the exclusive running product from the front times that from the back."""
    n = a.shape[d]
    ones = np.ones_like(np.take(a, [0], axis=d))
    before = np.cumprod(np.concatenate([ones, np.take(a, range(n - 1), axis=d)], axis=d), axis=d)
    back = np.flip(a, axis=d)
    after = np.cumprod(np.concatenate([ones, np.take(back, range(n - 1), axis=d)], axis=d), axis=d)
    return before * np.flip(after, axis=d)


def _others_product_graph(x, d: int):
    """:func:`_others_product` with tensor ops (one multiplication per position, as torch's
    double backward of prod with zeros, which is also linear in the length)."""
    pieces = x.split(1, d)
    ones = x._wrap(np.ones(pieces[0].shape, x._data.dtype))
    before, running = [], ones
    for p in pieces:
        before.append(running)
        running = running * p
    after, running = [None] * len(pieces), ones
    for i in reversed(range(len(pieces))):
        after[i] = running
        running = running * pieces[i]
    return cat([b * a for b, a in zip(before, after)], d)


def _logsumexp_backward(g, x, result, axes, keepdim: bool):
    """``g * exp(x - logsumexp(x))``: the softmax of each slice times its gradient."""
    g, result = keep_reduced(g, x.shape, axes, keepdim), keep_reduced(result, x.shape, axes, keepdim)
    return g * (x - result).exp()


def _norm_backward(g, x, p: float, norm, axes, keepdim: bool):
    """torch's norm_backward for every order ``p`` (zero slices and zero elements get 0
    where torch's formula would divide by 0)."""
    if p == 0:
        return None  # a count of nonzeros: no gradient (torch leaves it undefined)
    g, norm = keep_reduced(g, x.shape, axes, keepdim), keep_reduced(norm, x.shape, axes, keepdim)
    if p == 1:
        return g * x.sign()
    if p == 2:
        safe, nonzero = _nonzero_divisor(norm)
        return g * (x / safe).where(nonzero, 0.0)
    if math.isinf(p):  # the elements at the extreme |x| (or NaN) share the gradient
        size = x.abs()
        mask = (size == norm).logical_or(size.isnan())
        return x.sign() * (g / mask.sum(dim=axes, keepdim=True) * mask)
    x_safe, x_nonzero = _nonzero_divisor(x)
    if p < 1:
        scaled = (x.sign() * x_safe.abs().pow(p - 1)).where(x_nonzero, 0.0)
        return scaled * g * norm.pow(1 - p)
    scaled = x.sign() * x_safe.abs().pow(p - 1) if p < 2 else x * x.abs().pow(p - 2)
    safe, nonzero = _nonzero_divisor(norm)
    return scaled * (g / safe.pow(p - 1)).where(nonzero, 0.0)


def _reverse(t, d: int):
    """``t`` reversed along ``d`` (torch's flip), recorded."""
    return t.index_select(d, t._wrap(np.arange(t.shape[d] - 1, -1, -1)))


def _cumsum_backward(g, d: int):
    """The gradient of a running sum: running sums of ``g`` from the back."""
    if g.ndim == 0 or g.shape[d] <= 1:
        return g
    return _reverse(_reverse(g, d).cumsum(d), d)


class ReductionOps:
    """sum, mean, var/std, max/min, amax/amin, argmax/argmin, prod, logsumexp, norm, cumsum, all, any."""

    __slots__ = ()

    def sum(self, dim=None, keepdim: bool = False, *, dtype=None):
        """Sum over ``dim`` (int, tuple, or None for all): (2, 3).sum(1) -> (2,).

        bool and integer tensors sum to int64; ``dtype`` casts the input first.

        Example:
            >>> cogtensor.tensor([[1, 2], [3, 4]]).sum(0)
            tensor([4, 6])
        """
        data, out = _sum_input(self, dtype, "sum")
        axes = reduce_dims(dim, self.ndim, "sum")
        result = self._wrap(_cast(np.sum(data, axis=axes, keepdims=keepdim, dtype=_acc(out)), out))
        return attach(result, "SumBackward1", (self,), lambda g: expand_reduced(g, self.shape, axes, keepdim))

    def mean(self, dim=None, keepdim: bool = False, *, dtype=None):
        """Mean over ``dim`` of a floating tensor (or of any tensor with a floating ``dtype``); empty -> nan."""
        _check_dtype_arg(dtype, "mean")
        target = self.dtype if dtype is None else dtype
        if not target.is_floating_point:
            which = "Input" if dtype is None else "Optional"
            raise DTypeError(f"mean(): could not infer output dtype. {which} dtype must be either a floating point "
                             f"or complex dtype. Got: {target}")
        axes = reduce_dims(dim, self.ndim, "mean")
        acc = _acc(target.numpy)
        n = _count(self.shape, axes)
        with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 for empty reductions, as torch: nan
            total = np.sum(self._data, axis=axes, keepdims=keepdim, dtype=acc) / n
        result = self._wrap(_cast(total, target.numpy))
        return attach(result, "MeanBackward1", (self,), lambda g: expand_reduced(g / n, self.shape, axes, keepdim))

    def var(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        """Variance over ``dim``: sum((x - mean)^2) / (N - correction); correction defaults to 1
        (``unbiased=False`` means 0). N - correction <= 0 warns and gives inf or nan, as torch.

        Example:
            >>> cogtensor.tensor([[1., 3.], [2., 6.]]).var(1)
            tensor([2., 8.])
        """
        values, axes, n, c = _variance(self, dim, unbiased, keepdim, correction, "var")
        result = self._wrap(_cast(values, self._data.dtype))
        whole = dim is None or self.ndim == 0
        return attach(result, "VarBackward0", (self,), lambda g: _var_backward(g, self, axes, keepdim, n - c, whole),
                      saved=(self,))

    def std(self, dim=None, unbiased=None, keepdim: bool = False, *, correction=None):
        """Standard deviation: the square root of :meth:`var` (same arguments)."""
        values, axes, n, c = _variance(self, dim, unbiased, keepdim, correction, "std")
        result = self._wrap(_cast(np.sqrt(values), self._data.dtype))
        whole = dim is None or self.ndim == 0
        return attach(result, "StdBackward0", (self,),
                      lambda g, y: _var_backward(_std_to_var_grad(g, y), self, axes, keepdim, n - c, whole),
                      saved=(self,), with_output=True)

    def max(self, dim=None, keepdim: bool = False):
        """The largest element (0-d), or ``(values, indices)`` along ``dim``, or element-wise with a tensor.

        ``x.max()`` of an empty tensor raises RuntimeError; ``x.max(dim)`` returns
        ``return_types.max(values, indices)`` (indices int64, the first maximum;
        NaN counts as the maximum) and raises IndexError when that dim is empty.
        Gradients: ``x.max()`` shares it among tied maxima; ``x.max(dim)`` gives it
        to the element each index names.

        Example:
            >>> cogtensor.tensor([[1., 5.], [7., 2.]]).max(1)
            max(values=tensor([5., 7.]), indices=tensor([1, 0]))
        """
        return _max_or_min(self, dim, keepdim, "max")

    def min(self, dim=None, keepdim: bool = False):
        """The smallest element, or ``(values, indices)`` along ``dim``; see :meth:`max`."""
        return _max_or_min(self, dim, keepdim, "min")

    def amax(self, dim=(), keepdim: bool = False):
        """Largest values over ``dim`` (int or tuple; () for all), without indices; tied
        maxima share the gradient equally."""
        return _amax_or_amin(self, dim, keepdim, "amax")

    def amin(self, dim=(), keepdim: bool = False):
        """Smallest values over ``dim`` (int or tuple; () for all), without indices."""
        return _amax_or_amin(self, dim, keepdim, "amin")

    def argmax(self, dim=None, keepdim: bool = False):
        """int64 index of the first maximum along ``dim``; of the flattened tensor when dim is None."""
        return self._wrap(_arg_extreme(self, dim, keepdim, "argmax"))

    def argmin(self, dim=None, keepdim: bool = False):
        """int64 index of the first minimum along ``dim``; of the flattened tensor when dim is None."""
        return self._wrap(_arg_extreme(self, dim, keepdim, "argmin"))

    def prod(self, dim=None, keepdim: bool = False, *, dtype=None):
        """Product over one ``dim`` (int) or all; bool and integers give int64; empty -> 1.

        The gradient is exact with zeros in the input (the product of the other elements).
        """
        data, out = _sum_input(self, dtype, "prod")
        d = None if dim is None else normalize_dim(dim, self.ndim, "prod")  # one dim, as torch.prod
        axes = None if d is None or not self.ndim else (d,)
        result = self._wrap(_cast(np.prod(data, axis=axes, keepdims=keepdim, dtype=_acc(out)), out))
        return attach(result, "ProdBackward0" if dim is None else "ProdBackward1", (self,),
                      lambda g, y: _prod_backward(g, self, y, axes, keepdim), saved=(self,), with_output=True)

    def logsumexp(self, dim, keepdim: bool = False):
        """log(sum(exp(x))) over ``dim``, stable for large inputs: [1e4, 1e4] -> 1e4 + log 2.

        Integer inputs give the default float dtype; rows of -inf give -inf.
        """
        result = self._wrap(_logsumexp(self, dim, keepdim))
        axes = reduce_dims(dim, self.ndim, "logsumexp")
        return attach(result, "LogsumexpBackward0", (self,),
                      lambda g, y: _logsumexp_backward(g, self, y, axes, keepdim), saved=(self,), with_output=True)

    def norm(self, p="fro", dim=None, keepdim: bool = False, dtype=None):
        """Vector p-norm over ``dim`` (all when None), as ``torch.norm``.

        ``p``: 'fro' or 2 (default, Euclidean), 1, inf (max |x|), -inf (min |x|),
        0 (count of nonzeros) or any other number (sum(|x|^p)^(1/p)). Floating
        tensors only; ``dtype`` may widen the result (float16 -> float32), not narrow it.
        The 2-norm of a zero vector has a zero gradient; p=0 has none.
        """
        _need_floating(self, "norm")
        _check_dtype_arg(dtype, "norm")
        out = self.dtype
        if dtype is not None:
            if dtypes.promote_types(self.dtype, dtype) is not dtype:
                raise DTypeError(f"norm: the dtype of the input ({self.dtype}) should be convertible without "
                                 f"narrowing to the specified dtype ({dtype})")
            out = dtype
        order = _norm_order(p, dim)
        axes = reduce_dims(dim, self.ndim, "norm")
        result = self._wrap(_cast(_vector_norm(self._data, order, axes, keepdim), out.numpy))
        return attach(result, "LinalgVectorNormBackward0", (self,),
                      lambda g, y: _norm_backward(g, self, order, y, axes, keepdim), saved=(self,), with_output=True)

    def cumsum(self, dim, *, dtype=None):
        """Running sums along ``dim`` (same shape); bool and integers give int64."""
        result = self._wrap(_cumulative_sum(self, dim, dtype))
        d = normalize_dim(dim, self.ndim, "cumsum")
        return attach(result, "CumsumBackward0", (self,), lambda g: _cumsum_backward(g, d))

    def all(self, dim=None, keepdim: bool = False):
        """True where every element over ``dim`` is nonzero (bool; uint8 stays uint8)."""
        return self._wrap(_truth(self, dim, keepdim, "all"))

    def any(self, dim=None, keepdim: bool = False):
        """True where some element over ``dim`` is nonzero (bool; uint8 stays uint8)."""
        return self._wrap(_truth(self, dim, keepdim, "any"))


def _max_or_min(x, dim, keepdim: bool, op: str):
    """max/min: over everything, element-wise with a tensor ``dim``, or (values, indices) along ``dim``."""
    if dim is None:
        result = x._wrap(_extreme(x, None, False, op))
        return attach(result, "MaxBackward1" if op == "max" else "MinBackward1", (x,),
                      lambda g, y: _evenly_distribute(g, x, y), saved=(x,), with_output=True)
    if hasattr(dim, "_data"):  # torch.max(input, other) is torch.maximum, gradient and all
        return x.maximum(dim) if op == "max" else x.minimum(dim)
    values, indices = _extreme_along(x, dim, keepdim, op)
    d, indices = normalize_dim(dim, x.ndim, op), x._wrap(indices)
    values = attach(x._wrap(values), "MaxBackward0" if op == "max" else "MinBackward0", (x,),
                    lambda g: _scatter_to_indices(g, x.shape, d, indices, keepdim), saved=(indices,))
    return getattr(return_types, op)(values, indices)


def _amax_or_amin(x, dim, keepdim: bool, op: str):
    result = x._wrap(_extreme(x, dim, keepdim, op))
    axes = reduce_dims(dim, x.ndim, op)
    return attach(result, "AmaxBackward0" if op == "amax" else "AminBackward0", (x,),
                  lambda g, y: _share_among_extremes(g, x, y, axes, keepdim), saved=(x,), with_output=True)


# function forms: cogtensor.sum(x, 1) == x.sum(1); cogtensor.max(x, y) is element-wise.
# (These names shadow builtins in this module.)
sum = ReductionOps.sum  # noqa: A001
mean, var, std, prod = ReductionOps.mean, ReductionOps.var, ReductionOps.std, ReductionOps.prod
max, min = ReductionOps.max, ReductionOps.min  # noqa: A001
amax, amin, argmax, argmin = ReductionOps.amax, ReductionOps.amin, ReductionOps.argmax, ReductionOps.argmin
logsumexp, norm, cumsum = ReductionOps.logsumexp, ReductionOps.norm, ReductionOps.cumsum
all, any = ReductionOps.all, ReductionOps.any  # noqa: A001
