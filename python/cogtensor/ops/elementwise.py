"""Element-wise operations with NumPy/PyTorch broadcasting and PyTorch type promotion.

Every op is a small forward function over one numpy kernel, run by :func:`_apply`:
it promotes the operands by torch's rules (:func:`cogtensor.dtypes.result_type`,
Python scalars included), checks that their shapes broadcast (else a
:class:`~cogtensor.ShapeError` naming the op, the shapes and the dimension),
casts every operand to the promoted dtype (wrapping integers as torch does:
``int8 + 1000`` adds ``-24``), computes float16/bfloat16 in float32 (torch's
"opmath"; mul and div follow torch's kernels for them more closely, see
:func:`_arrays`) and casts the result back. Numpy floating-point warnings are
silenced inside ops: ``log(0)`` is ``-inf`` as in torch.

In-place forms (``add_``, ``+=``, ...) write into the tensor's own memory and
follow torch's rule that the result dtype must cast to the tensor's dtype
(no float into an integer tensor, nothing but bool into a bool tensor).
"""

from __future__ import annotations

import builtins
import math

import ml_dtypes
import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, IntegerDivisionByZero, NotImplementedForDType, ShapeError, ValueRangeError

__all__ = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "fmod", "pow", "neg", "negative", "positive", "abs", "absolute", "exp", "exp2", "log", "log2", "log10",
    "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
    "sigmoid", "reciprocal", "square", "clamp", "clip", "clamp_min", "clamp_max", "sign", "floor", "ceil",
    "round", "trunc", "maximum", "minimum", "lerp", "eq", "ne", "lt", "le", "gt", "ge", "greater",
    "greater_equal", "less", "less_equal", "not_equal", "isnan", "isinf", "isfinite", "logical_and",
    "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
]


# ------------------------------------------------------------------ errors
_TORCH_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
                "float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double"}


def _describe(operands) -> str:
    return _join(f"{x.dtype.name} tensor" if isinstance(x, ElementwiseOps) else f"Python {type(x).__name__}"
                 for x in operands)


def _not_implemented(op, dt, operands):
    return NotImplementedForDType(f"{op}: not implemented for {dt.name} (operands: {_describe(operands)})")


# ------------------------------------------------------------- quiet numpy
try:  # numpy >= 2 keeps its error state in a context variable; np.errstate costs ~1.5 us a call
    from numpy._core._multiarray_umath import _extobj_contextvar, _make_extobj

    _IGNORE_ALL = _make_extobj(all="ignore")

    def _silence():
        return _extobj_contextvar.set(_IGNORE_ALL)

    _restore = _extobj_contextvar.reset
except Exception:  # pragma: no cover - other numpy layouts
    def _silence():
        state = np.errstate(all="ignore")
        state.__enter__()
        return state

    def _restore(state):
        state.__exit__(None, None, None)


def _quiet(fn, *args):
    """fn(*args) with numpy's floating-point warnings off (log(0) is -inf, as in torch)."""
    token = _silence()
    try:
        return fn(*args)
    finally:
        _restore(token)


# ------------------------------------------------------------ the one helper
_NUMBERS = (builtins.bool, builtins.int, builtins.float, np.bool_, np.integer, np.floating)
_OPMATH = {np.dtype(np.float16): np.dtype(np.float32), np.dtype(ml_dtypes.bfloat16): np.dtype(np.float32)}
_BOOL = np.dtype(np.bool_)
_BOOLS = (builtins.bool, np.bool_)


def _is_operand(x) -> bool:
    return isinstance(x, (ElementwiseOps, np.ndarray, *_NUMBERS))


def _tensors(op, operands):
    """(a tensor to wrap the result with, the operands with numpy arrays made tensors)."""
    ref = next((x for x in operands if isinstance(x, ElementwiseOps)), None)
    bad = next((x for x in operands if not _is_operand(x)), None)
    if ref is None or bad is not None:
        got = ", ".join(type(x).__name__ for x in operands)
        raise TypeError(f"{op}: expected tensors or Python numbers with at least one tensor, got ({got})")
    if any(isinstance(x, np.ndarray) for x in operands):
        operands = tuple(ref._wrap(x) if isinstance(x, np.ndarray) else x for x in operands)
    return ref, operands


