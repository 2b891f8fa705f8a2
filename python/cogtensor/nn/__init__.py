"""Neural-network building blocks."""

from cogtensor.nn import functional

__all__ = ["functional"]
