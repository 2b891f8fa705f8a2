"""relu, softmax and log_softmax: the activations that are also Tensor methods and
``cogtensor`` functions (``x.softmax(-1)``, ``cogtensor.relu(x)``); ``cogtensor.nn.functional``
re-exports them next to the other activations."""

from __future__ import annotations

import warnings

import numpy as np

from cogtensor import dtypes
from cogtensor.graph import attach
from cogtensor.ops.activation_core import activation, floating, ieee, masked, numeric, require_tensor, rounded
from cogtensor.ops.elementwise import exp
from cogtensor.ops.views import normalize_dim

__all__ = ["relu", "relu_", "softmax", "log_softmax"]


def relu(input, inplace: bool = False):
    """max(x, 0), element-wise: (*) -> (*). NaN stays NaN; the gradient at 0 is 0."""
    # the mask is read from the input (x <= 0 exactly where relu(x) <= 0, NaN aside in both)
    return activation("relu", input, lambda x: np.maximum(x, 0), inplace,
                      lambda g, x: masked(g, ~(x._data <= 0)), "ReluBackward0", numeric)


def relu_(input):
    """In-place :func:`relu`."""
    return relu(input, inplace=True)


def _softmax_input(input, dim, dtype, op: str, stacklevel: int):
    """(values in the compute dtype, at least 1-d; the axis; the result dtype) for softmax/log_softmax."""
    require_tensor(input, op)
    if dim is None:  # torch's deprecated implicit choice
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include "
                      f"dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    d = normalize_dim(dim, input.ndim, op)
    if dtype is not None:
        if not isinstance(dtype, dtypes.dtype):
            raise TypeError(f"{op}: dtype must be a cogtensor dtype (e.g. cogtensor.float64), got {dtype!r}")
        input = input._wrap(rounded(input._data, dtype.numpy))
    x = input._data if input.numel() == 0 else floating(input, op)  # torch accepts any empty tensor
    return (x.reshape(1) if x.ndim == 0 else x), d, input._data.dtype


def _sum_along(t, d: int):
    """t summed along dimension d, kept (a 0-d tensor is its own sum)."""
    return t.sum(d, keepdim=True) if t.ndim else t


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, with the max subtracted first (no overflow).

    ``dtype`` casts the input first (e.g. int -> float64). Rows holding +inf or only
    -inf give NaN, as torch. (The third positional argument is torch's ``_stacklevel``.)
    The gradient is y * (g - sum(g * y)) along ``dim``.

    Example:
        >>> softmax(cogtensor.tensor([1000., 1001.]), dim=0)
        tensor([0.2689, 0.7311])
    """
    x, d, out_dtype = _softmax_input(input, dim, dtype, "softmax", _stacklevel)
    if x.size == 0:
        out = input._wrap(np.empty(input.shape, out_dtype))
    else:
        with ieee():  # -inf - -inf = nan; 3e38 - -3e38 = inf, as torch
            e = np.exp(x - np.max(x, axis=d, keepdims=True))
            out = input._wrap(rounded(e / np.sum(e, axis=d, keepdims=True), out_dtype).reshape(input.shape))
    return attach(out, "SoftmaxBackward0", (input,), lambda g, y: y * (g - _sum_along(g * y, d)), with_output=True)


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """x - logsumexp(x) along ``dim``, stable for large inputs: [1000, 1001] -> [-1.3133, -0.3133].

    The gradient is g - exp(y) * sum(g) along ``dim``."""
    x, d, out_dtype = _softmax_input(input, dim, dtype, "log_softmax", _stacklevel)
    if x.size == 0:
        result = np.empty(input.shape, out_dtype)
    else:
        with ieee():
            shifted = x - np.max(x, axis=d, keepdims=True)
            result = shifted - np.log(np.sum(np.exp(shifted), axis=d, keepdims=True))
    out = input._wrap(rounded(result, out_dtype).reshape(input.shape))
    return attach(out, "LogSoftmaxBackward0", (input,), lambda g, y: g - exp(y) * _sum_along(g, d),
                  with_output=True)


class ActivationOps:
    """relu, relu_, softmax, log_softmax as Tensor methods."""

    __slots__ = ()

    def relu(self):
        return relu(self)

    def relu_(self):
        return relu_(self)

    def softmax(self, dim, dtype=None):
        """:func:`softmax` along ``dim``."""
        return softmax(self, dim, 4, dtype)

    def log_softmax(self, dim, dtype=None):
        """:func:`log_softmax` along ``dim``."""
        return log_softmax(self, dim, 4, dtype)
