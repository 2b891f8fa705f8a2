"""Losses (cogtensor.nn.functional's and cogtensor.nn's loss modules) against torch 2.13: values, and
gradients of the input (and of the target and weights where torch has them) for every reduction and
option, float32 (rtol 1e-5) and float64 (rtol 1e-10); finite-difference gradient checks, Hessian-vector
products, edge cases (ignored targets, empty batches, K-dim inputs, probabilities) and errors."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import cogtensor as ct
import cogtensor.nn.functional as F
import grad_compare
from cogtensor.nn import loss as L
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

TOL = {np.dtype(np.float32): {"rtol": 1e-5, "atol": 1e-6}, np.dtype(np.float64): {"rtol": 1e-10, "atol": 1e-12}}
REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]


# ---------------------------------------------------------------------- helpers
def _pair(value, wants_grad):
    """(cogtensor, torch) tensors over a numpy array (the cogtensor one keeps its strides), or the value twice."""
    if not isinstance(value, np.ndarray):
        return value, value
    ours, theirs = ct.from_numpy(value), torch.from_numpy(np.array(value, order="C"))
    if wants_grad and value.dtype.kind == "f":
        ours.requires_grad_(), theirs.requires_grad_()
    return ours, theirs


def assert_close(ours, theirs, what, dtype=None):
    """Same dtype, shape and values, within the tolerance of ``dtype`` (default: their own dtype)."""
    theirs = theirs.detach()
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (what, ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape), (what, ours.shape, theirs.shape)
    tol = TOL.get(np.dtype(dtype or theirs.numpy().dtype), {"rtol": 0, "atol": 0})
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), equal_nan=True, err_msg=what, **tol)


def check(name, *args, grads=(0,), seed=0, precision=None, **kwargs):
    """F.<name> and torch's on the same arrays: the same value, then the same gradients for the
    positional arguments / keyword names in ``grads`` after backward from a random upstream gradient.
    ``precision``: the dtype whose tolerance the value gets (a float64 result of float32 inputs is only
    as precise as float32); gradients get their own dtype's. Returns (ours, theirs)."""
    pairs = [_pair(a, i in grads) for i, a in enumerate(args)]
    kw_pairs = {k: _pair(v, k in grads) for k, v in kwargs.items()}
    ours = getattr(F, name)(*(p[0] for p in pairs), **{k: p[0] for k, p in kw_pairs.items()})
    theirs = getattr(TF, name)(*(p[1] for p in pairs), **{k: p[1] for k, p in kw_pairs.items()})
    dtype = np.dtype(str(theirs.dtype).removeprefix("torch."))
    assert_close(ours, theirs, f"{name} value", precision or dtype)
    if not theirs.requires_grad:
        return ours, theirs
    upstream = np.random.default_rng(seed).uniform(0.5, 1.5, tuple(theirs.shape)).astype(dtype)
    ours.backward(ct.from_numpy(upstream))
    theirs.backward(torch.from_numpy(upstream))
    leaves = [(f"argument {i}", p) for i, p in enumerate(pairs)] + list(kw_pairs.items())
    for what, (x, t) in leaves:
        if isinstance(t, torch.Tensor) and t.requires_grad:
            assert_close(x.grad, t.grad, f"{name}: gradient of {what}", precision)
    return ours, theirs


