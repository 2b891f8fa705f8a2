"""Tensor creation: from data, filled, ranges, identity and random, with torch's
dtype inference (Python floats -> the default dtype, ints -> int64, bools -> bool)."""

from __future__ import annotations

import builtins
import functools
import math

import numpy as np

from cogtensor import dtypes
from cogtensor.ops.views import size_args
from cogtensor.random import Generator, rng
from cogtensor.tensor import Tensor

# values beyond a dtype's range become inf (as torch.tensor does), without numpy's RuntimeWarning
_quiet = np.errstate(over="ignore", invalid="ignore")

__all__ = ["tensor", "as_tensor", "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand",
           "randn", "randint", "randperm", "zeros_like", "ones_like", "full_like", "empty_like",
           "rand_like", "randn_like", "randint_like", "tril_indices", "triu_indices", "normal"]


def _infer(data) -> dtypes.dtype:
    """torch.tensor's dtype for Python data: the promotion of its elements' types, where
    bools are bool, ints int64, floats the default dtype, and numpy scalars, arrays
    and tensors keep theirs (``[1, 2.5]`` -> float32, ``[np.int32(1)]`` -> int32)."""
    found, todo = None, [data]
    while todo:
        v = todo.pop()
        if isinstance(v, (list, tuple)):
            todo.extend(v)
            continue
        if isinstance(v, Tensor):
            d = v.dtype
        elif isinstance(v, (np.ndarray, np.generic)):
            d = dtypes.from_numpy_dtype(v.dtype)
        elif isinstance(v, (builtins.bool, builtins.int, builtins.float, builtins.complex)):
            d = dtypes.result_type(v)
        else:
            raise TypeError(f"tensor: can't build a tensor from a {type(v).__name__}; expected numbers, "
                            "nested lists of numbers, numpy arrays or tensors")
        found = d if found is None else dtypes.promote_types(found, d)
    return found or dtypes.get_default_dtype()


