"""Exceptions shared across cogtensor.

Each is a Python built-in exception (what cogtensor's conventions ask for) and,
where PyTorch raises RuntimeError for the same mistake, a RuntimeError too, so
code written against torch's errors keeps working.
"""

__all__ = [
    "ShapeError", "DTypeError", "NotImplementedForDType", "ValueRangeError", "IntegerDivisionByZero", "LinAlgError",
]


class ShapeError(ValueError):
    """Tensor shapes that do not fit an operation; the message names the operation,
    the shapes and the rule that failed."""


class DTypeError(TypeError, RuntimeError):
    """Operand dtypes an operation does not accept, or that disagree."""


class NotImplementedForDType(DTypeError, NotImplementedError):
    """An operation torch does not implement for a dtype (``"abs_cpu" not implemented for 'Bool'``)."""


class ValueRangeError(ValueError, RuntimeError):
    """A value that does not fit a dtype or an operation's domain."""


class IntegerDivisionByZero(ValueRangeError, ZeroDivisionError):
    """Integer ``//``, ``%``, ``fmod`` or rounding ``div`` by zero (torch: RuntimeError "ZeroDivisionError")."""


class LinAlgError(RuntimeError):
    """A linear-algebra routine that cannot produce its result for this input: a singular
    matrix to invert or solve with, a matrix that is not positive-definite for a Cholesky
    factorization, a decomposition that did not converge. As ``torch.linalg.LinAlgError``,
    a RuntimeError; the message names the function and, for a batch, the failing element."""