def same_error(name, *args, **kwargs):
    """torch raises for these arguments; we raise an exception of the same type (or a subclass)."""
    converted = [(ct.from_numpy(a), torch.from_numpy(a)) if isinstance(a, np.ndarray) else (a, a) for a in args]
    kw = {k: ((ct.from_numpy(v), torch.from_numpy(v)) if isinstance(v, np.ndarray) else (v, v))
          for k, v in kwargs.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as theirs:
            getattr(TF, name)(*(c[1] for c in converted), **{k: v[1] for k, v in kw.items()})
        with pytest.raises(type(theirs.value)) as ours:
            getattr(F, name)(*(c[0] for c in converted), **{k: v[0] for k, v in kw.items()})
    assert name in str(ours.value), ours.value  # our messages name the function


def rng(seed=0):
    return np.random.default_rng(seed)


def logits(shape, dtype, seed=0):
    return (rng(seed).standard_normal(shape) * 2).astype(dtype)


def strided(shape, dtype, seed=0):
    """A non-contiguous array of ``shape`` (the transpose of a contiguous one)."""
    return np.ascontiguousarray(rng(seed).standard_normal(shape[::-1]).astype(dtype)).T


# ------------------------------------------------------------------ regression
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,options", [
    ("mse_loss", {}), ("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.4}),
    ("smooth_l1_loss", {"beta": 0.0}), ("huber_loss", {}), ("huber_loss", {"delta": 0.3}),
])
def test_regression_losses(name, options, reduction, dtype):
    x, y = strided((4, 5), dtype, 1), logits((4, 5), dtype, 2)
    x[0, :2] = y[0, :2]  # zero differences: the kink of |d|
    check(name, x, y, grads=(0, 1), reduction=reduction, **options)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss"])
def test_regression_weight(name, reduction, dtype):
    weight = rng(3).uniform(0, 2, (3, 4)).astype(dtype)
    check(name, logits((3, 4), dtype, 1), logits((3, 4), dtype, 2), grads=(0, 1, "weight"), weight=weight,
          reduction=reduction)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"])
def test_regression_broadcast_warns(name):
    with pytest.warns(UserWarning, match="different to the input size"):
        check(name, logits((3, 4), np.float64), logits((4,), np.float64, 1), grads=(0, 1))


