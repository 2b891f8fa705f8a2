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

import numpy as np

import math

from cogtensor import dtypes
from cogtensor.graph import attach, requires_grad
from cogtensor.ops.autograd_methods import commit_in_place, snapshot
from cogtensor.ops.complex import complex as complex_from_parts, handle_r_to_c as _r2c
from cogtensor.errors import DTypeError, NotImplementedForDType, ShapeError, ValueRangeError
from cogtensor.ops.elementwise_core import (  # the machinery these ops run on
    ElementwiseBase,
    _PLAIN_CHARS, _TORCH_NAMES, _alpha_check, _apply, _bool_to_long, _check_fits, _clamp_kernel, _float_test,
    _floating, _floor_divide, _fmod, _integral, _is_operand, _keep_integers, _lerp, _lerp_check, _no_bool,
    _no_complex, _plain_other, _pow_check, _power, _quiet, _real_no_bool, _remainder, _restore, _round_decimals,
    _rsqrt, _sigmoid, _sign, _silence, _to_bool, _to_float, _trunc_divide, _unary_float, _with_alpha,
)

__all__ = [
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide", "remainder",
    "fmod", "pow", "neg", "negative", "positive", "abs", "absolute", "exp", "exp2", "log", "log2", "log10",
    "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
    "sigmoid", "reciprocal", "square", "clamp", "clip", "clamp_min", "clamp_max", "sign", "floor", "ceil",
    "round", "trunc", "maximum", "minimum", "lerp", "eq", "ne", "lt", "le", "gt", "ge", "greater",
    "greater_equal", "less", "less_equal", "not_equal", "isnan", "isinf", "isfinite", "logical_and",
    "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not",
]


# --------------------------------------------------------------- arithmetic
def add(input, other, *, alpha=1):
    """``input + alpha * other``, broadcast, with torch's type promotion.

    Returns:
        A tensor of the broadcast shape and the promoted dtype (bool + bool is a logical or).

    Example:
        >>> cogtensor.add(cogtensor.tensor([1, 2]), 0.5).tolist()
        [1.5, 2.5]
    """
    return _add_graph(_apply("add", _with_alpha(np.add, alpha), input, other, check=_alpha_check(alpha)),
                      input, other, alpha)


def _add_graph(out, input, other, alpha=1):
    return attach(out, "AddBackward0", (input, other),
                  lambda g: (_r2c(input, g),
                             _r2c(other, g if alpha == 1 else g * _conj(alpha)) if _wants(other) else None))


def sub(input, other, *, alpha=1):
    """``input - alpha * other``; bool operands raise as in torch (use ``^`` or ``~``)."""
    out = _apply("sub", _with_alpha(np.subtract, alpha), input, other, check=_alpha_check(alpha, sub=True))
    return _sub_graph(out, input, other, alpha)


def _sub_graph(out, input, other, alpha=1):
    return attach(out, "SubBackward0", (input, other),
                  lambda g: (_r2c(input, g),
                             _r2c(other, -g if alpha == 1 else g * -_conj(alpha)) if _wants(other) else None))


def mul(input, other):
    """``input * other`` (bool * bool is a logical and)."""
    return _mul_graph(_apply("mul", np.multiply, input, other, scalar_other=True), input, other)


def _mul_graph(out, input, other):
    return attach(out, "MulBackward0", (input, other),
                  lambda g: (_r2c(input, g * _conj(other)) if _wants(input) else None,
                             _r2c(other, g * _conj(input)) if _wants(other) else None),
                  saved=(input, other))


def div(input, other, *, rounding_mode=None):
    """``input / other``: true division (integers give the default float dtype), or rounded
    toward zero (``rounding_mode='trunc'``) or down (``'floor'``) in the promoted dtype.

    Raises:
        RuntimeError: "ZeroDivisionError" for an integer division by zero with a rounding mode.
    """
    if rounding_mode is None:
        return _div_graph(_apply("div", np.divide, input, other, cast=_to_float, scalar_other=True), input, other)
    if rounding_mode == "trunc":
        return _zero_grad(_apply("div", _trunc_divide, input, other, check=_real_no_bool, scalar_other=True),
                          input, other)
    if rounding_mode == "floor":
        return _zero_grad(_apply("div", _floor_divide, input, other, check=_real_no_bool, scalar_other=True),
                          input, other)
    raise ValueRangeError(f"div: expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}")


