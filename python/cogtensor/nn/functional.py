"""Activation functions (``cogtensor.nn.functional``), numerically stable as torch's.

Each takes a cogtensor Tensor and returns a new one of the same shape and dtype.
They need a floating tensor (relu and relu6 also take integers, as torch), and
raise ``NotImplementedForDType`` (a TypeError, and torch's NotImplementedError)
otherwise. float16 and bfloat16 compute in float32 and round once, as torch does
on CPU; nothing overflows or warns for large inputs (softmax of [1000, 1001] is
[0.2689, 0.7311]).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType
from cogtensor.ops.views import normalize_dim

__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "softplus", "hardswish", "hardsigmoid",
    "softmax", "log_softmax",
]

_HALF = (dtypes.float16.numpy, dtypes.bfloat16.numpy)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _floating(x, op: str) -> np.ndarray:
    """x's values in the compute dtype (float32 for float16/bfloat16); NotImplementedForDType unless floating."""
    if not x.dtype.is_floating_point:
        raise NotImplementedForDType(f"{op}: not implemented for {x.dtype}; expected a floating point tensor "
                                     "(float16, bfloat16, float32 or float64)")
    return x._data.astype(np.float32) if x._data.dtype in _HALF else x._data


def _numeric(x, op: str) -> np.ndarray:
    """Floating or integer values (bool refused, as torch's relu/hardtanh)."""
    if x.dtype is dtypes.bool:
        raise DTypeError(f"{op}: Boolean inputs not supported for {op}")
    return x._data.astype(np.float32) if x._data.dtype in _HALF else x._data


def _ieee():
    """Overflow gives inf and inf * 0 gives NaN, as in torch, without numpy's warnings."""
    return np.errstate(over="ignore", invalid="ignore")


def _rounded(values, np_dtype) -> np.ndarray:
    """Values rounded to the result dtype (overflow gives inf)."""
    with _ieee():
        return np.asarray(values).astype(np_dtype, copy=False)


def _result(x, values, inplace: bool = False):
    """``values`` rounded to x's dtype: a new tensor, or written into x when ``inplace``."""
    out = _rounded(values, x._data.dtype)
    if inplace:
        x._data[...] = out
        return x
    return x._wrap(out)


# ------------------------------------------------------------- piecewise-linear
# (np.where with a data-dependent mask is several times slower than max/min arithmetic, so
# the piecewise functions below are written with np.maximum / np.minimum, which keep NaN)
def relu(input, inplace: bool = False):
    """max(x, 0), element-wise: (*) -> (*). NaN stays NaN."""
    return _result(input, np.maximum(_numeric(input, "relu"), 0), inplace)


def relu6(input, inplace: bool = False):
    """min(max(x, 0), 6), element-wise."""
    return _result(input, np.clip(_numeric(input, "relu6"), 0, 6), inplace)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False):
    """x where x > 0, else negative_slope * x."""
    x = _floating(input, "leaky_relu")
    with _ieee():
        if 0 <= negative_slope <= 1:  # the usual case: one pass fewer
            return _result(input, np.maximum(x, x * negative_slope), inplace)
        return _result(input, np.maximum(x, 0) + negative_slope * np.minimum(x, 0), inplace)


def hardsigmoid(input, inplace: bool = False):
    """relu6(x + 3) / 6: a piecewise-linear sigmoid."""
    x = _floating(input, "hardsigmoid")
    with _ieee():
        return _result(input, np.clip(x + 3, 0, 6) / 6, inplace)


def hardswish(input, inplace: bool = False):
    """x * relu6(x + 3) / 6."""
    x = _floating(input, "hardswish")
    with _ieee():
        return _result(input, x * np.clip(x + 3, 0, 6) / 6, inplace)


# ----------------------------------------------------------------- exponential
def _elu(x: np.ndarray, alpha: float) -> np.ndarray:
    """x where x > 0, else alpha * expm1(x) (expm1 only sees x <= 0, so never overflows)."""
    return np.maximum(x, 0) + alpha * np.expm1(np.minimum(x, 0))


def elu(input, alpha: float = 1.0, inplace: bool = False):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    x = _floating(input, "elu")
    with _ieee():
        return _result(input, _elu(x, alpha), inplace)


def selu(input, inplace: bool = False):
    """scale * elu(x, alpha) with the self-normalizing constants (scale 1.0507, alpha 1.6733)."""
    x = _floating(input, "selu")
    with _ieee():
        return _result(input, _SELU_SCALE * _elu(x, _SELU_ALPHA), inplace)


def silu(input, inplace: bool = False):
    """x * sigmoid(x) (swish), computed as x / (1 + exp(-x)), as torch: exp overflow gives -0."""
    x = _floating(input, "silu")
    with _ieee():
        return _result(input, x / (1 + np.exp(-x)), inplace)