def test_regression_mixed_dtypes_and_scalars():
    check("mse_loss", logits((3,), np.float32), logits((3,), np.float64, 1), grads=(0, 1), precision=np.float32)
    check("l1_loss", logits((3,), np.float64), np.arange(3), grads=(0,))
    check("mse_loss", np.array(1.5), np.array(-0.5), grads=(0, 1))
    check("l1_loss", np.array([1, 5]), np.array([3, 2]), reduction="sum")


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div"])
def test_empty_regression(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning
        for reduction in REDUCTIONS:
            check(name, np.zeros((0, 3)), np.zeros((0, 3)), reduction=reduction)


def test_regression_errors():
    same_error("mse_loss", np.arange(3), np.arange(3))
    same_error("mse_loss", np.zeros((3, 4)), np.zeros(5))
    same_error("mse_loss", np.zeros(3), np.zeros(3), reduction="avg")
    same_error("mse_loss", np.zeros(3), np.zeros(3), weight=np.ones(2))
    same_error("smooth_l1_loss", np.zeros(3), np.zeros(3), beta=-1.0)
    same_error("huber_loss", np.zeros(3), np.zeros(3), delta=0.0)
    same_error("huber_loss", np.arange(3), np.arange(3))
    same_error("l1_loss", np.zeros(3, bool), np.ones(3, bool))
    same_error("l1_loss", np.arange(3), np.arange(3))  # 'mean' of integers
    with pytest.raises(TypeError, match="mse_loss"):
        F.mse_loss([1.0], ct.zeros(1))


def test_legacy_reduction_flags():
    x, y = logits((3, 4), np.float64), logits((3, 4), np.float64, 1)
    for flags in [{"size_average": False}, {"reduce": False}, {"size_average": True, "reduce": True}]:
        with pytest.warns(UserWarning, match="size_average and reduce"):
            ours = F.mse_loss(ct.from_numpy(x), ct.from_numpy(y), **flags)
        with pytest.warns(UserWarning):
            theirs = TF.mse_loss(torch.from_numpy(x), torch.from_numpy(y), **flags)
        assert_close(ours, theirs, str(flags))
    with pytest.warns(UserWarning, match="elementwise_mean"):
        F.l1_loss(ct.from_numpy(x), ct.from_numpy(y), reduction="elementwise_mean")


# -------------------------------------------------------------- cross entropy
CLASS_OPTIONS = [
    {}, {"weight": True}, {"ignore_index": 1}, {"label_smoothing": 0.2}, {"ignore_index": -100},
    {"weight": True, "ignore_index": 2, "label_smoothing": 0.35}, {"label_smoothing": -0.5},
]


def _class_case(options, shape, dtype, seed=0):
    """(non-contiguous input, target, keyword arguments) for a class-index loss; with an explicit
    ignore_index, some targets equal it."""
    classes = shape[1] if len(shape) > 1 else shape[0]
    target_shape = (shape[0], *shape[2:]) if len(shape) > 1 else ()
    target = rng(seed).integers(0, classes, target_shape)
    kwargs = dict(options)
    if kwargs.get("ignore_index") == -100 and target.ndim:
        target.flat[::3] = -100
    if kwargs.pop("weight", False):
        kwargs["weight"] = rng(seed + 1).uniform(0.2, 2.0, classes).astype(dtype)
    return strided(shape, dtype, seed + 2) * 2, target, kwargs


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", CLASS_OPTIONS)
@pytest.mark.parametrize("shape", [(6, 5), (5,), (3, 4, 5), (2, 3, 2, 3)])
def test_cross_entropy_class_indices(shape, options, reduction, dtype):
    x, target, kwargs = _class_case(options, shape, dtype)
    check("cross_entropy", x, target, reduction=reduction, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [o for o in CLASS_OPTIONS if "label_smoothing" not in o])
@pytest.mark.parametrize("shape", [(6, 5), (5,), (3, 4, 5), (2, 3, 2, 3)])
def test_nll_loss(shape, options, reduction, dtype):
    x, target, kwargs = _class_case(options, shape, dtype)
    check("nll_loss", x, target, reduction=reduction, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [{}, {"weight": True}, {"label_smoothing": 0.3},
                                     {"weight": True, "label_smoothing": 0.1}])
@pytest.mark.parametrize("shape", [(6, 5), (5,), (3, 4, 5)])
def test_cross_entropy_probabilities(shape, options, reduction, dtype):
    classes = shape[1] if len(shape) > 1 else shape[0]
    probs = rng(5).dirichlet(np.ones(classes), int(np.prod(shape)) // classes)  # rows sum to 1
    target = np.moveaxis(probs.reshape(shape[:1] + shape[2:] + (classes,)), -1, 1) if len(shape) > 1 else probs[0]
    kwargs = dict(options)
    if kwargs.pop("weight", False):
        kwargs["weight"] = rng(6).uniform(0.2, 2.0, classes).astype(dtype)
    check("cross_entropy", strided(shape, dtype, 7), target.astype(dtype), grads=(0, 1, "weight"),
          reduction=reduction, **kwargs)


def test_cross_entropy_mixed_dtype_probabilities():
    x = logits((4, 3), np.float32)  # float64 results, float32 precision (torch's log_softmax is float32)
    check("cross_entropy", x, rng().uniform(0, 1, (4, 3)), grads=(0, 1), precision=np.float32)
    check("cross_entropy", x, rng().uniform(0, 1, (4, 3)).astype(np.float32), weight=np.array([1.0, 0.5, 2.0]),
          grads=(0, 1, "weight"), precision=np.float32)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_uint8_targets_and_stable_logits(name):
    x = np.array([[1000.0, 1001.0, -1000.0], [-1e4, 0.0, 1e4]])
    check(name, x, np.array([0, 2], np.uint8), reduction="none")
    check(name, x.astype(np.float32), np.array([1, 0]), reduction="sum")
    inf = np.inf  # rows holding +inf, only -inf, or NaN give NaN losses and gradients, as torch
    check(name, np.array([[inf, 0.0], [-inf, -inf], [np.nan, 1.0], [-inf, 2.0]]), np.array([1, 0, 1, 1]),
          reduction="none")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,kwargs", [("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.1}),
                                         ("nll_loss", {})])
def test_one_dimensional_input_with_one_element_target(name, kwargs, reduction):
    """A (C,) input with a target of shape [1] is the 0-d target's case. torch 2.13 computes its value
    but fails in backward (and, with label smoothing, in forward): compare with the 0-d target's."""
    x = logits(5, np.float64)
    ours = ct.from_numpy(x.copy()).requires_grad_()
    theirs = torch.from_numpy(x.copy()).requires_grad_()
    value = getattr(F, name)(ours, ct.tensor([3]), reduction=reduction, **kwargs)
    want = getattr(TF, name)(theirs, torch.tensor(3), reduction=reduction, **kwargs)
    assert_close(value, want, f"{name} value")
    value.backward(), want.backward()
    assert_close(ours.grad, theirs.grad, f"{name} gradient")


