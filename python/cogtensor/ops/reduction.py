"""Reductions over one or more dimensions (``dim`` int or tuple, ``keepdim``)."""

from __future__ import annotations

__all__: list[str] = []


class ReductionOps:
    """sum, mean, var/std, max/min, argmax/argmin, prod, logsumexp, norm, cumsum, all, any."""

    __slots__ = ()
