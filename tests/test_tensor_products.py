"""Matrix products (matmul, mm, bmm, mv, dot, outer, einsum, tensordot) against PyTorch:
values, shapes and result dtypes on random, broadcast, non-contiguous and empty inputs,
and the error messages."""

import re

import numpy as np
import pytest
import torch

import cogtensor as ct
from cogtensor.errors import DTypeError

rng = np.random.default_rng(20240611)

FLOATS = ["float32", "float64", "float16", "bfloat16"]
INTS = ["int64", "int32", "int16", "int8", "uint8"]
RTOL = {"float64": 1e-12, "float32": 2e-5, "float16": 2e-3, "bfloat16": 1.6e-2}


def rand(shape, dtype: str) -> np.ndarray:
    """Random data of a cogtensor dtype name, as the numpy array a tensor wraps."""
    d = getattr(ct, dtype)
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if d.is_floating_point:
        return rng.standard_normal(shape).astype(d.numpy)
    low = 0 if dtype == "uint8" else -5
    return rng.integers(low, 6, shape).astype(d.numpy)


def T(shape, dtype="float32") -> ct.Tensor:
    return ct.from_numpy(rand(shape, dtype))


def to_torch(t: ct.Tensor) -> torch.Tensor:
    a = np.array(t.numpy())  # a writable contiguous copy
    if t.dtype is ct.bfloat16:
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(a)


def assert_like(ours: ct.Tensor, theirs: torch.Tensor, rtol=None):
    """Same shape, same dtype, same values (floats within the dtype's tolerance)."""
    assert isinstance(ours, ct.Tensor)
    assert tuple(ours.shape) == tuple(theirs.shape)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    got = ours.numpy().astype(np.float64) if ours.dtype.is_floating_point else ours.numpy()
    want = theirs.double().numpy() if theirs.dtype.is_floating_point else theirs.numpy()
    if ours.dtype.is_floating_point:
        tol = RTOL[ours.dtype.name] if rtol is None else rtol
        scale = 1.0 + (np.abs(want).max() if want.size else 0.0)
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)
    else:
        np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------------ matmul
MATMUL_SHAPES = [
    ((3,), (3,)),                 # dot -> 0-d
    ((3,), (3, 4)),               # row vector
    ((2, 3), (3,)),               # matrix-vector
    ((2, 3), (3, 4)),
    ((5, 2, 3), (3, 4)),          # batch on one side
    ((2, 3), (5, 3, 4)),
    ((2, 1, 2, 3), (4, 3, 5)),    # batches broadcast: (2, 1) with (4,)
    ((3,), (2, 3, 4)),            # 1-D with a batch
    ((2, 3, 4), (4,)),
    ((0, 3), (3, 4)),             # empty
    ((3, 0), (0, 4)),             # empty inner dimension: zeros
    ((2, 0, 3), (3, 4)),
    ((0,), (0,)),
]


@pytest.mark.parametrize("dtype", FLOATS + INTS)
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES)
def test_matmul_matches_torch(sa, sb, dtype):
    a, b = T(sa, dtype), T(sb, dtype)
    assert_like(a @ b, to_torch(a) @ to_torch(b))
    assert_like(ct.matmul(a, b), torch.matmul(to_torch(a), to_torch(b)))
    assert_like(a.matmul(b), to_torch(a).matmul(to_torch(b)))


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "int32"])
def test_matmul_non_contiguous_and_broadcast_views(dtype):
    base = rand((6, 8), dtype)
    a = ct.from_numpy(base[::2, 1::2])            # (3, 4) with steps
    b = ct.from_numpy(rand((5, 4), dtype)).mT     # (4, 5) transposed view
    assert not a.is_contiguous() and not b.is_contiguous()
    assert_like(a @ b, to_torch(a) @ to_torch(b))
    c = T((1, 4, 2), dtype).expand(3, 4, 2)       # stride-0 batch
    assert_like(a @ c, to_torch(a) @ to_torch(c))