def _join(items) -> str:
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _broadcast_error(op, shapes) -> ShapeError:
    """Name the op, the shapes and the first dimension (from the right) whose sizes clash."""
    for d in range(1, builtins.max(len(s) for s in shapes) + 1):
        sizes = [s[-d] for s in shapes if d <= len(s)]
        if len({n for n in sizes if n != 1}) > 1:
            break
    msg = f"{op}: shapes {_join(list(s) for s in shapes)} cannot broadcast: dimension {-d} has sizes {_join(sizes)}"
    short, long_ = sorted(shapes, key=len)[0], sorted(shapes, key=len)[-1]
    padded = short + (1,) * (len(long_) - len(short))
    if len(shapes) == 2 and padded != short and all(a in (1, b) or b == 1 for a, b in zip(padded, long_)):
        how = " (unsqueeze(-1))" if len(padded) == len(short) + 1 else ""
        msg += (f"; hint: to line the {list(short)} operand up with the leading dimensions, "
                f"reshape it to {list(padded)}{how}")
    return ShapeError(msg)


def _promote(op, operands):
    """(a tensor to wrap the result with, the operands, their dtype by torch's promotion)."""
    first = operands[0]
    if isinstance(first, ElementwiseOps):  # fast path: tensors of one dtype
        same = first._data.dtype
        if all(isinstance(x, ElementwiseOps) and x._data.dtype == same for x in operands[1:]):
            return first, operands, dtypes.from_numpy_dtype(same)
    ref, operands = _tensors(op, operands)
    return ref, operands, dtypes.result_type(*operands)


def _check_broadcast(op, operands) -> None:
    shapes = [x._data.shape for x in operands if isinstance(x, ElementwiseOps)]
    for shape in shapes[1:]:
        if shape != shapes[0]:
            try:
                np.broadcast_shapes(*shapes)
            except ValueError:
                raise _broadcast_error(op, shapes) from None
            return


def _as_array(x, dt: np.dtype, compute: np.dtype) -> np.ndarray:
    """An operand cast to the op's dtype (integers wrap, as torch casts), then to the compute dtype."""
    if isinstance(x, ElementwiseOps):
        a = x._data
    else:
        if isinstance(x, builtins.int) and not -(2**63) <= x < 2**64:
            raise OverflowError("int too big to convert")
        a = np.asarray(x)
    if a.dtype != dt:
        a = a.astype(dt)
    return a if compute == dt else a.astype(compute)


def _is_single(x) -> bool:
    return not isinstance(x, ElementwiseOps) or x._data.size == 1


def _arrays(operands, dt: np.dtype, compute: np.dtype, scalar_other: bool):
    """The operands as arrays for the kernel.

    With ``scalar_other`` (torch's CPU mul/div kernels) a float16/bfloat16 op keeps a
    one-element ``other`` at its own value in float32, and otherwise computes in the
    reduced dtype itself, rounding after each step as those kernels do.
    """
    if scalar_other and compute != dt:
        if _is_single(operands[-1]):
            return [_as_array(x, dt, compute) for x in operands[:-1]] + [_as_array(operands[-1], compute, compute)]
        compute = dt
    return [_as_array(x, dt, compute) for x in operands]


def _compute(kernel, operands, dt: np.dtype, bool_out: bool, scalar_other: bool):
    out = kernel(*_arrays(operands, dt, _OPMATH.get(dt, dt), scalar_other))
    target = _BOOL if bool_out else dt
    return out if out.dtype == target else out.astype(target)


def _apply(op, kernel, *operands, cast=None, bool_out=False, check=None, scalar_other=False):
    """Run ``kernel`` element-wise over broadcast, promoted ``operands``; returns a new tensor.

    Args:
        op: the op's name, for error messages.
        kernel: numpy function of the operands' arrays (all in the compute dtype).
        cast: maps the promoted dtype to the dtype operands are cast to
            (e.g. :func:`_to_float` for true division); default: keep it.
        bool_out: the result is bool (comparisons), else it has the operands' dtype.
        check: ``check(op, dtype, operands)`` raises for a dtype or value the op refuses.
        scalar_other: float16/bfloat16 precision as torch's mul and div (see :func:`_arrays`).
    """
    ref, operands, dt = _promote(op, operands)
    if cast is not None:
        dt = cast(dt)
    if check is not None:
        check(op, dt, operands)
    arrays = _ready_arrays(operands, dt.numpy)
    if arrays is not None:  # the common case, kept short: tiny tensors are all overhead
        out = _quiet(kernel, *arrays)
        target = _BOOL if bool_out else dt.numpy
        return ref._wrap(out if out.dtype == target else out.astype(target))
    _check_broadcast(op, operands)
    return ref._wrap(_quiet(_compute, kernel, operands, dt.numpy, bool_out, scalar_other))


