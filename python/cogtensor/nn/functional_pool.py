"""Pooling (``max_pool1d/2d``, ``avg_pool1d/2d``, ``adaptive_avg_pool1d/2d``) and resizing
(``interpolate``: nearest, nearest-exact, linear, bilinear, trilinear, area), with torch's
arguments, output sizes (``ceil_mode``, padding rules) and errors.

Max pooling is one node: the windows come from the same im2col as the convolutions
(padded with -inf), the backward adds each output's gradient at the input position its
maximum came from (a recorded scatter whose own backward gathers, for double backward).
Average pooling, adaptive pooling and interpolation are built of recorded ops (im2col and
sums, matrix products with 0/1 window matrices, ``index_select``), so their gradients come
from those ops' backwards.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import ShapeError, ValueRangeError
from cogtensor.graph import attach
from cogtensor.nn.functional_conv import Window, im2col
from cogtensor.nn.functional_utils import compute_dtype, floating_data, int_tuple
from cogtensor.ops.products import matmul

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
           "interpolate"]


_HALF = (dtypes.float16, dtypes.bfloat16)


def _half_in_float32(fn):
    """Run ``fn`` on a float16 / bfloat16 input in float32 and round the result once, as torch on CPU."""
    @functools.wraps(fn)
    def wrapper(input, *args, **kwargs):
        dtype = getattr(input, "dtype", None)
        if dtype not in _HALF:
            return fn(input, *args, **kwargs)
        return fn(input.to(dtypes.float32), *args, **kwargs).to(dtype)
    return wrapper


# ------------------------------------------------------------------ geometry
def _output_size(size, k, s, p, d, ceil_mode) -> int:
    """torch's pooling_output_shape."""
    span = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = span // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_window(op, input, spatial, kernel_size, stride, padding, dilation, ceil_mode) -> Window:
    """The pooling window over the last ``spatial`` dimensions (a 1-d pool is 2-d with height 1)."""
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(f"{op}: expected {spatial + 1}D or {spatial + 2}D input (an optional batch dimension, "
                         f"channels, {spatial} spatial), got input of size {list(input.shape)}")
    kernel = int_tuple(kernel_size, spatial, "kernel_size", op)
    stride = kernel if stride is None or (isinstance(stride, (list, tuple)) and not stride) else \
        int_tuple(stride, spatial, "stride", op)
    padding = int_tuple(padding, spatial, "padding", op)
    dilation = int_tuple(dilation, spatial, "dilation", op)
    for name, values in (("kernel_size", kernel), ("stride", stride), ("dilation", dilation)):
        if min(values) < 1:
            raise ValueRangeError(f"{op}: {name} must be greater than zero, but got {name}={list(values)}")
    for p, k, d in zip(padding, kernel, dilation):
        if p < 0 or p > ((k - 1) * d + 1) // 2:
            raise ValueRangeError(f"{op}: pad should be at most half of effective kernel size, but got pad={p}, "
                                  f"kernel_size={k} and dilation={d}")
    size = tuple(input.shape[-spatial:])
    out = tuple(_output_size(n, k, s, p, d, ceil_mode)
                for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))
    if min(out) < 1:
        raise ShapeError(f"{op}: given input size {list(input.shape)}, calculated output size {list(out)} is too "
                         "small")
    right = tuple(max((o - 1) * s + d * (k - 1) + 1 - n - p, 0)
                  for o, s, d, k, n, p in zip(out, stride, dilation, kernel, size, padding))
    if spatial == 1:
        return Window((1, size[0]), (1, kernel[0]), (1, stride[0]), (1, dilation[0]), ((0, 0), (padding[0], right[0])),
                      out=(1, out[0]))
    return Window(size, kernel, stride, dilation, tuple(zip(padding, right)), out=out)


def _planes(input, spatial: int):
    """(N * C, 1, H, W) numpy view of the input's planes (a 1-d input gets height 1)."""
    data = floating_data(input, "pool")
    size = data.shape[-spatial:]
    return data.reshape((-1, 1) + ((1,) if spatial == 1 else ()) + size)