def test_matmul_result_is_fresh_memory():
    a, b = T((2, 3)), T((3, 3))
    out = a @ b
    assert not np.shares_memory(out.numpy(), a.numpy()) and not np.shares_memory(out.numpy(), b.numpy())


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16"])
def test_integer_matmul_wraps_like_torch(dtype):
    a = ct.full((2, 300), 100, dtype=getattr(ct, dtype))
    b = ct.full((300, 3), 3, dtype=getattr(ct, dtype))
    out = a @ b
    assert out.dtype is getattr(ct, dtype)
    assert_like(out, to_torch(a) @ to_torch(b))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_matmul_accumulates_in_float32_and_rounds_once(dtype):
    # 2048 ones: float16/bfloat16 accumulation would stall at 2048 / 256; float32 gives the exact sum
    n = 4096
    a, b = ct.ones(1, n, dtype=getattr(ct, dtype)), ct.ones(n, 1, dtype=getattr(ct, dtype))
    out = a @ b
    assert out.dtype is getattr(ct, dtype) and out.item() == n
    x, y = T((7, 50), dtype), T((50, 9), dtype)
    exact = (x.numpy().astype(np.float32) @ y.numpy().astype(np.float32)).astype(getattr(ct, dtype).numpy)
    np.testing.assert_array_equal((x @ y).numpy(), exact)  # one rounding of the float32 result


# ------------------------------------------------------------- mm, bmm, mv, dot
@pytest.mark.parametrize("dtype", FLOATS + ["int64", "int8"])
def test_mm_bmm_mv_dot_match_torch(dtype):
    a, b = T((3, 4), dtype), T((4, 5), dtype)
    assert_like(ct.mm(a, b), torch.mm(to_torch(a), to_torch(b)))
    assert_like(a.mm(b), to_torch(a).mm(to_torch(b)))
    x, y = T((2, 3, 4), dtype), T((2, 4, 5), dtype)
    assert_like(ct.bmm(x, y), torch.bmm(to_torch(x), to_torch(y)))
    assert_like(x.bmm(y), to_torch(x).bmm(to_torch(y)))
    v = T((4,), dtype)
    assert_like(ct.mv(a, v), torch.mv(to_torch(a), to_torch(v)))
    assert_like(a.mv(v), to_torch(a).mv(to_torch(v)))
    w = T((4,), dtype)
    assert_like(ct.dot(v, w), torch.dot(to_torch(v), to_torch(w)))
    assert_like(v.dot(w), to_torch(v).dot(to_torch(w)))


def test_mm_bmm_mv_dot_empty_and_views():
    a, b = T((0, 4)), T((4, 5))
    assert_like(ct.mm(a, b), torch.mm(to_torch(a), to_torch(b)))
    x, y = T((0, 2, 3)), T((0, 3, 4))
    assert_like(ct.bmm(x, y), torch.bmm(to_torch(x), to_torch(y)))
    m = T((5, 6)).T[::2]                     # (3, 5) non-contiguous
    v = ct.from_numpy(rand((10,), "float32")[::2])
    assert_like(ct.mv(m, v), torch.mv(to_torch(m), to_torch(v)))
    e = T((0,))
    assert_like(ct.dot(e, e), torch.dot(to_torch(e), to_torch(e)))


DTYPE_PAIRS = [("float32", "float64"), ("int64", "float32"), ("int8", "uint8"), ("float16", "bfloat16"),
               ("bool", "bool"), ("bool", "int32"), ("float16", "float16"), ("bfloat16", "int64")]


@pytest.mark.parametrize("da,db", DTYPE_PAIRS)
def test_outer_promotes_like_torch(da, db):
    a, b = T((4,), da), T((3,), db)
    assert_like(ct.outer(a, b), torch.outer(to_torch(a), to_torch(b)))
    assert_like(a.outer(b), to_torch(a).outer(to_torch(b)))
    e = T((0,), da)
    assert_like(ct.outer(e, b), torch.outer(to_torch(e), to_torch(b)))


