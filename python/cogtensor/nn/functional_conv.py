"""Convolutions (``conv1d``, ``conv2d``, ``conv_transpose1d``, ``conv_transpose2d``) and the
sliding-window reshapes behind them (``unfold`` = im2col, ``fold`` = col2im), with torch's
arguments, shapes and errors.

A convolution is one im2col copy and one GEMM (a batched one for ``groups > 1``),
recorded as ONE graph node with a hand-written numpy backward: the input's gradient is a
GEMM and a col2im, the weight's one GEMM over the whole batch. When the backward is itself
recorded (``create_graph=True``) it is written with tensor ops instead (matmul and the
recorded im2col/col2im, each the other's adjoint), so gradients can be differentiated again.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cogtensor.errors import ShapeError, ValueRangeError
from cogtensor.graph import attach, requires_grad
from cogtensor.nn.functional_utils import as_array, floating_data, int_tuple, require_tensor, same_dtype, wants
from cogtensor.ops.products import matmul

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold"]


# ------------------------------------------------------------------- geometry
class Window:
    """A 2-d sliding window over an (H, W) image: kernel, stride, dilation, padding per side
    ``((top, bottom), (left, right))``, and the number of window positions ``out``."""

    __slots__ = ("size", "kernel", "stride", "dilation", "pads", "padded", "out")

    def __init__(self, size, kernel, stride, dilation, pads, out=None):
        self.size, self.kernel, self.stride, self.dilation, self.pads = size, kernel, stride, dilation, pads
        self.padded = tuple(s + a + b for s, (a, b) in zip(size, pads))
        self.out = out or tuple((p - d * (k - 1) - 1) // st + 1
                                for p, k, st, d in zip(self.padded, kernel, stride, dilation))

    def check(self, op: str, shape) -> None:
        """ShapeError when the window does not fit the (padded) input even once."""
        if min(self.out) < 1:
            raise ShapeError(f"{op}: calculated output size {list(self.out)} is too small for input of shape "
                             f"{list(shape)} (padded spatial size {list(self.padded)}, kernel {list(self.kernel)}, "
                             f"dilation {list(self.dilation)})")

    def im2col(self, x: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(N, C, H, W) -> (N, C * kh * kw, oh * ow): each column one window, padding ``fill``."""
        n, c = x.shape[:2]
        (pt, _), (pl, _) = self.pads
        if any(a or b for a, b in self.pads):
            padded = np.full((n, c, *self.padded), fill, x.dtype)
            padded[:, :, pt:pt + self.size[0], pl:pl + self.size[1]] = x
            x = padded
        sn, sc, sh, sw = x.strides
        (kh, kw), (s0, s1), (d0, d1), (oh, ow) = self.kernel, self.stride, self.dilation, self.out
        windows = as_strided(x, (n, c, kh, kw, oh, ow), (sn, sc, sh * d0, sw * d1, sh * s0, sw * s1),
                             writeable=False)
        return windows.reshape(n, c * kh * kw, oh * ow)

    def col2im(self, cols: np.ndarray, channels: int) -> np.ndarray:
        """(N, C * kh * kw, oh * ow) -> (N, C, H, W): each column added back where its window
        lies (the adjoint of :meth:`im2col`); what falls on the padding is dropped."""
        n = cols.shape[0]
        (kh, kw), (s0, s1), (d0, d1), (oh, ow) = self.kernel, self.stride, self.dilation, self.out
        blocks = cols.reshape(n, channels, kh, kw, oh, ow)
        image = np.zeros((n, channels, *self.padded), cols.dtype)
        for i in range(kh):
            rows = slice(i * d0, i * d0 + s0 * (oh - 1) + 1, s0)
            for j in range(kw):
                image[:, :, rows, j * d1:j * d1 + s1 * (ow - 1) + 1:s1] += blocks[:, :, i, j]
        (pt, _), (pl, _) = self.pads
        if image.shape[2:] == tuple(self.size):
            return image
        return np.ascontiguousarray(image[:, :, pt:pt + self.size[0], pl:pl + self.size[1]])


def im2col(x, window: Window):
    """Recorded :meth:`Window.im2col` of a (N, C, H, W) tensor; its backward is :func:`col2im`."""
    channels = x._data.shape[1]
    out = x._wrap(window.im2col(x._data))
    return attach(out, "Im2ColBackward0", (x,), lambda g: col2im(g, window, channels))


