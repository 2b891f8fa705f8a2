"""Random sampling into and from tensors: the in-place fills (uniform_, normal_, bernoulli_,
exponential_, geometric_, log_normal_, cauchy_, random_) and bernoulli, multinomial, poisson.

Draws come from a :class:`cogtensor.Generator` (``generator=``) or the default generator
that ``cogtensor.manual_seed`` seeds: the distributions, shapes, dtypes and argument checks
are torch's, the streams are numpy's PCG64 (a seed does not reproduce torch's numbers).
The fills follow torch's in-place rules: they bump the version counter and refuse a leaf
that requires grad unless gradients are off.
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import DTypeError, NotImplementedForDType
from cogtensor.ops.elementwise import _write
from cogtensor.random import rng

__all__ = ["bernoulli", "multinomial", "poisson"]

# torch's random_() range for each dtype without bounds: [0, 2**digits] for floats (every
# integer there is exact), [0, max] for integers
_FLOAT_DIGITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}


def _floating(t, op: str) -> None:
    if not t.is_floating_point():
        raise NotImplementedForDType(f'"{op}" not implemented for \'{t.dtype}\'')


def _probability(p, op: str, low_open: bool = False, high_open: bool = False) -> float:
    inside = (p > 0 if low_open else p >= 0) and (p < 1 if high_open else p <= 1)
    if not inside:
        lo, hi = "(" if low_open else "[", ")" if high_open else "]"
        raise RuntimeError(f"{op} expects p to be in {lo}0, 1{hi}, but got p={p}")
    return float(p)


def _probabilities(p, op: str) -> np.ndarray:
    values = np.asarray(p._data if hasattr(p, "_data") else p, np.float64)
    if not ((values >= 0) & (values <= 1)).all():  # NaN fails too
        raise RuntimeError(f"{op}: expected every probability in [0, 1]")
    return values


class SamplingOps:
    """uniform_, normal_, bernoulli_, exponential_, geometric_, log_normal_, cauchy_, random_,
    bernoulli, multinomial."""

    __slots__ = ()

    def _fill(self, op: str, values) -> object:
        return _write(op, self, self._wrap(np.asarray(values).astype(self._data.dtype)))

    def uniform_(self, from_: float = 0.0, to: float = 1.0, *, generator=None):
        """Fill with U[from_, to); returns self."""
        _floating(self, "uniform_")
        if from_ > to:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}")
        return self._fill("uniform_", rng(generator).uniform(from_, to, self.shape))

    def normal_(self, mean: float = 0.0, std: float = 1.0, *, generator=None):
        """Fill with N(mean, std^2); returns self."""
        _floating(self, "normal_kernel_cpu")
        if std < 0:
            raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
        return self._fill("normal_", rng(generator).normal(mean, std, self.shape))

    def log_normal_(self, mean: float = 1.0, std: float = 2.0, *, generator=None):
        """Fill with exp(N(mean, std^2)); returns self."""
        _floating(self, "log_normal_cpu")
        if std <= 0:
            raise RuntimeError(f"log_normal_ expects std > 0.0, but found std={std}")
        return self._fill("log_normal_", rng(generator).lognormal(mean, std, self.shape))

    def cauchy_(self, median: float = 0.0, sigma: float = 1.0, *, generator=None):
        """Fill with Cauchy(median, sigma); returns self."""
        _floating(self, "cauchy_cpu")
        if sigma <= 0:
            raise RuntimeError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
        return self._fill("cauchy_", median + sigma * rng(generator).standard_cauchy(self.shape))

    def exponential_(self, lambd: float = 1.0, *, generator=None):
        """Fill with Exp(lambd) (mean 1 / lambd); returns self."""
        _floating(self, "exponential_cpu")
        if not lambd > 0:
            raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
        return self._fill("exponential_", rng(generator).exponential(1.0 / lambd, self.shape))

    def geometric_(self, p: float, *, generator=None):
        """Fill with the number of Bernoulli(p) trials up to the first success (1, 2, ...)."""
        p = _probability(p, "geometric_", low_open=True, high_open=True)
        return self._fill("geometric_", rng(generator).geometric(p, self.shape))

    def bernoulli_(self, p=0.5, *, generator=None):
        """Fill with 1 at probability ``p`` (a number, or a tensor broadcasting to self), else 0."""
        if hasattr(p, "_data"):
            probs = _probabilities(p, "bernoulli_")
        else:
            probs = _probability(p, "bernoulli_")
        return self._fill("bernoulli_", rng(generator).random(self.shape) < probs)

    def random_(self, from_: int | None = None, to: int | None = None, *, generator=None):
        """Fill with integers uniform on [from_, to) (``random_(to)`` is [0, to); no bounds:
        [0, 2**mantissa digits] for floats, [0, max] for integers, as torch)."""
        if from_ is None:
            from_ = 0
        elif to is None:
            from_, to = 0, from_
        if to is None:
            name = self.dtype.name
            if name == "bool":
                to = 2
            elif name in _FLOAT_DIGITS:
                to = 2 ** _FLOAT_DIGITS[name] + 1
            else:
                to = int(np.iinfo(self._data.dtype).max) + 1
        if from_ >= to:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={to}")
        return self._fill("random_", rng(generator).integers(from_, to, self.shape, dtype=np.int64))

    def bernoulli(self, p=None, *, generator=None):
        """0/1 draws in this tensor's dtype: with probability self (elements in [0, 1]), or ``p``."""
        if p is not None:
            return self._wrap(np.empty(self.shape, self._data.dtype)).bernoulli_(p, generator=generator)
        _floating(self, "bernoulli_tensor_cpu_p_")
        probs = _probabilities(self, "bernoulli")
        return self._wrap((rng(generator).random(self.shape) < probs).astype(self._data.dtype))

    def multinomial(self, num_samples: int, replacement: bool = False, *, generator=None):
        """Category indices drawn from the weights in each row (1-D: one row), int64 of shape
        ``(rows, num_samples)``. Without replacement no category repeats; categories of
        weight 0 come only after every positive one, as torch.
        """
        if not self.is_floating_point():
            raise DTypeError(f"multinomial only supports floating-point dtypes for input, got: {self.dtype}")
        if self.ndim not in (1, 2):
            raise RuntimeError("prob_dist must be 1 or 2 dim")
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
            raise RuntimeError("cannot sample n_sample <= 0 samples")
        weights = np.atleast_2d(self._data.astype(np.float64))
        if weights.shape[1] == 0:
            raise RuntimeError("multinomial: prob_dist must have at least one category")
        if not (np.isfinite(weights) & (weights >= 0)).all():
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if (weights.sum(axis=1) <= 0).any():
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > weights.shape[1]:
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
        g = rng(generator)
        if replacement:
            cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
            u = g.random((len(weights), num_samples))
            picks = np.stack([np.searchsorted(row, draws, side="right") for row, draws in zip(cdf, u)])
            picks = np.minimum(picks, weights.shape[1] - 1)
        else:
            # exponential races: category i finishes at Exp(1) / w_i; the first num_samples to
            # finish are a draw without replacement (weight-0 categories never finish, so they
            # follow in random order)
            with np.errstate(divide="ignore"):
                finish = g.exponential(size=weights.shape) / weights
            tiebreak = g.random(weights.shape)
            picks = np.lexsort((tiebreak, finish), axis=1)[:, :num_samples]
        picks = picks.astype(np.int64)
        return self._wrap(picks[0] if self.ndim == 1 else picks)


def poisson(input, generator=None):
    """Poisson draws with the rates in ``input`` (same shape and dtype)."""
    if not input.is_floating_point():
        raise NotImplementedForDType(f'"poisson_cpu" not implemented for \'{input.dtype}\'')
    rates = input._data.astype(np.float64)
    if not (rates >= 0).all():
        raise RuntimeError("invalid Poisson rate, expected rate to be non-negative")
    return input._wrap(rng(generator).poisson(rates).astype(input._data.dtype))


# function forms: cogtensor.bernoulli(p) == p.bernoulli()
bernoulli, multinomial = SamplingOps.bernoulli, SamplingOps.multinomial