# ------------------------------------------------------------------------ einsum
EINSUM_CASES = [
    ("ii", [(4, 4)]),                             # trace
    ("ii->i", [(4, 4)]),                          # diagonal
    ("ij->ji", [(3, 4)]),                         # transpose
    ("ij->", [(3, 4)]),                           # total sum
    ("ij->j", [(3, 4)]),
    ("...ii->...i", [(2, 3, 3)]),                 # batched diagonal
    ("...i->i", [(2, 3, 4)]),                     # ellipsis dimensions summed
    ("i,i->", [(5,), (5,)]),                      # dot
    ("i,j->ij", [(3,), (4,)]),                    # outer
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),                  # implicit output
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),     # batch matmul
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),   # broadcasting batches
    ("...ij,...jk", [(3, 4), (2, 4, 5)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),   # chain
    ("bA,Ba", [(2, 3), (4, 5)]),                  # implicit output: upper case sorts first
    ("i...,j...", [(2, 3), (4, 3)]),              # implicit output: ellipsis first
    ("ij,jk->ik", [(2, 3), (1, 4)]),              # a size-1 label broadcasts
    ("ij,ij->ij", [(1, 3), (2, 3)]),
    (" i j , j k -> i k ", [(2, 3), (3, 4)]),     # spaces
    ("ab,bc->ac", [(2, 0), (0, 3)]),              # empty contraction
    ("a", [(0,)]),
    ("", [()]),                                   # 0-d
    ("...", [()]),
    ("i,->i", [(3,), ()]),                        # a 0-d operand scales
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64"])
@pytest.mark.parametrize("equation,shapes", EINSUM_CASES)
def test_einsum_matches_torch(equation, shapes, dtype):
    ops = [T(s, dtype) for s in shapes]
    assert_like(ct.einsum(equation, *ops), torch.einsum(equation, *map(to_torch, ops)))


@pytest.mark.parametrize("equation,shapes,dtypes", [
    ("ij,jk", [(2, 3), (3, 4)], ["int8", "int8"]),        # contraction keeps int8 (wrapping)
    ("ij->i", [(2, 3)], ["int8"]),                        # a summed integer operand gives int64
    ("ii", [(3, 3)], ["bool"]),                           # ... and so does bool
    ("ii->i", [(3, 3)], ["int8"]),                        # no sum: dtype kept
    ("i,j->ij", [(2,), (3,)], ["bool", "bool"]),          # bool products (logical and)
    ("ij,ij->ij", [(2, 3), (2, 3)], ["bool", "bool"]),
    ("i,j->ij", [(2,), (3,)], ["int8", "int16"]),         # no contraction: promotes
    ("i,j", [(2,), (3,)], ["float16", "float32"]),
    ("ij->ji", [(2, 3)], ["uint8"]),
])
def test_einsum_dtypes_match_torch(equation, shapes, dtypes):
    ops = [T(s, d) for s, d in zip(shapes, dtypes)]
    assert_like(ct.einsum(equation, *ops), torch.einsum(equation, *map(to_torch, ops)))


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize("equation,shapes", [
    ("bij,bjk->bik", [(4, 48, 40), (4, 40, 56)]),                  # large enough for numpy's optimizer path
    ("ij,jk,kl->il", [(30, 60), (60, 70), (70, 20)]),
    ("...ij,...jk", [(2, 1, 40, 50), (3, 50, 60)]),
])
def test_einsum_large_contractions_match_torch(equation, shapes, dtype):
    ops = [T(s, dtype) for s in shapes]
    assert_like(ct.einsum(equation, *ops), torch.einsum(equation, *map(to_torch, ops)))


def test_einsum_int8_overflow_wraps_like_torch():
    a, b = ct.full((1, 300), 100, dtype=ct.int8), ct.ones(300, 1, dtype=ct.int8)
    assert_like(ct.einsum("ij,jk->ik", a, b), torch.einsum("ij,jk->ik", to_torch(a), to_torch(b)))


def test_einsum_operand_list_sublist_form_and_views():
    a, b = T((2, 3)), T((3, 4))
    ta, tb = to_torch(a), to_torch(b)
    assert_like(ct.einsum("ij,jk", [a, b]), torch.einsum("ij,jk", [ta, tb]))
    assert_like(ct.einsum(a, [0, 1], b, [1, 2], [0, 2]), torch.einsum(ta, [0, 1], tb, [1, 2], [0, 2]))
    assert_like(ct.einsum(a, [0, 1], b, [1, 2]), torch.einsum(ta, [0, 1], tb, [1, 2]))
    assert_like(ct.einsum(a, [Ellipsis, 1], [1]), torch.einsum(ta, [Ellipsis, 1], [1]))
    v = ct.from_numpy(rand((6, 4), "float32")[::2, ::2]).mT   # non-contiguous (2, 3)
    assert_like(ct.einsum("ij,jk->ik", v, b), torch.einsum("ij,jk->ik", to_torch(v), tb))


def test_einsum_results_do_not_alias_inputs():
    x = T((3, 3))
    for eq in ["ij->ji", "ii->i", "ij->ij", "ij"]:
        out = ct.einsum(eq, x)
        assert not np.shares_memory(out.numpy(), x.numpy()), eq
        out.numpy()[...] = 0                     # writable
    assert ct.einsum("ij->ij", T((1, 3)).expand(2, 3)).numpy().flags.writeable


# --------------------------------------------------------------------- tensordot
@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "int64"])
@pytest.mark.parametrize("sa,sb,dims", [
    ((3, 4), (4, 5), 1),
    ((2, 3, 4), (3, 4, 5), 2),
    ((3, 4), (3, 4), 2),                     # full contraction -> 0-d
    ((3, 4), (2, 5), 0),                     # outer product
    ((3, 4, 5), (5, 4, 2), ([1, 2], [1, 0])),
    ((3, 4), (5, 3), ([0], [1])),
    ((3, 4), (5, 3), ([-2], [-1])),
    ((3, 4), (1, 5), ([0], [0])),            # a contracted size of 1 broadcasts (sums the other side)
    ((1, 4), (3, 5), ([0], [0])),
    ((0, 4), (0, 5), ([0], [0])),            # empty contraction
    ((3, 4), (4, 0), 1),
])
def test_tensordot_matches_torch(sa, sb, dims, dtype):
    a, b = T(sa, dtype), T(sb, dtype)
    assert_like(ct.tensordot(a, b, dims=dims), torch.tensordot(to_torch(a), to_torch(b), dims=dims))


