"""Element-wise ops against PyTorch: values, shapes, result dtypes and errors.

Every comparison runs the same expression on cogtensor and on torch. Where torch
raises (an op a dtype does not support), cogtensor must raise the same kind of
exception (RuntimeError or TypeError); otherwise shapes, dtypes and values must
match. Inputs cover broadcasting, non-contiguous views (transposed, stepped),
empty and 0-d tensors, all 10 dtypes, mixed dtypes and Python scalars.
"""

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cogtensor as ct

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64"]
FLOATS = DTYPES[6:]
TOLERANCE = {"float16": (2e-3, 1e-3), "bfloat16": (1.6e-2, 1e-2), "float32": (1e-5, 1e-6), "float64": (1e-12, 1e-14)}
SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((0, 3), (3,)), ((), ()), ((), (2, 3)), ((5,), ())]

rng = np.random.default_rng(20240613)


# ----------------------------------------------------------------- helpers
def sample(shape, name, nonzero=False, rng=rng):
    """Random values suited to the dtype: small signed/unsigned ints, normal*3 floats."""
    if name == "bool":
        a = rng.random(shape) < 0.5
    elif name == "uint8":
        a = rng.integers(0, 40, shape)
    elif name.startswith("int"):
        a = rng.integers(-20, 21, shape)
    else:
        a = rng.standard_normal(shape) * 3
    if nonzero:
        a = np.where(a == 0, 1, a)
    return np.asarray(a).astype(getattr(ct, name).numpy)


def laid_out(a, layout):
    """The same values in another memory layout: 'C', 'T' (transposed) or 'step' (every other element)."""
    if layout == "T" and a.ndim >= 2:
        return a.T.copy(order="C").T
    if layout == "step" and a.ndim >= 1:
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return wide[..., ::2]
    return a


def to_torch(a):
    if a.dtype == ct.bfloat16.numpy:
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(a.copy(order="C"))


def ours_of(x, layout="C"):
    return ct.from_numpy(laid_out(x, layout)) if isinstance(x, np.ndarray) else x


def theirs_of(x):
    return to_torch(x) if isinstance(x, np.ndarray) else x


def assert_matches(got, expected, what=""):
    assert isinstance(got, ct.Tensor), what
    assert tuple(got.shape) == tuple(expected.shape), what
    assert got.dtype.name == str(expected.dtype).removeprefix("torch."), what
    if expected.is_floating_point():
        rtol, atol = TOLERANCE[got.dtype.name]
        np.testing.assert_allclose(np.asarray(got.numpy(), np.float64), expected.to(torch.float64).numpy(),
                                   rtol=rtol, atol=atol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got.numpy(), expected.numpy(), err_msg=what)


def differential(fn, args, layout="C", what=""):
    """Run fn(module, *args) on torch and on cogtensor; both raise alike or agree. Returns ours."""
    try:
        expected = fn(torch, *[theirs_of(a) for a in args])
    except (RuntimeError, TypeError) as e:
        kind = RuntimeError if isinstance(e, RuntimeError) else TypeError
        with pytest.raises(kind):
            fn(ct, *[ours_of(a, layout) for a in args])
        return None
    got = fn(ct, *[ours_of(a, layout) for a in args])
    assert_matches(got, expected, f"{what} torch={expected!r}")
    return got


def layouts(*shapes):
    nd = min(len(s) for s in shapes)
    return ["C"] + (["step"] if nd >= 1 else []) + (["T"] if nd >= 2 else [])


# ------------------------------------------------------------------- tables
UNARY = {name: (lambda m, x, name=name: getattr(m, name)(x)) for name in [
    "neg", "abs", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tan",
    "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "reciprocal", "square", "sign", "floor", "ceil",
    "round", "trunc", "isnan", "isinf", "isfinite", "logical_not", "bitwise_not", "positive", "negative", "absolute",
]}
UNARY.update({
    "round_1": lambda m, x: m.round(x, decimals=1),
    "round_-1": lambda m, x: m.round(x, decimals=-1),
    "op_neg": lambda m, x: -x,
    "op_pos": lambda m, x: +x,
    "op_abs": lambda m, x: abs(x),
    "op_invert": lambda m, x: ~x,
    "method_exp": lambda m, x: x.exp(),
    "method_clamp": lambda m, x: x.clamp(-1, 2),
})