@pytest.mark.parametrize("smoothing", [0.0, 0.25])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_all_targets_ignored(name, smoothing):
    kwargs = {"label_smoothing": smoothing} if smoothing and name == "cross_entropy" else {}
    for reduction in REDUCTIONS:
        ours, _ = check(name, logits((3, 4), np.float64), np.full(3, -100), reduction=reduction, **kwargs)
    assert np.isnan(F.__dict__[name](ct.zeros(3, 4), ct.full((3,), -100, dtype=ct.int64), **kwargs).item())


def test_zero_total_weight_is_nan():
    check("cross_entropy", logits((3, 4), np.float64), np.array([0, 1, 0]), weight=np.array([0.0, 0.0, 1.0, 1.0]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_empty_batches(reduction):
    check("cross_entropy", np.zeros((0, 4)), np.zeros(0, np.int64), reduction=reduction)
    check("cross_entropy", np.zeros((0, 4)), np.zeros((0, 4)), reduction=reduction, grads=(0, 1))
    check("cross_entropy", np.zeros((2, 4, 0)), np.zeros((2, 0), np.int64), reduction=reduction)
    check("nll_loss", np.zeros((0, 4, 3)), np.zeros((0, 3), np.int64), reduction=reduction)
    check("cross_entropy", np.zeros((3, 0)), np.zeros((3, 0)), reduction=reduction, grads=(0, 1))


def test_cross_entropy_errors():
    x, t = np.zeros((3, 4), np.float32), np.array([0, 3, 1])
    same_error("cross_entropy", x, t.astype(np.int32))
    same_error("cross_entropy", x, t.astype(np.float32))
    same_error("cross_entropy", x, np.zeros((3, 4), np.int64))
    same_error("cross_entropy", x, np.array([0, 4, 1]))
    same_error("cross_entropy", x, np.array([0, -1, 1]))
    same_error("cross_entropy", np.zeros((2, 4, 3)), np.full((2, 3), 5))
    same_error("cross_entropy", x, np.array([0, 1]))
    same_error("cross_entropy", x, np.zeros((3, 2), np.int64))
    same_error("cross_entropy", np.zeros((2, 4, 3)), np.zeros((2, 4), np.int64))
    same_error("cross_entropy", np.array(1.0), np.array(0.5))
    same_error("cross_entropy", x, t, weight=np.ones(3, np.float32))
    same_error("cross_entropy", x, t, weight=np.ones((1, 4), np.float32))
    same_error("cross_entropy", x, t, weight=np.ones(4))  # float64 weight, float32 input
    same_error("cross_entropy", x, np.ones((3, 4), np.float32), ignore_index=1)
    same_error("cross_entropy", x, t, label_smoothing=1.5)
    same_error("cross_entropy", x, np.ones((3, 4), np.float32), weight=np.ones(5, np.float32))
    same_error("cross_entropy", np.zeros((3, 4), np.int64), t)
    same_error("cross_entropy", x, t, reduction="average")
    same_error("nll_loss", np.array(1.0), np.array(0))
    same_error("nll_loss", np.zeros(4), np.array([1, 2]))
    same_error("nll_loss", x, t.astype(np.float32))
    same_error("nll_loss", x, t, weight=np.ones(4))
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(ct.zeros(3, 4), ct.tensor([0, 7, 1]), ignore_index=5)
    check("cross_entropy", x, np.array([0, 7, 1]), ignore_index=7)  # an ignored target may lie anywhere


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_weight_is_not_differentiable(name):
    weight = ct.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="weight"):
        getattr(F, name)(ct.zeros(3, 4), ct.tensor([0, 1, 2]), weight=weight)
    with ct.no_grad():  # as torch, only while recording
        getattr(F, name)(ct.zeros(3, 4), ct.tensor([0, 1, 2]), weight=weight)


def test_half_precision():
    x, t = logits((4, 3), np.float32), np.array([0, 2, 1, 1])
    for dtype in (ct.float16, ct.bfloat16):
        ours = F.cross_entropy(ct.from_numpy(x).to(dtype).requires_grad_(), ct.from_numpy(t), reduction="none")
        theirs = TF.cross_entropy(torch.from_numpy(x).to(getattr(torch, dtype.name)), torch.from_numpy(t),
                                  reduction="none")
        assert ours.dtype is dtype
        np.testing.assert_allclose(ours.float().detach().numpy(), theirs.float().numpy(), rtol=2e-2, atol=2e-2)
        ours.sum().backward()


# ---------------------------------------------------------------- binary losses
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weight_shape", [None, (4,), (3, 4)])
def test_binary_cross_entropy(weight_shape, reduction, dtype):
    x = rng(1).uniform(0.02, 0.98, (3, 4)).astype(dtype)
    target = rng(2).uniform(0, 1, (3, 4)).astype(dtype)
    target[0] = [0, 1, 0, 1]
    kwargs = {} if weight_shape is None else {"weight": rng(3).uniform(0, 2, weight_shape).astype(dtype)}
    check("binary_cross_entropy", x, target, grads=(0, 1), reduction=reduction, **kwargs)


def test_binary_cross_entropy_clamps_log():
    x, target = np.array([0.0, 1.0, 0.0, 1.0, 1e-45, 0.5]), np.array([1.0, 0.0, 0.0, 1.0, 1.0, 0.5])
    check("binary_cross_entropy", x, target, reduction="none")
    check("binary_cross_entropy", x.astype(np.float32), target.astype(np.float32), reduction="sum")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("extra", [{}, {"weight": (4,)}, {"pos_weight": (4,)}, {"weight": (3, 4), "pos_weight": (1,)}])
def test_binary_cross_entropy_with_logits(extra, reduction, dtype):
    x = strided((3, 4), dtype, 1) * 3
    x[0] = [30.0, -30.0, 0.0, 90.0]
    target = rng(2).uniform(0, 1, (3, 4)).astype(dtype)
    kwargs = {k: rng(4).uniform(0.1, 3, shape).astype(dtype) for k, shape in extra.items()}
    check("binary_cross_entropy_with_logits", x, target, grads=(0, 1), reduction=reduction, **kwargs)


def test_binary_mixed_dtypes():
    x, t = rng().uniform(0.1, 0.9, (3, 4)).astype(np.float32), rng(1).uniform(0, 1, (3, 4))
    check("binary_cross_entropy_with_logits", x, t, grads=(0, 1), precision=np.float32)
    check("binary_cross_entropy_with_logits", x, t.astype(np.float32), pos_weight=np.ones(4) * 2)
    check("binary_cross_entropy", x, t.astype(np.float32), weight=np.ones(4) * 2)


def test_binary_errors():
    p, t = np.full((3, 4), 0.5, np.float32), np.full((3, 4), 0.5, np.float32)
    same_error("binary_cross_entropy", p + 1, t)
    same_error("binary_cross_entropy", p * np.nan, t)
    same_error("binary_cross_entropy", p, t + 1)
    same_error("binary_cross_entropy", p, t[0])
    same_error("binary_cross_entropy", p, t.astype(np.float64))
    same_error("binary_cross_entropy", p, t, weight=np.ones(5, np.float32))
    same_error("binary_cross_entropy", p, t, weight=np.ones((2, 3, 4), np.float32))
    same_error("binary_cross_entropy_with_logits", p, t[0])
    same_error("binary_cross_entropy_with_logits", p, t, pos_weight=np.ones(5, np.float32))
    same_error("binary_cross_entropy_with_logits", p, t, weight=np.ones((2, 3, 4), np.float32))
    same_error("binary_cross_entropy_with_logits", p, np.ones((3, 4), np.int64))
    same_error("binary_cross_entropy_with_logits", np.ones((3, 4), np.int64), t)
    for name, kw in [("binary_cross_entropy", "weight"), ("binary_cross_entropy_with_logits", "weight"),
                     ("binary_cross_entropy_with_logits", "pos_weight")]:
        with pytest.raises(RuntimeError, match=kw):
            getattr(F, name)(ct.full((2,), 0.5), ct.full((2,), 0.5), **{kw: ct.ones(2, requires_grad=True)})


# ---------------------------------------------------------------- divergences
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "sum", "batchmean", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(log_target, reduction, dtype):
    x = np.log(rng(1).dirichlet(np.ones(5), 4)).astype(dtype)
    q = rng(2).dirichlet(np.ones(5), 4)
    target = (np.log(q) if log_target else q).astype(dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check("kl_div", x, target, grads=(0, 1), reduction=reduction, log_target=log_target)
    assert (len(caught) == 2) == (reduction == "mean"), caught  # torch and we both warn about 'mean'


def test_kl_div_zero_targets_and_broadcast():
    x = np.log(rng(1).dirichlet(np.ones(3), 2))
    check("kl_div", x, np.array([[0.0, 0.3, 0.7], [1.0, 0.0, 0.0]]), reduction="none")
    check("kl_div", x, np.array([0.2, 0.3, 0.5]), grads=(0, 1), reduction="sum")
    check("kl_div", np.array(-1.0), np.array(0.3), grads=(0, 1), reduction="batchmean")
    same_error("kl_div", x, np.array([1, 0, 0]), reduction="sum")
    same_error("kl_div", x, np.ones(4), reduction="sum")
    same_error("kl_div", x, x, reduction="batch")


# ------------------------------------------------------------------ embeddings
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.4])
def test_cosine_embedding_loss(margin, reduction, dtype):
    x1, x2 = strided((6, 5), dtype, 1), logits((6, 5), dtype, 2)
    target = np.array([1, -1, 1, -1, -1, 1])
    check("cosine_embedding_loss", x1, x2, target, grads=(0, 1), margin=margin, reduction=reduction)
    check("cosine_embedding_loss", x1[0], x2[0], np.array(-1.0), grads=(0, 1), margin=margin, reduction=reduction)


