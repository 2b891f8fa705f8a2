"""nn.init against torch.nn.init. cogtensor draws from numpy's PCG64 and torch from its own
generators, so the random initialisers cannot give torch's numbers: they are compared by
distribution (bounds, mean, standard deviation, quantiles of large samples, orthogonality),
the deterministic ones (constant_, eye_, gains, fans) value for value."""

import math
import warnings

import numpy as np
import pytest
import torch

import cogtensor as ct
from cogtensor import nn
from cogtensor.nn import init
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture


def gen(seed=0):
    return ct.Generator().manual_seed(seed)


def _repeats(shape, least=120_000):
    return max(1, -(-least // max(1, math.prod(shape))))  # enough draws for 10^5+ values


def torch_sample(fn, shape, **kw):
    """Values of fn over fresh float64 tensors of `shape`, concatenated (10^5 values or more)."""
    g = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(_repeats(shape)):
        t = torch.empty(shape, dtype=torch.float64)
        fn(t, generator=g, **kw)
        draws.append(t.numpy().ravel())
    return np.concatenate(draws)


def ours_sample(fn, shape, **kw):
    g = gen()
    return np.concatenate([fn(ct.empty(*shape, dtype=ct.float64), generator=g, **kw).numpy().ravel()
                           for _ in range(_repeats(shape))])


def assert_same_distribution(ours, theirs, rel=0.03):
    """Mean, std and a few quantiles agree within sampling error (samples of 10^5 values or more)."""
    scale = theirs.std()
    assert abs(ours.mean() - theirs.mean()) < 0.02 * scale
    assert ours.std() == pytest.approx(theirs.std(), rel=rel)
    qs = [0.01, 0.1, 0.5, 0.9, 0.99]
    np.testing.assert_allclose(np.quantile(ours, qs), np.quantile(theirs, qs), atol=0.03 * scale)


# -------------------------------------------------------------- gains and fans
@pytest.mark.parametrize("name", ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"])
def test_calculate_gain_matches_torch(name):
    assert init.calculate_gain(name) == torch.nn.init.calculate_gain(name)


@pytest.mark.parametrize("param", [None, 0, 0.2, math.sqrt(5), 3])
def test_leaky_relu_gain_matches_torch(param):
    assert init.calculate_gain("leaky_relu", param) == torch.nn.init.calculate_gain("leaky_relu", param)


@pytest.mark.parametrize("args", [("leaky_relu", True), ("leaky_relu", "0.1"), ("swish", None)])
def test_calculate_gain_errors_match_torch(args):
    with pytest.raises(ValueError) as theirs:
        torch.nn.init.calculate_gain(*args)
    with pytest.raises(ValueError) as ours:
        init.calculate_gain(*args)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("shape", [(2, 3), (5, 1), (4, 3, 5), (8, 2, 3, 3), (6, 4, 1, 2, 2), (0, 3)])
def test_fan_in_and_fan_out_match_torch(shape):
    theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(ct.empty(*shape)) == theirs


def test_fan_needs_two_dimensions():
    for shape in [(3,), ()]:
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            init._calculate_fan_in_and_fan_out(ct.empty(*shape))
        with pytest.raises(ValueError, match="fewer than 2 dimensions"):
            init.xavier_uniform_(ct.empty(*shape))
    with pytest.raises(ValueError, match=r"Mode fan_avg not supported, please use one of \['fan_in', 'fan_out'\]"):
        init.kaiming_uniform_(ct.empty(3, 3), mode="fan_avg")


# -------------------------------------------------------------- deterministic
def test_constant_zeros_ones_eye_match_torch():
    for shape in [(3, 4), (2, 3, 2), (0, 3), ()]:
        t, r = ct.empty(*shape), torch.empty(shape)
        np.testing.assert_array_equal(init.constant_(t, 2.5).numpy(), torch.nn.init.constant_(r, 2.5).numpy())
        np.testing.assert_array_equal(init.zeros_(t).numpy(), torch.nn.init.zeros_(r).numpy())
        np.testing.assert_array_equal(init.ones_(t).numpy(), torch.nn.init.ones_(r).numpy())
    for shape in [(3, 4), (4, 3), (1, 1), (0, 2)]:
        t, r = ct.empty(*shape), torch.empty(shape)
        np.testing.assert_array_equal(init.eye_(t).numpy(), torch.nn.init.eye_(r).numpy())
    wide = ct.zeros(5, 3)
    init.eye_(wide.T)  # a non-contiguous view is filled through to its base
    np.testing.assert_array_equal(wide.numpy(), np.eye(3, 5).T)
    with pytest.raises(ValueError, match="Only tensors with 2 dimensions are supported"):
        init.eye_(ct.empty(2, 2, 2))


def test_in_place_on_parameters_without_recording():
    p = nn.Parameter(ct.empty(4, 3))
    for fn in (init.uniform_, init.normal_, init.xavier_uniform_, init.kaiming_normal_, init.orthogonal_,
               init.trunc_normal_):
        assert fn(p, generator=gen()) is p
        assert p.is_leaf and p.grad_fn is None and p.requires_grad
    for fn in (init.zeros_, init.ones_, init.eye_):
        assert fn(p) is p and p.grad_fn is None
    assert init.constant_(p, 0.5) is p and p.grad_fn is None


def test_generator_makes_values_reproducible():
    a = init.normal_(ct.empty(100), generator=gen(3)).numpy()
    b = init.normal_(ct.empty(100), generator=gen(3)).numpy()
    c = init.normal_(ct.empty(100), generator=gen(4)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    ct.manual_seed(7)
    d = init.kaiming_uniform_(ct.empty(10, 10)).numpy()
    ct.manual_seed(7)
    np.testing.assert_array_equal(d, init.kaiming_uniform_(ct.empty(10, 10)).numpy())
    with pytest.raises(TypeError, match="generator must be a cogtensor.Generator"):
        init.uniform_(ct.empty(2), generator=torch.Generator())


def test_random_init_needs_floating_tensor():
    with pytest.raises(TypeError, match="floating"):
        init.uniform_(ct.zeros(3, dtype=ct.int64))
    with pytest.raises(TypeError, match="cogtensor.Tensor"):
        init.normal_(np.zeros(3))


# ------------------------------------------------------------ distributions
def test_uniform_and_normal_match_torch():
    ours = ours_sample(init.uniform_, (400, 500), a=-2.0, b=3.0)
    assert ours.min() >= -2.0 and ours.max() < 3.0
    assert_same_distribution(ours, torch_sample(torch.nn.init.uniform_, (400, 500), a=-2.0, b=3.0))
    ours = ours_sample(init.normal_, (400, 500), mean=1.5, std=0.2)
    assert_same_distribution(ours, torch_sample(torch.nn.init.normal_, (400, 500), mean=1.5, std=0.2))
    for dtype in (ct.float16, ct.bfloat16, ct.float32):
        t = init.uniform_(ct.empty(1000, dtype=dtype), -1, 1, generator=gen())
        assert t.dtype is dtype and float(t.abs().max()) <= 1
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        init.normal_(ct.empty(3), std=-1.0)
    with pytest.raises(RuntimeError, match=r"\[from, to\) range"):
        init.uniform_(ct.empty(3), 1.0, 0.0)


@pytest.mark.parametrize("fn, kw", [
    ("xavier_uniform_", {}), ("xavier_uniform_", {"gain": 2.0}), ("xavier_normal_", {"gain": 0.5}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}), ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {}), ("kaiming_normal_", {"a": 0.1, "mode": "FAN_OUT"}),
])
@pytest.mark.parametrize("shape", [(300, 200), (64, 16, 3, 3)])
def test_scaled_initialisers_match_torch(fn, kw, shape):
    ours = ours_sample(getattr(init, fn), shape, **kw)
    theirs = torch_sample(getattr(torch.nn.init, fn), shape, **kw)
    assert_same_distribution(ours, theirs)
    if "uniform" in fn:  # the same bound: both reach it within a hair
        assert np.abs(ours).max() <= np.abs(theirs).max() * 1.0001 + 1e-12
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=1e-3)


def test_kaiming_on_empty_tensor_warns_like_torch():
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        torch.nn.init.kaiming_uniform_(torch.empty(0, 3))
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        assert init.kaiming_uniform_(ct.empty(0, 3)).shape == (0, 3)
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        init.kaiming_normal_(ct.empty(3, 0))


def _truncated_moments(mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    mass = cdf(beta) - cdf(alpha)
    m = mean + std * (pdf(alpha) - pdf(beta)) / mass
    var = std**2 * (1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - ((pdf(alpha) - pdf(beta)) / mass) ** 2)
    return m, math.sqrt(var)


@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0), (0.0, 0.02, -0.04, 0.04), (1.0, 2.0, 0.0, 1.5), (0.0, 1.0, 3.0, 4.0),
    (0.0, 1.0, -9.0, -8.0), (0.0, 1.0, 0.1, 0.2), (0.0, 1.0, -0.05, 1e9)])