def col2im(cols, window: Window, channels: int):
    """Recorded :meth:`Window.col2im` of a (N, C * kh * kw, L) tensor; its backward is :func:`im2col`."""
    out = cols._wrap(window.col2im(cols._data, channels))
    return attach(out, "Col2ImBackward0", (cols,), lambda g: im2col(g, window))


# ------------------------------------------------------------------ arguments
def conv_pads(padding, kernel, stride, dilation, op: str) -> tuple:
    """``padding`` (an int, a tuple, ``'valid'`` or ``'same'``) as ((top, bottom), (left, right)).

    ``'same'`` pads ``dilation * (kernel - 1)`` in all, the odd one at the end, as torch."""
    if isinstance(padding, str):
        if padding == "valid":
            return tuple((0, 0) for _ in kernel)
        if padding != "same":
            raise ValueError(f"{op}: invalid padding string {padding!r}, should be one of ['valid', 'same']")
        if any(s != 1 for s in stride):
            raise ValueRangeError(f"{op}: padding='same' is not supported for strided convolutions "
                                  f"(stride={list(stride)})")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    pads = int_tuple(padding, len(kernel), "padding", op)
    if any(p < 0 for p in pads):
        raise ValueRangeError(f"{op}: negative padding is not supported, got padding={padding!r}")
    return tuple((p, p) for p in pads)


def _positive(value, n, name, op):
    values = int_tuple(value, n, name, op)
    if any(v < 1 for v in values):
        raise ValueRangeError(f"{op}: non-positive {name} is not supported, got {name}={value!r}")
    return values


def _groups(groups, op) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise TypeError(f"{op}: groups must be an int, got {type(groups).__name__}")
    if groups < 1:
        raise ValueRangeError(f"{op}: non-positive groups is not supported, got groups={groups}")
    return int(groups)


def _batched(x, spatial: int, op: str) -> bool:
    """Whether ``x`` has a batch dimension; ShapeError unless it is (C, *spatial) or (N, C, *spatial)."""
    if x.ndim not in (spatial + 1, spatial + 2):
        raise ShapeError(f"{op}: expected {spatial + 1}D (unbatched) or {spatial + 2}D (batched) input, but got "
                         f"input of size: {list(x.shape)}")
    return x.ndim == spatial + 2


def _check_weight(op, x, weight, bias, spatial, groups, transposed) -> None:
    require_tensor(weight, op, "weight")
    same_dtype(op, x, ("weight", weight), ("bias", bias))
    if weight.ndim != spatial + 2:
        raise ShapeError(f"{op}: expected a {spatial + 2}-D weight, got weight of size {list(weight.shape)}")
    channels = x.shape[-spatial - 1]
    if transposed:
        if weight.shape[0] != channels or channels % groups:
            raise ShapeError(f"{op}: given transposed=1, weight of size {list(weight.shape)}, expected input "
                             f"{list(x.shape)} to have {weight.shape[0]} channels (a multiple of groups={groups}), "
                             f"but got {channels} channels instead")
        out_channels = weight.shape[1] * groups
    else:
        if weight.shape[1] * groups != channels:
            raise ShapeError(f"{op}: given groups={groups}, weight of size {list(weight.shape)}, expected input "
                             f"{list(x.shape)} to have {weight.shape[1] * groups} channels, but got {channels} "
                             "channels instead")
        if weight.shape[0] % groups:
            raise ShapeError(f"{op}: given groups={groups}, expected weight {list(weight.shape)} to be divisible by "
                             f"{groups} at dimension 0")
        out_channels = weight.shape[0]
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ShapeError(f"{op}: given weight of size {list(weight.shape)}, expected bias to be 1-dimensional with "
                         f"{out_channels} elements, but got bias of size {list(bias.shape)} instead")


def _as_2d(x, weight):
    """1-d convolution operands as 2-d ones with height 1 (recorded views)."""
    return x.unsqueeze(-2), weight.unsqueeze(-2)


