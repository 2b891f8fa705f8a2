"""Activations (cogtensor.nn.functional) against torch.nn.functional: values, shapes and dtypes on
random, non-contiguous, empty, 0-d and extreme inputs (inf, NaN, +-1e4), dtype errors, in-place forms,
and softmax/log_softmax stability."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import cogtensor as ct
import cogtensor.nn.functional as F
import torch_reference as reference
from torch_reference import BF16, torch_of, torch_single_thread  # noqa: F401 - autouse fixture

FLOATS = ["float16", "bfloat16", "float32", "float64"]
INTS = ["int8", "uint8", "int16", "int32", "int64"]
# (rtol, atol): a unit or two in the last place (torch and numpy use different exp/tanh/log1p); near zero,
# half an ulp of 1 for float16/bfloat16, as torch rounds some intermediates (log_softmax's max + log(sum)) to them
TOL = {torch.float16: (2e-3, 1e-3), torch.bfloat16: (1.6e-2, 8e-3), torch.float32: (1e-5, 1e-6),
       torch.float64: (1e-12, 1e-14)}
# values where activations change behaviour: kinks, thresholds, overflow points, signed zero, inf, NaN
SPECIAL = [0.0, -0.0, 1.0, -1.0, 3.0, -3.0, 6.0, 2.9, -2.9, 20.0, 19.9, 21.0, -20.0, 88.0, -88.0, 89.0, -89.0,
           700.0, -700.0, 710.0, -710.0, 1e4, -1e4, 1e30, -1e30, 1e-30, -1e-30, math.inf, -math.inf, math.nan]


# ---------------------------------------------------------------------- helpers
def np_dtype(dtype: str):
    return BF16 if dtype == "bfloat16" else np.dtype(dtype)


def assert_matches(ours, theirs, tol=None):
    reference.assert_matches(ours, theirs, tol or TOL)


def differential(fn, array: np.ndarray, tol=None):
    """fn(functional module, tensor) on cogtensor and torch (see torch_reference.differential)."""
    reference.differential(fn, F, TF, array, tol or TOL)


def inputs(dtype: str, seed: int = 0):
    """Arrays to test on: random (contiguous and strided), the special values, empty, 0-d, one element."""
    rng = np.random.default_rng(seed)
    t = np_dtype(dtype)
    if dtype in INTS:
        values = rng.integers(0 if dtype == "uint8" else -8, 9, (3, 4, 5))
    else:
        values = rng.standard_normal((3, 4, 5)) * 4
    special = np.array([v for v in SPECIAL if dtype in FLOATS or math.isfinite(v) and abs(v) < 100])
    with np.errstate(over="ignore", invalid="ignore"):
        return {
            "contiguous": values.astype(t),
            "strided": (rng.standard_normal((5, 10, 4)) * 4).astype(t)[1:-1, ::2, :].transpose(0, 2, 1),
            "special": special.astype(t),
            "empty": np.zeros((2, 0, 3), t),
            "scalar": np.asarray(np.asarray(1.5).astype(t)),
            "one": np.array([-2.5]).astype(t),
        }


ACTIVATIONS = {
    "relu": lambda f, x: f.relu(x),
    "relu6": lambda f, x: f.relu6(x),
    "leaky_relu": lambda f, x: f.leaky_relu(x),
    "leaky_relu_0.2": lambda f, x: f.leaky_relu(x, 0.2),
    "leaky_relu_negative": lambda f, x: f.leaky_relu(x, negative_slope=-0.5),
    "elu": lambda f, x: f.elu(x),
    "elu_alpha": lambda f, x: f.elu(x, alpha=0.5),
    "selu": lambda f, x: f.selu(x),
    "gelu": lambda f, x: f.gelu(x),
    "gelu_tanh": lambda f, x: f.gelu(x, approximate="tanh"),
    "silu": lambda f, x: f.silu(x),
    "mish": lambda f, x: f.mish(x),
    "softplus": lambda f, x: f.softplus(x),
    "softplus_beta": lambda f, x: f.softplus(x, beta=2.0, threshold=5.0),
    "softplus_negative_beta": lambda f, x: f.softplus(x, beta=-0.5),
    "softplus_high_threshold": lambda f, x: f.softplus(x, threshold=1000.0),
    "hardswish": lambda f, x: f.hardswish(x),
    "hardsigmoid": lambda f, x: f.hardsigmoid(x),
}


# --------------------------------------------------------------- element-wise
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activations_match_torch(name):
    for dtype in FLOATS + INTS + ["bool"]:
        if dtype == "bool":
            cases = {"bool": np.array([True, False])}
        else:
            cases = inputs(dtype)
        for array in cases.values():
            differential(ACTIVATIONS[name], array)


@pytest.mark.parametrize("dtype", FLOATS)
def test_gelu_is_accurate_across_erf_ranges(dtype):
    """Exact gelu goes through our erf (numpy has none): every branch of it, both signs."""
    x = np.concatenate([np.linspace(-10, 10, 4001), [0.84375, 1.25, 1 / 0.35, 6.0, -0.84375, -1.25, 1e-9, 28.0]])
    differential(lambda f, t: f.gelu(t), (x * math.sqrt(2)).astype(np_dtype(dtype)))


def test_erf_within_one_ulp_of_libm():
    from cogtensor.nn.functional import _ERF_LIBM_MAX, _erf

    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, -0.0, 5e-324, 1e-300, 0.84375, 1.25, 1 / 0.35, 6.0, 27.0,
                                                     1e300, -1e300]])
    expected = np.array([math.erf(v) for v in x])
    ulp = np.maximum(np.spacing(np.abs(expected)), 5e-324)
    assert x.size > _ERF_LIBM_MAX  # fdlibm's vectorized approximations
    assert np.all(np.abs(_erf(x) - expected) <= ulp)
    assert np.all(_erf(x[:100].reshape(4, 25)) == expected[:100].reshape(4, 25))  # libm, value by value
    special = np.array([math.inf, -math.inf, math.nan])
    for values in (special, np.concatenate([special, x])):
        got = _erf(values)[:3]
        assert got[:2].tolist() == [1.0, -1.0] and math.isnan(got[2])


def test_erfc_float32_relative_error():
    from cogtensor.nn.functional import _erfc_float32

    z = np.linspace(-6, 9, 30001).astype(np.float32)
    expected = np.array([math.erfc(v) for v in z.astype(np.float64)])
    relative = np.abs(_erfc_float32(z).astype(np.float64) / expected - 1)
    assert relative.max() < 1e-5 and relative[z < 4].max() < 2e-6
    assert _erfc_float32(np.array([np.inf, -np.inf], np.float32)).tolist() == [0.0, 2.0]


@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu", "elu", "selu", "silu", "mish", "hardswish",
                                  "hardsigmoid"])
def test_inplace_writes_into_the_input(name):
    for dtype in ["float32", "bfloat16"]:
        array = inputs(dtype)["contiguous"]
        ours, theirs = ct.from_numpy(array.copy()), torch_of(array)
        out = getattr(F, name)(ours, inplace=True)
        getattr(TF, name)(theirs, inplace=True)
        assert out is ours
        assert_matches(ours, theirs)


def test_results_are_new_tensors():
    x = ct.tensor([-1.0, 2.0])
    for fn in ACTIVATIONS.values():
        fn(F, x).numpy()[...] = 9.0
    assert x.tolist() == [-1.0, 2.0]


# ---------------------------------------------------------------------- softmax
SOFTMAXES = {"softmax": lambda f, x, d: f.softmax(x, d), "log_softmax": lambda f, x, d: f.log_softmax(x, dim=d)}


@pytest.mark.parametrize("name", SOFTMAXES)
def test_softmax_matches_torch_on_every_dim(name):
    for dtype in FLOATS + INTS:
        for array in inputs(dtype, seed=4).values():
            span = max(array.ndim, 1)
            for dim in range(-span - 1, span + 1):  # the out-of-range ones must raise IndexError, as torch
                differential(lambda f, x: SOFTMAXES[name](f, x, dim), array)


@pytest.mark.parametrize("name", SOFTMAXES)
@pytest.mark.parametrize("dtype", FLOATS)
def test_softmax_is_stable_for_large_and_infinite_inputs(name, dtype):
    rows = [[1000.0, 1001.0, 999.0], [-1000.0, -1001.0, -999.0], [1e4, -1e4, 0.0], [-math.inf, 0.0, 1.0],
            [-math.inf] * 3, [math.inf, 1.0, 2.0], [math.nan, 1.0, 2.0], [3e38, 3e38, -3e38]]
    if dtype == "float16":
        rows = rows[:2] + [[6e4, -6e4, 0.0]] + rows[3:7]
    array = np.array(rows, dtype=np.float64).astype(np_dtype(dtype))
    for dim in (0, 1, -1):
        differential(lambda f, x: SOFTMAXES[name](f, x, dim), array)


def test_softmax_of_1000_1001():
    p = F.softmax(ct.tensor([1000.0, 1001.0]), dim=0).tolist()
    assert p == pytest.approx([1 / (1 + math.e), math.e / (1 + math.e)], rel=1e-6)
    logp = F.log_softmax(ct.tensor([1000.0, 1001.0]), dim=0).tolist()
    assert logp == pytest.approx([-math.log1p(math.e), -math.log1p(1 / math.e)], rel=1e-6)


def test_softmax_dtype_argument_casts_first():
    for src, target in [("int64", "float64"), ("float32", "float64"), ("float32", "float16"),
                        ("float16", "float32"), ("bfloat16", "float32"), ("int32", "int64")]:
        array = inputs(src, seed=2)["contiguous"]
        for name in SOFTMAXES:
            def call(f, x, name=name, target=target):
                module = ct if f is F else torch
                return getattr(f, name)(x, 1, dtype=getattr(module, target))

            differential(call, array)


def test_softmax_without_dim_warns_and_picks_torchs_dim():
    for shape in [(), (4,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:
        array = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        for name in SOFTMAXES:
            differential(lambda f, x: getattr(f, name)(x), array)
        with pytest.warns(UserWarning, match="Implicit dimension choice for softmax has been deprecated"):
            F.softmax(ct.from_numpy(array))


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                  elements=st.floats(-1e6, 1e6, allow_nan=False)), st.integers(-3, 2))
def test_softmax_property_matches_torch(array, dim):
    for name in SOFTMAXES:
        differential(lambda f, x: SOFTMAXES[name](f, x, dim), array)
    if -array.ndim <= dim < array.ndim and array.size:
        total = F.softmax(ct.from_numpy(array), dim).numpy().sum(axis=dim)
        assert np.allclose(total, 1.0)


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=2, max_side=5), elements=st.floats(width=32)))
def test_activations_property_match_torch(array):
    for fn in ACTIVATIONS.values():
        differential(fn, array)


# ----------------------------------------------------------------------- errors
def test_non_floating_inputs_name_the_dtype():
    x = ct.tensor([1, 2, 3])
    for name in ["leaky_relu", "elu", "selu", "gelu", "silu", "mish", "softplus", "hardswish", "hardsigmoid"]:
        message = rf"{name}: not implemented for cogtensor.int64; expected a floating point tensor \(float16, "
        with pytest.raises(ct.NotImplementedForDType, match=message + r"bfloat16, float32 or float64\)"):
            getattr(F, name)(x)
    with pytest.raises(NotImplementedError, match="softmax: not implemented for cogtensor.int64"):
        F.softmax(x, 0)
    with pytest.raises(RuntimeError, match="log_softmax: not implemented for cogtensor.int64"):
        F.log_softmax(ct.tensor([1.0, 2.0]), 0, dtype=ct.int64)
    with pytest.raises(ct.DTypeError, match="relu: Boolean inputs not supported for relu"):
        F.relu(ct.tensor([True]))
    with pytest.raises(TypeError, match="relu6: Boolean inputs not supported"):
        F.relu6(ct.tensor([True]))


def test_argument_errors():
    x = ct.tensor([[1.0, 2.0]])
    with pytest.raises(ValueError, match="gelu: approximate argument must be either 'none' or 'tanh', got 'fast'"):
        F.gelu(x, approximate="fast")
    with pytest.raises(IndexError, match=r"softmax: dimension out of range \(expected to be in range of \[-2, 1\], "
                                         r"but got 2\)"):
        F.softmax(x, 2)
    with pytest.raises(TypeError, match="log_softmax: dim must be an integer, got tuple"):
        F.log_softmax(x, (0, 1))
    with pytest.raises(TypeError, match="softmax: dtype must be a cogtensor dtype"):
        F.softmax(x, 1, dtype=np.float64)


def test_exports():
    assert set(F.__all__) == {
        "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "silu", "mish", "softplus", "hardswish", "hardsigmoid",
        "softmax", "log_softmax", "relu_", "hardtanh", "hardtanh_", "threshold", "threshold_", "leaky_relu_",
        "rrelu", "rrelu_", "elu_", "selu_", "celu", "celu_", "logsigmoid", "softsign", "tanhshrink", "hardshrink",
        "softshrink", "glu", "prelu", "sigmoid", "tanh", "softmin", "linear",
        "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
        "binary_cross_entropy_with_logits", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
        "scaled_dot_product_attention", "multi_head_attention_forward",
        "conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "unfold", "fold",
        "embedding", "embedding_bag", "dropout", "dropout1d", "dropout2d", "dropout3d", "bilinear",
        "layer_norm", "rms_norm", "group_norm", "batch_norm", "normalize", "pad",
        "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
        "interpolate"}
    assert ct.nn.functional.softmax is F.softmax


def test_tensor_methods_and_top_level_forms_match_torch():
    """x.softmax(d), x.log_softmax(d), x.relu(), x.relu_() and cogtensor.softmax/... as torch's."""
    a = np.random.default_rng(0).standard_normal((3, 4))
    for dim in (0, -1):
        for name in ("softmax", "log_softmax"):
            x, t = ct.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
            ours, theirs = getattr(x, name)(dim), getattr(t, name)(dim)
            np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
            np.testing.assert_allclose(getattr(ct, name)(x, dim).detach().numpy(), theirs.detach().numpy(), rtol=1e-12)
            (ours * ct.tensor(a)).sum().backward()
            (theirs * torch.tensor(a)).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10)
    x = ct.tensor(a)
    np.testing.assert_array_equal(x.relu().numpy(), torch.tensor(a).relu().numpy())
    np.testing.assert_array_equal(ct.relu(x).numpy(), np.maximum(a, 0))
    assert x.relu_() is x and (x.numpy() >= 0).all()
    np.testing.assert_allclose(x.softmax(1, dtype=ct.float32).numpy(),
                               torch.tensor(a).relu().softmax(1, dtype=torch.float32).numpy(), rtol=1e-6)
