"""The error function for gelu and the normal CDF (numpy has no erf): libm/fdlibm accuracy
in float64, a Chebyshev fit within 1e-5 relative error for float32 and narrower, and
:func:`normal_cdf`, a recorded op whose gradient is the normal density."""

from __future__ import annotations

import math

import numpy as np

from cogtensor.graph import attach
from cogtensor.ops.elementwise import exp

__all__ = ["normal_cdf", "normal_pdf"]

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


_HALF = ("float16", "bfloat16")


def normal_cdf(x):
    """Phi(x), the standard normal CDF, element-wise on a floating tensor (recorded: its
    gradient is :func:`normal_pdf`). float64 goes through erf (0.5 (1 + erf(x / sqrt 2)), as
    torch's gelu); float32 and narrower through erfc (accurate in the far negative tail)."""
    values = x._data.astype(np.float32) if x._data.dtype.name in _HALF else x._data
    with np.errstate(over="ignore", invalid="ignore"):
        if values.dtype == np.float64:
            cdf = 0.5 * (1 + _erf(values * math.sqrt(0.5)))
        else:
            cdf = 0.5 * _erfc_float32(values * -math.sqrt(0.5))
    out = x._wrap(np.asarray(cdf).astype(x._data.dtype, copy=False))
    return attach(out, "NormalCdfBackward0", (x,), lambda g: g * normal_pdf(x), saved=(x,))


def normal_pdf(x):
    """The standard normal density exp(-x^2 / 2) / sqrt(2 pi), with tensor ops (differentiable)."""
    return exp(x * x * -0.5) * (1 / math.sqrt(2 * math.pi))