def test_cosine_embedding_edge_cases():
    check("cosine_embedding_loss", np.zeros((2, 3)), np.zeros((2, 3)), np.array([1, -1]), grads=(0, 1))
    check("cosine_embedding_loss", logits((3, 2), np.float32), logits((3, 2), np.float32, 1),
          np.array([1.0, -1.0, 0.5]), reduction="none")
    check("cosine_embedding_loss", np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))
    check("cosine_embedding_loss", np.arange(6).reshape(2, 3), np.ones((2, 3), np.int64), np.array([1, -1]))
    same_error("cosine_embedding_loss", np.zeros(4), np.zeros(4), np.array([1]))
    same_error("cosine_embedding_loss", np.zeros((3, 4)), np.zeros((3, 4)), np.ones((3, 1)))
    same_error("cosine_embedding_loss", np.zeros((3, 4)), np.zeros((2, 4)), np.ones(3))
    same_error("cosine_embedding_loss", np.zeros((3, 4)), np.zeros((3, 4)), np.ones(2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_margin_ranking_loss(margin, reduction, dtype):
    x1, x2 = logits(8, dtype, 1), logits(8, dtype, 2)
    target = rng(3).choice([-1.0, 1.0], 8).astype(dtype)
    check("margin_ranking_loss", x1, x2, target, grads=(0, 1, 2), margin=margin, reduction=reduction)
    check("margin_ranking_loss", strided((3, 4), dtype), logits((1, 4), dtype), np.ones((3, 1), dtype),
          grads=(0, 1), margin=margin, reduction=reduction)


def test_margin_ranking_edge_cases():
    check("margin_ranking_loss", np.array([1, 2]), np.array([2, 1]), np.array([1, -1]))
    check("margin_ranking_loss", logits(3, np.float32), logits(3, np.float32, 1), np.array([1, -1, 1]))
    check("margin_ranking_loss", np.array(1.0), np.array(2.0), np.array(1.0), grads=(0, 1), margin=0.5)
    same_error("margin_ranking_loss", np.zeros((3, 4)), np.zeros((3, 4)), np.ones(4))
    same_error("margin_ranking_loss", np.zeros(3), np.zeros(4), np.ones(4))


# ------------------------------------------------------- finite differences
GRADCHECK_CASES = {
    "mse_loss": lambda x, y: F.mse_loss(x, y),
    "l1_loss": lambda x, y: F.l1_loss(x, y, reduction="sum"),
    "smooth_l1_loss": lambda x, y: F.smooth_l1_loss(x, y, beta=0.7, reduction="none"),
    "huber_loss": lambda x, y: F.huber_loss(x, y, delta=0.6),
    "kl_div": lambda x, y: F.kl_div(x, y.exp(), reduction="batchmean"),
    "kl_div_log": lambda x, y: F.kl_div(x, y, reduction="sum", log_target=True),
    "bce": lambda x, y: F.binary_cross_entropy(x.sigmoid(), y.sigmoid(), weight=ct.tensor([0.5, 2.0, 1.0, 1.0])),
    "bce_logits": lambda x, y: F.binary_cross_entropy_with_logits(
        x, y.sigmoid(), pos_weight=ct.tensor([0.5, 2.0, 1.0, 3.0]), weight=ct.tensor([1.0, 2.0, 1.0, 0.5])),
    "cosine": lambda x, y: F.cosine_embedding_loss(x, y, ct.tensor([1, -1, -1]), margin=-0.5),
    "ranking": lambda x, y: F.margin_ranking_loss(x, y, ct.ones(3, 4), margin=0.3, reduction="sum"),
    "cross_entropy_probabilities": lambda x, y: F.cross_entropy(x, F.softmax(y, 1), label_smoothing=0.1,
                                                                weight=ct.tensor([1.0, 2.0, 0.5, 1.0])),
}


@pytest.mark.parametrize("case", list(GRADCHECK_CASES))
def test_gradcheck(case):
    x, y = rng(1).standard_normal((3, 4)), rng(2).standard_normal((3, 4))
    grad_compare.gradcheck(GRADCHECK_CASES[case], x, y, second_order=case != "l1_loss")


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.2, "ignore_index": 0},
                                     {"weight": [1.0, 0.5, 2.0, 1.5], "reduction": "sum"}, {"reduction": "none"}])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_gradcheck_class_indices(name, options):
    kwargs = {k: (ct.tensor(v, dtype=ct.float64) if k == "weight" else v) for k, v in options.items()}
    if name == "nll_loss":
        kwargs.pop("label_smoothing", None)
    target = ct.tensor([[0, 3], [2, 1], [1, 0]])
    grad_compare.gradcheck(lambda x: getattr(F, name)(x, target, **kwargs), rng().standard_normal((3, 4, 2)),
                           second_order=True)


