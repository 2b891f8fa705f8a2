"""Gradients of the reductions (cogtensor.ops.reduction) against PyTorch: first order on random
shapes (keepdim, negative dims, ties, zeros, non-contiguous inputs), float64 gradchecks, and
Hessian-vector products through double backward."""

import math
import warnings

import numpy as np
import pytest
import torch

import cogtensor as ct
from grad_compare import compare_grads, gradcheck, hvp_matches, leaves
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

INF = math.inf

# (name, fn(module, x)): every reduction, over several dims, keepdim and negative dims
REDUCTIONS = [
    ("sum_dims", lambda m, x: x.sum((0, -1))),
    ("mean_keepdim", lambda m, x: x.mean(1, keepdim=True)),
    ("var_dim", lambda m, x: x.var(1)),
    ("var_all", lambda m, x: x.var()),
    ("var_biased_keepdim", lambda m, x: x.var((0, 2), keepdim=True, correction=0)),
    ("std_dim", lambda m, x: x.std(-1)),
    ("std_all_unbiased_false", lambda m, x: x.std(unbiased=False)),
    ("std_keepdim", lambda m, x: x.std((0, 1), keepdim=True, correction=2)),
    ("max_all", lambda m, x: x.max()),
    ("min_all", lambda m, x: x.min()),
    ("max_dim", lambda m, x: x.max(1).values),
    ("min_dim_keepdim", lambda m, x: x.min(-1, keepdim=True).values),
    ("amax_dims", lambda m, x: x.amax((0, 2))),
    ("amin_keepdim", lambda m, x: x.amin(-2, keepdim=True)),
    ("amax_all", lambda m, x: x.amax()),
    ("prod_all", lambda m, x: x.prod()),
    ("prod_dim", lambda m, x: x.prod(1)),
    ("prod_keepdim", lambda m, x: x.prod(-1, keepdim=True)),
    ("logsumexp", lambda m, x: x.logsumexp(1)),
    ("logsumexp_dims_keepdim", lambda m, x: x.logsumexp((0, -1), keepdim=True)),
    ("norm_2", lambda m, x: x.norm()),
    ("norm_fro_dim", lambda m, x: x.norm("fro", (0, 1))),
    ("norm_1", lambda m, x: x.norm(1, -1)),
    ("norm_inf", lambda m, x: x.norm(INF, 1)),
    ("norm_neg_inf", lambda m, x: x.norm(-INF, 0, keepdim=True)),
    ("norm_0", lambda m, x: x.norm(0, 1)),
    ("norm_3", lambda m, x: x.norm(3, 2)),
    ("norm_1_5", lambda m, x: x.norm(1.5)),
    ("norm_0_5", lambda m, x: x.norm(0.5, 1)),
    ("norm_neg_1", lambda m, x: x.norm(-1, -1)),
    ("cumsum", lambda m, x: x.cumsum(1)),
    ("cumsum_neg", lambda m, x: x.cumsum(-1)),
]
IDS = [name for name, _ in REDUCTIONS]
FNS = [fn for _, fn in REDUCTIONS]


def random_input(seed, shape=(3, 4, 5)):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("fn", FNS, ids=IDS)
@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_match_torch(fn, seed):
    shape = tuple(np.random.default_rng(seed).integers(1, 5, 3))
    compare_grads(fn, random_input(seed, shape), seed=seed)


@pytest.mark.parametrize("fn", FNS, ids=IDS)
def test_gradients_of_non_contiguous_inputs(fn):
    """A transposed view and a strided slice: the gradient reaches the base through the view."""
    base = random_input(7, (5, 4, 6))
    compare_grads(lambda m, b: fn(m, b.transpose(0, 2)[:, ::2]), base)
    strided = np.random.default_rng(8).standard_normal((6, 4, 10))[::2, :, ::2]  # a non-contiguous leaf
    compare_grads(fn, strided)


@pytest.mark.parametrize("fn", FNS, ids=IDS)
def test_hessian_vector_products_match_torch(fn):
    """create_graph=True: the gradient is differentiable again (products keep second-order terms)."""
    hvp_matches(lambda m, x: fn(m, x) * fn(m, x), random_input(3, (3, 4, 3)))


@pytest.mark.parametrize("fn", [f for name, f in REDUCTIONS if name not in ("norm_0",)],
                         ids=[name for name in IDS if name != "norm_0"])
