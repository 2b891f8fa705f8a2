"""Dropout layers (``torch.nn``): ``Dropout``, ``Dropout1d``, ``Dropout2d``, ``Dropout3d``.
Active in training mode only; masks come from cogtensor's default generator."""

from __future__ import annotations

from cogtensor.nn import functional as F
from cogtensor.nn.functional_utils import check_probability
from cogtensor.nn.module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p = check_probability(p, type(self).__name__)
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` in training, scaling the rest by 1 / (1 - p).

    Example:
        >>> Dropout(0.5).eval()(cogtensor.ones(3))
        tensor([1., 1., 1.])
    """

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) in training."""

    def forward(self, input):
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) in training (a 3-D input is taken as (N, C, L), with a warning)."""

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) in training."""

    def forward(self, input):
        return F.dropout3d(input, self.p, self.training, self.inplace)