def _ready_arrays(operands, dt: np.dtype):
    """The operands' arrays when no cast, opmath or broadcast is needed: tensors of
    dtype ``dt`` (not float16/bfloat16) and one shape; else None."""
    if dt in _OPMATH:
        return None
    first = operands[0]
    if not isinstance(first, ElementwiseOps):
        return None
    shape = first._data.shape
    for x in operands:
        if not isinstance(x, ElementwiseOps) or x._data.dtype != dt or x._data.shape != shape:
            return None
    return [x._data for x in operands]


_PLAIN_CHARS = "fd"  # dtype.char of float32 and float64: the quickest test on the hot path


def _plain_other(a: np.ndarray, other):
    """``other``'s value when ``a <op> other`` needs no promotion or broadcast check: a
    tensor of a's float dtype and shape, or a Python float or small int (numpy's weak
    scalars then keep a's dtype, as torch does); else None."""
    if isinstance(other, ElementwiseOps):
        data = other._data
        return data if data.dtype == a.dtype and data.shape == a.shape else None
    if type(other) is builtins.float or (type(other) is builtins.int and -(2**53) <= other <= 2**53):
        return other
    return None


def _fresh(like, array: np.ndarray):
    """A tensor of like's type over ``array`` (already of a supported dtype: no checks)."""
    out = type(like).__new__(type(like))
    out._data = array
    return out


def _unary_float(op, kernel, input):
    """A float function of one tensor: integer and bool tensors give the default float dtype."""
    data = input._data if isinstance(input, ElementwiseOps) else None
    if data is not None and data.ndim and data.dtype.char in _PLAIN_CHARS:  # no promotion to do
        out = _quiet(kernel, data)
        return _fresh(input, out if out.dtype == data.dtype else out.astype(data.dtype))
    return _apply(op, kernel, input, cast=_to_float)


# ------------------------------------------------------- casts and checks
def _to_float(dt):
    return dt if dt.is_floating_point else dtypes.get_default_dtype()


def _to_bool(dt):
    return dtypes.bool


def _bool_to_long(dt):
    return dtypes.int64 if dt is dtypes.bool else dt


def _no_bool(op, dt, operands):
    if dt is dtypes.bool:
        raise _not_implemented(op, dt, operands)


def _integral(op, dt, operands):
    if dt.is_floating_point:
        raise _not_implemented(op, dt, operands)


def _floating(op, dt, operands):
    if not dt.is_floating_point:
        raise _not_implemented(op, dt, operands)


def _scalar_or_tensor_dtype(x):
    return x.dtype if isinstance(x, ElementwiseOps) else dtypes.result_type(x)


def _alpha_check(alpha, sub=False):
    if not sub and type(alpha) is builtins.int and alpha == 1:
        return None

    def check(op, dt, operands):
        if sub:
            _no_bool_subtraction(operands)
        if isinstance(alpha, _BOOLS) and dt is not dtypes.bool:
            raise DTypeError(f"{op}: Boolean alpha only supported for Boolean results.")
        if isinstance(alpha, (builtins.float, np.floating)) and not dt.is_floating_point:
            raise DTypeError(f"{op}: For integral input tensors, argument alpha must not be a floating point number.")
    return check


def _no_bool_subtraction(operands):
    bools = [_scalar_or_tensor_dtype(x) is dtypes.bool for x in operands]
    if builtins.all(bools):
        raise DTypeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                          "Use the `^` or `logical_xor()` operator instead.")
    if builtins.any(bools):
        raise DTypeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                          "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")


def _check_fits(op, value, dt) -> None:
    """torch converts pow exponents and clamp bounds to the op's dtype with an overflow check."""
    if isinstance(value, (ElementwiseOps, np.ndarray, builtins.bool, np.bool_)) or dt is dtypes.bool:
        return
    if dt.is_floating_point:
        limit = {dtypes.float16: 65504.0, dtypes.bfloat16: float(ml_dtypes.finfo(ml_dtypes.bfloat16).max)}.get(dt)
        bad = limit is not None and math.isfinite(value) and builtins.abs(value) > limit
    else:
        info = np.iinfo(dt.numpy)
        bad = not (-info.max if info.min == 0 else info.min) <= value <= info.max  # unsigned also take -max..-1
    if bad:
        raise ValueRangeError(f"{op}: value {value!r} cannot be converted to type {dt.name} without overflow")