def test_gradcheck(fn):
    # distinct values, away from 0: max/min/norm are differentiable there
    x = np.random.default_rng(5).permutation(np.linspace(0.3, 1.9, 24)).reshape(2, 3, 4)
    x *= np.where(np.random.default_rng(6).random(x.shape) < 0.5, -1, 1)
    gradcheck(lambda t: fn(ct, t), x, second_order=True)


def test_reductions_broadcast_input():
    """A broadcast (expanded) input: gradients sum back over the broadcast dims."""
    a = random_input(2, (1, 4, 1))
    compare_grads(lambda m, x: (x.expand(3, 4, 5) * 2).var(1), a)
    compare_grads(lambda m, x: m.max(x, m.zeros(())).sum(), a)


def test_binary_max_min_gradients_broadcast_and_ties():
    a = np.array([[1.0, 2.0, 3.0], [3.0, 0.0, -1.0]])
    b = np.array([3.0, 2.0, 1.0])
    compare_grads(lambda m, x, y: m.max(x, y), a, b)
    compare_grads(lambda m, x, y: m.min(x, y), a, b)
    assert ct.max(ct.ones(2).requires_grad_(), ct.zeros(2)).grad_fn.name == "MaximumBackward0"


def test_max_min_ties_split_like_torch():
    """max()/min() over everything share the gradient among ties; along a dim the index wins;
    amax/amin split each slice's gradient among its ties."""
    x = np.array([[1.0, 3.0, 3.0], [3.0, -2.0, -2.0]])
    for fn in (lambda m, t: t.max(), lambda m, t: t.min(), lambda m, t: t.max(1).values,
               lambda m, t: t.min(0).values, lambda m, t: t.amax(1), lambda m, t: t.amin(),
               lambda m, t: t.amax((0, 1), keepdim=True), lambda m, t: t.norm(INF, 1), lambda m, t: t.norm(-INF)):
        compare_grads(fn, x)
    t = ct.from_numpy(x).requires_grad_()
    t.max().backward()
    assert t.grad.tolist() == [[0.0, 1 / 3, 1 / 3], [1 / 3, 0.0, 0.0]]


def test_max_min_with_nan_like_torch():
    x = np.array([[1.0, np.nan, 3.0], [2.0, 5.0, 5.0]])
    for fn in (lambda m, t: t.max(), lambda m, t: t.min(), lambda m, t: t.max(1).values,
               lambda m, t: t.amax(1), lambda m, t: t.amin(0)):
        compare_grads(fn, x)


@pytest.mark.parametrize("dim", [None, 0, 1, -1])
def test_prod_with_zeros_matches_torch(dim):
    """One zero, two zeros and no zeros in different slices (all exact, no 0/0)."""
    x = np.random.default_rng(4).standard_normal((3, 4))
    x[0, 1] = 0.0
    x[1, 0] = x[1, 2] = 0.0
    for a in (x, x[:1, :2], x[1:2], x[2:]):
        fn = (lambda m, t: t.prod()) if dim is None else (lambda m, t: t.prod(dim))
        compare_grads(fn, a)
        hvp_matches(fn, a)
    gradcheck(lambda t: t.prod() if dim is None else t.prod(dim), x, second_order=True)


def test_prod_of_zero_dim_empty_and_wider_dtype():
    compare_grads(lambda m, t: t.prod(), np.array(3.0))
    compare_grads(lambda m, t: t.prod(0), np.array(-2.0))
    compare_grads(lambda m, t: t.prod(1), np.zeros((2, 0)))
    x32 = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    x, t = ct.from_numpy(x32.copy()).requires_grad_(), torch.from_numpy(x32.copy()).requires_grad_()
    x.prod(1, dtype=ct.float64).sum().backward()
    t.prod(1, dtype=torch.float64).sum().backward()
    assert x.grad.dtype is ct.float32
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_norm_of_zero_vectors_gets_zero_gradient():
    z = np.zeros((2, 3))
    z[1] = [1.0, -2.0, 0.0]
    for p in (2, 1, 3, 1.5, 0.5, -1, INF, -INF, "fro"):
        compare_grads(lambda m, t: t.norm(p, 1), z)
    x = ct.zeros(3).requires_grad_()
    x.norm().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0]
    x = ct.ones(3).requires_grad_()
    x.norm(0).backward()  # a count of nonzeros has no gradient (torch leaves .grad unset)
    assert x.grad is None