@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.3, "weight": [1.0, 0.5, 2.0, 1.5]}])
def test_cross_entropy_hessian_vector_products(options):
    target = np.array([0, 3, 3, 1, -100])

    def ce(module, x):
        kwargs = {k: (module.tensor(v, dtype=module.float64) if k == "weight" else v) for k, v in options.items()}
        fn = F.cross_entropy if module is ct else TF.cross_entropy
        return fn(x, module.tensor(target), reduction="sum", **kwargs)
    grad_compare.hvp_matches(ce, rng().standard_normal((5, 4)))

    def ce_probabilities(module, x, p):
        fn = F.cross_entropy if module is ct else TF.cross_entropy
        return fn(x, p * p, label_smoothing=0.2)
    grad_compare.hvp_matches(ce_probabilities, rng().standard_normal((5, 4)), rng(1).uniform(0, 1, (5, 4)))


def test_double_backward_of_binary_losses():
    def bce_logits(module, x, t):
        fn = F.binary_cross_entropy_with_logits if module is ct else TF.binary_cross_entropy_with_logits
        return fn(x, t, pos_weight=module.tensor([2.0, 0.5, 1.0], dtype=module.float64), reduction="none")
    grad_compare.hvp_matches(bce_logits, rng().standard_normal((2, 3)), rng(1).uniform(0, 1, (2, 3)))

    def bce(module, x):
        fn = F.binary_cross_entropy if module is ct else TF.binary_cross_entropy
        return fn(x, module.tensor([[0.0, 0.3, 1.0]], dtype=module.float64))
    grad_compare.hvp_matches(bce, rng().uniform(0.1, 0.9, (1, 3)))