def test_tensordot_default_dims_and_non_contiguous():
    a, b = T((2, 3, 4)), T((3, 4, 5))
    assert_like(ct.tensordot(a, b), torch.tensordot(to_torch(a), to_torch(b)))
    c = a.transpose(0, 2)                    # (4, 3, 2)
    assert_like(ct.tensordot(c, b, ([0, 1], [1, 0])), torch.tensordot(to_torch(c), to_torch(b), ([0, 1], [1, 0])))


# ------------------------------------------------------------------------ errors
def raises(exc, pattern):
    return pytest.raises(exc, match=re.escape(pattern))


def test_matmul_inner_mismatch_message_without_hint():
    with raises(ct.ShapeError, "matmul: shapes [3, 4] and [5, 6] cannot be multiplied: inner dimensions 4 != 5") as e:
        T((3, 4)) @ T((5, 6))
    assert "would fit" not in str(e.value)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("sa,sb,hint", [
    ((3, 4), (3, 5), "transposing the first operand would fit: a.T @ b"),
    ((3, 4), (5, 4), "transposing the second operand would fit: a @ b.T"),
    ((2, 3, 4), (2, 3, 5), "transposing the first operand would fit: a.mT @ b"),
    ((4,), (5, 4), "transposing the second operand would fit: a @ b.T"),
    ((4, 3), (4,), "transposing the first operand would fit: a.T @ b"),
    ((3, 4), (6, 3), "transposing both operands would fit: a.T @ b.T"),
])
def test_matmul_transpose_hints(sa, sb, hint):
    with raises(ct.ShapeError, hint) as e:
        ct.matmul(T(sa), T(sb))
    assert f"shapes {list(sa)} and {list(sb)} cannot be multiplied: inner dimensions" in str(e.value)


