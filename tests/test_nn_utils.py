"""nn.utils against torch.nn.utils on the same gradients: clip_grad_norm_ (every norm type,
non-finite norms, mixed dtypes), clip_grad_value_, get_total_norm / clip_grads_with_norm_,
parameters_to_vector and vector_to_parameters."""

import math

import numpy as np
import pytest
import torch

import cogtensor as ct
from cogtensor import nn
from cogtensor.nn import utils
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

SHAPES = [(3, 4), (5,), (), (2, 0), (2, 3, 2)]


def twin_params(dtype=np.float32, seed=0, scale=1.0, shapes=SHAPES, with_grad=(True,) * len(SHAPES)):
    """The same parameters with the same gradients in cogtensor and torch."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for shape, has_grad in zip(shapes, with_grad):
        value = rng.standard_normal(shape).astype(dtype)
        p, q = nn.Parameter(ct.tensor(value)), torch.nn.Parameter(torch.tensor(value))
        if has_grad:
            grad = (rng.standard_normal(shape) * scale).astype(dtype)
            p.grad, q.grad = ct.tensor(grad), torch.tensor(grad)
        ours.append(p)
        theirs.append(q)
    return ours, theirs


def assert_grads_match(ours, theirs, rtol):
    for p, q in zip(ours, theirs):
        assert (p.grad is None) == (q.grad is None)
        if q.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, math.inf, -math.inf, 0, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, dtype, rtol):
    shapes = SHAPES if float(norm_type) not in (math.inf, -math.inf) else [s for s in SHAPES if 0 not in s]
    ours, theirs = twin_params(dtype, scale=3.0, shapes=shapes)
    got = utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert got.shape == () and got.dtype.name == str(want.dtype).removeprefix("torch.")
    np.testing.assert_allclose(got.item(), want.item(), rtol=rtol)
    assert_grads_match(ours, theirs, rtol)


@pytest.mark.parametrize("norm_type", [math.inf, -math.inf])
def test_infinity_norms_of_an_empty_gradient_raise_as_torch(norm_type):
    ours, theirs = twin_params(shapes=[(2, 0)], with_grad=(True,))
    with pytest.raises(RuntimeError, match="cannot compute the"):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type)
    with pytest.raises(RuntimeError, match="cannot compute the"):
        utils.clip_grad_norm_(ours, 1.0, norm_type=norm_type)


def test_clip_grad_norm_accepts_tensor_generator_and_skips_missing_grads():
    ours, theirs = twin_params(with_grad=(True, False, True, False, True))
    got = utils.clip_grad_norm_((p for p in ours), 0.1)
    want = torch.nn.utils.clip_grad_norm_((q for q in theirs), 0.1)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
    assert_grads_match(ours, theirs, 1e-6)
    single, twin = ours[0], theirs[0]
    np.testing.assert_allclose(utils.clip_grad_norm_(single, 0.01).item(),
                               torch.nn.utils.clip_grad_norm_(twin, 0.01).item(), rtol=1e-6)
    assert_grads_match([single], [twin], 1e-6)


def test_clip_grad_norm_without_gradients():
    ours, theirs = twin_params(with_grad=(False,) * len(SHAPES))
    got, want = utils.clip_grad_norm_(ours, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert got.item() == want.item() == 0.0 and got.dtype is ct.float32
    assert utils.clip_grad_norm_([], 1.0).item() == 0.0


def test_clip_grad_norm_of_a_model_after_backward():
    model = nn.Module()
    model.w = nn.Parameter(ct.randn(4, 3))
    (model.w * 10).square().sum().backward()
    norm = utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    assert norm.item() > 1.0
    assert float(model.w.grad.square().sum().sqrt()) == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_non_finite_norm(bad):
    ours, theirs = twin_params()
    ours[0].grad[0, 0] = bad
    theirs[0].grad[0, 0] = bad
    for fn, params in ((utils.clip_grad_norm_, ours), (torch.nn.utils.clip_grad_norm_, theirs)):
        with pytest.raises(RuntimeError, match="is non-finite, so it cannot be clipped"):
            fn(params, 1.0, error_if_nonfinite=True)
    got, want = utils.clip_grad_norm_(ours, 1.0), torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    np.testing.assert_equal(got.item(), want.item())
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())  # scaled by 0 or NaN, as torch


def test_mixed_dtypes_promote_the_total_norm():
    ours32, theirs32 = twin_params(np.float32, seed=1, shapes=[(3,)], with_grad=(True,))
    ours64, theirs64 = twin_params(np.float64, seed=2, shapes=[(4,)], with_grad=(True,))
    got = utils.clip_grad_norm_(ours32 + ours64, 0.5)
    want = torch.nn.utils.clip_grad_norm_(theirs32 + theirs64, 0.5)
    assert got.dtype is ct.float64 and want.dtype == torch.float64
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-6)
    assert_grads_match(ours32 + ours64, theirs32 + theirs64, 1e-6)


def test_total_norm_and_clip_with_norm_match_torch():
    ours, theirs = twin_params(np.float64, seed=3)
    grads_ours = [p.grad for p in ours]
    grads_theirs = [q.grad for q in theirs]
    got = utils.get_total_norm(grads_ours, 3.0)
    want = torch.nn.utils.get_total_norm(grads_theirs, 3.0)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-12)
    utils.clip_grads_with_norm_(ours, 0.2, got)
    torch.nn.utils.clip_grads_with_norm_(theirs, 0.2, want)
    assert_grads_match(ours, theirs, 1e-12)


@pytest.mark.parametrize("clip_value", [0.3, 2, 0.0])
def test_clip_grad_value_matches_torch(clip_value):
    ours, theirs = twin_params(scale=2.0, with_grad=(True, True, False, True, True))
    assert utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    assert_grads_match(ours, theirs, 0)


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a tensor or an iterable of tensors"):
        utils.clip_grad_norm_(3, 1.0)
    with pytest.raises(TypeError, match="expected tensors"):
        utils.clip_grad_value_([1, 2], 1.0)


def test_parameters_to_vector_matches_torch_and_is_differentiable():
    ours, theirs = twin_params(np.float64)
    got, want = utils.parameters_to_vector(ours), torch.nn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
    weights = np.arange(got.numel(), dtype=np.float64)
    (got * ct.tensor(weights)).sum().backward()
    (want * torch.tensor(weights)).sum().backward()
    for p, q in zip(ours, theirs):  # the gradient flows back to each parameter (added to its old grad)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError):
        utils.parameters_to_vector([])


def test_vector_to_parameters_matches_torch_and_shares_memory():
    ours, theirs = twin_params(np.float32)
    ids = [id(p) for p in ours]
    values = np.linspace(-1, 1, sum(int(np.prod(s)) for s in SHAPES)).astype(np.float32)
    vec, tvec = ct.tensor(values), torch.tensor(values)
    utils.vector_to_parameters(vec, ours)
    torch.nn.utils.vector_to_parameters(tvec, theirs)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.numpy(), q.detach().numpy())
        assert isinstance(p, nn.Parameter) and p.requires_grad
    assert [id(p) for p in ours] == ids
    vec[0] = 100.0  # the parameters are views of the vector, as torch's
    tvec[0] = 100.0
    assert ours[0][0, 0].item() == theirs[0][0, 0].item() == 100.0
    with pytest.raises(TypeError, match="expected cogtensor.Tensor"):
        utils.vector_to_parameters(values, ours)
    with pytest.raises(ValueError, match="at least"):
        utils.vector_to_parameters(ct.zeros(3), ours)