def softplus(input, beta: float = 1.0, threshold: float = 20.0):
    """log(1 + exp(beta * x)) / beta, or x where beta * x > threshold (linear there, no overflow)."""
    x = _floating(input, "softplus")
    with _ieee():
        z = x * beta
        return _result(input, np.where(z > threshold, x, np.log1p(np.exp(z)) / beta))


def mish(input, inplace: bool = False):
    """x * tanh(softplus(x)); exp overflow gives tanh(inf) = 1, so mish(x) = x for large x."""
    x = _floating(input, "mish")
    with _ieee():
        return _result(input, x * np.tanh(np.log1p(np.exp(x))), inplace)


# ----------------------------------------------------------------------- gelu
def gelu(input, approximate: str = "none"):
    """x * Phi(x) with Phi the standard normal CDF, exactly (``'none'``) or with torch's tanh
    approximation 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (``'tanh'``).

    Exact float64 goes through erf within 1 ulp (as torch's 0.5 x (1 + erf(x / sqrt 2)));
    float32 and narrower through erfc (0.5 x erfc(-x / sqrt 2), relative error < 1e-5 even
    in the far negative tail where 1 + erf cancels).
    """
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate argument must be either 'none' or 'tanh', got {approximate!r}")
    x = _floating(input, "gelu")
    with _ieee():
        if approximate == "tanh":
            return _result(input, 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x))))
        if x.dtype == np.float64:
            return _result(input, 0.5 * x * (1 + _erf(x * math.sqrt(0.5))))
        return _result(input, 0.5 * x * _erfc_float32(x * -math.sqrt(0.5)))


# erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + |z| / 2) for z >= 0: Numerical Recipes' Chebyshev
# fit (erfcc), fractional error < 1.2e-7 everywhere; one branch, so cheap in numpy
_ERFC_NR = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587,
            -0.82215223, 0.17087277)


def _erfc_float32(z: np.ndarray) -> np.ndarray:
    """The complementary error function of float32 values, relative error < 1e-5 (< 2e-6 for z < 4)."""
    a = np.abs(z)
    t = 1 / (1 + 0.5 * a)
    r = t * np.exp(_horner(t, _ERFC_NR) - a * a)
    negative = (z < 0).astype(r.dtype)
    return r + negative * (2 - 2 * r)  # erfc(-a) = 2 - erfc(a)


def _horner(s: np.ndarray, coefficients) -> np.ndarray:
    """c0 + c1 s + c2 s^2 + ..., evaluated in place."""
    acc = np.full_like(s, coefficients[-1])
    for c in coefficients[-2::-1]:
        acc *= s
        acc += c
    return acc


# erf's rational approximations, coefficients from fdlibm's s_erf.c (Sun Microsystems,
# freely distributable): errors below 2**-57 on each range, so float64 results within 1 ulp.
_ERX = 8.45062911510467529297e-01
_PP = (1.28379167095512558561e-01, -3.25042107247001499370e-01, -2.84817495755985104766e-02,
       -5.77027029648944159157e-03, -2.37630166566501626084e-05)
_QQ = (1.0, 3.97917223959155352819e-01, 6.50222499887672944485e-02, 5.08130628187576562776e-03,
       1.32494738004321644526e-04, -3.96022827877536812320e-06)
_PA = (-2.36211856075265944077e-03, 4.14856118683748331666e-01, -3.72207876035701323847e-01,
       3.18346619901161753674e-01, -1.10894694282396677476e-01, 3.54783043256182359371e-02,
       -2.16637559486879084300e-03)
_QA = (1.0, 1.06420880400844228286e-01, 5.40397917702171048937e-01, 7.18286544141962662868e-02,
       1.26171219808761642112e-01, 1.36370839120290507362e-02, 1.19844998467991074170e-02)
_RA = (-9.86494403484714822705e-03, -6.93858572707181764372e-01, -1.05586262253232909814e+01,
       -6.23753324503260060396e+01, -1.62396669462573470355e+02, -1.84605092906711035994e+02,
       -8.12874355063065934246e+01, -9.81432934416914548592e+00)
_SA = (1.0, 1.96512716674392571292e+01, 1.37657754143519042600e+02, 4.34565877475229228821e+02,
       6.45387271733267880336e+02, 4.29008140027567833386e+02, 1.08635005541779435134e+02,
       6.57024977031928170135e+00, -6.04244152148580987438e-02)
_RB = (-9.86494292470009928597e-03, -7.99283237680523006574e-01, -1.77579549177547519889e+01,
       -1.60636384855821916062e+02, -6.37566443368389627722e+02, -1.02509513161107724954e+03,
       -4.83519191608651397019e+02)
_SB = (1.0, 3.03380607434824582924e+01, 3.25792512996573918826e+02, 1.53672958608443695994e+03,
       3.19985821950859553908e+03, 2.55305040643316442583e+03, 4.74528541206955367215e+02,
       -2.24409524465858183362e+01)


