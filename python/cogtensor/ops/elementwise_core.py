"""The machinery behind element-wise operations: operand checks, torch's type
promotion, broadcasting errors, numpy kernels that need torch's semantics, and
:func:`apply`, which runs one op. :mod:`cogtensor.ops.elementwise` defines the ops.
"""

from __future__ import annotations

import builtins
import math

import ml_dtypes
import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, IntegerDivisionByZero, NotImplementedForDType, ShapeError, ValueRangeError


class ElementwiseBase:
    """What element-wise operands that are tensors have in common (the ops' mixin derives from it)."""

    __slots__ = ()
    __array_ufunc__ = None  # numpy defers to our reflected operators: np.float32(2) * t is a tensor


# ------------------------------------------------------------------ errors
_TORCH_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short", "int32": "Int", "int64": "Long",
                "float16": "Half", "bfloat16": "BFloat16", "float32": "Float", "float64": "Double",
                "complex64": "ComplexFloat", "complex128": "ComplexDouble"}


def _describe(operands) -> str:
    return _join(f"{x.dtype.name} tensor" if isinstance(x, ElementwiseBase) else f"Python {type(x).__name__}"
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
_NUMBERS = (builtins.bool, builtins.int, builtins.float, builtins.complex, np.bool_, np.integer, np.floating,
            np.complexfloating)
_OPMATH = {np.dtype(np.float16): np.dtype(np.float32), np.dtype(ml_dtypes.bfloat16): np.dtype(np.float32)}
_BOOL = np.dtype(np.bool_)
_BOOLS = (builtins.bool, np.bool_)


def _is_operand(x) -> bool:
    return isinstance(x, (ElementwiseBase, np.ndarray, *_NUMBERS))


def _tensors(op, operands):
    """(a tensor to wrap the result with, the operands with numpy arrays made tensors)."""
    ref = next((x for x in operands if isinstance(x, ElementwiseBase)), None)
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
    if isinstance(first, ElementwiseBase):  # fast path: tensors of one dtype
        same = first._data.dtype
        if all(isinstance(x, ElementwiseBase) and x._data.dtype == same for x in operands[1:]):
            return first, operands, dtypes.from_numpy_dtype(same)
    ref, operands = _tensors(op, operands)
    return ref, operands, dtypes.result_type(*operands)


def _check_broadcast(op, operands) -> None:
    shapes = [x._data.shape for x in operands if isinstance(x, ElementwiseBase)]
    for shape in shapes[1:]:
        if shape != shapes[0]:
            try:
                np.broadcast_shapes(*shapes)
            except ValueError:
                raise _broadcast_error(op, shapes) from None
            return


def _as_array(x, dt: np.dtype, compute: np.dtype) -> np.ndarray:
    """An operand cast to the op's dtype (integers wrap, as torch casts), then to the compute dtype."""
    if isinstance(x, ElementwiseBase):
        a = x._data
    else:
        if isinstance(x, builtins.int) and not -(2**63) <= x < 2**64:
            raise OverflowError("int too big to convert")
        a = np.asarray(x)
    if a.dtype != dt:
        a = a.astype(dt)
    return a if compute == dt else a.astype(compute)


def _is_single(x) -> bool:
    return not isinstance(x, ElementwiseBase) or x._data.size == 1


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
    if not isinstance(first, ElementwiseBase):
        return None
    shape = first._data.shape
    for x in operands:
        if not isinstance(x, ElementwiseBase) or x._data.dtype != dt or x._data.shape != shape:
            return None
    return [x._data for x in operands]


_PLAIN_CHARS = "fd"  # dtype.char of float32 and float64: the quickest test on the hot path


def _plain_other(a: np.ndarray, other, in_graph: bool = False):
    """``other``'s value when ``a <op> other`` needs no promotion or broadcast check: a
    tensor of a's float dtype and shape (out of the graph unless ``in_graph``), or a Python
    float or small int (numpy's weak scalars then keep a's dtype, as torch does); else None."""
    if isinstance(other, ElementwiseBase):
        data = other._data
        return data if data.dtype == a.dtype and data.shape == a.shape and (in_graph or other._node is None) else None
    if type(other) is builtins.float or (type(other) is builtins.int and -(2**53) <= other <= 2**53):
        return other
    return None


def _fresh(like, array: np.ndarray):
    """A tensor of like's type over ``array`` (already of a supported dtype: no checks)."""
    out = object.__new__(like._result_class)
    out._data = array
    out._node = out._vc = out._grad = out._extra = None
    return out


def _unary_float(op, kernel, input):
    """A float function of one tensor: integer and bool tensors give the default float dtype."""
    data = input._data if isinstance(input, ElementwiseBase) else None
    if data is not None and data.ndim and data.dtype.char in _PLAIN_CHARS:  # no promotion to do
        out = _quiet(kernel, data)
        return _fresh(input, out if out.dtype == data.dtype else out.astype(data.dtype))
    return _apply(op, kernel, input, cast=_to_float)


# ------------------------------------------------------- casts and checks
def _to_float(dt):
    return dt if dt.is_floating_point or dt.is_complex else dtypes.get_default_dtype()


def _to_bool(dt):
    return dtypes.bool


def _bool_to_long(dt):
    return dtypes.int64 if dt is dtypes.bool else dt


def _no_bool(op, dt, operands):
    if dt is dtypes.bool:
        raise _not_implemented(op, dt, operands)


def _integral(op, dt, operands):
    if dt.is_floating_point or dt.is_complex:
        raise _not_implemented(op, dt, operands)


def _no_complex(op, dt, operands):
    """Ops that order values (comparisons, rounding, clamp, max/min, remainders) refuse complex, as torch."""
    if dt.is_complex:
        raise NotImplementedForDType(f"{op}: not implemented for complex tensors ({dt.name}; operands: "
                                     f"{_describe(operands)}); complex numbers have no order")


def _real_no_bool(op, dt, operands):
    _no_complex(op, dt, operands)
    _no_bool(op, dt, operands)


def _floating(op, dt, operands):
    if not dt.is_floating_point:
        raise _not_implemented(op, dt, operands)


def _scalar_or_tensor_dtype(x):
    return x.dtype if isinstance(x, ElementwiseBase) else dtypes.result_type(x)


def _alpha_check(alpha, sub=False):
    if not sub and type(alpha) is builtins.int and alpha == 1:
        return None

    def check(op, dt, operands):
        if sub:
            _no_bool_subtraction(operands)
        if isinstance(alpha, _BOOLS) and dt is not dtypes.bool:
            raise DTypeError(f"{op}: Boolean alpha only supported for Boolean results.")
        if isinstance(alpha, (builtins.float, np.floating)) and not (dt.is_floating_point or dt.is_complex):
            raise DTypeError(f"{op}: For integral input tensors, argument alpha must not be a floating point number.")
        if isinstance(alpha, (builtins.complex, np.complexfloating)) and not dt.is_complex:
            raise DTypeError(f"{op}: For non-complex input tensors, argument alpha must not be a complex number.")
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
    if isinstance(value, (ElementwiseBase, np.ndarray, builtins.bool, np.bool_)) or dt is dtypes.bool or dt.is_complex:
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
        if integer and exponent < 0 and not (dt.is_floating_point or dt.is_complex):
            raise ValueRangeError(f"{op}: Integers to negative integer powers are not allowed.")
    return check


def _lerp_check(op, dt, operands):
    start, end, weight = operands
    if not isinstance(start, ElementwiseBase) or not isinstance(end, ElementwiseBase):
        raise TypeError(f"{op}: input and end must be tensors, got {_describe(operands[:2])}")
    _floating(op, start.dtype, operands)
    for name, x in (("end", end), ("weight", weight)):
        if isinstance(x, ElementwiseBase) and x.dtype is not start.dtype:
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
    return a.dtype.kind in "fc" or a.dtype in _OPMATH  # ml_dtypes' bfloat16 has kind "V"


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