# --------------------------------------------------------------------- modules
def _module_inputs(kind):
    """The arrays a loss module of this kind takes (float64, the first one or two differentiable)."""
    x, y = rng(1).standard_normal((4, 3)), rng(2).standard_normal((4, 3))
    return {
        "pair": [x, y],
        "classes": [x, np.array([0, 2, 1, 1])],
        "probabilities": [1 / (1 + np.exp(-x)), rng(2).uniform(0, 1, (4, 3))],
        "embeddings": [x, y, np.array([1, -1, 1, -1])],
        "ranking": [x[:, 0], y[:, 0], np.array([1.0, -1.0, 1.0, -1.0])],
    }[kind]


MODULES = [
    ("L1Loss", {}, "pair"), ("MSELoss", {"reduction": "sum"}, "pair"), ("SmoothL1Loss", {"beta": 0.5}, "pair"),
    ("HuberLoss", {"delta": 0.5, "reduction": "none"}, "pair"),
    ("CrossEntropyLoss", {"label_smoothing": 0.1}, "classes"),
    ("CrossEntropyLoss", {"weight": [1.0, 2.0, 0.5], "ignore_index": 1}, "classes"),
    ("NLLLoss", {"weight": [1.0, 2.0, 0.5]}, "classes"), ("BCELoss", {"weight": [1.0, 2.0, 0.5]}, "probabilities"),
    ("BCEWithLogitsLoss", {"pos_weight": [1.0, 2.0, 0.5]}, "probabilities"),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, "pair"),
    ("CosineEmbeddingLoss", {"margin": 0.2}, "embeddings"), ("MarginRankingLoss", {"margin": 0.1}, "ranking"),
]