@_quiet
def _numpy_of(data, dtype: dtypes.dtype | None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data._data
    if isinstance(data, np.ndarray):
        return data if dtype is None else data.astype(dtype.numpy, copy=False)
    if isinstance(data, (np.generic,)):
        return np.asarray(data, dtype=None if dtype is None else dtype.numpy)
    if dtype is None:
        dtype = _infer(data)
    return np.asarray(data, dtype=dtype.numpy)


def tensor(data, dtype: dtypes.dtype | None = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, numbers, arrays, tensors).

    Example:
        >>> tensor([[1, 2], [3, 4]]).dtype
        cogtensor.int64
    """
    out = _numpy_of(data, dtype)
    dtypes.from_numpy_dtype(out.dtype)
    return Tensor(np.array(out, copy=True))


def as_tensor(data, dtype: dtypes.dtype | None = None) -> Tensor:
    """Like :func:`tensor`, but shares memory with a numpy array or tensor when no conversion is needed."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype is dtype):
        return data
    return Tensor(np.asarray(_numpy_of(data, dtype)))


@_quiet
def _filled(size, fill, dtype: dtypes.dtype | None, op: str) -> Tensor:
    shape = size_args(size, op)
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in size {list(shape)}")
    d = dtype or (dtypes.result_type(fill) if fill is not None else dtypes.get_default_dtype())
    out = np.empty(shape, dtype=d.numpy) if fill is None else np.full(shape, fill, dtype=d.numpy)
    return Tensor(out)


def zeros(*size, dtype: dtypes.dtype | None = None) -> Tensor:
    return _filled(size, 0.0, dtype or dtypes.get_default_dtype(), "zeros")


def ones(*size, dtype: dtypes.dtype | None = None) -> Tensor:
    return _filled(size, 1.0, dtype or dtypes.get_default_dtype(), "ones")


def empty(*size, dtype: dtypes.dtype | None = None) -> Tensor:
    return _filled(size, None, dtype, "empty")


def full(size, fill_value, dtype: dtypes.dtype | None = None) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (dtype inferred from it, as torch.full)."""
    return _filled((size,) if isinstance(size, int) else tuple(size), fill_value, dtype, "full")


@_quiet
def arange(start, end=None, step=1, dtype: dtypes.dtype | None = None) -> Tensor:
    """Values from start (default 0) up to end, exclusive, by step: int64 for integer
    arguments, the default float dtype otherwise."""
    start, end, step = (x.item() if isinstance(x, Tensor) else x for x in (start, end, step))
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (end - start) * step < 0:
        raise ValueError(f"arange: upper bound and lower bound inconsistent with step sign "
                         f"(start={start}, end={end}, step={step})")
    d = dtype or dtypes.result_type(start, end, step)
    count = max(0, math.ceil((end - start) / step))
    return Tensor((start + step * np.arange(count, dtype=np.float64 if d.is_floating_point else np.int64)).astype(d.numpy))


@_quiet
def linspace(start, end, steps: int, dtype: dtypes.dtype | None = None) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive (default float dtype)."""
    if steps < 0:
        raise ValueError(f"linspace: number of steps must be non-negative, got {steps}")
    d = dtype or dtypes.get_default_dtype()
    # torch's kernel, bit for bit: integer bounds cast first, step in float64 for integers,
    # else in the dtype (float32 for half types); values start + step*i for the first half
    # and end - step*(steps-1-i) for the second, each a fused multiply-add (a wider type here)
    calc = np.float32 if d.is_floating_point and d is not dtypes.float64 else np.float64
    wide = np.longdouble if calc is np.float64 else np.float64
    if not d.is_floating_point:
        start, end = builtins.int(start), builtins.int(end)
    start, end = calc(start), calc(end)
    step = wide((end - start) / calc(max(steps - 1, 1)))
    i = np.arange(steps, dtype=wide)
    out = np.where(i < steps // 2, wide(start) + step * i, wide(end) - step * (steps - 1 - i)).astype(calc)
    if steps == 1:
        out[0] = start
    return Tensor(out.astype(d.numpy))


def eye(n: int, m: int | None = None, dtype: dtypes.dtype | None = None) -> Tensor:
    """The (n, m) identity matrix (m defaults to n)."""
    if n < 0 or (m is not None and m < 0):
        raise ValueError(f"eye: n and m must be non-negative, got n={n}, m={m}")
    return Tensor(np.eye(n, m, dtype=(dtype or dtypes.get_default_dtype()).numpy))


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """(2, N) coordinates of the lower triangle (col - row <= ``offset``) of a ``row`` x ``col``
    matrix, row by row (``torch.tril_indices``; int64 unless ``dtype``)."""
    return _triangle_indices(row, col, offset, dtype, lower=True)


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: dtypes.dtype | None = None) -> Tensor:
    """(2, N) coordinates of the upper triangle (col - row >= ``offset``), row by row."""
    return _triangle_indices(row, col, offset, dtype, lower=False)


def _triangle_indices(row, col, offset, dtype, lower: bool) -> Tensor:
    op = "tril_indices" if lower else "triu_indices"
    for name, v in (("row", row), ("col", col), ("offset", offset)):
        if isinstance(v, bool) or not isinstance(v, (builtins.int, np.integer)):
            raise TypeError(f"{op}: {name} must be an integer, got {type(v).__name__}")
    if row < 0 or col < 0:
        raise RuntimeError(f"{op}: row and col must be non-negative, got row={row}, col={col}")
    keep = np.tri(row, col, offset, dtype=bool) if lower else ~np.tri(row, col, offset - 1, dtype=bool)
    return Tensor(np.stack(np.nonzero(keep)).astype((dtype or dtypes.int64).numpy))


def _random_shape(size, op):
    shape = size_args(size, op)
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in size {list(shape)}")
    return shape


def _floating(dtype, op) -> dtypes.dtype:
    d = dtype or dtypes.get_default_dtype()
    if not d.is_floating_point:
        raise TypeError(f"{op}: expected a floating dtype, got {d}")
    return d


def rand(*size, generator: Generator | None = None, dtype: dtypes.dtype | None = None) -> Tensor:
    """Uniform samples in [0, 1): multiples of 2**-digits of the dtype, so rounding never gives 1."""
    d, shape, g = _floating(dtype, "rand"), _random_shape(size, "rand"), rng(generator)
    if d in (dtypes.float32, dtypes.float64):
        return Tensor(g.random(shape, dtype=d.numpy))
    digits = 11 if d is dtypes.float16 else 8
    return Tensor((g.integers(0, 1 << digits, shape) * 2.0**-digits).astype(d.numpy))


def randn(*size, generator: Generator | None = None, dtype: dtypes.dtype | None = None) -> Tensor:
    """Standard normal samples."""
    d = _floating(dtype, "randn")
    return Tensor(rng(generator).standard_normal(_random_shape(size, "randn")).astype(d.numpy))


def randint(low, high=None, size=None, generator: Generator | None = None,
            dtype: dtypes.dtype | None = None) -> Tensor:
    """Integers uniform in [low, high) (``randint(high, size)`` starts at 0); int64 by default."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    if size is None:
        raise TypeError("randint: missing the size argument")
    if high <= low:
        raise ValueError(f"randint: expects low < high, got low={low}, high={high}")
    d = dtype or dtypes.int64
    return Tensor(rng(generator).integers(low, high, _random_shape((size,), "randint")).astype(d.numpy))


def randperm(n: int, generator: Generator | None = None, dtype: dtypes.dtype | None = None) -> Tensor:
    """A random permutation of 0..n-1 (int64 by default)."""
    if n < 0:
        raise ValueError(f"randperm: n must be non-negative, got {n}")
    return Tensor(rng(generator).permutation(n).astype((dtype or dtypes.int64).numpy))


def zeros_like(t: Tensor, dtype=None) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype)


def ones_like(t: Tensor, dtype=None) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype)


def empty_like(t: Tensor, dtype=None) -> Tensor:
    return empty(t.shape, dtype=dtype or t.dtype)


def full_like(t: Tensor, fill_value, dtype=None) -> Tensor:
    return full(t.shape, fill_value, dtype=dtype or t.dtype)


def normal(mean, std=1.0, size=None, *, generator: Generator | None = None,
           dtype: dtypes.dtype | None = None) -> Tensor:
    """Draws from N(mean, std^2) (``torch.normal``): ``mean`` and/or ``std`` tensors broadcast
    to the result's shape (their dtype); with two numbers, ``size`` gives the shape (default
    dtype unless ``dtype``)."""
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal: with a number mean and std, give size")
        d, shape = _floating(dtype, "normal"), _random_shape(size, "normal")
    else:
        if size is not None:
            raise TypeError("normal: size is only taken with a number mean and std")
        d = tensors[0].dtype if len(tensors) == 1 else dtypes.promote_types(mean.dtype, std.dtype)
        if not d.is_floating_point:
            raise NotImplementedError(f'"normal_kernel_cpu" not implemented for \'{d}\'')
        shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    m = mean._data if isinstance(mean, Tensor) else mean
    s = std._data if isinstance(std, Tensor) else std
    if np.any(np.asarray(s) < 0) or np.any(np.isnan(np.asarray(s, np.float64))):
        raise RuntimeError("normal expects all elements of std >= 0.0")
    return Tensor((m + s * rng(generator).standard_normal(shape)).astype(d.numpy))


def rand_like(t: Tensor, dtype=None, generator=None) -> Tensor:
    return rand(t.shape, dtype=dtype or t.dtype, generator=generator)


def randn_like(t: Tensor, dtype=None, generator=None) -> Tensor:
    return randn(t.shape, dtype=dtype or t.dtype, generator=generator)


def randint_like(t: Tensor, low, high=None, dtype=None, generator=None) -> Tensor:
    return randint(low, high, t.shape, dtype=dtype or t.dtype, generator=generator)


def _factory(make):
    """``make`` with torch's factory keywords: ``requires_grad`` (a leaf that records
    gradients) and ``device`` (only the CPU exists here)."""
    @functools.wraps(make)
    def factory(*args, requires_grad: bool = False, device=None, **kwargs):
        if device is not None and str(device) != "cpu":
            raise ValueError(f"{make.__name__}: only the 'cpu' device exists, got {device!r}")
        out = make(*args, **kwargs)
        return out.requires_grad_() if requires_grad else out
    return factory


for _name in __all__:
    if _name != "as_tensor":
        globals()[_name] = _factory(globals()[_name])
del _name