def _pow_check(exponent):
    def check(op, dt, operands):
        if not (dt is dtypes.bool and isinstance(exponent, _BOOLS)):  # bool ** True/False works
            _no_bool(op, dt, operands)
        _check_fits(op, exponent, dt)
        integer = isinstance(exponent, (builtins.int, np.integer)) and not isinstance(exponent, _BOOLS)
        if integer and exponent < 0 and not dt.is_floating_point:
            raise ValueRangeError(f"{op}: Integers to negative integer powers are not allowed.")
    return check


def _lerp_check(op, dt, operands):
    start, end, weight = operands
    if not isinstance(start, ElementwiseOps) or not isinstance(end, ElementwiseOps):
        raise TypeError(f"{op}: input and end must be tensors, got {_describe(operands[:2])}")
    _floating(op, start.dtype, operands)
    for name, x in (("end", end), ("weight", weight)):
        if isinstance(x, ElementwiseOps) and x.dtype is not start.dtype:
            raise DTypeError(f"{op}: expected dtype {start.dtype.name} for `{name}` but got dtype {x.dtype.name}")


# ----------------------------------------------------------------- kernels
def _with_alpha(ufunc, alpha):
    if type(alpha) is builtins.int and alpha == 1:
        return ufunc
    return lambda x, y: ufunc(x, y * np.asarray(alpha).astype(y.dtype))


def _check_divisor(x, y):
    if y.dtype.kind in "iu" and x.size and not y.all():
        raise IntegerDivisionByZero("ZeroDivisionError (integer division or modulo by zero)")


def _floor_divide(x, y):
    if x.dtype in _OPMATH:
        return _floor_divide_steps(x, y)
    _check_divisor(x, y)
    return np.floor_divide(x, y)


def _floor_divide_steps(x, y):
    """numpy's (and torch's) floating floor division, written out so that float16 and
    bfloat16 round after every step as torch's kernels for them do."""
    mod = np.fmod(x, y)
    div = (x - mod) / y
    div = np.where((mod != 0) & ((y < 0) != (mod < 0)), div - 1, div)
    floor = np.floor(div)
    floor = np.where(div - floor > 0.5, floor + 1, floor)
    floor = np.where(div == 0, np.copysign(np.zeros_like(x), x / y), floor)
    return np.where(y == 0, x / y, floor)


def _floating_array(a) -> bool:
    return a.dtype.kind == "f" or a.dtype in _OPMATH  # ml_dtypes' bfloat16 has kind "V"


def _trunc_divide(x, y):
    if _floating_array(x):
        return np.trunc(np.divide(x, y))
    _check_divisor(x, y)
    q = np.floor_divide(x, y)
    return q if x.dtype.kind == "u" else q + ((np.remainder(x, y) != 0) & ((x < 0) != (y < 0)))


def _remainder(x, y):
    _check_divisor(x, y)
    return np.remainder(x, y)


def _fmod(x, y):
    _check_divisor(x, y)
    return np.fmod(x, y)


def _power(x, y):
    """np.power, with torch's integer rule for negative exponents: 1 ** -n = 1,
    (-1) ** -n = +-1, any other base gives 0 (numpy refuses them)."""
    if x.dtype == _BOOL:
        return x | ~y
    if y.dtype.kind != "i":
        return np.power(x, y)
    negative = y < 0
    if not negative.any():
        return np.power(x, y)
    positive = np.power(x, np.where(negative, 0, y))
    special = np.where(x == 1, 1, np.where(x == -1, 1 - 2 * (y & 1), 0))
    return np.where(negative, special, positive).astype(x.dtype)


def _keep_integers(ufunc):
    """A rounding ufunc that leaves integer tensors as they are (numpy would make them float)."""
    return lambda x: x.copy() if x.dtype.kind in "iub" else ufunc(x)


def _round_decimals(decimals):
    def kernel(x):
        ten = np.asarray(10.0 ** builtins.abs(decimals)).astype(x.dtype)
        return np.rint(x / ten) * ten if decimals < 0 else np.rint(x * ten) / ten
    return kernel


def _sign(x):
    if _floating_array(x):
        return (x > 0).astype(x.dtype) - (x < 0)  # NaN -> 0 and -0.0 -> 0, as torch
    return x.copy() if x.dtype == _BOOL else np.sign(x)


def _rsqrt(x):
    return np.reciprocal(np.sqrt(x))


def _sigmoid(x):
    return np.reciprocal(1 + np.exp(-x))


