"""Utilities around the tensor stack (``cogtensor.utils.checkpoint``)."""

from cogtensor.utils import checkpoint

__all__ = ["checkpoint"]
