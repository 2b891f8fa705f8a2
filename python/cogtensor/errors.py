"""Exceptions shared across cogtensor."""

__all__ = ["ShapeError"]


class ShapeError(ValueError):
    """Tensor shapes that do not fit an operation; the message names the operation,
    the shapes and the rule that failed."""
