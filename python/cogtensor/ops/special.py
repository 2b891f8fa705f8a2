"""Special element-wise functions: erf, erfc, atan2, hypot, logaddexp, xlogy, logit.

Operands broadcast and promote as the other element-wise ops (integers compute in the
default float dtype); each gradient is written next to its forward with tensor ops.
"""

from __future__ import annotations

import math

import numpy as np

from cogtensor.graph import attach
from cogtensor.ops.elementwise import _wants, exp
from cogtensor.ops.elementwise_core import _apply, _to_float
from cogtensor.ops.erf_kernels import _erf

__all__ = ["erf", "erfc", "atan2", "arctan2", "hypot", "logaddexp", "xlogy", "logit"]

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)


def _erf64(x: np.ndarray) -> np.ndarray:
    """erf at float64 accuracy, cast back to ``x``'s dtype."""
    return _erf(x.astype(np.float64)).astype(x.dtype)


_MATH_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _erfc64(x: np.ndarray) -> np.ndarray:
    """erfc through libm's (1 - erf would lose the tail's relative accuracy)."""
    return _MATH_ERFC(x.astype(np.float64)).astype(x.dtype)


class SpecialOps:
    """erf, erfc, atan2, hypot, logaddexp, xlogy, logit as Tensor methods."""

    __slots__ = ()

    def erf(self):
        """The error function; gradient ``2 / sqrt(pi) * exp(-x^2)``."""
        out = _apply("erf", _erf64, self, cast=_to_float)
        return attach(out, "ErfBackward0", (self,), lambda g: g * exp(-(self * self)) * _TWO_OVER_SQRT_PI,
                      saved=(self,))

    def erfc(self):
        """``1 - erf(x)``."""
        out = _apply("erfc", _erfc64, self, cast=_to_float)
        return attach(out, "ErfcBackward0", (self,), lambda g: g * exp(-(self * self)) * -_TWO_OVER_SQRT_PI,
                      saved=(self,))

    def atan2(self, other):
        """The angle of the point (other, self): ``atan2(y=self, x=other)`` in [-pi, pi]."""
        out = _apply("atan2", np.arctan2, self, other, cast=_to_float)

        def backward(g):
            r2 = self * self + other * other
            return (g * other / r2 if _wants(self) else None, g * -self / r2 if _wants(other) else None)

        return attach(out, "Atan2Backward0", (self, other), backward, saved=(self, other))

    arctan2 = atan2

    def hypot(self, other):
        """``sqrt(self^2 + other^2)`` without overflow; floating operands."""
        out = _apply("hypot", np.hypot, self, other)
        return attach(out, "HypotBackward0", (self, other),
                      lambda g, h: (g * self / h if _wants(self) else None, g * other / h if _wants(other) else None),
                      saved=(self, other), with_output=True)

    def logaddexp(self, other):
        """``log(exp(self) + exp(other))`` without overflow."""
        out = _apply("logaddexp", np.logaddexp, self, other, cast=_to_float)
        return attach(out, "LogaddexpBackward0", (self, other),
                      lambda g, y: (g * exp(self - y) if _wants(self) else None,
                                    g * exp(other - y) if _wants(other) else None),
                      saved=(self, other), with_output=True)

    def xlogy(self, other):
        """``self * log(other)``, 0 where ``self`` is 0 (unless ``other`` is NaN), as torch."""
        out = _apply("xlogy", _xlogy, self, other, cast=_to_float)

        def backward(g):
            y = other if hasattr(other, "_data") else self._wrap(np.asarray(other, self._data.dtype))
            gx = (g * y.log()).where(~((self == 0) & (y <= 0)), 0.0) if _wants(self) else None
            return gx, g * self / other if _wants(other) else None

        return attach(out, "XlogyBackward0", (self, other), backward, saved=(self, other))

    def logit(self, eps: float | None = None):
        """``log(p / (1 - p))``, with ``p`` clamped to [eps, 1 - eps] when ``eps`` is given."""
        p = self if eps is None else self.clamp(eps, 1 - eps)
        return (p / (1 - p)).log()


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(y)
    return np.where((x == 0) & ~np.isnan(y), 0.0, out).astype(out.dtype)


# function forms: cogtensor.atan2(y, x) == y.atan2(x)
erf, erfc, atan2, arctan2 = SpecialOps.erf, SpecialOps.erfc, SpecialOps.atan2, SpecialOps.atan2
hypot, logaddexp, xlogy, logit = SpecialOps.hypot, SpecialOps.logaddexp, SpecialOps.xlogy, SpecialOps.logit
