"""Activation functions and ``linear`` (``cogtensor.nn.functional``), numerically stable as
torch's, with their backward.

Each activation takes a cogtensor Tensor and returns a new one of the same shape and
dtype. They need a floating tensor (relu, relu6, hardtanh and threshold also take
integers, as torch), and raise ``NotImplementedForDType`` (a TypeError, and torch's
NotImplementedError) otherwise. float16 and bfloat16 compute in float32 and round once,
as torch does on CPU; nothing overflows or warns for large inputs (softmax of
[1000, 1001] is [0.2689, 0.7311]). ``inplace=True`` writes into the input (recorded as
torch's in-place ops: a leaf that requires grad refuses).

Gradients follow torch's conventions at kinks: relu'(0) = 0, hardtanh and relu6 pass
nothing at their bounds, leaky_relu takes the negative slope at 0, elu the negative
branch. Backward formulas are tensor ops, so ``create_graph=True`` works through them.
The smooth activations live in :mod:`cogtensor.nn._smooth_activations`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from cogtensor import random
from cogtensor.errors import ShapeError, ValueRangeError
from cogtensor.graph import attach, requires_grad
from cogtensor.ops.erf_kernels import _ERF_LIBM_MAX, _erf, _erfc_float32  # noqa: F401 - re-exported for tests
from cogtensor.nn._smooth_activations import (celu, elu, gelu, logsigmoid, mish, selu, silu, softplus, softsign,
                                              tanhshrink)
from cogtensor.ops.activation import log_softmax, relu, relu_, softmax
from cogtensor.ops.activation_core import activation, floating, masked, numeric, require_tensor, scaled
from cogtensor.ops.elementwise import sigmoid, tanh
from cogtensor.ops.indexing import where
from cogtensor.ops.products import _product, matmul
from cogtensor.ops.views import normalize_dim

__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "softplus", "hardswish", "hardsigmoid",
    "softmax", "log_softmax",
    "relu_", "hardtanh", "hardtanh_", "threshold", "threshold_", "leaky_relu_", "rrelu", "rrelu_", "elu_",
    "selu_", "celu", "celu_", "logsigmoid", "softsign", "tanhshrink", "hardshrink", "softshrink", "glu", "prelu",
    "sigmoid", "tanh", "softmin", "linear",
]

# ------------------------------------------------------------- piecewise-linear
# (np.where with a data-dependent mask is several times slower than max/min arithmetic, so
# the forwards below are written with np.maximum / np.minimum / np.clip, which keep NaN)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
    """x clamped to [min_val, max_val]; the gradient is 0 at and beyond the bounds (torch's).

    Raises:
        ValueError: ``min_val > max_val``.
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val cannot be greater than max_val, got {min_val} > {max_val}")
    if getattr(input, "_data", None) is not None and input._data.dtype.kind == "u" and min_val < 0:
        raise ValueRangeError(f"hardtanh: cannot do hardtanh on an unsigned type ({input.dtype}) with negative limits")
    return activation("hardtanh", input, lambda x: np.clip(x, min_val, max_val), inplace,
                      _hardtanh_backward(min_val, max_val), "HardtanhBackward0", numeric)


def _hardtanh_backward(low, high):
    def backward(g, x):
        v = x._data
        return masked(g, (v > low) & (v < high), "HardtanhBackwardBackward0")  # NaN passes nothing, as torch
    return backward


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0):
    """In-place :func:`hardtanh`."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input, inplace: bool = False):
    """min(max(x, 0), 6), element-wise: torch's hardtanh(x, 0, 6), gradient 0 at 0 and 6."""
    return activation("relu6", input, lambda x: np.clip(x, 0, 6), inplace, _hardtanh_backward(0, 6),
                      "HardtanhBackward0", numeric)


def threshold(input, threshold: float, value: float, inplace: bool = False):
    """x where x > threshold, else ``value``; the gradient is 0 where x <= threshold.

    Raises:
        ValueRangeError: an integer tensor and a ``value`` outside its dtype's range.
    """
    kind = getattr(getattr(input, "_data", None), "dtype", np.dtype(np.float64)).kind
    if kind in "iu" and not np.iinfo(input._data.dtype).min <= value <= np.iinfo(input._data.dtype).max:
        raise ValueRangeError(f"threshold: value {value} cannot be converted to {input.dtype} without overflow")
    return activation("threshold", input, lambda x: np.where(x <= threshold, value, x).astype(x.dtype, copy=False),
                      inplace, lambda g, x: masked(g, ~(x._data <= threshold)), "ThresholdBackward0", numeric)


_threshold = threshold  # the argument of threshold_ below shadows the function's name