def test_norm_with_wider_dtype_casts_gradient_back():
    a = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    x, t = ct.from_numpy(a.copy()).requires_grad_(), torch.from_numpy(a.copy()).requires_grad_()
    x.norm(2, 1, dtype=ct.float64).sum().backward()
    torch.norm(t, 2, 1, dtype=torch.float64).sum().backward()
    assert x.grad.dtype is ct.float32
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_std_of_constant_slices_gets_zero_gradient():
    compare_grads(lambda m, t: t.std(1), np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]]))
    hvp_matches(lambda m, t: t.std(1), np.array([[1.0, 2.0, 2.5], [1.0, 2.0, 4.0]]))


@pytest.mark.parametrize("n,correction", [(1, 1), (2, 2), (2, 3), (3, 5)])
def test_var_std_with_no_degrees_of_freedom_like_torch(n, correction):
    """N - correction <= 0: inf/NaN gradients exactly where torch has them (it warns, so do we)."""
    x = np.array([3.0, -1.0, 7.0][:n])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for fn in (lambda m, t: t.var(correction=correction), lambda m, t: t.var(0, correction=correction),
                   lambda m, t: t.std(0, correction=correction), lambda m, t: t.std(correction=correction)):
            compare_grads(fn, x)


def test_logsumexp_large_and_infinite_inputs():
    compare_grads(lambda m, t: t.logsumexp(1), np.array([[1e4, 1e4, 0.0], [-1e4, 3.0, -INF]]))


def test_empty_reductions_give_empty_gradients():
    e = np.zeros((0, 3))
    for fn in (lambda m, t: t.sum(0), lambda m, t: t.prod(0), lambda m, t: t.cumsum(0), lambda m, t: t.norm(2, 0),
               lambda m, t: t.logsumexp(0), lambda m, t: t.amax(1), lambda m, t: t.norm(1, 1)):
        compare_grads(fn, e)


def test_zero_dim_inputs():
    for fn in (lambda m, t: t.var(correction=0), lambda m, t: t.std(0, correction=0), lambda m, t: t.max(),
               lambda m, t: t.max(0).values, lambda m, t: t.amin(), lambda m, t: t.logsumexp(0),
               lambda m, t: t.norm(3), lambda m, t: t.cumsum(0)):
        compare_grads(fn, np.array(-1.5))


def test_cumsum_with_wider_dtype():
    a = np.random.default_rng(2).standard_normal((2, 5)).astype(np.float32)
    x, t = ct.from_numpy(a.copy()).requires_grad_(), torch.from_numpy(a.copy()).requires_grad_()
    w = np.arange(10.0).reshape(2, 5)
    (x.cumsum(1, dtype=ct.float64) * ct.from_numpy(w)).sum().backward()
    (t.cumsum(1, dtype=torch.float64) * torch.from_numpy(w)).sum().backward()
    assert x.grad.dtype is ct.float32 and np.array_equal(x.grad.numpy(), t.grad.numpy())


def test_grad_fn_names_follow_torch():
    ours, theirs = leaves([np.arange(1.0, 7.0).reshape(2, 3)])
    x, t = ours[0], theirs[0]
    for fn in (lambda v: v.var(), lambda v: v.std(1), lambda v: v.max(), lambda v: v.max(1).values,
               lambda v: v.min(), lambda v: v.amax(), lambda v: v.amin(0), lambda v: v.prod(), lambda v: v.prod(1),
               lambda v: v.logsumexp(1), lambda v: v.norm(), lambda v: v.norm(1, 1), lambda v: v.cumsum(0)):
        assert fn(x).grad_fn.name == type(fn(t).grad_fn).__name__


def test_integer_results_and_inputs_are_not_differentiable():
    x = ct.tensor([[1.0, 3.0], [2.0, 0.5]]).requires_grad_()
    for out in (x.argmax(), x.argmin(1), x.all(), x.any(0), x.max(1).indices, x.min(0).indices):
        assert not out.requires_grad and out.grad_fn is None
    values = x.max(1).values
    assert values.requires_grad
    i = ct.tensor([[1, 2], [3, 4]])
    assert not i.sum().requires_grad and not i.logsumexp(1).requires_grad


def test_no_grad_records_nothing():
    x = ct.tensor([1.0, 2.0]).requires_grad_()
    with ct.graph.no_grad():
        for out in (x.var(), x.max(), x.prod(), x.norm(), x.cumsum(0), x.logsumexp(0), x.amax()):
            assert not out.requires_grad


def test_max_along_dim_backward_raises_after_indices_change():
    """The indices are saved: changing them in place before backward raises, as torch."""
    x = ct.tensor([[1.0, 3.0], [2.0, 0.5]]).requires_grad_()
    values, indices = x.max(1)
    indices.zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        values.sum().backward()