def test_product_shape_errors_name_op_shapes_and_rule():
    cases = [
        (lambda: ct.matmul(ct.tensor(2.0), T((3, 4))), "matmul: both arguments need to be at least 1-D, but got 0-D and 2-D"),
        (lambda: T((3,)) @ T((4,)), "matmul: shapes [3] and [4] cannot be multiplied: 1-D tensors must have the same number of elements, 3 != 4"),
        (lambda: T((2, 3, 4)) @ T((3, 4, 5)), "matmul: shapes [2, 3, 4] and [3, 4, 5] cannot be multiplied: batch dimensions [2] and [3] do not broadcast"),
        (lambda: ct.mm(T((3,)), T((3, 4))), "mm: expected 2-D matrices, but got 1-D and 2-D (shapes [3] and [3, 4])"),
        (lambda: ct.mm(T((3, 4)), T((5, 6))), "mm: shapes [3, 4] and [5, 6] cannot be multiplied: inner dimensions 4 != 5"),
        (lambda: ct.bmm(T((3, 4)), T((4, 5))), "bmm: expected 3-D tensors (batches of matrices), but got 2-D and 2-D"),
        (lambda: ct.bmm(T((2, 3, 4)), T((3, 4, 5))), "bmm: shapes [2, 3, 4] and [3, 4, 5]: batch sizes 2 != 3"),
        (lambda: ct.bmm(T((2, 3, 4)), T((2, 5, 5))), "bmm: shapes [2, 3, 4] and [2, 5, 5] cannot be multiplied: inner dimensions 4 != 5"),
        (lambda: ct.mv(T((3, 4)), T((5,))), "mv: shapes [3, 4] and [5] cannot be multiplied: inner dimensions 4 != 5"),
        (lambda: ct.mv(T((4,)), T((5,))), "mv: expected a 2-D matrix and a 1-D vector, but got 1-D and 1-D"),
        (lambda: ct.dot(T((3, 1)), T((3,))), "dot: expected 1-D tensors, but got 2-D and 1-D (shapes [3, 1] and [3])"),
        (lambda: ct.dot(T((3,)), T((4,))), "dot: shapes [3] and [4] cannot be multiplied: 1-D tensors must have the same number of elements, 3 != 4"),
        (lambda: ct.outer(T((3, 1)), T((2,))), "outer: expected 1-D arguments, but argument self is 2-D"),
        (lambda: ct.tensordot(T((3, 4)), T((5,)), ([0], [0])), "tensordot: shapes [3, 4] and [5]: contracted dimensions need to match, but the first has size 3 in dim 0 and the second has size 5 in dim 0"),
        (lambda: ct.tensordot(T((3, 4)), T((3, 4)), ([0, 1], [0])), "tensordot: both dimension lists must have the same length, got [0, 1] and [0]"),
        (lambda: ct.tensordot(T((3, 4)), T((3, 4)), 3), "tensordot: dims=3 contracts more dimensions than the operands have"),
        (lambda: ct.tensordot(T((3, 3)), T((3, 3)), ([0, 0], [0, 1])), "tensordot: a dimension appears twice in the first dimension list [0, 0]"),
        (lambda: ct.einsum("ij,jk", T((2, 3)), T((4, 4))), "einsum: subscript j has size 4 for operand 1 (shape [4, 4]), which does not broadcast with the size 3 seen before"),
        (lambda: ct.einsum("ij", T((2, 3, 3))), "einsum: operand 0 has 3 dimension(s) (shape [2, 3, 3]) but 2 subscript(s) in 'ij' and no ellipsis"),
        (lambda: ct.einsum("ii", T((2, 3))), "einsum: subscript i is repeated for operand 0 but the sizes don't match, 2 != 3"),
        (lambda: ct.einsum("...ij,...jk", T((2, 1, 3)), T((5, 3, 4))), "einsum: the dimensions covered by '...' in operand 1 ([5]) do not broadcast with those seen before ([2])"),
    ]
    for fn, message in cases:
        with raises(ct.ShapeError, message):
            fn()