_ERF_LIBM_MAX = 2048


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function of float64 values (numpy has none), within 1 ulp of libm's.

    Up to a few thousand values go through ``math.erf`` (libm) one by one (numpy's
    per-call overhead makes that faster); more through fdlibm's rational
    approximations, each range on its own elements.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size <= _ERF_LIBM_MAX:
        return np.fromiter(map(math.erf, x.ravel().tolist()), np.float64, x.size).reshape(x.shape)
    a = np.abs(x).ravel()
    out = a.copy()  # NaN stays NaN: it falls in no range below
    with np.errstate(over="ignore", under="ignore"):
        _erf_range(a, out, a < 0.84375, lambda v: v + v * (_horner(v * v, _PP) / _horner(v * v, _QQ)))
        _erf_range(a, out, (a >= 0.84375) & (a < 1.25), lambda v: _ERX + _horner(v - 1, _PA) / _horner(v - 1, _QA))
        _erf_range(a, out, (a >= 1.25) & (a < 1 / 0.35), lambda v: _erf_tail(v, _RA, _SA))
        _erf_range(a, out, (a >= 1 / 0.35) & (a < 6), lambda v: _erf_tail(v, _RB, _SB))
        out[a >= 6] = 1.0
    return np.copysign(out, x.ravel()).reshape(x.shape)


def _erf_range(a: np.ndarray, out: np.ndarray, where: np.ndarray, fn) -> None:
    """out[where] = fn(a[where]) (through flat indices: faster than boolean indexing)."""
    index = np.flatnonzero(where)
    if index.size:
        out.put(index, fn(a.take(index)))


def _erf_tail(a: np.ndarray, r, s) -> np.ndarray:
    """1 - erfc(a) for 1.25 <= a < 6, erfc(a) = exp(-a^2 - 0.5625 + R(1/a^2)/S(1/a^2)) / a, the square split
    exactly (a's low 32 bits cleared) as fdlibm does."""
    t = 1 / (a * a)
    top = (a.view(np.uint64) & np.uint64(0xFFFFFFFF00000000)).view(np.float64)
    tail = np.exp(-top * top - 0.5625) * np.exp((top - a) * (top + a) + _horner(t, r) / _horner(t, s))
    return 1 - tail / a


# ---------------------------------------------------------------------- softmax
def _softmax_input(input, dim, dtype, op: str, stacklevel: int):
    """(values in the compute dtype, at least 1-d; the axis; the result dtype) for softmax/log_softmax."""
    if dim is None:  # torch's deprecated implicit choice
        dim = 0 if input.ndim in (0, 1, 3) else 1
        warnings.warn(f"Implicit dimension choice for {op} has been deprecated. Change the call to include "
                      f"dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    d = normalize_dim(dim, input.ndim, op)
    if dtype is not None:
        if not isinstance(dtype, dtypes.dtype):
            raise TypeError(f"{op}: dtype must be a cogtensor dtype (e.g. cogtensor.float64), got {dtype!r}")
        input = input._wrap(_rounded(input._data, dtype.numpy))
    x = input._data if input.numel() == 0 else _floating(input, op)  # torch accepts any empty tensor
    return (x.reshape(1) if x.ndim == 0 else x), d, input._data.dtype


def softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """exp(x) / sum(exp(x)) along ``dim``, with the max subtracted first (no overflow).

    ``dtype`` casts the input first (e.g. int -> float64). Rows holding +inf or only
    -inf give NaN, as torch. (The third positional argument is torch's ``_stacklevel``.)

    Example:
        >>> softmax(cogtensor.tensor([1000., 1001.]), dim=0)
        tensor([0.2689, 0.7311])
    """
    x, d, out = _softmax_input(input, dim, dtype, "softmax", _stacklevel)
    if x.size == 0:
        return input._wrap(np.empty(input.shape, out))
    with _ieee():  # -inf - -inf = nan; 3e38 - -3e38 = inf, as torch
        e = np.exp(x - np.max(x, axis=d, keepdims=True))
        return input._wrap(_rounded(e / np.sum(e, axis=d, keepdims=True), out).reshape(input.shape))


def log_softmax(input, dim=None, _stacklevel: int = 3, dtype=None):
    """x - logsumexp(x) along ``dim``, stable for large inputs: [1000, 1001] -> [-1.3133, -0.3133]."""
    x, d, out = _softmax_input(input, dim, dtype, "log_softmax", _stacklevel)
    if x.size == 0:
        return input._wrap(np.empty(input.shape, out))
    with _ieee():
        shifted = x - np.max(x, axis=d, keepdims=True)
        result = shifted - np.log(np.sum(np.exp(shifted), axis=d, keepdims=True))
    return input._wrap(_rounded(result, out).reshape(input.shape))