# --------------------------------------------------------------- convolution
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-d cross-correlation: (N, C_in, H, W) or (C_in, H, W) with weight
    (C_out, C_in / groups, kh, kw) and bias (C_out,) -> (N, C_out, H_out, W_out), where
    ``H_out = (H + pad_top + pad_bottom - dilation * (kh - 1) - 1) // stride + 1``.

    Args:
        padding: an int, a pair, ``'valid'`` (none) or ``'same'`` (output size = input
            size; stride 1 only; the odd extra row/column goes at the end, as torch).
        groups: split channels into ``groups`` independent convolutions.

    Raises:
        ShapeError: shapes that do not fit (channels, groups, bias, an output smaller than 1).
        ValueRangeError: negative padding, non-positive stride / dilation / groups, 'same' with stride > 1.

    Example:
        >>> conv2d(cogtensor.ones(1, 1, 4, 4), cogtensor.ones(1, 1, 3, 3), padding=1)[0, 0, 0]
        tensor([4., 6., 6., 4.])
    """
    op = "conv2d"
    floating_data(input, op)
    batched = _batched(input, 2, op)
    groups = _groups(groups, op)
    _check_weight(op, input, weight, bias, 2, groups, transposed=False)
    stride = _positive(stride, 2, "stride", op)
    dilation = _positive(dilation, 2, "dilation", op)
    pads = conv_pads(padding, tuple(weight.shape[2:]), stride, dilation, op)
    x = input if batched else input.unsqueeze(0)
    out = _convolution(x, weight, bias, stride, pads, dilation, groups, op)
    return out if batched else out.squeeze(0)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-d cross-correlation: (N, C_in, L) or (C_in, L) with weight (C_out, C_in / groups, k)
    -> (N, C_out, L_out); arguments as :func:`conv2d` (ints or 1-tuples)."""
    op = "conv1d"
    floating_data(input, op)
    batched = _batched(input, 1, op)
    groups = _groups(groups, op)
    _check_weight(op, input, weight, bias, 1, groups, transposed=False)
    stride = (1, *_positive(stride, 1, "stride", op))
    dilation = (1, *_positive(dilation, 1, "dilation", op))
    pads = ((0, 0), *conv_pads(padding, tuple(weight.shape[2:]), stride[1:], dilation[1:], op))
    x, w = _as_2d(input if batched else input.unsqueeze(0), weight)
    out = _convolution(x, w, bias, stride, pads, dilation, groups, op).squeeze(-2)
    return out if batched else out.squeeze(0)


