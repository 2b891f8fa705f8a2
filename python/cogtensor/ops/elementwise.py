"""Element-wise operations with NumPy/PyTorch broadcasting and PyTorch type promotion."""

from __future__ import annotations

__all__: list[str] = []


class ElementwiseOps:
    """Arithmetic, comparison, logical and math methods (and their operators)."""

    __slots__ = ()