# ------------------------------------------------------------------ max pool
def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over each window: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out) (stride
    defaults to the kernel size; padding counts as -inf, at most half the kernel). With
    ``return_indices`` also the flat index (row * W + column) of each maximum.

    Example:
        >>> max_pool2d(cogtensor.arange(16.).reshape(1, 4, 4), 2)
        tensor([[[ 5.,  7.],
                 [13., 15.]]])
    """
    return _max_pool("max_pool2d", input, 2, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Maximum over each window of (N, C, L) or (C, L); arguments as :func:`max_pool2d`."""
    return _max_pool("max_pool1d", input, 1, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool(op, input, spatial, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    floating_data(input, op)
    window = _pool_window(op, input, spatial, kernel_size, stride, padding, dilation, ceil_mode)
    planes = _planes(input, spatial)
    cols = window.im2col(planes, fill=-np.inf)
    best = np.argmax(cols, axis=1)
    values = np.take_along_axis(cols, best[:, None], axis=1)[:, 0]
    index = _input_index(best, window)
    shape = tuple(input.shape[:-spatial]) + tuple(window.out[-spatial:])
    out = input._wrap(values.reshape(shape).astype(input._data.dtype, copy=False))
    indices = input._wrap(index.reshape(shape))
    plane = math.prod(window.size)
    flat = (np.arange(planes.shape[0])[:, None] * plane + index).reshape(-1)
    out = attach(out, "MaxPool2DWithIndicesBackward0", (input,),
                 lambda g: _scatter_flat(g, flat, input._data.shape))
    return (out, indices) if return_indices else out


def _input_index(best: np.ndarray, window: Window) -> np.ndarray:
    """Flat input positions (row * W + column) of the chosen window elements."""
    kw, (s0, s1), (d0, d1) = window.kernel[1], window.stride, window.dilation
    (pt, _), (pl, _) = window.pads
    oh, ow = window.out
    position = np.arange(oh * ow)
    rows = (position // ow) * s0 - pt + (best // kw) * d0
    cols = (position % ow) * s1 - pl + (best % kw) * d1
    return (rows * window.size[1] + cols).astype(np.int64)


def _scatter_flat(g, flat: np.ndarray, shape):
    """Gradient values added at flat positions of a zero tensor of ``shape`` (recorded; backward gathers)."""
    data = g._data
    summed = np.bincount(flat, weights=data.reshape(-1).astype(np.float64, copy=False), minlength=math.prod(shape))
    out = g._wrap(summed.astype(compute_dtype(data.dtype)).reshape(shape))
    gshape = data.shape
    return attach(out, "MaxPoolBackwardBackward0", (g,), lambda gg: _gather_flat(gg, flat, gshape))


def _gather_flat(x, flat: np.ndarray, shape):
    """Values of ``x`` at flat positions, as ``shape`` (the adjoint of :func:`_scatter_flat`)."""
    xshape = x._data.shape
    out = x._wrap(np.take(x._data.reshape(-1), flat).reshape(shape))
    return attach(out, "GatherBackward0", (x,), lambda g: _scatter_flat(g, flat, xshape))


# ------------------------------------------------------------------ avg pool
@_half_in_float32
def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override=None):
    """Mean over each window: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).

    Args:
        count_include_pad: divide by the window's size including zero padding (else only
            the input elements it covers).
        divisor_override: divide every sum by this number instead.

    Example:
        >>> avg_pool2d(cogtensor.arange(16.).reshape(1, 4, 4), 2)
        tensor([[[ 2.5000,  4.5000],
                 [10.5000, 12.5000]]])
    """
    if divisor_override is not None and (isinstance(divisor_override, bool) or divisor_override == 0):
        raise ValueRangeError("avg_pool2d: divisor must be not zero")
    return _avg_pool("avg_pool2d", input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


@_half_in_float32
def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True):
    """Mean over each window of (N, C, L) or (C, L); arguments as :func:`avg_pool2d`."""
    return _avg_pool("avg_pool1d", input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def _avg_pool(op, input, spatial, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    floating_data(input, op)
    window = _pool_window(op, input, spatial, kernel_size, stride, padding, 1, ceil_mode)
    planes = input.reshape((-1, 1) + ((1,) if spatial == 1 else ()) + tuple(input.shape[-spatial:]))
    sums = im2col(planes, window).sum(1)
    if divisor_override is not None:
        divisor = np.full(window.out, float(divisor_override))
    else:
        divisor = np.outer(*[_divisors(n, k, s, p, o, count_include_pad) for n, k, s, (p, _), o in
                             zip(window.size, window.kernel, window.stride, window.pads, window.out)])
    shape = tuple(input.shape[:-spatial]) + tuple(window.out[-spatial:])
    return (sums / input._wrap(divisor.reshape(-1).astype(compute_dtype(input._data.dtype)))).reshape(shape)


def _divisors(size, k, s, p, out, count_include_pad) -> np.ndarray:
    """torch's per-position divisor along one dimension of an average pool."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)
    pool = end - start
    if count_include_pad:
        return pool
    return np.minimum(end, size) - np.maximum(start, 0)


# ------------------------------------------------------------- adaptive pooling
def _adaptive_sizes(output_size, input, spatial, op) -> tuple[int, ...]:
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(f"{op}: expected {spatial + 1}D or {spatial + 2}D input, got input of size "
                         f"{list(input.shape)}")
    items = list(output_size) if isinstance(output_size, (list, tuple)) else [output_size] * spatial
    if len(items) != spatial:
        raise ValueError(f"{op}: output_size must have {spatial} elements, got {output_size!r}")
    sizes = []
    for item, n in zip(items, input.shape[-spatial:]):
        size = n if item is None else item
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"{op}: output_size must hold non-negative ints (or None), got {output_size!r}")
        sizes.append(int(size))
    return tuple(sizes)


def _window_matrix(n_in: int, n_out: int, np_dtype) -> tuple[np.ndarray, np.ndarray]:
    """(0/1 matrix (n_out, n_in) marking each adaptive window, window sizes (n_out,))."""
    i = np.arange(n_out)
    starts, ends = (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)
    positions = np.arange(n_in)
    matrix = ((positions >= starts[:, None]) & (positions < ends[:, None])).astype(np_dtype)
    return matrix, (ends - starts).astype(np_dtype)


@_half_in_float32
def adaptive_avg_pool2d(input, output_size):
    """Average over windows that tile (H, W) into ``output_size`` (an int, a pair; None keeps that
    size): window i spans [floor(i * H / out), ceil((i + 1) * H / out)), as torch.

    Example:
        >>> adaptive_avg_pool2d(cogtensor.arange(16.).reshape(1, 4, 4), 1)
        tensor([[[7.5000]]])
    """
    op = "adaptive_avg_pool2d"
    floating_data(input, op)
    out_h, out_w = _adaptive_sizes(output_size, input, 2, op)
    dtype = compute_dtype(input._data.dtype)
    rows, row_counts = _window_matrix(input.shape[-2], out_h, dtype)
    cols, col_counts = _window_matrix(input.shape[-1], out_w, dtype)
    sums = matmul(matmul(input._wrap(rows), input), input._wrap(np.ascontiguousarray(cols.T)))
    return sums / input._wrap(np.outer(row_counts, col_counts))


@_half_in_float32
def adaptive_avg_pool1d(input, output_size):
    """Average over windows that tile L into ``output_size``: (N, C, L) or (C, L) -> (..., output_size)."""
    op = "adaptive_avg_pool1d"
    floating_data(input, op)
    (out_l,) = _adaptive_sizes(output_size, input, 1, op)
    cols, counts = _window_matrix(input.shape[-1], out_l, compute_dtype(input._data.dtype))
    return matmul(input, input._wrap(np.ascontiguousarray(cols.T))) / input._wrap(counts)


# ------------------------------------------------------------------- interpolate
_LINEAR = {"linear": 1, "bilinear": 2, "trilinear": 3}


@_half_in_float32
def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False):
    """Resize the spatial dimensions of (N, C, *spatial) (1 to 3 of them) to ``size``, or by
    ``scale_factor`` (output size floor(input * scale)).

    Modes: ``'nearest'`` (torch's: source floor(dst * in / out), computed in float32),
    ``'nearest-exact'`` (pixel centres), ``'linear'`` / ``'bilinear'`` / ``'trilinear'``
    (``align_corners`` as torch) and ``'area'`` (adaptive average pooling).

    Raises:
        ValueError: both or neither of size and scale_factor; align_corners with a nearest mode.
        NotImplementedError: ``'bicubic'``, antialias, or a linear mode on the wrong number of dimensions.

    Example:
        >>> interpolate(cogtensor.tensor([[[1., 2.]]]), scale_factor=2)
        tensor([[[1., 1., 2., 2.]]])
    """
    op = "interpolate"
    floating_data(input, op)
    spatial = input.ndim - 2
    if spatial not in (1, 2, 3):
        raise NotImplementedError(f"{op}: input must be 3-D, 4-D or 5-D (N, C, *spatial), got {input.ndim}-D")
    modes = ("nearest", "nearest-exact", "area", *_LINEAR)
    if mode not in modes:
        raise NotImplementedError(f"{op}: mode {mode!r} is not supported; choose one of {list(modes)}")
    if align_corners is not None and mode not in _LINEAR:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear | "
                         "bicubic | trilinear")
    if mode in _LINEAR and _LINEAR[mode] != spatial:
        raise NotImplementedError(f"Got {input.ndim}D input, but {mode} mode needs {_LINEAR[mode] + 2}D input")
    if antialias:
        raise NotImplementedError(f"{op}: antialias is not supported")
    in_sizes = tuple(input.shape[2:])
    out_sizes, scales = _target(size, scale_factor, in_sizes, recompute_scale_factor, op)
    if mode == "area":
        return (adaptive_avg_pool1d if spatial == 1 else adaptive_avg_pool2d)(input, out_sizes) if spatial < 3 \
            else _area_3d(input, out_sizes)
    out = input
    for i, (n_in, n_out, scale) in enumerate(zip(in_sizes, out_sizes, scales)):
        dim = 2 + i
        if mode in _LINEAR:
            out = _linear_along(out, dim, n_in, n_out, scale, bool(align_corners))
        else:
            index = _nearest_index(n_in, n_out, scale, exact=mode == "nearest-exact")
            out = out.index_select(dim, input._wrap(index))
    return out


def _target(size, scale_factor, in_sizes, recompute, op):
    """(output sizes, scales for the index maps: None where the sizes' ratio is used)."""
    n = len(in_sizes)
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined" if size is not None else
                         "either size or scale_factor should be defined")
    if size is not None:
        sizes = int_tuple(size, n, "size", op, minimum=0)
        return sizes, (None,) * n
    factors = list(scale_factor) if isinstance(scale_factor, (list, tuple)) else [scale_factor] * n
    if len(factors) != n:
        raise ValueError(f"{op}: scale_factor shape must match input shape. Input is {n}D, scale_factor size is "
                         f"{len(factors)}")
    factors = [float(f) for f in factors]
    sizes = tuple(int(math.floor(float(s) * f)) for s, f in zip(in_sizes, factors))
    return sizes, (None,) * n if recompute else tuple(factors)


def _nearest_index(n_in: int, n_out: int, scale, exact: bool) -> np.ndarray:
    """torch's nearest source index, in float32 as torch computes it."""
    step = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n_in) / np.float32(max(n_out, 1))
    dst = np.arange(n_out)
    if exact:
        src = np.floor(((dst + 0.5) * np.float64(step)).astype(np.float32))
    elif n_out == n_in:
        return dst
    else:
        src = np.floor(dst.astype(np.float32) * step)
    return np.minimum(src.astype(np.int64), n_in - 1)


def _linear_along(x, dim: int, n_in: int, n_out: int, scale, align_corners: bool):
    """Linear interpolation along one dimension: two index_selects weighted by (1 - lambda, lambda)."""
    dtype = compute_dtype(x._data.dtype)
    dst = np.arange(n_out, dtype=dtype)
    if n_out == n_in:
        return x
    if align_corners:
        step = dtype.type(n_in - 1) / dtype.type(n_out - 1) if n_out > 1 else dtype.type(0)
        src = step * dst
    else:
        step = dtype.type(1.0 / scale) if scale is not None and scale > 0 else dtype.type(n_in) / dtype.type(n_out)
        src = np.maximum(step * (dst + dtype.type(0.5)) - dtype.type(0.5), 0)
    low = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - low, 0, 1).astype(dtype)
    high = low + (low < n_in - 1)
    shape = [1] * x.ndim
    shape[dim] = n_out
    w_high = x._wrap(lam.reshape(shape))
    w_low = x._wrap((1 - lam).reshape(shape))
    return x.index_select(dim, x._wrap(low)) * w_low + x.index_select(dim, x._wrap(high)) * w_high


def _area_3d(input, sizes):
    """Area interpolation of a 5-D input: adaptive averaging along each spatial dimension in turn."""
    out = input
    for i, n_out in enumerate(sizes):
        dim = 2 + i
        matrix, counts = _window_matrix(input.shape[dim], n_out, compute_dtype(input._data.dtype))
        pooled = matmul(out.transpose(dim, -1), input._wrap(np.ascontiguousarray(matrix.T))) / input._wrap(counts)
        out = pooled.transpose(dim, -1)
    return out
