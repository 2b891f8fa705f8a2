"""In-place numpy building blocks of the optimizer updates (torch's ``lerp_``, ``addcmul_``, ...).

Every function writes into its first argument with ``out=`` and uses the caller's scratch
array (same shape and dtype) for intermediates, so an update allocates nothing per element
pass and low-precision arrays (float16, bfloat16) keep their dtype. The operation order
follows torch's CPU kernels (e.g. ``addcdiv``: ``self + (value * t1) / t2``), so results
agree to the last bit or two.
"""

from __future__ import annotations

import numpy as np

from cogtensor.tensor import Tensor


def value_of(x):
    """A hyper-parameter as a Python number (a 1-element tensor gives its value)."""
    return x.item() if isinstance(x, Tensor) else x


def real_view(a: np.ndarray) -> np.ndarray:
    """A complex array's memory seen as real pairs, (*) -> (*, 2) (torch's ``view_as_real``); others as they are."""
    if a.dtype.kind != "c":
        return a
    return a[..., None].view(a.real.dtype)


def update_grad(p: Tensor, maximize: bool, weight_decay) -> np.ndarray:
    """The gradient the update uses: -grad when maximizing, plus ``weight_decay * p`` (L2 penalty).

    Returns ``p.grad``'s own array when neither applies, so callers must not write into it.
    """
    g = p.grad._data
    if maximize:
        g = np.negative(g)
    if weight_decay != 0:
        decayed = np.multiply(p._data, weight_decay, out=np.empty_like(p._data))
        g = np.add(g, decayed, out=decayed)
    return g


def lerp_(a: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """a <- a + weight * (end - a), with torch's two-sided formula for weights >= 0.5."""
    np.subtract(end, a, out=scratch)
    if abs(weight) < 0.5:
        np.multiply(scratch, weight, out=scratch)
        np.add(a, scratch, out=a)
    else:  # end - (end - a) * (1 - weight), 1 - weight taken in the array's precision as torch's
        np.multiply(scratch, 1 - a.dtype.type(weight), out=scratch)
        np.subtract(end, scratch, out=a)


def addcmul_(a: np.ndarray, t1: np.ndarray, t2: np.ndarray, value: float, scratch: np.ndarray) -> None:
    """a <- a + value * t1 * t2."""
    np.multiply(t1, value, out=scratch)
    np.multiply(scratch, t2, out=scratch)
    np.add(a, scratch, out=a)


def addcdiv_(a: np.ndarray, t1: np.ndarray, t2: np.ndarray, value: float, scratch: np.ndarray) -> None:
    """a <- a + value * t1 / t2."""
    np.multiply(t1, value, out=scratch)
    np.divide(scratch, t2, out=scratch)
    np.add(a, scratch, out=a)


def add_scaled_(a: np.ndarray, b: np.ndarray, alpha: float, scratch: np.ndarray) -> None:
    """a <- a + alpha * b (``scratch`` may be ``b`` itself when ``b`` is disposable)."""
    np.multiply(b, alpha, out=scratch)
    np.add(a, scratch, out=a)


def scaled_sqrt_plus(source: np.ndarray, divisor: float, eps: float, out: np.ndarray) -> np.ndarray:
    """out <- sqrt(source) / divisor + eps (Adam's denominator)."""
    np.sqrt(source, out=out)
    if divisor != 1:
        np.divide(out, divisor, out=out)
    np.add(out, eps, out=out)
    return out