BINARY = {name: (lambda m, a, b, name=name: getattr(m, name)(a, b)) for name in [
    "add", "sub", "mul", "div", "floor_divide", "remainder", "fmod", "pow", "maximum", "minimum", "eq", "ne", "lt",
    "le", "gt", "ge", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    "subtract", "multiply", "divide", "true_divide", "greater", "less_equal", "not_equal",
]}
BINARY.update({
    "add_alpha": lambda m, a, b: m.add(a, b, alpha=2),
    "sub_alpha": lambda m, a, b: m.sub(a, b, alpha=-3),
    "div_trunc": lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
    "div_floor": lambda m, a, b: m.div(a, b, rounding_mode="floor"),
    "op_add": lambda m, a, b: a + b,
    "op_sub": lambda m, a, b: a - b,
    "op_mul": lambda m, a, b: a * b,
    "op_truediv": lambda m, a, b: a / b,
    "op_floordiv": lambda m, a, b: a // b,
    "op_mod": lambda m, a, b: a % b,
    "op_pow": lambda m, a, b: a ** b,
    "op_and": lambda m, a, b: a & b,
    "op_or": lambda m, a, b: a | b,
    "op_xor": lambda m, a, b: a ^ b,
    "op_eq": lambda m, a, b: a == b,
    "op_ne": lambda m, a, b: a != b,
    "op_lt": lambda m, a, b: a < b,
    "op_le": lambda m, a, b: a <= b,
    "op_gt": lambda m, a, b: a > b,
    "op_ge": lambda m, a, b: a >= b,
    "method_add": lambda m, a, b: a.add(b),
    "method_pow": lambda m, a, b: a.pow(b),
    "clamp_tensors": lambda m, a, b: m.clamp(a, min=b, max=b + 1),
    "clamp_min_tensor": lambda m, a, b: m.clamp_min(a, b),
    "clamp_max_tensor": lambda m, a, b: m.clamp_max(a, b),
})
DIVIDING = {"div_trunc", "div_floor", "floor_divide", "remainder", "fmod", "op_floordiv", "op_mod"}


# -------------------------------------------------------------- same dtype
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", UNARY)
def test_unary_matches_torch(op, dtype):
    for shape in [(3, 4), (2, 3, 5), (0, 4), (), (7,)]:
        x = sample(shape, dtype)
        for layout in layouts(shape):
            differential(UNARY[op], [x], layout, f"{op} {dtype} {shape} {layout}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", UNARY)
def test_unary_special_values_match_torch(op, dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.25, 1e-6, 1e4, -1e4,
                  0.999, 1.05, 15.0, 25.0, 35.0]).astype(getattr(ct, dtype).numpy)
    differential(UNARY[op], [x], what=f"{op} {dtype}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", BINARY)
def test_binary_matches_torch(op, dtype):
    for sa, sb in SHAPES:
        a, b = sample(sa, dtype), sample(sb, dtype, nonzero=op in DIVIDING)
        for layout in layouts(sa, sb):
            differential(BINARY[op], [a, b], layout, f"{op} {dtype} {sa} {sb} {layout}")


# ------------------------------------------------------------- promotion
PROMOTING = ["add", "sub", "mul", "div", "div_floor", "remainder", "pow", "lt", "eq", "maximum", "bitwise_and",
             "logical_xor", "clamp_tensors"]


@pytest.mark.parametrize("op", PROMOTING)
def test_mixed_dtypes_promote_as_torch(op):
    for da in DTYPES:
        for db in DTYPES:
            for sa, sb in [((2, 3), (3,)), ((2, 3), ()), ((), (4,))]:
                a, b = sample(sa, da), sample(sb, db, nonzero=op in DIVIDING)
                differential(BINARY[op], [a, b], what=f"{op} {da}{list(sa)} {db}{list(sb)}")