def _lerp(start, end, weight):
    """torch's two-sided formula: exact at weight 0 and at weight 1."""
    diff = end - start
    return np.where(np.abs(weight) < 0.5, start + weight * diff, end - diff * (1 - weight))


def _clamp_kernel(has_min, has_max):
    if has_min and has_max:
        return lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)
    return np.maximum if has_min else np.minimum


def _float_test(ufunc, integers):
    """isnan/isinf/isfinite: integer and bool tensors are all ``integers`` (False or True)."""
    return lambda x: ufunc(x) if _floating_array(x) else np.full(x.shape, integers)


# --------------------------------------------------------------- arithmetic
def add(input, other, *, alpha=1):
    """``input + alpha * other``, broadcast, with torch's type promotion.

    Returns:
        A tensor of the broadcast shape and the promoted dtype (bool + bool is a logical or).

    Example:
        >>> cogtensor.add(cogtensor.tensor([1, 2]), 0.5).tolist()
        [1.5, 2.5]
    """
    return _apply("add", _with_alpha(np.add, alpha), input, other, check=_alpha_check(alpha))


def sub(input, other, *, alpha=1):
    """``input - alpha * other``; bool operands raise as in torch (use ``^`` or ``~``)."""
    return _apply("sub", _with_alpha(np.subtract, alpha), input, other, check=_alpha_check(alpha, sub=True))


def mul(input, other):
    """``input * other`` (bool * bool is a logical and)."""
    return _apply("mul", np.multiply, input, other, scalar_other=True)


def div(input, other, *, rounding_mode=None):
    """``input / other``: true division (integers give the default float dtype), or rounded
    toward zero (``rounding_mode='trunc'``) or down (``'floor'``) in the promoted dtype.

    Raises:
        RuntimeError: "ZeroDivisionError" for an integer division by zero with a rounding mode.
    """
    if rounding_mode is None:
        return _apply("div", np.divide, input, other, cast=_to_float, scalar_other=True)
    if rounding_mode == "trunc":
        return _apply("div", _trunc_divide, input, other, check=_no_bool, scalar_other=True)
    if rounding_mode == "floor":
        return _apply("div", _floor_divide, input, other, check=_no_bool, scalar_other=True)
    raise ValueRangeError(f"div: expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}")


def true_divide(input, other):
    """``input / other`` with integers promoted to the default float dtype."""
    return div(input, other)


def floor_divide(input, other):
    """``input // other``, rounded down (Python's rule); integer division by zero raises RuntimeError."""
    return _apply("floor_divide", _floor_divide, input, other, check=_no_bool, scalar_other=True)


def remainder(input, other):
    """``input % other`` with the sign of ``other`` (Python's rule); integer % 0 raises RuntimeError."""
    return _apply("remainder", _remainder, input, other, check=_no_bool)


def fmod(input, other):
    """C's fmod: the remainder with the sign of ``input``; integer fmod by 0 raises RuntimeError."""
    return _apply("fmod", _fmod, input, other, check=_no_bool)


def pow(input, exponent):
    """``input ** exponent``. An integer tensor to a negative Python int raises RuntimeError
    as in torch; with a tensor exponent, integer negative powers follow torch (0 unless the base is +-1)."""
    return _apply("pow", _power, input, exponent, check=_pow_check(exponent))


