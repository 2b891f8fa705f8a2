"""Gradients of cogtensor.nn.functional (activations, softmax/log_softmax/softmin, glu, prelu,
linear): PyTorch's gradients on random, non-contiguous and kink/special values (torch's
conventions at 0, at bounds, for inf and NaN), float64 gradcheck and gradgradcheck,
Hessian-vector products (create_graph), and the in-place forms."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from grad_compare import compare_grads, gradcheck, hvp_matches
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
import cogtensor.nn.functional as F

RNG = np.random.default_rng(23)


def nn(m):
    """The functional namespace that goes with a tensor namespace (cogtensor's or torch's)."""
    return F if m is ct else TF


# name -> fn(functional namespace, x); every element-wise activation with its arguments
ACTIVATIONS = {
    "relu": lambda f, x: f.relu(x),
    "relu6": lambda f, x: f.relu6(x),
    "hardtanh": lambda f, x: f.hardtanh(x, -0.5, 3.0),
    "threshold": lambda f, x: f.threshold(x, 1.0, -2.0),
    "leaky_relu": lambda f, x: f.leaky_relu(x),
    "leaky_relu_0.2": lambda f, x: f.leaky_relu(x, 0.2),
    "leaky_relu_negative": lambda f, x: f.leaky_relu(x, -0.5),
    "rrelu_eval": lambda f, x: f.rrelu(x, 0.1, 0.3),
    "elu": lambda f, x: f.elu(x, 0.7),
    "selu": lambda f, x: f.selu(x),
    "celu": lambda f, x: f.celu(x, 0.5),
    "gelu": lambda f, x: f.gelu(x),
    "gelu_tanh": lambda f, x: f.gelu(x, approximate="tanh"),
    "silu": lambda f, x: f.silu(x),
    "mish": lambda f, x: f.mish(x),
    "softplus": lambda f, x: f.softplus(x),
    "softplus_beta": lambda f, x: f.softplus(x, beta=2.0, threshold=5.0),
    "softplus_negative_beta": lambda f, x: f.softplus(x, beta=-0.5),
    "hardswish": lambda f, x: f.hardswish(x),
    "hardsigmoid": lambda f, x: f.hardsigmoid(x),
    "logsigmoid": lambda f, x: f.logsigmoid(x),
    "softsign": lambda f, x: f.softsign(x),
    "tanhshrink": lambda f, x: f.tanhshrink(x),
    "hardshrink": lambda f, x: f.hardshrink(x),
    "softshrink": lambda f, x: f.softshrink(x, 0.5),
    "sigmoid": lambda f, x: f.sigmoid(x),
    "tanh": lambda f, x: f.tanh(x),
}
# kinks, bounds, thresholds, signed zero, overflow points, inf and NaN; 32 values, as torch's CPU kernels
# treat NaN differently in their vectorized loop and in its scalar tail (we follow the vectorized loop)
SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 3.0, -3.0, 6.0, 2.9, -2.9, 2.5, 5.0, 10.0, 20.0, 19.9, 21.0, -20.0,
           40.0, -40.0, 1e4, -1e4, math.inf, -math.inf, math.nan, 0.25, -0.25, 1.5, -1.5, 4.0, -4.0, 7.0]
# torch's float64 hardsigmoid backward multiplies by the float32 constant 1/6 (0.16666667163...); ours by 1/6
APPROXIMATE = {"hardsigmoid": 1e-7}
# torch implements no double backward for hardsigmoid
NO_TORCH_HVP = {"hardsigmoid"}


def activation(name):
    return lambda m, x: ACTIVATIONS[name](nn(m), x)


def compare_with_torch(name, fn, array):
    if name not in APPROXIMATE:
        compare_grads(fn, array)
        return
    x, t = ct.from_numpy(array.copy()).requires_grad_(), torch.from_numpy(array.copy()).requires_grad_()
    fn(ct, x).sum().backward()
    fn(torch, t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=APPROXIMATE[name], atol=1e-12)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_gradients_match_torch(name):
    fn = activation(name)
    compare_with_torch(name, fn, RNG.standard_normal((3, 4, 5)) * 4)
    strided = lambda m, x: fn(m, x.transpose(0, 2)[::2, 1:])  # noqa: E731 - a non-contiguous view
    compare_with_torch(name, strided, RNG.standard_normal((3, 4, 5)) * 4)
    compare_with_torch(name, fn, np.array(-1.5))  # 0-d


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_gradients_at_kinks_and_special_values_match_torch(name):
    compare_with_torch(name, activation(name), np.array(SPECIAL))


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_gradcheck_and_gradgradcheck(name):
    values = RNG.standard_normal(6) * 3
    values = values[np.abs(values - np.round(values * 2) / 2) > 0.01]  # keep off the kinks (at multiples of 0.5)
    gradcheck(lambda x: ACTIVATIONS[name](F, x), values, second_order=True)


@pytest.mark.parametrize("name", sorted(set(ACTIVATIONS) - NO_TORCH_HVP))
def test_hessian_vector_products_match_torch(name):
    fn = activation(name)
    hvp_matches(lambda m, x: fn(m, x) ** 2, RNG.standard_normal((4, 5)) * 3)


@pytest.mark.parametrize("name", ["gelu", "silu", "elu", "relu", "softplus", "leaky_relu_0.2", "hardswish"])
def test_float32_gradients_match_torch(name):
    array = (RNG.standard_normal((6, 7)) * 4).astype(np.float32)
    x, t = ct.from_numpy(array.copy()).requires_grad_(), torch.from_numpy(array.copy()).requires_grad_()
    upstream = RNG.standard_normal((6, 7)).astype(np.float32)
    ACTIVATIONS[name](F, x).backward(ct.from_numpy(upstream))
    ACTIVATIONS[name](TF, t).backward(torch.from_numpy(upstream))
    assert x.grad.dtype is ct.float32
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("dtype", [ct.float16, ct.bfloat16])
def test_half_gradients_keep_the_dtype(dtype):
    array = RNG.standard_normal((4, 5)) * 3
    for name in ("relu", "gelu", "silu", "leaky_relu", "hardswish"):
        x = ct.from_numpy(array).to(dtype).requires_grad_()
        ACTIVATIONS[name](F, x).sum().backward()
        t = torch.from_numpy(x.detach().float().numpy()).requires_grad_()
        ACTIVATIONS[name](TF, t).sum().backward()
        assert x.grad.dtype is dtype
        np.testing.assert_allclose(x.grad.float().numpy(), t.grad.numpy(), rtol=2e-2, atol=2e-2)


def test_grad_fn_names_are_torchs():
    x = ct.tensor([1.0, -2.0]).requires_grad_()
    t = torch.tensor([1.0, -2.0], requires_grad=True)
    for name in ACTIVATIONS:
        if name != "rrelu_eval":
            assert ACTIVATIONS[name](F, x).grad_fn.name == ACTIVATIONS[name](TF, t).grad_fn.name(), name


def test_integer_inputs_are_not_recorded():
    assert F.relu(ct.tensor([1, -2])).grad_fn is None
    assert F.hardtanh(ct.tensor([1, -2])).grad_fn is None


# -------------------------------------------------------------------- in place
INPLACE = {
    "relu": lambda f, x: f.relu(x, inplace=True), "relu_": lambda f, x: f.relu_(x),
    "relu6": lambda f, x: f.relu6(x, inplace=True), "hardtanh_": lambda f, x: f.hardtanh_(x, -0.5, 0.5),
    "threshold_": lambda f, x: f.threshold_(x, 0.3, 9.0), "leaky_relu_": lambda f, x: f.leaky_relu_(x, 0.1),
    "elu_": lambda f, x: f.elu_(x), "selu_": lambda f, x: f.selu_(x), "celu_": lambda f, x: f.celu_(x, 2.0),
    "silu": lambda f, x: f.silu(x, inplace=True), "mish": lambda f, x: f.mish(x, inplace=True),
    "hardswish": lambda f, x: f.hardswish(x, inplace=True), "hardsigmoid": lambda f, x: f.hardsigmoid(x, True),
    "rrelu_": lambda f, x: f.rrelu_(x),
}


@pytest.mark.parametrize("name", INPLACE)
def test_in_place_forms_record_like_torch(name):
    def fn(m, x):
        y = x * 1  # not a leaf: in place is allowed
        out = INPLACE[name](nn(m), y)
        assert out is y
        return out * 2

    def on_a_view(m, x):
        y = x * 1
        INPLACE[name](nn(m), y[1:, ::2])  # rewrites part of y's history
        return y

    array = RNG.standard_normal((3, 4)) * 3
    compare_with_torch(name, fn, array)
    compare_with_torch(name, on_a_view, array)


@pytest.mark.parametrize("name", INPLACE)
def test_in_place_on_a_leaf_that_requires_grad_raises(name):
    x = ct.tensor([1.0, -2.0]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        INPLACE[name](F, x)
    with ct.no_grad():
        assert INPLACE[name](F, x) is x  # allowed without recording, as torch


def test_in_place_activation_after_a_saved_use_raises_in_backward():
    x = ct.tensor([1.0, -2.0, 0.5]).requires_grad_()
    y = x * 1
    z = F.silu(y)  # saves y
    F.relu_(y)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


def test_in_place_without_recording_and_on_read_only_memory():
    x = ct.tensor([1.0, -2.0])
    assert F.relu_(x) is x and x.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="read-only"):
        F.relu_(ct.tensor([1.0]).expand(3))


# ------------------------------------------------------------------- softmax
SOFTMAXES = {
    "softmax": lambda f, x, d: f.softmax(x, d),
    "log_softmax": lambda f, x, d: f.log_softmax(x, dim=d),
    "softmin": lambda f, x, d: f.softmin(x, d),
}


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_gradients_on_every_dim(name):
    array = RNG.standard_normal((2, 3, 4)) * 3
    for d in range(-3, 3):
        fn = lambda m, x, d=d: SOFTMAXES[name](nn(m), x, d)  # noqa: E731
        compare_grads(fn, array)
        compare_grads(lambda m, x, fn=fn: fn(m, x.transpose(0, 2)), array)
    hvp_matches(lambda m, x: SOFTMAXES[name](nn(m), x, 1) ** 2, array)
    gradcheck(lambda x: SOFTMAXES[name](F, x, -1), RNG.standard_normal((2, 3)), second_order=True)


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_of_0d_empty_and_large_inputs(name):
    compare_grads(lambda m, x: SOFTMAXES[name](nn(m), x, 0), np.array(1.5))
    compare_grads(lambda m, x: SOFTMAXES[name](nn(m), x, 1), np.zeros((2, 0)))
    compare_grads(lambda m, x: SOFTMAXES[name](nn(m), x, 0), np.array([1000.0, 1001.0, -1000.0]))


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_dtype_argument(name):
    array = RNG.standard_normal((3, 4)).astype(np.float32)
    x, t = ct.from_numpy(array.copy()).requires_grad_(), torch.from_numpy(array.copy()).requires_grad_()
    out = SOFTMAXES[name](F, x, 1) if name == "softmin" else getattr(F, name)(x, 1, dtype=ct.float64)
    want = SOFTMAXES[name](TF, t, 1) if name == "softmin" else getattr(TF, name)(t, 1, dtype=torch.float64)
    upstream = RNG.standard_normal((3, 4))
    out.backward(ct.from_numpy(upstream.astype(out.dtype.numpy)))
    want.backward(torch.from_numpy(upstream).to(want.dtype))
    assert x.grad.dtype is ct.float32
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------- glu and prelu
def test_glu_gradients():
    for dim in (0, 1, -1):
        compare_grads(lambda m, x, d=dim: nn(m).glu(x, d), RNG.standard_normal((4, 6, 2)))
    hvp_matches(lambda m, x: nn(m).glu(x, 1), RNG.standard_normal((2, 4)))
    with pytest.raises(ct.ShapeError, match="Halving dimension must be even, but dimension 1 is size 3"):
        F.glu(ct.ones(2, 3), 1)
    with pytest.raises(ct.ShapeError, match="does not support scalars"):
        F.glu(ct.tensor(1.0))


@pytest.mark.parametrize("weight", [(1,), (3,), ()], ids=str)
def test_prelu_gradients(weight):
    w = np.abs(RNG.standard_normal(weight)) * 0.3
    values = RNG.standard_normal((2, 3, 4))
    hvp_matches(lambda m, x, a: nn(m).prelu(x, a) ** 2, values, w)
    values[0, 0, 0] = 0.0  # torch takes the slope at 0
    compare_grads(lambda m, x, a: nn(m).prelu(x, a), values, w)
    with pytest.raises(ct.ShapeError, match="Mismatch of parameter numbers and input channel size"):
        F.prelu(ct.ones(2, 5), ct.ones(2))


# -------------------------------------------------------------------- linear
@pytest.mark.parametrize("shapes", [((5, 3), (4, 3), (4,)), ((3,), (4, 3), (4,)), ((2, 5, 3), (4, 3), (4,)),
                                    ((5, 3), (4, 3), None), ((5, 3), (4, 3), (1,)), ((5, 3), (3,), None),
                                    ((0, 3), (4, 3), (4,))], ids=str)
def test_linear_gradients(shapes):
    arrays = [RNG.standard_normal(s) for s in shapes if s is not None]
    if shapes[2] is None:
        compare_grads(lambda m, x, w: nn(m).linear(x, w), *arrays)
        hvp_matches(lambda m, x, w: nn(m).linear(x, w) ** 2, *arrays)
    else:
        compare_grads(lambda m, x, w, b: nn(m).linear(x, w, b), *arrays)
        if 0 not in shapes[0]:
            hvp_matches(lambda m, x, w, b: nn(m).linear(x, w, b) ** 2, *arrays)


def test_linear_float32_fast_path_and_transposed_weight():
    x, w, b = (RNG.standard_normal(s).astype(np.float32) for s in ((6, 3), (3, 4), (4,)))
    ours = [ct.from_numpy(a.copy()).requires_grad_() for a in (x, w, b)]
    theirs = [torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b)]
    out = F.linear(ours[0], ours[1].T, ours[2])
    want = TF.linear(theirs[0], theirs[1].T, theirs[2])
    assert out.grad_fn.name == "AddmmBackward0"
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-6)
    F.relu(out).sum().backward()
    TF.relu(want).sum().backward()
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-5)
    gradcheck(lambda a, c, d: F.linear(a, c, d), x, w.T, b, second_order=True)


# --------------------------------------------------------------------- rrelu
def test_rrelu_training_gradient_is_each_elements_slope():
    ct.manual_seed(3)
    values = RNG.standard_normal(200)
    x = ct.from_numpy(values).requires_grad_()
    out = F.rrelu(x, 0.1, 0.3, training=True)
    out.sum().backward()
    slope = out.detach().numpy() / values
    negative = values < 0
    assert np.all((slope[negative] >= 0.1) & (slope[negative] <= 0.3)) and np.all(slope[~negative] == 1)
    assert len(np.unique(slope[negative])) > 1  # one slope per element
    np.testing.assert_allclose(x.grad.numpy(), slope, rtol=1e-12)


# -------------------------------------------------------- the added functions
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_integer_hardtanh_and_threshold_match_torch(dtype):
    array = np.array([1, 0, 5, 3, 7, 2], dtype=dtype)
    for fn in (lambda f, x: f.hardtanh(x, 0.5, 3.0), lambda f, x: f.threshold(x, 1.5, 2),
               lambda f, x: f.relu6(x), lambda f, x: f.relu(x)):
        ours, theirs = fn(F, ct.from_numpy(array.copy())), fn(TF, torch.from_numpy(array.copy()))
        assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.")
        assert ours.tolist() == theirs.tolist()


def test_argument_errors_name_the_function():
    x = ct.tensor([1.0, -2.0])
    with pytest.raises(ValueError, match="hardtanh: min_val cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ct.ValueRangeError, match="hardtanh: cannot do hardtanh on an unsigned type"):
        F.hardtanh(ct.tensor([1, 2], dtype=ct.uint8))
    with pytest.raises(ct.ValueRangeError, match="threshold: value -2 cannot be converted to cogtensor.uint8"):
        F.threshold(ct.tensor([1, 2], dtype=ct.uint8), 1, -2)
    with pytest.raises(ct.ValueRangeError, match="celu: ZeroDivisionError: alpha cannot be 0"):
        F.celu(x, 0.0)
    with pytest.raises(ct.ValueRangeError, match="softshrink: lambda must be greater or equal to 0"):
        F.softshrink(x, -0.5)
    with pytest.raises(ct.NotImplementedForDType, match="glu: not implemented for cogtensor.int64"):
        F.glu(ct.tensor([1, 2]))
    with pytest.raises(TypeError, match="relu: expected a Tensor as input, got list"):
        F.relu([1.0])
    with pytest.raises(ct.ShapeError, match=r"linear: input of shape \[2, 3\] does not fit weight of shape \[4, 2\]"):
        F.linear(ct.ones(2, 3), ct.ones(4, 2))
    with pytest.raises(ct.ShapeError, match="linear: weight must be 2-D"):
        F.linear(ct.ones(2, 3), ct.ones(1, 4, 3))
    with pytest.raises(ct.ShapeError, match="prelu: Expected `weight` to be a scalar or 1D tensor"):
        F.prelu(ct.ones(2, 3), ct.ones(1, 3))