SCALARS = [2, -3, 2.5, True, False, 1000, -1, 0.1, 1e10, 7]
SCALAR_OPS = {k: BINARY[k] for k in ["op_add", "op_sub", "op_mul", "op_truediv", "op_floordiv", "op_mod", "op_pow",
                                     "op_and", "op_xor", "op_eq", "op_lt", "op_ge", "add_alpha", "remainder", "fmod"]}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", SCALAR_OPS)
def test_tensor_scalar_mixes_match_torch(op, dtype):
    fn = SCALAR_OPS[op]
    for s in SCALARS:
        for shape in [(2, 3), ()]:
            x = sample(shape, dtype, nonzero=True)
            differential(fn, [x, s], what=f"{dtype}{list(shape)} {op} {s!r}")
            if op != "fmod":  # torch.fmod takes no scalar first (cogtensor does)
                differential(lambda m, a, b: fn(m, b, a), [x, s], what=f"{s!r} {op} {dtype}{list(shape)}")


@pytest.mark.parametrize(("dtype", "scalar", "want_dtype", "want"), [
    ("int32", 2.5, "float32", [2.5, 5.0]),
    ("int8", 1000, "int8", [-23, -22]),  # 1000 wraps to -24 in int8, as torch casts it
    ("float16", 1.0, "float16", [2.0, 3.0]),
    ("bool", 1, "int64", [2, 1]),
    ("uint8", -1, "uint8", [0, 1]),
    ("float16", 1e10, "float16", [np.inf, np.inf]),
])
def test_documented_scalar_promotions(dtype, scalar, want_dtype, want):
    x = ct.tensor([1, 2] if dtype != "bool" else [True, False], dtype=getattr(ct, dtype))
    got = x * scalar if scalar == 2.5 else x + scalar
    assert got.dtype is getattr(ct, want_dtype)
    np.testing.assert_array_equal(np.asarray(got.numpy(), np.float64), want)


def test_zero_dim_tensors_rank_below_dimensioned_ones():
    assert (ct.tensor([1, 2], dtype=ct.int32) * ct.tensor(5)).dtype is ct.int32
    assert (ct.tensor([1.0, 2.0]) + ct.tensor(1.0, dtype=ct.float64)).dtype is ct.float32
    assert (ct.tensor([1, 2]) * ct.tensor(2.5, dtype=ct.float64)).dtype is ct.float64  # a higher category counts
    assert (ct.tensor(1, dtype=ct.int8) + ct.tensor(1, dtype=ct.int16)).dtype is ct.int16


def test_numpy_scalars_and_arrays_as_operands():
    x = ct.tensor([1, 2])
    for got in (np.float64(2.0) * x, x * np.float32(2.0), np.int64(3) - x):
        assert isinstance(got, ct.Tensor)
    assert (np.float64(2.0) * x).tolist() == [2.0, 4.0]
    assert (np.float64(2.0) * x).dtype is ct.float32  # a numpy scalar counts as a Python number
    got = x + np.array([10, 20], np.int8)
    assert isinstance(got, ct.Tensor) and got.tolist() == [11, 22] and got.dtype is ct.int64
    got = np.array([1.5, 2.5]) < x
    assert isinstance(got, ct.Tensor) and got.tolist() == [False, False]


