"""Smooth activations (exponential, sigmoid and erf families) with their backward.

Forwards are numerically stable numpy (nothing overflows or warns for large inputs);
backwards are torch's formulas written with tensor ops, so they differentiate again.
Where a branch would overflow for inputs it does not apply to, its input is clamped
first: a masked-out inf would turn into NaN in the second derivative.
"""

from __future__ import annotations

import math

import numpy as np

from cogtensor.errors import ValueRangeError
from cogtensor.ops.activation_core import activation, require_tensor
from cogtensor.ops.erf_kernels import _erf, _erfc_float32, normal_cdf, normal_pdf
from cogtensor.ops.elementwise import exp, sigmoid, tanh
from cogtensor.ops.indexing import where

__all__ = ["elu", "selu", "celu", "silu", "mish", "softplus", "logsigmoid", "gelu", "softsign", "tanhshrink"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


# ----------------------------------------------------------------- elu family
def _elu_values(x: np.ndarray, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> np.ndarray:
    """scale * x where x > 0, else scale * alpha * expm1(input_scale * x) (expm1 only sees x <= 0)."""
    negative = np.minimum(x, 0)
    if input_scale != 1.0:
        negative = negative * input_scale
    result = np.maximum(x, 0) + alpha * np.expm1(negative)
    return result if scale == 1.0 else scale * result


def _elu_backward(alpha: float, scale: float = 1.0, input_scale: float = 1.0):
    """torch's elu_backward: scale where x > 0, else alpha * scale * input_scale * exp(input_scale * x)
    (the negative branch at x = 0; NaN gives NaN)."""
    def backward(g, x):
        negative = g * (alpha * scale * input_scale) * exp((x * input_scale).clamp(max=0))
        return where(x > 0, g * scale if scale != 1.0 else g, negative)
    return backward


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x where x > 0, else alpha * (exp(x) - 1): (*) -> (*)."""
    return activation("elu", input, lambda x: _elu_values(x, alpha), inplace, _elu_backward(alpha), "EluBackward0")


def selu(input, inplace: bool = False):
    """scale * elu(x, alpha) with the self-normalizing constants (scale 1.0507, alpha 1.6733)."""
    return activation("selu", input, lambda x: _elu_values(x, _SELU_ALPHA, _SELU_SCALE), inplace,
                      _elu_backward(_SELU_ALPHA, _SELU_SCALE), "EluBackward0")


def celu(input, alpha: float = 1.0, inplace: bool = False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).

    Raises:
        ValueRangeError (a ValueError and RuntimeError, as torch's): ``alpha`` is 0.
    """
    if alpha == 0:
        raise ValueRangeError("celu: ZeroDivisionError: alpha cannot be 0 for CELU")
    return activation("celu", input, lambda x: _elu_values(x, alpha, 1.0, 1.0 / alpha), inplace,
                      _elu_backward(alpha, 1.0, 1.0 / alpha), "CeluBackward0")


# ------------------------------------------------------------ sigmoid family
def silu(input, inplace: bool = False):
    """x * sigmoid(x) (swish), computed as x / (1 + exp(-x)), as torch: exp overflow gives -0."""
    def backward(g, x):
        s = sigmoid(x)
        return g * s * (1 + x * (1 - s))
    return activation("silu", input, lambda x: x / (1 + np.exp(-x)), inplace, backward, "SiluBackward0")


def _softplus_values(x: np.ndarray, beta: float, threshold: float) -> np.ndarray:
    z = x * beta
    return np.where(z > threshold, x, np.log1p(np.exp(z)) / beta)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta * x)) / beta, or x where beta * x > threshold (linear there, no overflow).

    The gradient is sigmoid(beta * x) (1 where beta * x > threshold), as torch's."""
    def backward(g, x):
        z = x * beta
        return where(z > threshold, g, g * sigmoid(z))
    return activation("softplus", input, lambda x: _softplus_values(x, beta, threshold), False, backward,
                      "SoftplusBackward0")


def mish(input, inplace: bool = False):
    """x * tanh(softplus(x)); exp overflow gives tanh(inf) = 1, so mish(x) = x for large x."""
    def backward(g, x):
        tanh_softplus = tanh(softplus(x))
        return g * (tanh_softplus + x * sigmoid(x) * (1 - tanh_softplus * tanh_softplus))
    return activation("mish", input, lambda x: x * np.tanh(np.log1p(np.exp(x))), inplace, backward, "MishBackward0")


def logsigmoid(input):
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), without overflow; the gradient is sigmoid(-x)."""
    return activation("logsigmoid", input, lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))), False,
                      lambda g, x: g * sigmoid(-x), "LogSigmoidBackward0")


# ------------------------------------------------------------------------ gelu
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)
_KAPPA = 0.044715


def gelu(input, approximate: str = "none"):
    """x * Phi(x) with Phi the standard normal CDF, exactly (``'none'``) or with torch's tanh
    approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (``'tanh'``).

    Exact float64 goes through erf within 1 ulp (as torch's 0.5 x (1 + erf(x / sqrt 2)));
    float32 and narrower through erfc (0.5 x erfc(-x / sqrt 2), relative error < 1e-5 even
    in the far negative tail where 1 + erf cancels).

    Example:
        >>> gelu(cogtensor.tensor([0.0, 1.0])).tolist()  # [0, Phi(1)]
        [0.0, 0.8413447141647339]
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate argument must be either 'none' or 'tanh', got {approximate!r}")
    if approximate == "tanh":
        return activation("gelu", input, _gelu_tanh_values, False, _gelu_tanh_backward, "GeluBackward0")
    return activation("gelu", input, _gelu_values, False,
                      lambda g, x: g * (normal_cdf(x) + x * normal_pdf(x)), "GeluBackward0")


def _gelu_values(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.float64:
        return 0.5 * x * (1 + _erf(x * math.sqrt(0.5)))
    return 0.5 * x * _erfc_float32(x * -math.sqrt(0.5))


def _gelu_tanh_values(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + _KAPPA * x * x * x)))


def _gelu_tanh_backward(g, x):
    """torch's formula: 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 kappa x^2), t = tanh(inner)."""
    x_sq = x * x
    t = tanh((x + x_sq * x * _KAPPA) * _SQRT_2_OVER_PI)
    inner_derivative = (x_sq * (3 * _KAPPA) + 1) * _SQRT_2_OVER_PI
    return g * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * inner_derivative)


# ------------------------------------------------------------------ composites
def softsign(input):
    """x / (1 + |x|), as torch composed of tensor ops (integers give the default float dtype)."""
    require_tensor(input, "softsign")
    return input / (input.abs() + 1)


def tanhshrink(input):
    """x - tanh(x), composed of tensor ops as in torch."""
    require_tensor(input, "tanhshrink")
    return input - input.tanh()