@pytest.mark.parametrize("name,options,kind", MODULES)
def test_modules_match_torch(name, options, kind):
    """Same options, same state_dict keys (weights loaded from torch's), same values and gradients."""
    ours_kw = {k: (ct.tensor(v, dtype=ct.float64) if isinstance(v, list) else v) for k, v in options.items()}
    their_kw = {k: (torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v) for k, v in options.items()}
    ours_fn, theirs_fn = getattr(L, name)(**ours_kw), getattr(tnn, name)(**their_kw)
    assert repr(ours_fn) == repr(theirs_fn) == f"{name}()"
    assert list(ours_fn.state_dict()) == list(theirs_fn.state_dict())
    ours_fn.load_state_dict({k: ct.tensor(v.numpy()) for k, v in theirs_fn.state_dict().items()})
    pairs = [_pair(a, i < 2) for i, a in enumerate(_module_inputs(kind))]
    ours, theirs = ours_fn(*(p[0] for p in pairs)), theirs_fn(*(p[1] for p in pairs))
    assert_close(ours, theirs, name)
    ours.sum().backward(), theirs.sum().backward()
    for i, (x, t) in enumerate(pairs[:2]):
        if t.requires_grad:
            assert_close(x.grad, t.grad, f"{name}: gradient of input {i}")


def test_module_buffers_follow_to_and_legacy_flags():
    loss_fn = L.CrossEntropyLoss(weight=ct.tensor([1.0, 2.0]))
    assert loss_fn.weight.dtype is ct.float32 and dict(loss_fn.named_buffers()).keys() == {"weight"}
    loss_fn.to(ct.float64)
    assert loss_fn.weight.dtype is ct.float64
    assert L.BCEWithLogitsLoss().state_dict() == {} and L.MSELoss().reduction == "mean"
    with pytest.warns(UserWarning, match="size_average"):
        assert L.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match="'mean' divides"):
        L.KLDivLoss()(ct.zeros(2), ct.ones(2))


def test_exported_from_nn_functional():
    names = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
             "binary_cross_entropy_with_logits", "kl_div", "cosine_embedding_loss", "margin_ranking_loss"]
    assert set(names) <= set(F.__all__)
    for name in names:
        assert getattr(F, name).__module__.startswith("cogtensor.nn.")
    assert F.cross_entropy is ct.nn.functional.cross_entropy
