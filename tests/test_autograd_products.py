"""Gradients of the matrix products (matmul in every rank case, mm, bmm, mv, dot, outer,
tensordot, ``@``) and of einsum: float64 gradcheck, PyTorch's gradients on broadcast and
non-contiguous (transposed, strided) inputs, and Hessian-vector products (create_graph)."""

import numpy as np
import pytest
import torch
from grad_compare import compare_grads, gradcheck, hvp_matches
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct

RNG = np.random.default_rng(11)


def randn(*shape):
    return RNG.standard_normal(shape)


# --------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((4,), (4,)),                  # dot
    ((3, 4), (4,)),                # matrix @ column
    ((4,), (4, 5)),                # row @ matrix
    ((3, 4), (4, 5)),              # mm
    ((2, 3, 4), (4,)),             # batch @ column
    ((4,), (2, 4, 5)),             # row @ batch
    ((2, 3, 4), (4, 5)),           # batch @ matrix (folded into one GEMM)
    ((3, 4), (2, 4, 5)),           # matrix @ batch (summed over the batch)
    ((2, 3, 4), (2, 4, 5)),        # bmm
    ((2, 1, 3, 4), (5, 4, 2)),     # batch dims broadcast both ways
    ((1, 3, 4), (2, 4, 5)),
    ((0, 3, 4), (4, 2)),           # empty batch
    ((3, 0), (0, 2)),              # empty inner dimension
    ((1, 1), (1, 1)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_gradients_match_torch(shapes):
    a, b = (randn(*s) for s in shapes)
    compare_grads(lambda m, x, y: m.matmul(x, y), a, b)
    compare_grads(lambda m, x, y: x @ y, a, b)


@pytest.mark.parametrize("shapes", [s for s in MATMUL_SHAPES if 0 not in s[0] + s[1]], ids=str)
def test_matmul_hessian_vector_products_match_torch(shapes):
    a, b = (randn(*s) for s in shapes)
    hvp_matches(lambda m, x, y: (x @ y) ** 3, a, b)  # nonlinear outside: a nonzero Hessian
    hvp_matches(lambda m, x, y: m.matmul(x, y).tanh(), a, b)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 2)), ((2, 3), (3, 2)),
                                    ((2, 2, 3), (3, 2)), ((2, 1, 3), (2, 3, 2))], ids=str)
def test_matmul_gradcheck(shapes):
    gradcheck(lambda x, y: x @ y, *(randn(*s) for s in shapes), second_order=True)


def test_non_contiguous_operands():
    """Transposed, strided and expanded views go in; gradients land on the underlying leaves."""
    a, b = randn(4, 3), randn(5, 8)
    compare_grads(lambda m, x, y: x.mT @ y[:, ::2].mT, a, b)  # (3, 4) @ (4, 5) over two views
    compare_grads(lambda m, x, y: m.mm(x.T, y[::2, 1::2]), a, randn(8, 6))
    compare_grads(lambda m, x, y: x.transpose(0, 1) @ y.expand(2, 4, 2), a, randn(4, 2))
    hvp_matches(lambda m, x, y: (x.mT @ y[:, ::2].mT).sin(), a, b)


def test_mm_bmm_mv_dot_outer():
    compare_grads(lambda m, x, y: m.mm(x, y), randn(3, 4), randn(4, 2))
    compare_grads(lambda m, x, y: m.bmm(x, y), randn(2, 3, 4), randn(2, 4, 5))
    compare_grads(lambda m, x, y: m.mv(x, y), randn(3, 4), randn(4))
    compare_grads(lambda m, x, y: m.dot(x, y), randn(5), randn(5))
    compare_grads(lambda m, x, y: m.outer(x, y), randn(3), randn(4))
    compare_grads(lambda m, x, y: x.mm(y) + x.mm(y).mm(y.T).mm(y), randn(3, 3), randn(3, 3))
    compare_grads(lambda m, x, y: x.outer(y[::2]), randn(3), randn(8))
    hvp_matches(lambda m, x, y: m.bmm(x, y) ** 2, randn(2, 3, 4), randn(2, 4, 2))
    hvp_matches(lambda m, x, y: m.mv(x, y) ** 2, randn(3, 4), randn(4))
    hvp_matches(lambda m, x, y: m.dot(x, y) ** 2, randn(4), randn(4))
    hvp_matches(lambda m, x, y: m.outer(x, y) ** 2, randn(3), randn(2))
    gradcheck(lambda x, y: ct.outer(x, y), randn(3), randn(2), second_order=True)
    gradcheck(lambda x, y: ct.mv(x, y), randn(3, 2), randn(2), second_order=True)


