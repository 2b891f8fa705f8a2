"""Activation functions (``cogtensor.nn.functional``), numerically stable as torch's."""

from __future__ import annotations

__all__: list[str] = []
