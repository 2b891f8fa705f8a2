"""Normalization (``layer_norm``, ``rms_norm``, ``group_norm``, ``batch_norm``, ``normalize``)
with torch's arguments, statistics and errors.

Each of the first four is ONE graph node: the forward normalizes with numpy (biased
variance, ``1 / sqrt(var + eps)``), and the backward is the closed form

    dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

over the normalized elements (without the ``mean(dxhat)`` term for ``rms_norm``, and
``dx = rstd * dxhat`` for ``batch_norm`` on running statistics). When the backward is
recorded (``create_graph=True``) the same formulas run as tensor ops on statistics
recomputed from the input, so second derivatives are right too.
"""

from __future__ import annotations

import math

import numpy as np

from cogtensor.errors import ShapeError
from cogtensor.graph import attach, requires_grad
from cogtensor.nn.functional_utils import as_array, floating_data, require_tensor, same_dtype, wants

__all__ = ["layer_norm", "rms_norm", "group_norm", "batch_norm", "normalize"]


# ---------------------------------------------------------------- the shared core
def _quiet():
    return np.errstate(invalid="ignore", divide="ignore", over="ignore")


def _mean(x: np.ndarray, axis) -> np.ndarray:
    """Mean over ``axis`` (kept); NaN without a warning over no elements."""
    count = math.prod(x.shape[a] for a in (axis if isinstance(axis, tuple) else (axis,)))
    with _quiet():
        return np.sum(x, axis=axis, keepdims=True) / x.dtype.type(count)


def _standardize(x: np.ndarray, axis, eps: float, centered: bool = True):
    """(xhat, rstd, mean, var): x minus its mean (when ``centered``) over ``axis``, times
    rstd = 1 / sqrt(var + eps), var the biased variance (the mean square when not centered)."""
    with _quiet():
        mean = _mean(x, axis) if centered else None
        xc = x - mean if centered else x
        var = _mean(np.square(xc), axis)
        rstd = 1.0 / np.sqrt(var + eps)
        return xc * rstd, rstd, mean, var


def _input_grad(gxhat: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, axis, centered: bool = True) -> np.ndarray:
    """d input from d xhat for xhat = (x - mean) * rstd over ``axis`` (numpy)."""
    with _quiet():
        inner = gxhat - xhat * _mean(gxhat * xhat, axis)
        if centered:
            inner -= _mean(gxhat, axis)
        return rstd * inner


def _standardize_t(x, dims, eps: float, centered: bool = True):
    """Tensor-op :func:`_standardize` (recorded, for double backward)."""
    xc = x - x.mean(dims, keepdim=True) if centered else x
    rstd = ((xc * xc).mean(dims, keepdim=True) + eps).rsqrt()
    return xc * rstd, rstd


def _input_grad_t(gxhat, xhat, rstd, dims, centered: bool = True):
    """Tensor-op :func:`_input_grad`."""
    inner = gxhat - xhat * (gxhat * xhat).mean(dims, keepdim=True)
    if centered:
        inner = inner - gxhat.mean(dims, keepdim=True)
    return rstd * inner


def _result(input, values):
    return input._wrap(values.astype(input._data.dtype, copy=False))


def _normalized_shape(normalized_shape, input, op: str) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape):
        raise TypeError(f"{op}: normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}")
    k = len(shape)
    if k == 0 or input.ndim < k or tuple(input.shape[input.ndim - k:]) != shape:
        raise ShapeError(f"{op}: given normalized_shape={list(shape)}, expected input with shape [*, "
                         f"{', '.join(map(str, shape))}], but got input of size {list(input.shape)}")
    return shape


def _check_affine(op: str, name: str, t, shape) -> None:
    if t is not None and tuple(t.shape) != tuple(shape):
        raise ShapeError(f"{op}: expected {name} of shape {list(shape)}, got {list(t.shape)}")