def test_outer_promotes_and_its_gradients_take_each_dtype():
    x = ct.from_numpy(randn(3).astype(np.float32)).requires_grad_()
    y = ct.from_numpy(randn(2)).requires_grad_()
    ct.outer(x, y).sum().backward()
    assert x.grad.dtype is ct.float32 and y.grad.dtype is ct.float64
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, y.numpy().sum()), rtol=1e-6)


def test_float32_and_half_gradients():
    a, b = randn(3, 4).astype(np.float32), randn(2, 4, 5).astype(np.float32)
    x, y = ct.from_numpy(a.copy()).requires_grad_(), ct.from_numpy(b.copy()).requires_grad_()
    t, u = torch.from_numpy(a.copy()).requires_grad_(), torch.from_numpy(b.copy()).requires_grad_()
    (x @ y).sum().backward()
    (t @ u).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y.grad.numpy(), u.grad.numpy(), rtol=1e-5, atol=1e-5)
    for dtype in (ct.float16, ct.bfloat16):
        x = ct.from_numpy(a).to(dtype).requires_grad_()
        w = ct.from_numpy(randn(4, 2)).to(dtype).requires_grad_()
        (x @ w).sum().backward()
        assert x.grad.dtype is dtype and w.grad.dtype is dtype
        expected = np.broadcast_to(w.detach().float().numpy().sum(1), (3, 4))
        np.testing.assert_allclose(x.grad.float().numpy(), expected, rtol=2e-2, atol=2e-2)


def test_grad_fn_names_and_what_is_recorded():
    x = ct.from_numpy(randn(2, 3)).requires_grad_()
    assert (x @ ct.ones(3, 4, dtype=ct.float64)).grad_fn.name == "MmBackward0"
    assert (x @ ct.ones(3, dtype=ct.float64)).grad_fn.name == "MvBackward0"
    assert ct.dot(x[0], x[1]).grad_fn.name == "DotBackward0"
    assert ct.bmm(x.unsqueeze(0), ct.ones(1, 3, 2, dtype=ct.float64)).grad_fn.name == "BmmBackward0"
    assert (x @ ct.ones(5, 3, 4, dtype=ct.float64)).grad_fn.name == "MatmulBackward0"
    assert (ct.ones(2, 3, dtype=ct.float64) @ ct.ones(3, 4, dtype=ct.float64)).grad_fn is None
    assert (ct.ones(2, 3, dtype=ct.int64) @ ct.ones(3, 4, dtype=ct.int64)).grad_fn is None
    with ct.no_grad():
        assert (x @ x.T).grad_fn is None


def test_only_operands_that_need_it_get_a_gradient():
    x = ct.from_numpy(randn(2, 3)).requires_grad_()
    w = ct.from_numpy(randn(3, 4))
    (x @ w).sum().backward()
    assert w.grad is None
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(w.numpy().sum(1), (2, 3)))


def test_first_order_gradients_are_plain_fresh_arrays():
    """Without create_graph the gradients are outside the graph and own their memory (one GEMM each)."""
    x = ct.from_numpy(randn(5, 3)).requires_grad_()
    w = ct.from_numpy(randn(4, 3)).requires_grad_()
    (x @ w.T).sum().backward()
    for leaf in (x, w):
        assert not leaf.grad.requires_grad and leaf.grad._data.flags.owndata


def test_modifying_a_saved_operand_in_place_raises():
    x = ct.from_numpy(randn(2, 3)).requires_grad_()
    y = x * 1
    out = y @ ct.ones(3, 2, dtype=ct.float64)
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


# ------------------------------------------------------------------ tensordot
TENSORDOT = [
    ((2, 3, 4), (3, 4, 5), 2),
    ((2, 3, 4), (4, 5), 1),
    ((2, 3), (4,), 0),                        # an outer product
    ((2, 3, 4), (4, 5, 2), ([2, 0], [0, 2])),
    ((3, 4), (4, 3), ([0, 1], [1, 0])),      # a full contraction to 0-d
    ((2, 1, 4), (3, 5), ([1], [0])),          # size 1 against 3: this side broadcasts
    ((2, 3, 4), (1, 5), ([1], [0])),          # 3 against size 1: the other side broadcasts
]