def true_divide(input, other):
    """``input / other`` with integers promoted to the default float dtype."""
    return div(input, other)


def floor_divide(input, other):
    """``input // other``, rounded down (Python's rule); integer division by zero raises RuntimeError."""
    return _zero_grad(_apply("floor_divide", _floor_divide, input, other, check=_real_no_bool, scalar_other=True),
                      input, other)


def remainder(input, other):
    """``input % other`` with the sign of ``other`` (Python's rule); integer % 0 raises RuntimeError."""
    out = _apply("remainder", _remainder, input, other, check=_real_no_bool)
    return attach(out, "RemainderBackward0", (input, other),
                  lambda g: (g, -g * div(input, other, rounding_mode="floor") if _wants(other) else None),
                  saved=(input, other))


def fmod(input, other):
    """C's fmod: the remainder with the sign of ``input``; integer fmod by 0 raises RuntimeError."""
    out = _apply("fmod", _fmod, input, other, check=_real_no_bool)
    return attach(out, "FmodBackward0", (input, other),
                  lambda g: (g, -g * div(input, other, rounding_mode="trunc") if _wants(other) else None),
                  saved=(input, other))


def pow(input, exponent):
    """``input ** exponent``. An integer tensor to a negative Python int raises RuntimeError
    as in torch; with a tensor exponent, integer negative powers follow torch (0 unless the base is +-1)."""
    out = _apply("pow", _power, input, exponent, check=_pow_check(exponent))
    return attach(out, "PowBackward0", (input, exponent), lambda g, y: (
        _r2c(input, _pow_base_grad(g, input, exponent)) if _wants(input) else None,
        _r2c(exponent, _kept(g * _conj(y * _log(input, y)), logical_not(_is_zero_base(input, exponent))))
        if _wants(exponent) else None),
        saved=(input, exponent), with_output=True)


def _pow_base_grad(g, x, e):
    """d(x ** e)/dx = e * x ** (e - 1), and 0 where e == 0 (torch's rule, even at x = 0)."""
    if isinstance(e, ElementwiseOps):
        return _kept(g * _conj(e * pow(x, e - 1)), ne(e, 0))
    return g * 0.0 if e == 0 else g * _conj(e * pow(x, e - 1))


def _log(x, y):
    """log of the base ``x`` of the power ``y``, in y's dtype as torch promotes it (a negative real
    base of a complex power has a complex log); a Python number base gives a numpy scalar."""
    if isinstance(x, ElementwiseOps):
        return log(x if x.dtype is y.dtype else x.to(y.dtype))
    return _quiet(np.log, np.complex128(x) if y._data.dtype.kind == "c" else x)


def _is_zero_base(x, e):
    """Where d(x ** e)/de is 0 by torch's convention: x == 0 and e >= 0 (log(0) aside); a
    complex e counts when it is real and >= 0."""
    zero = eq(x, 0) if isinstance(x, ElementwiseOps) else (x == 0)
    if e._data.dtype.kind == "c":
        return logical_and(zero, logical_and(eq(e.imag, 0), ge(e.real, 0)))
    return logical_and(zero, ge(e, 0))