# --------------------------------------------------------- float division
@pytest.mark.parametrize("dtype", FLOATS)
def test_float_division_by_zero_and_signs_match_torch(dtype):
    a = np.array([7.0, -7.0, 7.0, -7.0, 0.0, 5.5, -5.5, np.inf, np.nan, 1.0]).astype(getattr(ct, dtype).numpy)
    b = np.array([2.0, 2.0, -2.0, -2.0, 0.0, 0.0, 0.0, 2.0, 1.0, np.inf]).astype(getattr(ct, dtype).numpy)
    for op in ["div", "div_trunc", "div_floor", "floor_divide", "remainder", "fmod", "pow"]:
        differential(BINARY[op], [a, b], what=f"{op} {dtype}")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_reduced_float_division_is_bit_exact_with_torch(dtype):
    # torch divides float16/bfloat16 tensors step by step in their own precision, but keeps a
    # scalar divisor in float32; off by one ulp there, floor/trunc would be off by a whole unit
    a, b = sample((4000,), dtype), sample((4000,), dtype)
    fns = [lambda m, x, y: m.div(x, y, rounding_mode="floor"), lambda m, x, y: m.div(x, y, rounding_mode="trunc"),
           lambda m, x, y: x / y, lambda m, x, y: x * y, lambda m, x, y: x // y]
    for fn in fns:
        for args in ([a, b], [a, 0.1], [a, -2.7], [0.3, a]):
            expected = fn(torch, *[theirs_of(x) for x in args]).to(torch.float64).numpy()
            got = np.asarray(fn(ct, *[ours_of(x) for x in args]).numpy(), np.float64)
            np.testing.assert_array_equal(got, expected)


def test_integer_powers_with_negative_tensor_exponents_match_torch():
    base = np.array([1, -1, 2, -1, 0, 3, -2], np.int64)
    exponent = np.array([-1, -3, -1, -2, 3, 0, -5], np.int64)
    differential(BINARY["pow"], [base, exponent])
    differential(lambda m, e: 2 ** e, [exponent])


# ------------------------------------------------------------ clamp, lerp
@pytest.mark.parametrize("dtype", DTYPES)
def test_clamp_scalars_match_torch(dtype):
    x = sample((4, 5), dtype)
    for lo, hi in [(-2, 3), (0.5, None), (None, 1), (3, 1), (-1.5, 2.5), (float("nan"), 1.0), (0, 1000)]:
        differential(lambda m, t: m.clamp(t, lo, hi), [x], what=f"clamp {dtype} {lo} {hi}")
        differential(lambda m, t: m.clip(t, min=lo, max=hi), [x], "T", f"clip {dtype} {lo} {hi}")
        if lo is not None:
            differential(lambda m, t: m.clamp_min(t, lo), [x], "step", f"clamp_min {dtype} {lo}")
        if hi is not None:
            differential(lambda m, t: t.clamp_max(hi), [x], what=f"clamp_max {dtype} {hi}")


def test_clamp_tensor_bounds_broadcast():
    x, lo, hi = sample((2, 3), "float32"), sample((3,), "float32"), sample((2, 1), "float32")
    differential(lambda m, a, b, c: m.clamp(a, b, c), [x, lo, hi])
    differential(lambda m, a, b: m.clamp(a, min=b), [sample((2,), "int64"), sample((3, 1), "int64")])


@pytest.mark.parametrize("dtype", DTYPES)
def test_lerp_matches_torch(dtype):
    start, end = sample((3, 4), dtype), sample((4,), dtype)
    for weight in [0.0, 0.3, 0.5, 0.7, 1.0, -1.0, 2.0]:
        differential(lambda m, s, e: m.lerp(s, e, weight), [start, end], what=f"lerp {dtype} {weight}")
    w = np.array([0.0, 0.25, 0.75, 1.0]).astype(getattr(ct, dtype).numpy)
    differential(lambda m, s, e, w: m.lerp(s, e, w), [start, end, w], "step", f"lerp {dtype} tensor weight")
    differential(lambda m, s, e: s.lerp(e, 0.25), [start, end], what=f"lerp method {dtype}")


def test_lerp_refuses_mixed_dtypes():
    f32, f64 = ct.ones(2), ct.ones(2, dtype=ct.float64)
    with pytest.raises(TypeError, match=r"lerp: expected dtype float32 for `end` but got dtype float64"):
        ct.lerp(f32, f64, 0.5)
    with pytest.raises(RuntimeError, match=r"expected dtype float32 for `weight` but got dtype float64"):
        ct.lerp(f32, f32, f64)


# --------------------------------------------------------------- in place
IN_PLACE = {
    "add_": lambda m, a, b: a.add_(b),
    "sub_": lambda m, a, b: a.sub_(b, alpha=2),
    "mul_": lambda m, a, b: a.mul_(b),
    "div_": lambda m, a, b: a.div_(b),
    "div_floor_": lambda m, a, b: a.div_(b, rounding_mode="floor"),
    "remainder_": lambda m, a, b: a.remainder_(b),
    "pow_": lambda m, a, b: a.pow_(b),
    "lt_": lambda m, a, b: a.lt_(b),
    "clamp_min_": lambda m, a, b: a.clamp_min_(b),
    "bitwise_or_": lambda m, a, b: a.bitwise_or_(b),
    "logical_and_": lambda m, a, b: a.logical_and_(b),
}


def _iop(text):
    def fn(m, a, b):
        scope = {"a": a, "b": b}
        exec(f"a {text}= b", scope)  # noqa: S102 - the augmented operators themselves are under test
        return scope["a"]
    return fn


IN_PLACE.update({f"op_{t}=": _iop(t) for t in ["+", "-", "*", "/", "//", "%", "**", "&", "|", "^"]})


@pytest.mark.parametrize("op", IN_PLACE)
def test_in_place_matches_torch_and_writes_into_self(op):
    fn = IN_PLACE[op]
    for da in DTYPES:
        for db in DTYPES:
            a, b = sample((2, 3), da), sample((3,), db, nonzero=True)
            want = differential(fn, [a, b], "step", f"{op} {da} {db}")
            if want is None:
                continue
            wide = np.zeros((2, 6), a.dtype)
            wide[:, ::2] = a
            target = ct.from_numpy(wide[:, ::2])
            assert fn(ct, target, ct.from_numpy(b)) is target, op
            assert target.dtype.name == da
            written = np.asarray(wide[:, ::2], np.float64)  # the result, in the shared memory
            np.testing.assert_array_equal(written, np.asarray(want.numpy(), np.float64))
            assert (wide[:, 1::2] == 0).all()  # and nowhere else


def test_in_place_unary_and_scalar_forms():
    x = ct.tensor([1.0, 4.0, 9.0])
    data = x.numpy()
    assert x.sqrt_() is x and x.tolist() == [1.0, 2.0, 3.0] and x.numpy() is data
    assert x.neg_().abs_().clamp_(max=2.5).tolist() == [1.0, 2.0, 2.5]
    i = ct.tensor([1, 2, 3])
    assert i.mul_(2).add_(1, alpha=3).tolist() == [5, 7, 9]
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output type Long"):
        i.exp_()
    assert i.tolist() == [5, 7, 9]


def test_in_place_errors():
    i = ct.tensor([1, 2])
    with exactly(RuntimeError, "add_: result type Float can't be cast to the desired output type Long"):
        i += 1.5
    with exactly(TypeError, "add_: result type Long can't be cast to the desired output type Bool"):
        ct.tensor([True]).add_(1)
    with exactly(ct.ShapeError, "add_: output with shape [2] doesn't match the broadcast shape [2, 2]"):
        i.add_(ct.ones(2, 2, dtype=ct.int64))
    with pytest.raises(RuntimeError, match="add_: the tensor's memory is read-only"):
        ct.tensor([1.0]).expand(3).add_(1)
    assert i.tolist() == [1, 2]  # nothing written when an in-place op fails


# --------------------------------------------------------------- integers
def test_integer_division_by_zero_raises_like_torch():
    x = ct.tensor([5, -5, 7])
    for fn in (lambda: x // 0, lambda: x % 0, lambda: ct.fmod(x, 0), lambda: x // ct.tensor([1, 0, 1]),
               lambda: ct.div(x, 0, rounding_mode="trunc"), lambda: ct.div(x, 0, rounding_mode="floor"),
               lambda: 3 // ct.tensor([0])):
        with pytest.raises(RuntimeError, match="ZeroDivisionError") as info:
            fn()
        assert isinstance(info.value, ZeroDivisionError)
    assert (ct.tensor([], dtype=ct.int64) // 0).shape == (0,)  # nothing to divide: no error, as torch
    assert (x / 0).tolist() == [np.inf, -np.inf, np.inf]  # true division is float


def test_integer_to_negative_scalar_power_raises_like_torch():
    for base in (ct.tensor([2]), ct.tensor([True]), ct.tensor([1], dtype=ct.uint8)):
        with pytest.raises(RuntimeError, match=r"pow: Integers to negative integer powers are not allowed\."):
            base ** -1
    assert (ct.tensor([2]) ** -1.0).tolist() == [0.5]


def test_integer_overflow_wraps_like_torch():
    assert (ct.tensor([127], dtype=ct.int8) + 1).tolist() == [-128]
    assert (-ct.tensor([200], dtype=ct.uint8)).tolist() == [56]
    assert abs(ct.tensor([-128], dtype=ct.int8)).tolist() == [-128]
    assert (ct.tensor([-128], dtype=ct.int8) // -1).tolist() == [-128]
    with pytest.raises(OverflowError):
        ct.tensor([1]) + 2**64


# ------------------------------------------------------------------ errors
def exactly(kind, message):
    return pytest.raises(kind, match="^" + re.escape(message) + "$")


def test_broadcast_error_names_op_shapes_and_dimension():
    with exactly(ct.ShapeError, "add: shapes [3, 4] and [5] cannot broadcast: dimension -1 has sizes 4 and 5"):
        ct.zeros(3, 4) + ct.zeros(5)
    with exactly(ValueError, "mul: shapes [2, 3, 4] and [5, 1] cannot broadcast: dimension -2 has sizes 3 and 5"):
        ct.mul(ct.zeros(2, 3, 4), ct.zeros(5, 1))
    with exactly(ct.ShapeError, "clamp: shapes [3], [4] and [5] cannot broadcast: dimension -1 has sizes 3, 4 and 5"):
        ct.clamp(ct.zeros(3), ct.zeros(4), ct.zeros(5))
    with exactly(ct.ShapeError, "lt: shapes [4] and [4, 3] cannot broadcast: dimension -1 has sizes 4 and 3; hint: "
                 "to line the [4] operand up with the leading dimensions, reshape it to [4, 1] (unsqueeze(-1))"):
        ct.zeros(4) < ct.zeros(4, 3)


def test_dtype_errors_name_the_op_and_dtypes():
    b, f = ct.tensor([True, False]), ct.tensor([1.5, 2.5])
    with exactly(NotImplementedError, "abs: not implemented for bool (operands: bool tensor)"):
        abs(b)
    with exactly(TypeError, "bitwise_and: not implemented for float32 (operands: float32 tensor and float32 tensor)"):
        f & f
    with exactly(TypeError, "bitwise_not: not implemented for float32 (operands: float32 tensor)"):
        ~f
    with exactly(RuntimeError, "remainder: not implemented for bool (operands: bool tensor and bool tensor)"):
        b % b
    with exactly(RuntimeError, "round: not implemented for int64 (operands: int64 tensor)"):
        ct.round(ct.tensor([1, 2]), decimals=1)
    with exactly(RuntimeError, "lerp: not implemented for int64 "
                               "(operands: int64 tensor, int64 tensor and Python float)"):
        ct.lerp(ct.tensor([1]), ct.tensor([2]), 0.5)
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with two bool tensors is not supported"):
        b - b
    with pytest.raises(RuntimeError, match="Subtraction, the `-` operator, with a bool tensor is not supported"):
        f - True
    with pytest.raises(RuntimeError, match="Negation, the `-` operator, on a bool tensor is not supported"):
        -b
    with exactly(RuntimeError, "add: For integral input tensors, argument alpha must not be a floating point number."):
        ct.add(ct.tensor([1]), ct.tensor([1]), alpha=2.5)
    with exactly(RuntimeError, "add: Boolean alpha only supported for Boolean results."):
        ct.add(ct.tensor([1]), ct.tensor([1]), alpha=True)
    with exactly(RuntimeError, "pow: value 1000 cannot be converted to type int8 without overflow"):
        ct.tensor([2], dtype=ct.int8) ** 1000
    with exactly(RuntimeError, "clamp: value 70000.0 cannot be converted to type float16 without overflow"):
        ct.from_numpy(np.ones(2, np.float16)).clamp(0, 70000.0)


def test_argument_errors():
    x = ct.tensor([1.0, 2.0])
    with exactly(ValueError, "clamp: At least one of 'min' or 'max' must not be None"):
        ct.clamp(x)
    with exactly(RuntimeError, "div: expected rounding_mode to be one of None, 'trunc', or 'floor' but found 'up'"):
        ct.div(x, 2, rounding_mode="up")
    with pytest.raises(TypeError, match="unsupported operand"):
        x + "a"
    with pytest.raises(TypeError, match="unsupported operand"):
        x + [1.0]
    with exactly(TypeError, "add: expected tensors or Python numbers with at least one tensor, got (int, int)"):
        ct.add(1, 2)
    with exactly(TypeError, "exp: expected tensors or Python numbers with at least one tensor, got (float)"):
        ct.exp(1.0)
    assert (x == None) is False  # noqa: E711 - torch's answer for a non-tensor
    assert (x != "a") is True
    assert hash(x) == hash(x) and x in {x}


# ------------------------------------------------------------- semantics
def test_results_are_new_tensors_and_inputs_unchanged():
    i = ct.tensor([1, 2, 3])
    for out in (ct.floor(i), ct.round(i), ct.sign(ct.tensor([True])), +i * 1):
        assert out.numpy() is not i.numpy() or out is i
    floored = ct.floor(i)
    floored.add_(10)
    assert i.tolist() == [1, 2, 3]
    assert ct.positive(i) is i  # torch returns the tensor itself


def test_round_half_to_even_and_decimals():
    x = ct.tensor([0.5, 1.5, 2.5, -0.5, -2.5], dtype=ct.float64)
    assert ct.round(x).tolist() == [0.0, 2.0, 2.0, -0.0, -2.0]
    assert ct.round(ct.tensor([125.0, 135.0, 150.0]), decimals=-1).tolist() == [120.0, 140.0, 150.0]
    np.testing.assert_allclose(ct.round(ct.tensor([1.25, 1.35]), decimals=1).numpy(), [1.2, 1.4], rtol=1e-6)


def test_no_numpy_warnings_leak():
    # pytest turns warnings into errors; these would warn in plain numpy
    f = ct.tensor([0.0, -1.0, 1e30, 1.0])
    ct.log(f), ct.sqrt(f), f / 0, f * 1e30, ct.exp(f * 100), ct.sigmoid(-f * 1e5), f // 0, f % 0
    h = ct.from_numpy(np.array([1.0, 60000.0], np.float16))
    h + 1e10, h * 1e5, h.add_(ct.tensor([1e10, 1.0])), ct.tensor([1e10, 1.0]).add_(h)


# -------------------------------------------------------------- hypothesis
shape_st = st.lists(st.integers(0, 3), max_size=4).map(tuple)


@settings(max_examples=150, deadline=None)
@given(shape_st, shape_st,
       st.sampled_from(["int32", "float32", "bool"]), st.sampled_from(["add", "mul", "lt", "maximum"]))
def test_broadcasting_matches_numpy_and_torch(sa, sb, dtype, op):
    gen = np.random.default_rng(len(sa) + 10 * sum(sb))  # values follow the shapes: replays are deterministic
    a, b = sample(sa, dtype, rng=gen), sample(sb, dtype, rng=gen)
    try:
        want = np.broadcast_shapes(sa, sb)
    except ValueError:
        with pytest.raises(ct.ShapeError, match=rf"^{op}: shapes .* cannot broadcast: dimension -\d+ has sizes"):
            getattr(ct, op)(ct.from_numpy(a), ct.from_numpy(b))
        return
    got = differential(BINARY[op], [a, b], what=f"{op} {sa} {sb}")
    assert tuple(got.shape) == want