def neg(input):
    """``-input`` (unsigned integers wrap); bool tensors raise as in torch."""
    if isinstance(input, ElementwiseOps) and input.dtype is dtypes.bool:
        raise DTypeError("Negation, the `-` operator, on a bool tensor is not supported. "
                          "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return _apply("neg", np.negative, input)


def positive(input):
    """``+input``: the tensor itself, as torch (bool tensors raise)."""
    if not isinstance(input, ElementwiseOps):
        raise TypeError(f"positive: expected a tensor, got {type(input).__name__}")
    if input.dtype is dtypes.bool:
        raise DTypeError("The `+` operator, on a bool tensor is not supported.")
    return input


def abs(input):
    """``|input|`` in the input's dtype (the most negative integer stays negative, as in torch)."""
    return _apply("abs", np.abs, input, check=_no_bool)


def reciprocal(input):
    """``1 / input``; integer and bool tensors give the default float dtype."""
    return _unary_float("reciprocal", np.reciprocal, input)


def square(input):
    """``input * input``; bool tensors give int64, as ``pow(input, 2)`` in torch."""
    return _apply("square", np.square, input, cast=_bool_to_long)


subtract, multiply, divide, negative, absolute = sub, mul, div, neg, abs


# ----------------------------------------------------------- float functions
def exp(input):
    """``e ** input``."""
    return _unary_float("exp", np.exp, input)


def exp2(input):
    """``2 ** input``."""
    return _unary_float("exp2", np.exp2, input)


def expm1(input):
    """``exp(input) - 1``, accurate near 0."""
    return _unary_float("expm1", np.expm1, input)


def log(input):
    """Natural logarithm (``log(0) = -inf``, negative inputs give NaN)."""
    return _unary_float("log", np.log, input)


def log2(input):
    """Base-2 logarithm."""
    return _unary_float("log2", np.log2, input)


def log10(input):
    """Base-10 logarithm."""
    return _unary_float("log10", np.log10, input)


def log1p(input):
    """``log(1 + input)``, accurate near 0."""
    return _unary_float("log1p", np.log1p, input)


def sqrt(input):
    """Square root (NaN for negative inputs)."""
    return _unary_float("sqrt", np.sqrt, input)


def rsqrt(input):
    """``1 / sqrt(input)`` (``rsqrt(0) = inf``)."""
    return _unary_float("rsqrt", _rsqrt, input)


def sin(input):
    """Sine (radians)."""
    return _unary_float("sin", np.sin, input)


def cos(input):
    """Cosine (radians)."""
    return _unary_float("cos", np.cos, input)


def tan(input):
    """Tangent (radians)."""
    return _unary_float("tan", np.tan, input)


def asin(input):
    """Inverse sine."""
    return _unary_float("asin", np.arcsin, input)


def acos(input):
    """Inverse cosine."""
    return _unary_float("acos", np.arccos, input)


def atan(input):
    """Inverse tangent."""
    return _unary_float("atan", np.arctan, input)


def sinh(input):
    """Hyperbolic sine."""
    return _unary_float("sinh", np.sinh, input)


def cosh(input):
    """Hyperbolic cosine."""
    return _unary_float("cosh", np.cosh, input)


def tanh(input):
    """Hyperbolic tangent."""
    return _unary_float("tanh", np.tanh, input)


def sigmoid(input):
    """``1 / (1 + exp(-input))`` (saturates to 0 and 1 without warnings)."""
    return _unary_float("sigmoid", _sigmoid, input)


# -------------------------------------------------------- rounding and range
def floor(input):
    """Round down; integer tensors come back unchanged (a copy)."""
    return _apply("floor", _keep_integers(np.floor), input, check=_no_bool)


def ceil(input):
    """Round up; integer tensors come back unchanged (a copy)."""
    return _apply("ceil", _keep_integers(np.ceil), input, check=_no_bool)


def trunc(input):
    """Round toward zero; integer tensors come back unchanged (a copy)."""
    return _apply("trunc", _keep_integers(np.trunc), input, check=_no_bool)


def round(input, decimals=0):
    """Round half to even (``round(2.5) = 2``), to ``decimals`` places (negative: tens,
    hundreds, ...); integer tensors only take ``decimals=0``, as in torch."""
    if decimals == 0:
        return _apply("round", _keep_integers(np.rint), input, check=_no_bool)
    return _apply("round", _round_decimals(decimals), input, check=_floating)


def sign(input):
    """-1, 0 or 1 in the input's dtype (NaN gives 0, as torch; bool stays bool)."""
    return _apply("sign", _sign, input)


def _clamp(op, input, min, max):
    if min is None and max is None:
        raise ValueRangeError(f"{op}: At least one of 'min' or 'max' must not be None")
    bounds = [b for b in (min, max) if b is not None]

    def check(op, dt, operands):
        if len(bounds) == 2 or not isinstance(bounds[0], ElementwiseOps):  # one tensor bound: maximum/minimum
            _no_bool(op, dt, operands)
        for b in bounds:
            _check_fits(op, b, dt)
    return _apply(op, _clamp_kernel(min is not None, max is not None), input, *bounds, check=check)


def clamp(input, min=None, max=None):
    """Limit values to ``[min, max]`` (scalars or broadcastable tensors; ``min > max`` gives ``max``;
    NaN propagates). The dtype promotes with the bounds: an int tensor clamped to 0.5 is float32."""
    return _clamp("clamp", input, min, max)


def clamp_min(input, min):
    """``clamp(input, min=min)``."""
    return _clamp("clamp_min", input, min, None)


def clamp_max(input, max):
    """``clamp(input, max=max)``."""
    return _clamp("clamp_max", input, None, max)


clip = clamp


def maximum(input, other):
    """Element-wise maximum of two broadcast operands (NaN propagates)."""
    return _apply("maximum", np.maximum, input, other)


def minimum(input, other):
    """Element-wise minimum of two broadcast operands (NaN propagates)."""
    return _apply("minimum", np.minimum, input, other)


def lerp(input, end, weight):
    """``input + weight * (end - input)`` for floating tensors of one dtype; ``weight`` is a
    number or a tensor of that dtype. All three broadcast."""
    return _apply("lerp", _lerp, input, end, weight, check=_lerp_check)


# -------------------------------------------------------------- comparisons
def eq(input, other):
    """``input == other`` as a bool tensor (compared in the promoted dtype)."""
    return _apply("eq", np.equal, input, other, bool_out=True)


def ne(input, other):
    """``input != other`` as a bool tensor."""
    return _apply("ne", np.not_equal, input, other, bool_out=True)


def lt(input, other):
    """``input < other`` as a bool tensor."""
    return _apply("lt", np.less, input, other, bool_out=True)


def le(input, other):
    """``input <= other`` as a bool tensor."""
    return _apply("le", np.less_equal, input, other, bool_out=True)


def gt(input, other):
    """``input > other`` as a bool tensor."""
    return _apply("gt", np.greater, input, other, bool_out=True)


def ge(input, other):
    """``input >= other`` as a bool tensor."""
    return _apply("ge", np.greater_equal, input, other, bool_out=True)


greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne


def isnan(input):
    """A bool tensor, True where ``input`` is NaN (never for integers)."""
    return _apply("isnan", _float_test(np.isnan, False), input, bool_out=True)


def isinf(input):
    """A bool tensor, True where ``input`` is +-inf."""
    return _apply("isinf", _float_test(np.isinf, False), input, bool_out=True)


def isfinite(input):
    """A bool tensor, True where ``input`` is neither NaN nor +-inf."""
    return _apply("isfinite", _float_test(np.isfinite, True), input, bool_out=True)


# ------------------------------------------------------------------ logical
def logical_and(input, other):
    """True where both are non-zero (any dtypes); a bool tensor."""
    return _apply("logical_and", np.logical_and, input, other, cast=_to_bool)


def logical_or(input, other):
    """True where either is non-zero; a bool tensor."""
    return _apply("logical_or", np.logical_or, input, other, cast=_to_bool)


def logical_xor(input, other):
    """True where exactly one is non-zero; a bool tensor."""
    return _apply("logical_xor", np.logical_xor, input, other, cast=_to_bool)


def logical_not(input):
    """True where ``input`` is zero; a bool tensor."""
    return _apply("logical_not", np.logical_not, input, cast=_to_bool)


def bitwise_and(input, other):
    """``input & other`` for integer and bool tensors (logical and for bool)."""
    return _apply("bitwise_and", np.bitwise_and, input, other, check=_integral)


def bitwise_or(input, other):
    """``input | other`` for integer and bool tensors."""
    return _apply("bitwise_or", np.bitwise_or, input, other, check=_integral)


def bitwise_xor(input, other):
    """``input ^ other`` for integer and bool tensors."""
    return _apply("bitwise_xor", np.bitwise_xor, input, other, check=_integral)


def bitwise_not(input):
    """``~input`` for integer and bool tensors (logical not for bool)."""
    return _apply("bitwise_not", np.invert, input, check=_integral)


# ------------------------------------------------------- methods, operators
def _operator(fn, reflected=False, ufunc=None):
    """``self <op> other`` (or ``other <op> self``); NotImplemented for operands we do not take,
    so Python tries the other side (and ``t == None`` is False).

    With ``ufunc``, two tensors of one shape and one float32/float64 dtype (where the
    op is exactly that numpy ufunc) skip promotion and broadcasting checks: on tiny
    tensors those checks would cost several times the arithmetic.
    """
    def method(self, other):
        a = self._data
        if ufunc is not None and a.ndim and a.dtype.char in _PLAIN_CHARS:
            b = _plain_other(a, other)
            if b is not None:
                token = _silence()  # inline _quiet and _fresh: this path is all overhead on tiny tensors
                try:
                    out = ufunc(b, a) if reflected else ufunc(a, b)
                finally:
                    _restore(token)
                result = object.__new__(type(self))
                result._data = out
                return result
        if not _is_operand(other):
            return NotImplemented
        return fn(other, self) if reflected else fn(self, other)
    return method


def _rtruediv(self, other):
    """``other / self`` as torch computes it: ``self.reciprocal() * other``."""
    if not _is_operand(other):
        return NotImplemented
    return mul(reciprocal(self), other)


def _write(op, self, result):
    """Copy ``result`` into ``self``'s memory by torch's in-place rules; returns self."""
    src, dst = result.dtype, self.dtype
    if (src.is_floating_point and not dst.is_floating_point) or (dst is dtypes.bool and src is not dtypes.bool):
        raise DTypeError(f"{op}: result type {_TORCH_NAMES[src.name]} can't be cast to the desired "
                          f"output type {_TORCH_NAMES[dst.name]}")
    if result.shape != self.shape:
        raise ShapeError(f"{op}: output with shape {list(self.shape)} doesn't match "
                         f"the broadcast shape {list(result.shape)}")
    if not self._data.flags.writeable:
        raise ValueRangeError(f"{op}: the tensor's memory is read-only (an expanded view or a read-only buffer); "
                          "clone() it before writing in place")
    _quiet(np.copyto, self._data, result._data, "unsafe")
    return self


def _in_place(fn, name, operator=False):
    """The in-place method ``name`` (``add_``, or ``__iadd__`` when ``operator``) of ``fn``."""
    def method(self, *args, **kwargs):
        if operator and not _is_operand(args[0]):
            return NotImplemented
        return _write(name, self, fn(self, *args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"In-place :func:`{fn.__name__}`: writes the result into this tensor's memory; returns self."
    return method


class ElementwiseOps:
    """Arithmetic, comparison, logical and math methods (and their operators).

    Every function form is also a method (``t.add(u)``); all but ``positive``,
    ``maximum``, ``minimum`` and ``isnan``/``isinf``/``isfinite`` have an in-place
    twin (``t.add_(u)``), as in torch. Both are attached below the class.
    """

    __slots__ = ()
    __array_ufunc__ = None  # numpy defers to our reflected operators: np.float32(2) * t is a tensor

    # commutative ops keep self first when reflected: torch's 0.1 * t is t.mul(0.1)
    __add__ = __radd__ = _operator(add, ufunc=np.add)
    __sub__, __rsub__ = _operator(sub, ufunc=np.subtract), _operator(sub, True, np.subtract)
    __mul__ = __rmul__ = _operator(mul, ufunc=np.multiply)
    __truediv__, __rtruediv__ = _operator(div, ufunc=np.true_divide), _rtruediv
    __floordiv__, __rfloordiv__ = _operator(floor_divide), _operator(floor_divide, True)
    __mod__, __rmod__ = _operator(remainder), _operator(remainder, True)
    __pow__, __rpow__ = _operator(pow), _operator(pow, True)
    __and__ = __rand__ = _operator(bitwise_and)
    __or__ = __ror__ = _operator(bitwise_or)
    __xor__ = __rxor__ = _operator(bitwise_xor)
    __eq__, __ne__ = _operator(eq, ufunc=np.equal), _operator(ne, ufunc=np.not_equal)
    __lt__, __le__ = _operator(lt, ufunc=np.less), _operator(le, ufunc=np.less_equal)
    __gt__, __ge__ = _operator(gt, ufunc=np.greater), _operator(ge, ufunc=np.greater_equal)
    __neg__, __pos__, __abs__, __invert__ = neg, positive, abs, bitwise_not

    __iadd__, __isub__ = _in_place(add, "add_", True), _in_place(sub, "sub_", True)
    __imul__, __itruediv__ = _in_place(mul, "mul_", True), _in_place(div, "div_", True)
    __ifloordiv__ = _in_place(floor_divide, "floor_divide_", True)
    __imod__, __ipow__ = _in_place(remainder, "remainder_", True), _in_place(pow, "pow_", True)
    __iand__ = _in_place(bitwise_and, "bitwise_and_", True)
    __ior__ = _in_place(bitwise_or, "bitwise_or_", True)
    __ixor__ = _in_place(bitwise_xor, "bitwise_xor_", True)


_NO_IN_PLACE = {"positive", "maximum", "minimum", "isnan", "isinf", "isfinite"}
for _name in __all__:
    setattr(ElementwiseOps, _name, globals()[_name])
    if _name not in _NO_IN_PLACE:
        setattr(ElementwiseOps, _name + "_", _in_place(globals()[_name], _name + "_"))
del _name