def test_einsum_equation_errors():
    x = T((2,))
    cases = [
        (lambda: ct.einsum("ij,jk", T((2, 3))), "einsum: the equation 'ij,jk' names 2 operand(s) but 1 were given"),
        (lambda: ct.einsum("i", x, x), "einsum: the equation 'i' names 1 operand(s) but 2 were given"),
        (lambda: ct.einsum("i!,i", x, x), "einsum: invalid subscript '!' at index 1 of 'i!,i'"),
        (lambda: ct.einsum("i->j", x), "einsum: output subscript j does not appear in any input of 'i->j'"),
        (lambda: ct.einsum("ij->ii", T((2, 2))), "einsum: output subscript i appears more than once"),
        (lambda: ct.einsum("i...i...", x), "einsum: a second ellipsis in operand 0"),
        (lambda: ct.einsum("i..,i", x, x), "einsum: a '.' that is not part of '...' in operand 0"),
        (lambda: ct.einsum("i->i->i", x), "einsum: 'i->i->i' has more than one '->'"),
    ]
    for fn, message in cases:
        with raises(ValueError, message):
            fn()


def test_dtype_errors_name_both_dtypes():
    cases = [
        (lambda: T((2, 3)) @ T((3, 2), "float64"), "matmul: expected m1 and m2 to have the same dtype, but got float32 and float64"),
        (lambda: ct.mm(T((2, 3), "int64"), T((3, 2))), "mm: expected m1 and m2 to have the same dtype, but got int64 and float32"),
        (lambda: ct.bmm(T((1, 2, 3), "float16"), T((1, 3, 2), "bfloat16")), "bmm: expected m1 and m2 to have the same dtype, but got float16 and bfloat16"),
        (lambda: ct.mv(T((2, 3)), T((3,), "float64")), "mv: expected the matrix and the vector to have the same dtype, but got float32 and float64"),
        (lambda: ct.dot(T((3,)), T((3,), "float64")), "dot: expected both vectors to have the same dtype, but got float32 and float64"),
        (lambda: ct.tensordot(T((3,)), T((3,), "int64"), 1), "tensordot: both inputs should have the same dtype, but got float32 and int64"),
        (lambda: ct.einsum("ij,jk", T((2, 3)), T((3, 2), "float64")), "einsum: operands that are contracted must have the same dtype, but got float32 and float64"),
        (lambda: T((2, 2), "bool") @ T((2, 2), "bool"), "matmul: not implemented for bool tensors"),
        (lambda: ct.dot(T((2,), "bool"), T((2,), "bool")), "dot: not implemented for bool tensors"),
        (lambda: ct.einsum("i,i", T((2,), "bool"), T((2,), "bool")), "einsum: contracting bool tensors is not implemented"),
    ]
    for fn, message in cases:
        with raises(DTypeError, message) as e:
            fn()
        assert isinstance(e.value, TypeError) and isinstance(e.value, RuntimeError)  # design + torch


def test_non_tensor_operands_are_type_errors():
    a = T((2, 2))
    with pytest.raises(TypeError, match="matmul: argument 'other' must be a Tensor, not ndarray"):
        ct.matmul(a, np.ones((2, 2), np.float32))
    with pytest.raises(TypeError, match="unsupported operand"):
        a @ [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(TypeError, match="einsum: operand 1 must be a Tensor"):
        ct.einsum("ij,jk", a, 3)
    with pytest.raises(ValueError, match="tensordot: expects dims >= 0, but got dims=-1"):
        ct.tensordot(a, a, -1)


def test_products_are_quiet_on_inf_and_refuse_complex():
    a, b = ct.tensor([[float("inf"), 0.0]]), ct.tensor([[0.0], [1.0]])
    assert np.isnan((a @ b).item())  # nan, as torch, without numpy's warning
    with pytest.raises(ct.NotImplementedForDType, match="complex64"):
        ct.tensor([[1j]]) @ ct.tensor([[1j]])