def threshold_(input, threshold: float, value: float):
    """In-place :func:`threshold`."""
    return _threshold(input, threshold, value, inplace=True)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x where x > 0, else negative_slope * x (the gradient at 0 is ``negative_slope``)."""
    def values(x):
        if 0 <= negative_slope <= 1:  # the usual case: one pass fewer
            return np.maximum(x, x * negative_slope)
        return np.maximum(x, 0) + negative_slope * np.minimum(x, 0)

    def backward(g, x):
        positive = x._data > 0  # NaN takes the slope, as torch's
        dt = g._data.dtype
        return scaled(g, positive.astype(dt) + (~positive).astype(dt) * dt.type(negative_slope))
    return activation("leaky_relu", input, values, inplace, backward, "LeakyReluBackward0")


def leaky_relu_(input, negative_slope: float = 0.01):
    """In-place :func:`leaky_relu`."""
    return leaky_relu(input, negative_slope, inplace=True)


def rrelu(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace: bool = False):
    """Randomized leaky relu: in training each x <= 0 is scaled by its own slope drawn
    uniformly from [lower, upper] (cogtensor's default generator); otherwise leaky_relu with
    the mean slope (lower + upper) / 2. The gradient is the slope each element got."""
    if not training:
        return leaky_relu(input, (lower + upper) / 2, inplace)
    x = floating(input, "rrelu")
    slopes = random.rng(None).uniform(lower, upper, x.shape)
    noise = np.where(x <= 0, slopes, 1.0).astype(x.dtype)
    return activation("rrelu", input, lambda v: v * noise, inplace, lambda g, _: scaled(g, noise),
                      "RreluWithNoiseBackward0")


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False):
    """In-place :func:`rrelu`."""
    return rrelu(input, lower, upper, training, inplace=True)


def hardsigmoid(input, inplace: bool = False):
    """relu6(x + 3) / 6: a piecewise-linear sigmoid (gradient 1/6 strictly inside (-3, 3))."""
    def backward(g, x):
        v = x._data
        return masked(g, (v > -3) & (v < 3), "HardsigmoidBackwardBackward0") / 6
    return activation("hardsigmoid", input, lambda x: np.clip(x + 3, 0, 6) / 6, inplace, backward,
                      "HardsigmoidBackward0")


def hardswish(input, inplace: bool = False):
    """x * relu6(x + 3) / 6; the gradient is 0 up to -3, x / 3 + 1/2 between, 1 from 3 on (torch's)."""
    def backward(g, x):
        return where(x <= -3, 0.0, where(x >= 3, g, g * (x / 3 + 0.5)))
    return activation("hardswish", input, lambda x: x * np.clip(x + 3, 0, 6) / 6, inplace, backward,
                      "HardswishBackward0")


def hardshrink(input, lambd: float = 0.5):
    """x where |x| > lambd, else 0 (gradient 0 on [-lambd, lambd])."""
    return activation("hardshrink", input, lambda x: np.where((x >= -lambd) & (x <= lambd), 0, x),
                      False, _shrink_backward(lambd), "HardshrinkBackward0")


def softshrink(input, lambd: float = 0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 between (gradient 0 on [-lambd, lambd]).

    Raises:
        ValueRangeError: ``lambd < 0``.
    """
    if lambd < 0:
        raise ValueRangeError(f"softshrink: lambda must be greater or equal to 0, but found to be {lambd}.")

    def values(x):
        return np.where(x > lambd, x - lambd, np.where(x < -lambd, x + lambd, x * 0))
    return activation("softshrink", input, values, False, _shrink_backward(lambd), "SoftshrinkBackward0")


def _shrink_backward(lambd):
    def backward(g, x):
        v = x._data
        return masked(g, (v < -lambd) | (v > lambd), "ShrinkBackwardBackward0")  # NaN passes nothing, as torch
    return backward


# ------------------------------------------------------------ built of others
def glu(input, dim: int = -1):
    """The gated linear unit a * sigmoid(b), a and b the two halves of ``input`` along ``dim``:
    (*, 2n, *) -> (*, n, *).

    Raises:
        ShapeError: a 0-d input, or an odd size along ``dim``.
    """
    floating(input, "glu")
    if input.ndim == 0:
        raise ShapeError("glu: glu does not support scalars because halving size must be even")
    d = normalize_dim(dim, input.ndim, "glu")
    n = input.shape[d]
    if n % 2:
        raise ShapeError(f"glu: Halving dimension must be even, but dimension {d} is size {n}")
    return input.narrow(d, 0, n // 2) * sigmoid(input.narrow(d, n // 2, n // 2))


def prelu(input, weight):
    """x where x > 0, else weight * x, with one learnt slope per channel (dimension 1) or one
    for all: ``weight`` has 1 or C elements (a 0-d or 1-D tensor).

    Raises:
        ShapeError: ``weight`` has another number of elements, or more than one dimension.
    """
    floating(input, "prelu")
    require_tensor(weight, "prelu")
    channels = input.shape[1] if input.ndim >= 2 else 1
    if weight.ndim > 1:
        raise ShapeError(f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}")
    if weight.numel() not in (1, channels):
        raise ShapeError(f"prelu: Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                         f"{weight.numel()} and channel size = {channels}.")
    w = weight.reshape(()) if weight.numel() == 1 else weight.reshape([1, channels] + [1] * (input.ndim - 2))
    return where(input > 0, input, w * input)


def elu_(input, alpha: float = 1.0):
    """In-place :func:`elu`."""
    return elu(input, alpha, inplace=True)


def selu_(input):
    """In-place :func:`selu`."""
    return selu(input, inplace=True)


def celu_(input, alpha: float = 1.0):
    """In-place :func:`celu`."""
    return celu(input, alpha, inplace=True)


def linear(input, weight, bias=None):
    """``input @ weight.T + bias``: (*, in), (out, in), (out,) -> (*, out) (a 1-D weight gives (*)).

    The common case (float32/float64, 2-D weight) is one GEMM on the transposed weight's
    view and one node, whose backward is two GEMMs and a sum.

    Example:
        >>> linear(cogtensor.ones(2, 3), cogtensor.ones(4, 3)).shape
        cogtensor.Size([2, 4])
    """
    require_tensor(input, "linear")
    require_tensor(weight, "linear")
    if bias is not None:
        require_tensor(bias, "linear")
    if not _plain_linear(input, weight, bias):
        _check_linear(input, weight)
        out = matmul(input, weight.mT if weight.ndim == 2 else weight)
        return out if bias is None else out + bias
    values = np.matmul(input._data, weight._data.T)
    if bias is not None:
        np.add(values, bias._data, out=values)
    out = input._wrap(values)
    if input._node is None and weight._node is None and (bias is None or bias._node is None):
        return out
    return attach(out, "AddmmBackward0" if bias is not None else "MmBackward0", (input, weight, bias),
                  lambda g: _linear_grads(g, input, weight, bias), saved=(input, weight))


def _check_linear(x, w) -> None:
    if w.ndim not in (1, 2):
        raise ShapeError(f"linear: weight must be 2-D (out_features, in_features) or 1-D (in_features,), got "
                         f"shape {list(w.shape)}")
    if x.ndim == 0 or x.shape[-1] != w.shape[-1]:
        raise ShapeError(f"linear: input of shape {list(x.shape)} does not fit weight of shape {list(w.shape)}: "
                         f"the input's last dimension must equal in_features ({w.shape[-1]})")


def _plain_linear(x, w, b) -> bool:
    """float32/float64 operands of one dtype, a 2-D weight that fits, a bias of (), (1,) or (out,)."""
    xd, wd = x._data, w._data
    if xd.dtype is not wd.dtype or xd.dtype.char not in "fd" or wd.ndim != 2 or xd.ndim == 0:
        return False
    if xd.shape[-1] != wd.shape[1]:
        return False
    return b is None or (b._data.dtype is xd.dtype and b._data.shape in ((), (1,), (wd.shape[0],)))


def _linear_grads(g, x, w, b):
    """(d input, d weight, d bias): g @ W, g^T @ x over all rows, g summed over rows."""
    out_features, in_features = w._data.shape
    gx = _product(g, w) if x._node is not None else None
    gw = gb = None
    if w._node is not None or (b is not None and b._node is not None):
        rows = math.prod(x._data.shape[:-1])
        g2 = g if g._data.ndim == 2 else g.reshape(rows, out_features)
        if w._node is not None:
            gw = _product(g2, x if x._data.ndim == 2 else x.reshape(rows, in_features), tx=True)
        if b is not None and b._node is not None:
            gb = g2.sum(0) if requires_grad(g2) else g2._wrap(g2._data.sum(0))
    return gx, gw, gb


# ---------------------------------------------------------------------- softmax
def softmin(input, dim=None, _stacklevel: int = 3, dtype=None):
    """softmax(-x) along ``dim``."""
    require_tensor(input, "softmin")
    if dim is None:
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn("Implicit dimension choice for softmin has been deprecated. Change the call to include "
                      "dim=X as an argument.", UserWarning, stacklevel=_stacklevel)
    return softmax(-input, dim, dtype=dtype)

from cogtensor.nn.functional_loss import (  # noqa: E402 - the losses
    binary_cross_entropy, binary_cross_entropy_with_logits, cosine_embedding_loss, cross_entropy, huber_loss, kl_div,
    l1_loss, margin_ranking_loss, mse_loss, nll_loss, smooth_l1_loss)
__all__ += ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
            "binary_cross_entropy_with_logits", "kl_div", "cosine_embedding_loss", "margin_ranking_loss"]

# layer functional forms (convolution, pooling, normalization, attention, embedding, dropout, padding)
from cogtensor.nn.functional_attention import *  # noqa: E402, F403
from cogtensor.nn.functional_conv import *  # noqa: E402, F403
from cogtensor.nn.functional_misc import *  # noqa: E402, F403
from cogtensor.nn.functional_norm import *  # noqa: E402, F403
from cogtensor.nn.functional_pad import *  # noqa: E402, F403
from cogtensor.nn.functional_pool import *  # noqa: E402, F403
from cogtensor.nn import (functional_attention as _attention, functional_conv as _conv,  # noqa: E402
                          functional_misc as _misc, functional_norm as _norm, functional_pad as _pad,
                          functional_pool as _pool)

__all__ += [*_attention.__all__, *_conv.__all__, *_misc.__all__, *_norm.__all__, *_pad.__all__, *_pool.__all__]