def test_trunc_normal_is_the_truncated_distribution(mean, std, a, b):
    shape = (300, 400)
    ours = ours_sample(init.trunc_normal_, shape, mean=mean, std=std, a=a, b=b)
    assert ours.min() >= a and ours.max() <= b
    m, s = _truncated_moments(mean, std, a, b)
    assert ours.mean() == pytest.approx(m, abs=0.01 * s)
    assert ours.std() == pytest.approx(s, rel=0.02)
    if b - a < 1e6 and a > -8.5:  # torch's inverse-CDF in float64 is accurate enough here to compare with
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's "mean is more than 2 std from [a, b]"
            theirs = torch_sample(torch.nn.init.trunc_normal_, shape, mean=mean, std=std, a=a, b=b)
        assert_same_distribution(ours, theirs)


def test_trunc_normal_far_mean_and_bad_bounds():
    # torch warns that its values may be wrong when the mean is far from [a, b]; these are exact
    far = init.trunc_normal_(ct.empty(100_000, dtype=ct.float64), mean=10.0, a=-1.0, b=1.0, generator=gen()).numpy()
    m, s = _truncated_moments(10.0, 1.0, -1.0, 1.0)
    assert far.min() >= -1 and far.max() <= 1 and far.mean() == pytest.approx(m, abs=0.01 * s)
    with pytest.raises(RuntimeError, match="a < b"):
        init.trunc_normal_(ct.empty(3), a=1.0, b=-1.0)