# ---------------------------------------------------------------- layer / rms norm
def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalize over the last ``len(normalized_shape)`` dimensions: (x - mean) / sqrt(var + eps)
    * weight + bias, biased variance; weight and bias of shape ``normalized_shape``.

    Example:
        >>> layer_norm(cogtensor.tensor([[1., 2., 3.]]), (3,))
        tensor([[-1.2247,  0.0000,  1.2247]])
    """
    return _last_dims_norm("layer_norm", input, normalized_shape, weight, bias, eps, centered=True)


def rms_norm(input, normalized_shape, weight=None, eps: float | None = None):
    """x / sqrt(mean(x ** 2) + eps) * weight over the last ``len(normalized_shape)`` dimensions;
    ``eps=None`` takes the machine epsilon of the compute dtype (float32 for the half types), as torch."""
    return _last_dims_norm("rms_norm", input, normalized_shape, weight, None, eps, centered=False)


def _last_dims_norm(op, input, normalized_shape, weight, bias, eps, centered):
    xd = floating_data(input, op)
    shape = _normalized_shape(normalized_shape, input, op)
    same_dtype(op, input, ("weight", weight), ("bias", bias))
    _check_affine(op, "weight", weight, shape)
    _check_affine(op, "bias", bias, shape)
    if eps is None:  # the machine epsilon of the compute dtype (float32 for float16 / bfloat16), as torch
        eps = float(np.finfo(xd.dtype).eps)
    size = math.prod(shape)
    x2 = xd.reshape(-1, size)
    xhat, rstd = _standardize(x2, 1, eps, centered)[:2]
    wd, bd = as_array(weight, xd), as_array(bias, xd)
    values = xhat if wd is None else xhat * wd.reshape(size)
    if bd is not None:
        values += bd.reshape(size)
    out = _result(input, values.reshape(xd.shape))
    if not (wants(input) or wants(weight) or wants(bias)):
        return out
    dims = tuple(range(input.ndim - len(shape), input.ndim))

    def backward(g):
        if requires_grad(g, input, weight):
            xh, r = _standardize_t(input, dims, eps, centered)
            gxhat = g * weight if weight is not None else g
            gx = _input_grad_t(gxhat, xh, r, dims, centered) if wants(input) else None
            return gx, (g * xh if wants(weight) else None), (g if wants(bias) else None)
        g2 = g._data.reshape(-1, size).astype(xd.dtype, copy=False)
        gx = gw = gb = None
        if wants(input):
            gxhat = g2 if wd is None else g2 * as_array(weight, xd).reshape(size)
            gx = g._wrap(_input_grad(gxhat, xhat, rstd, 1, centered).reshape(xd.shape))
        if wants(weight):
            gw = g._wrap(np.einsum("ij,ij->j", g2, xhat).reshape(shape))
        if wants(bias):
            gb = g._wrap(g2.sum(0).reshape(shape))
        return gx, gw, gb
    name = "NativeLayerNormBackward0" if centered else "RmsNormBackward0"
    return attach(out, name, (input, weight, bias), backward, saved=(input, weight))


# ------------------------------------------------------------------ group norm
def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Split the C channels of (N, C, *) into ``num_groups`` groups and normalize each group of
    each sample over its channels and positions; then per-channel weight and bias (C,).

    Raises:
        ShapeError: C not divisible by ``num_groups``, or weight / bias not of shape (C,).
    """
    op = "group_norm"
    xd = floating_data(input, op)
    if input.ndim < 2:
        raise ShapeError(f"{op}: expected at least 2 dimensions for input tensor but received {input.ndim}")
    if isinstance(num_groups, bool) or not isinstance(num_groups, (int, np.integer)) or num_groups < 1:
        raise ValueError(f"{op}: num_groups must be a positive int, got {num_groups!r}")
    n, c = xd.shape[:2]
    positions = math.prod(xd.shape[2:])
    if c % num_groups:
        raise ShapeError(f"{op}: Expected number of channels in input to be divisible by num_groups, but got input "
                         f"of shape {list(input.shape)} and num_groups={num_groups}")
    same_dtype(op, input, ("weight", weight), ("bias", bias))
    _check_affine(op, "weight", weight, (c,))
    _check_affine(op, "bias", bias, (c,))
    xhat, rstd = _standardize(xd.reshape(n, num_groups, c // num_groups * positions), 2, eps)[:2]
    xhat = xhat.reshape(n, c, positions)
    wd, bd = as_array(weight, xd), as_array(bias, xd)
    values = xhat if wd is None else xhat * wd[:, None]
    if bd is not None:
        values = values + bd[:, None]
    out = _result(input, values.reshape(xd.shape))
    if not (wants(input) or wants(weight) or wants(bias)):
        return out
    per_channel = (c,) + (1,) * (input.ndim - 2)

    def backward(g):
        if requires_grad(g, input, weight):
            group = (n, num_groups, c // num_groups * positions)
            xh, r = _standardize_t(input.reshape(group), (2,), eps)
            gxhat = g * weight.reshape(per_channel) if weight is not None else g
            gx = _input_grad_t(gxhat.reshape(group), xh, r, (2,)).reshape(input.shape) if wants(input) else None
            gw = (g * xh.reshape(input.shape)).sum(_not_channel(input.ndim)) if wants(weight) else None
            return gx, gw, (g.sum(_not_channel(input.ndim)) if wants(bias) else None)
        g3 = g._data.reshape(n, c, positions).astype(xd.dtype, copy=False)
        gx = gw = gb = None
        if wants(input):
            gxhat = g3 if wd is None else g3 * as_array(weight, xd)[:, None]
            group = (n, num_groups, c // num_groups * positions)
            gx = _input_grad(gxhat.reshape(group), xhat.reshape(group), rstd, 2)
            gx = g._wrap(gx.reshape(xd.shape))
        if wants(weight):
            gw = g._wrap(np.einsum("ncs,ncs->c", g3, xhat))
        if wants(bias):
            gb = g._wrap(g3.sum(axis=(0, 2)))
        return gx, gw, gb
    return attach(out, "NativeGroupNormBackward0", (input, weight, bias), backward, saved=(input, weight))


def _not_channel(ndim: int) -> tuple[int, ...]:
    return (0,) + tuple(range(2, ndim))


# ------------------------------------------------------------------ batch norm
def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalize each channel of (N, C, *) over the batch and positions.

    In training the batch's statistics are used (biased variance) and, when given,
    ``running_mean`` / ``running_var`` are updated in place: ``r = (1 - momentum) * r +
    momentum * stat``, with the unbiased variance. Otherwise the running statistics are used.

    Raises:
        ValueError: training with a single value per channel.
        ShapeError: running statistics, weight or bias not of shape (C,).

    Example:
        >>> batch_norm(cogtensor.tensor([[1.], [3.]]), None, None, training=True)
        tensor([[-1.0000],
                [ 1.0000]])
    """
    op = "batch_norm"
    xd = floating_data(input, op)
    if input.ndim < 2:
        raise ShapeError(f"{op}: expected an input of shape (N, C, *), got {list(input.shape)}")
    c = xd.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                    ("bias", bias)):
        if t is not None:
            require_tensor(t, op, name)
            _check_affine(op, name, t, (c,))
    same_dtype(op, input, ("weight", weight), ("bias", bias))
    x3 = xd.reshape(xd.shape[0], c, math.prod(xd.shape[2:]))
    count = x3.shape[0] * x3.shape[2]
    if training:
        if count == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"{list(input.shape)}")
        xhat, rstd, batch_mean, batch_var = _standardize(x3, (0, 2), eps)
        mean = None
        if count:  # an empty batch leaves the statistics alone, as torch
            _update_running(running_mean, running_var, batch_mean.reshape(c), batch_var.reshape(c), momentum, count)
    else:
        if running_mean is None or running_var is None:
            raise ValueError(f"{op}: running_mean and running_var must be given when training=False")
        mean = as_array(running_mean, xd)[:, None].copy()  # the buffer may change before backward
        rstd = 1.0 / np.sqrt(as_array(running_var, xd)[:, None] + eps)
        xhat = (x3 - mean) * rstd
    wd, bd = as_array(weight, xd), as_array(bias, xd)
    values = xhat if wd is None else xhat * wd[:, None]
    if bd is not None:
        values = values + bd[:, None]
    out = _result(input, values.reshape(xd.shape))
    if not (wants(input) or wants(weight) or wants(bias)):
        return out

    def backward(g):
        if requires_grad(g, input, weight):
            return _batch_norm_grads_recorded(g, input, weight, bias, training, mean, rstd, eps)
        g3 = g._data.reshape(x3.shape).astype(xd.dtype, copy=False)
        gx = gw = gb = None
        if wants(input):
            gxhat = g3 if wd is None else g3 * as_array(weight, xd)[:, None]
            gx = _input_grad(gxhat, xhat, rstd, (0, 2)) if training else gxhat * rstd
            gx = g._wrap(gx.reshape(xd.shape))
        if wants(weight):
            gw = g._wrap(np.einsum("ncs,ncs->c", g3, xhat))
        if wants(bias):
            gb = g._wrap(g3.sum(axis=(0, 2)))
        return gx, gw, gb
    return attach(out, "NativeBatchNormBackward0", (input, weight, bias), backward, saved=(input, weight))


def _update_running(running_mean, running_var, mean, var, momentum, count) -> None:
    """In-place moving averages of the batch mean and unbiased variance (no gradient)."""
    for buffer, stat in ((running_mean, mean), (running_var, var * (count / (count - 1)))):
        if buffer is not None:
            data = buffer._data
            data[...] = (1 - momentum) * data + momentum * stat
            buffer._bump_version()


def _batch_norm_grads_recorded(g, input, weight, bias, training, mean, rstd, eps):
    """Batch-norm gradients with tensor ops; in eval mode the running statistics are constants."""
    dims = _not_channel(input.ndim)
    per_channel = (input.shape[1],) + (1,) * (input.ndim - 2)
    if training:
        xh, r = _standardize_t(input, dims, eps)
    else:
        dtype = input._data.dtype
        r = input._wrap(rstd.reshape(per_channel).astype(dtype))
        xh = (input - input._wrap(mean.reshape(per_channel).astype(dtype))) * r
    gxhat = g * weight.reshape(per_channel) if weight is not None else g
    gx = None
    if wants(input):
        gx = _input_grad_t(gxhat, xh, r, dims) if training else gxhat * r
    gw = (g * xh).sum(dims) if wants(weight) else None
    gb = g.sum(dims) if wants(bias) else None
    return gx, gw, gb


# ------------------------------------------------------------------ normalize
def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12):
    """x / max(||x||_p, eps) along ``dim`` (``torch.nn.functional.normalize``)."""
    require_tensor(input, "normalize")
    norm = input.norm(p, dim, keepdim=True)
    return input / norm.clamp_min(eps).expand_as(input)