def neg(input):
    """``-input`` (unsigned integers wrap); bool tensors raise as in torch."""
    if isinstance(input, ElementwiseOps) and input.dtype is dtypes.bool:
        raise DTypeError("Negation, the `-` operator, on a bool tensor is not supported. "
                          "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return attach(_apply("neg", np.negative, input), "NegBackward0", (input,), lambda g: -g)


def positive(input):
    """``+input``: the tensor itself, as torch (bool tensors raise)."""
    if not isinstance(input, ElementwiseOps):
        raise TypeError(f"positive: expected a tensor, got {type(input).__name__}")
    if input.dtype is dtypes.bool:
        raise DTypeError("The `+` operator, on a bool tensor is not supported.")
    return input


def abs(input):
    """``|input|`` in the input's dtype (the most negative integer stays negative, as in torch);
    the magnitude of a complex tensor is real (complex64 -> float32)."""
    if isinstance(input, ElementwiseOps) and input._data.dtype.kind == "c":
        out = input._wrap(_quiet(np.abs, input._data))
        return attach(out, "AbsBackward0", (input,), lambda g: g * input.sgn(), saved=(input,))
    out = _apply("abs", np.abs, input, check=_no_bool)
    return attach(out, "AbsBackward0", (input,), lambda g: g * sign(input), saved=(input,))


def reciprocal(input):
    """``1 / input``; integer and bool tensors give the default float dtype."""
    out = _unary_float("reciprocal", np.reciprocal, input)
    return attach(out, "ReciprocalBackward0", (input,), lambda g, y: -g * (y * y).conj(), with_output=True)


def square(input):
    """``input * input``; bool tensors give int64, as ``pow(input, 2)`` in torch."""
    out = _apply("square", np.square, input, cast=_bool_to_long)
    return attach(out, "PowBackward0", (input,), lambda g: g * (input * 2.0).conj(), saved=(input,))


subtract, multiply, divide, negative, absolute = sub, mul, div, neg, abs


# ----------------------------------------------------------- float functions
def exp(input):
    """``e ** input``."""
    out = _unary_float("exp", np.exp, input)
    return attach(out, "ExpBackward0", (input,), lambda g, y: g * y.conj(), with_output=True)


def exp2(input):
    """``2 ** input``."""
    out = _unary_float("exp2", np.exp2, input)
    return attach(out, "Exp2Backward0", (input,), lambda g, y: g * (y * math.log(2.0)).conj(), with_output=True)


def expm1(input):
    """``exp(input) - 1``, accurate near 0."""
    out = _unary_float("expm1", np.expm1, input)
    return attach(out, "Expm1Backward0", (input,), lambda g, y: g * (y + 1).conj(), with_output=True)


def log(input):
    """Natural logarithm (``log(0) = -inf``, negative inputs give NaN)."""
    out = _unary_float("log", np.log, input)
    return attach(out, "LogBackward0", (input,), lambda g: g / input.conj(), saved=(input,))


def log2(input):
    """Base-2 logarithm."""
    out = _unary_float("log2", np.log2, input)
    return attach(out, "Log2Backward0", (input,), lambda g: g / (input * math.log(2.0)).conj(), saved=(input,))


def log10(input):
    """Base-10 logarithm."""
    out = _unary_float("log10", np.log10, input)
    return attach(out, "Log10Backward0", (input,), lambda g: g / (input * math.log(10.0)).conj(), saved=(input,))


def log1p(input):
    """``log(1 + input)``, accurate near 0."""
    out = _unary_float("log1p", np.log1p, input)
    return attach(out, "Log1PBackward0", (input,), lambda g: g / (input + 1).conj(), saved=(input,))


def sqrt(input):
    """Square root (NaN for negative inputs)."""
    out = _unary_float("sqrt", np.sqrt, input)
    return attach(out, "SqrtBackward0", (input,), lambda g, y: g / (y * 2).conj(), with_output=True)


def rsqrt(input):
    """``1 / sqrt(input)`` (``rsqrt(0) = inf``)."""
    out = _unary_float("rsqrt", _rsqrt, input)
    return attach(out, "RsqrtBackward0", (input,), lambda g, y: g * (y * y * y).conj() * -0.5, with_output=True)


def sin(input):
    """Sine (radians)."""
    out = _unary_float("sin", np.sin, input)
    return attach(out, "SinBackward0", (input,), lambda g: g * cos(input).conj(), saved=(input,))


def cos(input):
    """Cosine (radians)."""
    out = _unary_float("cos", np.cos, input)
    return attach(out, "CosBackward0", (input,), lambda g: -g * sin(input).conj(), saved=(input,))


def tan(input):
    """Tangent (radians)."""
    out = _unary_float("tan", np.tan, input)
    return attach(out, "TanBackward0", (input,), lambda g, y: g * (y * y + 1).conj(), with_output=True)


def asin(input):
    """Inverse sine."""
    out = _unary_float("asin", np.arcsin, input)
    return attach(out, "AsinBackward0", (input,), lambda g: g * rsqrt(1 - input * input).conj(), saved=(input,))


def acos(input):
    """Inverse cosine."""
    out = _unary_float("acos", np.arccos, input)
    return attach(out, "AcosBackward0", (input,), lambda g: -g * rsqrt(1 - input * input).conj(), saved=(input,))


def atan(input):
    """Inverse tangent."""
    out = _unary_float("atan", np.arctan, input)
    return attach(out, "AtanBackward0", (input,), lambda g: g / (input * input + 1).conj(), saved=(input,))


def sinh(input):
    """Hyperbolic sine."""
    out = _unary_float("sinh", np.sinh, input)
    return attach(out, "SinhBackward0", (input,), lambda g: g * cosh(input).conj(), saved=(input,))


def cosh(input):
    """Hyperbolic cosine."""
    out = _unary_float("cosh", np.cosh, input)
    return attach(out, "CoshBackward0", (input,), lambda g: g * sinh(input).conj(), saved=(input,))


def tanh(input):
    """Hyperbolic tangent."""
    out = _unary_float("tanh", np.tanh, input)
    return attach(out, "TanhBackward0", (input,), lambda g, y: g * (1 - y * y).conj(), with_output=True)


def sigmoid(input):
    """``1 / (1 + exp(-input))`` (saturates to 0 and 1 without warnings)."""
    out = _unary_float("sigmoid", _sigmoid, input)
    return attach(out, "SigmoidBackward0", (input,), lambda g, y: g * (y * (1 - y)).conj(), with_output=True)


# -------------------------------------------------------- rounding and range
def floor(input):
    """Round down; integer tensors come back unchanged (a copy)."""
    return _zero_grad(_apply("floor", _keep_integers(np.floor), input, check=_real_no_bool), input)


def ceil(input):
    """Round up; integer tensors come back unchanged (a copy)."""
    return _zero_grad(_apply("ceil", _keep_integers(np.ceil), input, check=_real_no_bool), input)


def trunc(input):
    """Round toward zero; integer tensors come back unchanged (a copy)."""
    return _zero_grad(_apply("trunc", _keep_integers(np.trunc), input, check=_real_no_bool), input)


def round(input, decimals=0):
    """Round half to even (``round(2.5) = 2``), to ``decimals`` places (negative: tens,
    hundreds, ...); integer tensors only take ``decimals=0``, as in torch."""
    if decimals == 0:
        return _zero_grad(_apply("round", _keep_integers(np.rint), input, check=_real_no_bool), input)
    return _zero_grad(_apply("round", _round_decimals(decimals), input, check=_floating), input)


def sign(input):
    """-1, 0 or 1 in the input's dtype (NaN gives 0, as torch; bool stays bool)."""
    return _zero_grad(_apply("sign", _sign, input, check=_sign_check), input)


def _sign_check(op, dt, operands):
    if dt.is_complex:
        raise NotImplementedForDType(f"sign: not implemented for complex tensors ({dt.name}); sgn() gives z / |z|")


def _clamp(op, input, min, max):
    if min is None and max is None:
        raise ValueRangeError(f"{op}: At least one of 'min' or 'max' must not be None")
    bounds = [b for b in (min, max) if b is not None]

    def check(op, dt, operands):
        _no_complex(op, dt, operands)
        if len(bounds) == 2 or not isinstance(bounds[0], ElementwiseOps):  # one tensor bound: maximum/minimum
            _no_bool(op, dt, operands)
        for b in bounds:
            _check_fits(op, b, dt)
    out = _apply(op, _clamp_kernel(min is not None, max is not None), input, *bounds, check=check)
    return attach(out, "ClampBackward1", (input, *bounds), lambda g: _clamp_grads(g, input, min, max),
                  saved=(input, *bounds))


def _clamp_grads(g, x, lo, hi):
    """torch's clamp backward: ``x`` gets the gradient where ``lo <= x <= hi``; a tensor
    bound gets it where it was taken (``lo`` only where ``lo < hi``)."""
    if hi is None:
        return _kept(g, ge(x, lo)), _kept(g, lt(x, lo)) if _wants(lo) else None
    if lo is None:
        return _kept(g, le(x, hi)), _kept(g, gt(x, hi)) if _wants(hi) else None
    grad_lo = _kept(g, logical_and(lt(x, lo), lt(lo, hi))) if _wants(lo) else None
    grad_hi = _kept(g, logical_or(gt(x, hi), lt(hi, lo))) if _wants(hi) else None
    return _kept(g, logical_and(ge(x, lo), le(x, hi))), grad_lo, grad_hi


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
    out = _apply("maximum", np.maximum, input, other, check=_no_complex)
    return attach(out, "MaximumBackward0", (input, other), lambda g: _split_ties(g, input, other, lt),
                  saved=(input, other))


def minimum(input, other):
    """Element-wise minimum of two broadcast operands (NaN propagates)."""
    out = _apply("minimum", np.minimum, input, other, check=_no_complex)
    return attach(out, "MinimumBackward0", (input, other), lambda g: _split_ties(g, input, other, gt),
                  saved=(input, other))


def _split_ties(g, x, y, loses):
    """maximum/minimum as torch: ties share the gradient equally, the operand not taken
    (``loses(it, the other)``) gets none, and with a NaN both get all of it."""
    shared = (g * 0.5).where(eq(x, y), g)
    return (_kept(shared, logical_not(loses(x, y))) if _wants(x) else None,
            _kept(shared, logical_not(loses(y, x))) if _wants(y) else None)


def lerp(input, end, weight):
    """``input + weight * (end - input)`` for floating tensors of one dtype; ``weight`` is a
    number or a tensor of that dtype. All three broadcast."""
    out = _apply("lerp", _lerp, input, end, weight, check=_lerp_check)
    return attach(out, "LerpBackward0", (input, end, weight),
                  lambda g: (g * (1 - weight), g * weight, g * (end - input) if _wants(weight) else None),
                  saved=(input, end, weight))


# -------------------------------------------------------------- comparisons
def eq(input, other):
    """``input == other`` as a bool tensor (compared in the promoted dtype)."""
    return _apply("eq", np.equal, input, other, bool_out=True)


def ne(input, other):
    """``input != other`` as a bool tensor."""
    return _apply("ne", np.not_equal, input, other, bool_out=True)


def lt(input, other):
    """``input < other`` as a bool tensor."""
    return _apply("lt", np.less, input, other, bool_out=True, check=_no_complex)


def le(input, other):
    """``input <= other`` as a bool tensor."""
    return _apply("le", np.less_equal, input, other, bool_out=True, check=_no_complex)


def gt(input, other):
    """``input > other`` as a bool tensor."""
    return _apply("gt", np.greater, input, other, bool_out=True, check=_no_complex)


def ge(input, other):
    """``input >= other`` as a bool tensor."""
    return _apply("ge", np.greater_equal, input, other, bool_out=True, check=_no_complex)


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


# ---------------------------------------------------------- backward helpers
def _wants(x) -> bool:
    """Whether ``x`` is a tensor in the graph (its gradient is worth computing)."""
    return getattr(x, "_node", None) is not None


def _kept(g, mask):
    """``g`` where ``mask`` holds, 0 elsewhere (NaNs outside the mask do not leak); a complex ``g``
    part by part, so that its double backward meets only real ``where``s."""
    if g._data.dtype.kind == "c":
        return complex_from_parts(_kept(g.real, mask), _kept(g.imag, mask))
    return g.where(mask, 0.0)


def _conj(x):
    """The complex conjugate of a factor in a gradient formula (torch's ``grad * other.conj()``);
    real tensors and numbers come back as they are."""
    if isinstance(x, ElementwiseOps):
        return x.conj() if x._data.dtype.kind == "c" else x
    return x.conjugate() if isinstance(x, (complex, np.complexfloating)) else x



def _zero_grad(out, *inputs):
    """Record a piecewise-constant op (floor, sign, floor division, ...): its gradient is zero."""
    return attach(out, "ZeroGradBackward", inputs,
                  lambda g: tuple(g._wrap(np.zeros_like(g._data)) for _ in inputs))  # zeros even where g is inf


# ------------------------------------------------------- methods, operators
def _div_graph(out, input, other):
    return attach(out, "DivBackward0", (input, other),
                  lambda g: (_r2c(input, g / _conj(other)) if _wants(input) else None,
                             _r2c(other, -g * _conj(input / other / other)) if _wants(other) else None),
                  saved=(input, other))


def _operator(fn, reflected=False, ufunc=None, graph=None):
    """``self <op> other`` (or ``other <op> self``); NotImplemented for operands we do not take,
    so Python tries the other side (and ``t == None`` is False).

    With ``ufunc``, two tensors of one shape and one float32/float64 dtype (where the
    op is exactly that numpy ufunc) skip promotion and broadcasting checks: on tiny
    tensors those checks would cost several times the arithmetic. ``graph(out, a, b)``
    records such a result in the autograd graph.
    """
    def method(self, other):
        a = self._data
        if ufunc is not None and a.ndim and a.dtype.char in _PLAIN_CHARS and (graph or self._node is None):
            b = _plain_other(a, other, graph is not None)
            if b is not None:
                token = _silence()  # inline _quiet and _fresh: this path is all overhead on tiny tensors
                try:
                    out = ufunc(b, a) if reflected else ufunc(a, b)
                finally:
                    _restore(token)
                result = object.__new__(self._result_class)
                result._data = out
                result._node = result._vc = result._grad = result._extra = None
                if graph is None:
                    return result
                return graph(result, other, self) if reflected else graph(result, self, other)
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
    inexact = dst.is_floating_point or dst.is_complex
    if ((src.is_floating_point and not inexact) or (src.is_complex and not dst.is_complex)
            or (dst is dtypes.bool and src is not dtypes.bool)):
        raise DTypeError(f"{op}: result type {_TORCH_NAMES[src.name]} can't be cast to the desired "
                          f"output type {_TORCH_NAMES[dst.name]}")
    if result.shape != self.shape:
        raise ShapeError(f"{op}: output with shape {list(self.shape)} doesn't match "
                         f"the broadcast shape {list(result.shape)}")
    if not self._data.flags.writeable:
        raise ValueRangeError(f"{op}: the tensor's memory is read-only (an expanded view or a read-only buffer); "
                          "clone() it before writing in place")
    _quiet(commit_in_place, op, self, result)
    return self


def _in_place(fn, name, operator=False):
    """The in-place method ``name`` (``add_``, or ``__iadd__`` when ``operator``) of ``fn``.

    While recording, the result is computed from a snapshot of ``self``, so the
    op's backward never reads the memory it overwrites."""
    def method(self, *args, **kwargs):
        if operator and not _is_operand(args[0]):
            return NotImplemented
        source = snapshot(self) if requires_grad(self, *args, *kwargs.values()) else self
        return _write(name, self, fn(source, *args, **kwargs))
    method.__name__ = name
    method.__doc__ = f"In-place :func:`{fn.__name__}`: writes the result into this tensor's memory; returns self."
    return method


class ElementwiseOps(ElementwiseBase):
    """Arithmetic, comparison, logical and math methods (and their operators).

    Every function form is also a method (``t.add(u)``); all but ``positive``,
    ``maximum``, ``minimum`` and ``isnan``/``isinf``/``isfinite`` have an in-place
    twin (``t.add_(u)``), as in torch. Both are attached below the class.
    """

    __slots__ = ()

    # commutative ops keep self first when reflected: torch's 0.1 * t is t.mul(0.1)
    __add__ = __radd__ = _operator(add, ufunc=np.add, graph=_add_graph)
    __sub__ = _operator(sub, ufunc=np.subtract, graph=_sub_graph)
    __rsub__ = _operator(sub, True, np.subtract, _sub_graph)
    __mul__ = __rmul__ = _operator(mul, ufunc=np.multiply, graph=_mul_graph)
    __truediv__, __rtruediv__ = _operator(div, ufunc=np.true_divide, graph=_div_graph), _rtruediv
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