@pytest.mark.parametrize("shape", [(6, 6), (4, 9), (9, 4), (8, 2, 3, 3), (1, 5), (5, 1)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    w = init.orthogonal_(ct.empty(*shape, dtype=ct.float64), gain=1.5, generator=gen()).numpy()
    flat = w.reshape(shape[0], -1) / 1.5
    rows, cols = flat.shape
    gram = flat @ flat.T if rows <= cols else flat.T @ flat
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-12)
    # the same property holds for torch's
    r = torch.nn.init.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=1.5).numpy().reshape(rows, -1) / 1.5
    np.testing.assert_allclose(r @ r.T if rows <= cols else r.T @ r, np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_is_haar_distributed():
    # for Haar-random orthogonal Q (n x n), each entry has mean 0 and variance 1/n
    n, draws = 8, 400
    g = gen(1)
    entries = np.stack([init.orthogonal_(ct.empty(n, n, dtype=ct.float64), generator=g).numpy()
                        for _ in range(draws)])
    assert abs(entries.mean()) < 0.01
    assert entries.var() == pytest.approx(1 / n, rel=0.05)
    dets = np.linalg.det(entries)
    assert 0.4 < (dets > 0).mean() < 0.6  # both orientations, evenly


def test_orthogonal_errors_and_float32():
    with pytest.raises(ValueError, match="Only tensors with 2 or more dimensions are supported"):
        init.orthogonal_(ct.empty(3))
    assert init.orthogonal_(ct.empty(0, 3)).shape == (0, 3)
    w = init.orthogonal_(ct.empty(16, 16), generator=gen()).numpy()
    assert w.dtype == np.float32
    np.testing.assert_allclose(w @ w.T, np.eye(16), atol=1e-5)