def _convolution(x, w, b, stride, pads, dilation, groups, op):
    """The 4-d convolution as one node."""
    xd = floating_data(x, op)
    wd, bd = as_array(w, xd), as_array(b, xd)
    n, channels, height, width = xd.shape
    c_out, c_group = wd.shape[:2]
    window = Window((height, width), tuple(wd.shape[2:]), stride, dilation, pads)
    window.check(op, x.shape)
    cols = window.im2col(xd)
    k, positions = cols.shape[1] // groups, cols.shape[2]
    if groups == 1:
        values = np.matmul(wd.reshape(c_out, k), cols)
    else:
        values = np.matmul(wd.reshape(groups, c_out // groups, k), cols.reshape(n, groups, k, positions))
    values = values.reshape(n, c_out, *window.out)
    if bd is not None:
        values += bd.reshape(c_out, 1, 1)
    out = x._wrap(values.astype(x._data.dtype, copy=False))
    if not (wants(x) or wants(w) or wants(b)):
        return out

    def backward(g):
        if requires_grad(g, x, w):
            return _conv_grads_recorded(g, x, w, b, window, groups)
        gd = g._data.astype(xd.dtype, copy=False).reshape(n, groups, c_out // groups, positions)
        gx = gw = gb = None
        if wants(x):
            w3 = as_array(w, xd).reshape(groups, c_out // groups, k)
            gcols = np.matmul(w3.transpose(0, 2, 1), gd).reshape(n, groups * k, positions)
            gx = g._wrap(window.col2im(gcols, channels))
        if wants(w):
            gw = g._wrap(_batch_gemm_sum(gd, cols.reshape(n, groups, k, positions)).reshape(wd.shape))
        if wants(b):
            gb = g._wrap(gd.sum(axis=(0, 3)).reshape(c_out))
        return gx, gw, gb
    return attach(out, "ConvolutionBackward0", (x, w, b), backward, saved=(x, w))


def _batch_gemm_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """sum over n of a[n, gi] @ b[n, gi].T, per group gi: (N, G, p, L), (N, G, q, L) -> (G, p, q),
    as one GEMM per group over all of the batch."""
    return np.stack([np.tensordot(a[:, gi], b[:, gi], axes=([0, 2], [0, 2])) for gi in range(a.shape[1])])


def _conv_grads_recorded(g, x, w, b, window, groups):
    """Gradients of a convolution with tensor ops (differentiable again)."""
    n, channels = x._data.shape[:2]
    c_out, c_group = w._data.shape[:2]
    k = c_group * window.kernel[0] * window.kernel[1]
    positions = math.prod(window.out)
    g4 = g.reshape(n, groups, c_out // groups, positions)
    gx = gw = gb = None
    if wants(x):
        gcols = matmul(w.reshape(groups, c_out // groups, k).mT, g4).reshape(n, groups * k, positions)
        gx = col2im(gcols, window, channels)
    if wants(w):
        cols = im2col(x, window).reshape(n, groups, k, positions)
        gw = matmul(g4, cols.mT).sum(0).reshape(w.shape)
    if wants(b):
        gb = g.sum((0, 2, 3))
    return gx, gw, gb


# ------------------------------------------------------- transposed convolution
def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-d transposed convolution (the gradient of :func:`conv2d` with respect to its input):
    (N, C_in, H, W) or (C_in, H, W) with weight (C_in, C_out / groups, kh, kw) -> (N, C_out,
    H_out, W_out), ``H_out = (H - 1) * stride - 2 * padding + dilation * (kh - 1) +
    output_padding + 1``. Note torch's argument order (``groups`` before ``dilation``).

    Raises:
        ShapeError: shapes that do not fit.
        ValueRangeError: negative padding, non-positive stride / dilation / groups,
            ``output_padding`` not smaller than stride or dilation.

    Example:
        >>> conv_transpose2d(cogtensor.ones(1, 1, 2, 2), cogtensor.ones(1, 1, 2, 2), stride=2).shape
        cogtensor.Size([1, 1, 4, 4])
    """
    op = "conv_transpose2d"
    return _conv_transpose(op, input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-d transposed convolution: (N, C_in, L) or (C_in, L) with weight (C_in, C_out / groups, k)
    -> (N, C_out, L_out); arguments as :func:`conv_transpose2d`."""
    op = "conv_transpose1d"
    return _conv_transpose(op, input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def _conv_transpose(op, input, weight, bias, stride, padding, output_padding, groups, dilation, spatial):
    floating_data(input, op)
    batched = _batched(input, spatial, op)
    groups = _groups(groups, op)
    _check_weight(op, input, weight, bias, spatial, groups, transposed=True)
    stride = _positive(stride, spatial, "stride", op)
    dilation = _positive(dilation, spatial, "dilation", op)
    if isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int or a tuple of ints for a transposed convolution, got "
                         f"{padding!r}")
    pads = conv_pads(padding, tuple(weight.shape[2:]), stride, dilation, op)
    extra = int_tuple(output_padding, spatial, "output_padding", op, minimum=0)
    if any(e >= s and e >= d for e, s, d in zip(extra, stride, dilation)):
        raise ValueRangeError(f"{op}: output padding must be smaller than either stride or dilation, but got "
                              f"output_padding={list(extra)}, stride={list(stride)}, dilation={list(dilation)}")
    x = input if batched else input.unsqueeze(0)
    w = weight
    if spatial == 1:
        x, w = _as_2d(x, weight)
        stride, dilation, pads, extra = (1, *stride), (1, *dilation), ((0, 0), *pads), (0, *extra)
    out = _transposed(x, w, bias, stride, pads, extra, dilation, groups, op)
    if spatial == 1:
        out = out.squeeze(-2)
    return out if batched else out.squeeze(0)


def _transposed(x, w, b, stride, pads, extra, dilation, groups, op):
    """The 4-d transposed convolution as one node: a GEMM then col2im onto the output."""
    xd = floating_data(x, op)
    wd, bd = as_array(w, xd), as_array(b, xd)
    n, c_in, height, width = xd.shape
    c_group_out, kh, kw = wd.shape[1:]
    c_out = c_group_out * groups
    size = tuple((i - 1) * s - a - z + d * (k - 1) + e + 1
                 for i, s, (a, z), d, k, e in zip((height, width), stride, pads, dilation, (kh, kw), extra))
    if min(size) < 1:
        raise ShapeError(f"{op}: calculated output size {list(size)} is too small for input of shape "
                         f"{list(x.shape)}")
    window = Window(size, (kh, kw), stride, dilation, pads, out=(height, width))
    positions, rows = height * width, c_group_out * kh * kw
    x4 = xd.reshape(n, groups, c_in // groups, positions)
    w3 = wd.reshape(groups, c_in // groups, rows)
    cols = np.matmul(w3.transpose(0, 2, 1), x4).reshape(n, groups * rows, positions)
    values = window.col2im(cols, c_out)
    if bd is not None:
        values += bd.reshape(c_out, 1, 1)
    out = x._wrap(values.astype(x._data.dtype, copy=False))
    if not (wants(x) or wants(w) or wants(b)):
        return out

    def backward(g):
        if requires_grad(g, x, w):
            return _transposed_grads_recorded(g, x, w, window, groups)
        gd = g._data.astype(xd.dtype, copy=False)
        gcols = window.im2col(gd).reshape(n, groups, rows, positions)
        gx = gw = gb = None
        if wants(x):
            gx = g._wrap(np.matmul(as_array(w, xd).reshape(groups, c_in // groups, rows), gcols).reshape(xd.shape))
        if wants(w):
            gw = g._wrap(_batch_gemm_sum(xd.reshape(n, groups, c_in // groups, positions), gcols).reshape(wd.shape))
        if wants(b):
            gb = g._wrap(gd.sum(axis=(0, 2, 3)))
        return gx, gw, gb
    return attach(out, "ConvolutionBackward0", (x, w, b), backward, saved=(x, w))


def _transposed_grads_recorded(g, x, w, window, groups):
    n, c_in = x._data.shape[:2]
    rows = w._data.shape[1] * window.kernel[0] * window.kernel[1]
    positions = math.prod(window.out)
    gcols = im2col(g, window).reshape(n, groups, rows, positions)
    gx = gw = None
    if wants(x):
        gx = matmul(w.reshape(groups, c_in // groups, rows), gcols).reshape(x.shape)
    if wants(w):
        gw = matmul(x.reshape(n, groups, c_in // groups, positions), gcols.mT).sum(0).reshape(w.shape)
    return gx, gw, g.sum((0, 2, 3))


# ---------------------------------------------------------------- unfold, fold
def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks as columns (im2col): (N, C, H, W) -> (N, C * kh * kw, L), L the
    number of window positions (a (C, H, W) input gives (C * kh * kw, L)). Zero padding.

    Example:
        >>> unfold(cogtensor.arange(16.).reshape(1, 1, 4, 4), 2, stride=2)[0, :, 0]
        tensor([0., 1., 4., 5.])
    """
    op = "unfold"
    floating_data(input, op)
    batched = _batched(input, 2, op)
    kernel = _positive(kernel_size, 2, "kernel_size", op)
    dilation = _positive(dilation, 2, "dilation", op)
    stride = _positive(stride, 2, "stride", op)
    pads = conv_pads(padding, kernel, stride, dilation, op)
    x = input if batched else input.unsqueeze(0)
    window = Window(tuple(x.shape[2:]), kernel, stride, dilation, pads)
    window.check(op, input.shape)
    out = im2col(x, window)
    return out if batched else out.squeeze(0)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Columns back into an image, overlapping values summed (col2im; the adjoint of
    :func:`unfold`): (N, C * kh * kw, L) -> (N, C, *output_size) ((C * kh * kw, L) -> (C, ...)).

    Raises:
        ShapeError: the column count is not a multiple of kh * kw, or L is not the number of
            window positions over ``output_size``.
    """
    op = "fold"
    floating_data(input, op)
    if input.ndim not in (2, 3):
        raise ShapeError(f"{op}: expected 2D (unbatched) or 3D (batched) input, but got input of size: "
                         f"{list(input.shape)}")
    size = _positive(output_size, 2, "output_size", op)
    kernel = _positive(kernel_size, 2, "kernel_size", op)
    dilation = _positive(dilation, 2, "dilation", op)
    stride = _positive(stride, 2, "stride", op)
    pads = conv_pads(padding, kernel, stride, dilation, op)
    cols = input if input.ndim == 3 else input.unsqueeze(0)
    window = Window(size, kernel, stride, dilation, pads)
    window.check(op, input.shape)
    k = kernel[0] * kernel[1]
    if cols.shape[1] % k:
        raise ShapeError(f"{op}: expected size of input's dimension 1 to be divisible by the product of kernel_size "
                         f"({k}), but got input.size(1)={cols.shape[1]}")
    if cols.shape[2] != math.prod(window.out):
        raise ShapeError(f"{op}: given output_size={list(size)}, kernel_size={list(kernel)}, dilation="
                         f"{list(dilation)}, padding={padding}, stride={list(stride)}, expected size of input's "
                         f"dimension 2 to match the calculated number of sliding blocks {window.out[0]} * "
                         f"{window.out[1]} = {math.prod(window.out)}, but got input.size(2)={cols.shape[2]}")
    out = col2im(cols, window, cols.shape[1] // k)
    return out if input.ndim == 3 else out.squeeze(0)