@pytest.mark.parametrize("case", TENSORDOT, ids=str)
def test_tensordot_gradients(case):
    sa, sb, dims = case
    a, b = randn(*sa), randn(*sb)
    compare_grads(lambda m, x, y: m.tensordot(x, y, dims=dims), a, b)
    hvp_matches(lambda m, x, y: m.tensordot(x, y, dims=dims) ** 2, a, b)
    gradcheck(lambda x, y: ct.tensordot(x, y, dims=dims), a, b)


def test_tensordot_of_a_transposed_view():
    compare_grads(lambda m, x, y: m.tensordot(x.transpose(0, 2), y, dims=([1, 2], [0, 1])), randn(4, 3, 2),
                  randn(3, 4, 5))


# --------------------------------------------------------------------- einsum
EINSUM = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ii->", [(3, 3)]),                         # trace: a diagonal
    ("ii->i", [(3, 3)]),                        # diagonal
    ("iji->ij", [(3, 2, 3)]),                   # a diagonal across dims 0 and 2
    ("ij->", [(3, 2)]),                         # everything summed out
    ("ij->j", [(3, 2)]),
    ("ijk->kji", [(2, 3, 4)]),                  # a permutation
    ("i,j->ij", [(3,), (2,)]),
    ("i,i", [(3,), (3,)]),                      # implicit output
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,bjk->bik", [(1, 3, 4), (2, 4, 5)]),   # a broadcast label
    ("ij,ij->", [(2, 3), (1, 3)]),
    ("ij,j->i", [(2, 3), (1,)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
    ("...ij,...jk->...ik", [(3, 4), (2, 4, 5)]),  # ellipsis: broadcast batch dims
    ("i...j,j->i...", [(3, 2, 5, 4), (4,)]),
    ("a...b,b...->a", [(3, 4), (4, 2, 5)]),       # an ellipsis of different ranks, in the middle
    ("b...,b...->b", [(2, 1, 3), (2, 4, 1)]),
]


@pytest.mark.parametrize("case", EINSUM, ids=str)
def test_einsum_gradients(case):
    equation, shapes = case
    arrays = [randn(*s) for s in shapes]
    compare_grads(lambda m, *xs: m.einsum(equation, *xs), *arrays)
    hvp_matches(lambda m, *xs: m.einsum(equation, *xs) ** 3, *arrays)


@pytest.mark.parametrize("case", [EINSUM[i] for i in (0, 1, 3, 5, 10, 13, 16)], ids=str)
def test_einsum_gradcheck(case):
    equation, shapes = case
    gradcheck(lambda *xs: ct.einsum(equation, *xs), *(randn(*s) for s in shapes), second_order=True)


def test_einsum_of_views_sublists_and_one_operand_twice():
    compare_grads(lambda m, x, y: m.einsum("ij,jk->ik", x.T, y[:, ::2]), randn(3, 2), randn(3, 8))
    compare_grads(lambda m, x, y: m.einsum(x, [0, 1], y, [1, 2], [0, 2]), randn(2, 3), randn(3, 4))
    compare_grads(lambda m, x: m.einsum("ij,ij->i", x, x), randn(3, 4))
    compare_grads(lambda m, x, y: m.einsum("ij,jk", [x, y]), randn(2, 3), randn(3, 4))


def test_einsum_mixed_dtypes_without_contraction():
    x = ct.from_numpy(randn(3).astype(np.float32)).requires_grad_()
    y = ct.from_numpy(randn(2)).requires_grad_()
    out = ct.einsum("i,j->ij", x, y)
    assert out.dtype is ct.float64
    out.sum().backward()
    assert x.grad.dtype is ct.float32 and y.grad.dtype is ct.float64
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, y.numpy().sum()), rtol=1e-6)
    np.testing.assert_allclose(y.grad.numpy(), np.full(2, x.numpy().astype(np.float64).sum()), rtol=1e-6)


def test_einsum_records_only_when_needed():
    x = ct.from_numpy(randn(2, 3))
    assert ct.einsum("ij->ji", x).grad_fn is None
    x.requires_grad_()
    assert ct.einsum("ij->ji", x).grad_fn.name == "EinsumBackward0"
    with ct.no_grad():
        assert ct.einsum("ij->ji", x).grad_fn is None
