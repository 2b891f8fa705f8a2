"""cogtensor.nn.quantized against torch: quantized tensors, observers' qparams and fake quantization."""

import warnings

import numpy as np
import pytest
import torch
from torch.ao.quantization import observer as tobs
from torch_reference import torch_of  # importing it also makes torch single-threaded here

import cogtensor as ct
from cogtensor.nn import quantized as nq

DTYPES = [(nq.qint8, torch.qint8), (nq.quint8, torch.quint8)]
pytestmark = pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")


def torch_quantize(x, scale, zero_point, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates its quantized tensor constructors
        return torch.quantize_per_tensor(torch_of(x), scale, zero_point, dtype)


def data(shape, seed, spread=3.0):
    return (np.random.default_rng(seed).standard_normal(shape) * spread).astype(np.float32)


def ties(scale):
    """Values at and next to the rounding ties x = (k + 1/2) * scale."""
    half = ((np.arange(-140, 140) + 0.5) * np.float32(scale)).astype(np.float32)
    return np.concatenate([half, np.nextafter(half, np.float32(np.inf)), np.nextafter(half, np.float32(-np.inf))])


# ---- quantized tensors ----

@pytest.mark.parametrize("dtype,tdtype", DTYPES)
@pytest.mark.parametrize("scale", [0.1, 0.0123456, 1 / 3, 0.07, 2.5])
def test_quantize_per_tensor_matches_torch(dtype, tdtype, scale):
    zero_point = 3 if dtype is nq.qint8 else 130
    for x in (data((7, 33), 1), ties(scale), np.array([1e30, -1e30, np.inf, -np.inf, 0.0, -0.0], np.float32)):
        ours = nq.quantize_per_tensor(ct.tensor(x), scale, zero_point, dtype)
        theirs = torch_quantize(x, scale, zero_point, tdtype)
        np.testing.assert_array_equal(ours.int_repr().numpy(), theirs.int_repr().numpy())
        np.testing.assert_array_equal(ours.dequantize().numpy(), theirs.dequantize().numpy())
        assert ours.q_scale() == theirs.q_scale() and ours.q_zero_point() == theirs.q_zero_point()
        assert ours.dtype is dtype and ours.shape == x.shape and ours.qscheme() is nq.per_tensor_affine


@pytest.mark.parametrize("dtype,tdtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_quantize_per_channel_matches_torch(dtype, tdtype, axis):
    x = data((4, 6, 5), 2)
    channels = x.shape[axis]
    rng = np.random.default_rng(3)
    scales = rng.uniform(0.01, 0.2, channels)
    zero_points = rng.integers(-5, 5, channels) + (0 if dtype is nq.qint8 else 128)
    ours = nq.quantize_per_channel(ct.tensor(x), ct.tensor(scales), ct.tensor(zero_points), axis, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.quantize_per_channel(torch.from_numpy(x), torch.from_numpy(scales),
                                            torch.from_numpy(zero_points), axis % 3, tdtype)
    np.testing.assert_array_equal(ours.int_repr().numpy(), theirs.int_repr().numpy())
    np.testing.assert_array_equal(ours.dequantize().numpy(), theirs.dequantize().numpy())
    np.testing.assert_array_equal(ours.q_per_channel_scales().numpy(), theirs.q_per_channel_scales().numpy())
    np.testing.assert_array_equal(ours.q_per_channel_zero_points().numpy(),
                                  theirs.q_per_channel_zero_points().numpy())
    assert ours.q_per_channel_axis() == theirs.q_per_channel_axis() and ours.qscheme() is nq.per_channel_affine


def test_round_trip_error_bound():
    x = data((50, 40), 4)
    for dtype in (nq.qint8, nq.quint8):
        qt = nq.QuantizedTensor.from_float(ct.tensor(x), dtype, nq.per_tensor_affine)
        err = np.abs(x - qt.dequantize().numpy())
        assert (err <= qt.q_scale() / 2 * (1 + 1e-5)).all()
    qt = nq.QuantizedTensor.from_float(ct.tensor(x), nq.qint8, nq.per_channel_symmetric, axis=1)
    scales = qt.q_per_channel_scales().numpy()
    # symmetric: max|x| = 127.5 * scale clamps to 127, exactly scale / 2 away, up to the
    # float32 rounding of the scale (times 127)
    assert (np.abs(x - qt.dequantize().numpy()) <= scales / 2 * (1 + 1e-4)).all()
    assert not qt.q_per_channel_zero_points().numpy().any()


def test_inputs_views_and_dtypes():
    x = data((6, 8), 5)
    ref = nq.quantize_per_tensor(ct.tensor(x), 0.05, 0, nq.qint8).int_repr().numpy()
    for view, expect in ((x.T, ref.T), (x[:, ::2], ref[:, ::2])):
        np.testing.assert_array_equal(nq.quantize_per_tensor(ct.tensor(view), 0.05, 0, nq.qint8).int_repr().numpy(),
                                      expect)
    as64 = nq.quantize_per_tensor(ct.tensor(x.astype(np.float64)), 0.05, 0, nq.qint8)
    np.testing.assert_array_equal(as64.int_repr().numpy(), ref)
    assert nq.quantize_per_tensor(ct.tensor(3.0), 0.5, 0, nq.qint8).int_repr().item() == 6
    assert nq.quantize_per_tensor(ct.zeros(0, 3), 0.5, 0, nq.qint8).shape == (0, 3)
    assert "quantization_scheme=cogtensor.per_tensor_affine" in repr(nq.quantize_per_tensor(ct.tensor(x), 0.1, 0,
                                                                                             nq.qint8))


def test_observer_qparams_feed_quantize_per_tensor_as_torch():
    """An observer's (1,)-shaped scale and zero point are taken as they are, as torch takes them."""
    x = data((6, 9), 8)
    ours, theirs = nq.MinMaxObserver(dtype=nq.qint8), torch.ao.quantization.MinMaxObserver(dtype=torch.qint8)
    ours(ct.tensor(x))
    theirs(torch.from_numpy(x))
    q = nq.quantize_per_tensor(ct.tensor(x), *ours.calculate_qparams(), nq.qint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.quantize_per_tensor(torch.from_numpy(x), *theirs.calculate_qparams(), torch.qint8)
    np.testing.assert_array_equal(q.int_repr().numpy(), expected.int_repr().numpy())
    assert q.q_scale() == expected.q_scale()
    with pytest.raises(ValueError, match=r"expected scale and zero_point of shape \(\)"):
        nq.quantize_per_tensor(ct.tensor(x), ct.tensor([0.1, 0.2]), ct.tensor([0, 0]), nq.qint8)


def test_quantized_tensor_errors():
    x = ct.tensor(data((3, 4), 6))
    with pytest.raises(TypeError, match="dtype must be cogtensor.qint8"):
        nq.quantize_per_tensor(x, 0.1, 0, ct.int16)
    with pytest.raises(TypeError, match="expected a floating tensor"):
        nq.quantize_per_tensor(ct.tensor([1, 2]), 0.1, 0, nq.qint8)
    for scale in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="scale must be positive and finite"):
            nq.quantize_per_tensor(x, scale, 0, nq.qint8)
    with pytest.raises(ValueError, match=r"zero_point must lie in \[0, 255\]"):
        nq.quantize_per_tensor(x, 0.1, -1, nq.quint8)
    with pytest.raises(ValueError, match="input holds NaN"):
        nq.quantize_per_tensor(ct.tensor([1.0, float("nan")]), 0.1, 0, nq.qint8)
    with pytest.raises(ValueError, match=r"expected scale and zero_point of shape \(4,\)"):
        nq.quantize_per_channel(x, ct.ones(3), ct.zeros(3, dtype=ct.int64), 1, nq.qint8)
    with pytest.raises(ValueError, match="axis must be an integer in"):
        nq.quantize_per_channel(x, ct.ones(3), ct.zeros(3, dtype=ct.int64), 2, nq.qint8)
    with pytest.raises(TypeError, match="zero_point must be an integer"):
        nq.quantize_per_channel(x, ct.ones(3), ct.zeros(3), 0, nq.qint8)
    per_tensor = nq.quantize_per_tensor(x, 0.1, 0, nq.qint8)
    with pytest.raises(RuntimeError, match="q_per_channel_scales: expected a per-channel quantized tensor"):
        per_tensor.q_per_channel_scales()
    per_channel = nq.quantize_per_channel(x, ct.ones(3), ct.zeros(3, dtype=ct.int64), 0, nq.qint8)
    with pytest.raises(RuntimeError, match="q_scale: expected a per-tensor quantized tensor"):
        per_channel.q_scale()
    with pytest.raises(TypeError, match="expected int8 or uint8 values"):
        nq.QuantizedTensor(np.zeros(3, np.int16), 1.0, 0)
    with pytest.raises(TypeError, match="dequantize: expected a QuantizedTensor"):
        nq.dequantize(x)


# ---- observers: same qparams as torch's for the same data ----

def torch_qparams(obs):
    scale, zero_point = obs.calculate_qparams()
    return scale.numpy(), zero_point.numpy()


def assert_same_qparams(ours, theirs):
    scale, zero_point = ours.calculate_qparams()
    t_scale, t_zero_point = torch_qparams(theirs)
    np.testing.assert_array_equal(scale.numpy(), t_scale)
    np.testing.assert_array_equal(zero_point.numpy(), t_zero_point)
    assert scale.dtype is ct.float32


BATCHES = [data((16, 9), 7), data((5,), 8, 10.0), np.abs(data((8, 8), 9)), -np.abs(data((3, 3), 10, 0.01))]
SCHEMES = [(nq.per_tensor_affine, torch.per_tensor_affine), (nq.per_tensor_symmetric, torch.per_tensor_symmetric)]


@pytest.mark.parametrize("dtype,tdtype", DTYPES)
@pytest.mark.parametrize("scheme,tscheme", SCHEMES)
@pytest.mark.parametrize("qrange", [{}, {"reduce_range": True}, {"quant_min": 0, "quant_max": 15}])
def test_min_max_observers_match_torch(dtype, tdtype, scheme, tscheme, qrange):
    if scheme.symmetric and dtype is nq.quint8 and qrange.get("reduce_range"):  # refused by both
        with pytest.raises(NotImplementedError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tobs.MinMaxObserver(tdtype, tscheme, **qrange)
        with pytest.raises(ValueError, match="cannot reduce the range of symmetric quantization to quint8"):
            nq.MinMaxObserver(dtype, scheme, **qrange)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that reduce_range is deprecated
        pairs = [(nq.MinMaxObserver(dtype, scheme, **qrange), tobs.MinMaxObserver(tdtype, tscheme, **qrange))]
        for c in (0.01, 0.5, 1.0):
            pairs.append((nq.MovingAverageMinMaxObserver(c, dtype, scheme, **qrange),
                          tobs.MovingAverageMinMaxObserver(c, tdtype, tscheme, **qrange)))
        for ours, theirs in pairs:
            for batch in BATCHES:
                ours(ct.tensor(batch))
                theirs(torch.from_numpy(batch))
                np.testing.assert_array_equal(ours.min_val.numpy(), theirs.min_val.numpy())
                np.testing.assert_array_equal(ours.max_val.numpy(), theirs.max_val.numpy())
                assert_same_qparams(ours, theirs)


@pytest.mark.parametrize("dtype,tdtype", DTYPES)
@pytest.mark.parametrize("scheme,tscheme", [(nq.per_channel_affine, torch.per_channel_affine),
                                            (nq.per_channel_symmetric, torch.per_channel_symmetric)])
@pytest.mark.parametrize("ch_axis", [0, 1, -1])
def test_per_channel_observer_matches_torch(dtype, tdtype, scheme, tscheme, ch_axis):
    ours = nq.PerChannelMinMaxObserver(ch_axis, dtype, scheme)
    theirs = tobs.PerChannelMinMaxObserver(ch_axis, tdtype, tscheme)
    for seed in range(3):
        batch = data((4, 5, 6), seed, spread=seed + 0.5)
        batch[..., 0] = np.abs(batch[..., 0])  # a channel with no negative values on the last axis
        ours(ct.tensor(batch))
        theirs(torch.from_numpy(batch))
        assert_same_qparams(ours, theirs)


def test_observers_are_modules_with_torchs_state_dict():
    pairs = [(nq.MinMaxObserver(nq.qint8), tobs.MinMaxObserver(torch.qint8)),
             (nq.MovingAverageMinMaxObserver(0.1), tobs.MovingAverageMinMaxObserver(0.1)),
             (nq.PerChannelMinMaxObserver(1), tobs.PerChannelMinMaxObserver(1))]
    batch = data((4, 6), 19)
    for ours, theirs in pairs:
        ours(ct.tensor(batch))
        theirs(torch.from_numpy(batch))
        mine, reference = ours.state_dict(), theirs.state_dict()
        assert list(mine) == list(reference)
        for key in reference:
            np.testing.assert_array_equal(mine[key].numpy(), reference[key].numpy())
    fresh = nq.MinMaxObserver(nq.qint8)
    fresh.load_state_dict({k: ct.tensor(v.numpy()) for k, v in pairs[0][1].state_dict().items()})
    assert_same_qparams(fresh, pairs[0][1])
    parent = ct.nn.Module()
    parent.observer = fresh
    assert [name for name, _ in parent.named_buffers()] == ["observer.eps", "observer.min_val", "observer.max_val"]


def test_percentile_observer():
    batches = [data((1000,), 11), data((500, 3), 12, 5.0)]
    obs = nq.PercentileObserver(percentile=99.0, dtype=nq.qint8, qscheme=nq.per_tensor_symmetric)
    for b in batches:
        obs(ct.tensor(b))
    lo = np.mean([np.percentile(b, 1.0) for b in batches])
    hi = np.mean([np.percentile(b, 99.0) for b in batches])
    np.testing.assert_allclose(obs.min_val.numpy(), lo, rtol=1e-6)
    np.testing.assert_allclose(obs.max_val.numpy(), hi, rtol=1e-6)
    theirs = tobs.MinMaxObserver(torch.qint8, torch.per_tensor_symmetric)
    theirs(torch.tensor([obs.min_val.item(), obs.max_val.item()]))  # torch's qparams for these limits
    assert_same_qparams(obs, theirs)
    full = nq.PercentileObserver(percentile=100.0)
    full(ct.tensor(batches[0]))
    assert full.max_val.item() == batches[0].max() and full.min_val.item() == batches[0].min()


def test_observer_edge_cases():
    obs = nq.MinMaxObserver()
    with pytest.warns(UserWarning, match="must run observer before calling calculate_qparams"):
        scale, zero_point = obs.calculate_qparams()
    assert scale.tolist() == [1.0] and zero_point.tolist() == [0]
    x = ct.tensor([1.0, 2.0])
    assert obs(x) is x
    obs(ct.zeros(0))  # empty input: ignored, as torch
    assert obs.min_val.item() == 1.0
    zeros = nq.MinMaxObserver(nq.qint8)
    zeros(ct.zeros(4))
    theirs = tobs.MinMaxObserver(torch.qint8)
    theirs(torch.zeros(4))
    assert_same_qparams(zeros, theirs)  # scale = eps
    obs.reset_min_max_vals()
    with pytest.warns(UserWarning):
        obs.calculate_qparams()


def test_observer_errors():
    with pytest.raises(ValueError, match="qscheme must be per_tensor_affine or per_tensor_symmetric"):
        nq.MinMaxObserver(qscheme=nq.per_channel_affine)
    with pytest.raises(ValueError, match="qscheme must be per_channel_affine or per_channel_symmetric"):
        nq.PerChannelMinMaxObserver(qscheme=nq.per_tensor_affine)
    with pytest.raises(ValueError, match="cannot reduce the range of symmetric quantization to quint8"):
        nq.MinMaxObserver(nq.quint8, nq.per_tensor_symmetric, reduce_range=True)
    with pytest.raises(ValueError, match="range must include 0"):
        nq.MinMaxObserver(quant_min=1, quant_max=10)
    with pytest.raises(ValueError, match="exceeds the int8 range"):
        nq.MinMaxObserver(nq.qint8, quant_min=-200, quant_max=10)
    with pytest.raises(TypeError, match="dtype must be"):
        nq.MinMaxObserver(ct.float32)
    with pytest.raises(ValueError, match="averaging_constant must be in"):
        nq.MovingAverageMinMaxObserver(0.0)
    with pytest.raises(ValueError, match="percentile must be in"):
        nq.PercentileObserver(40.0)
    with pytest.raises(ValueError, match="input holds NaN"):
        nq.MinMaxObserver()(ct.tensor([float("nan")]))
    per_channel = nq.PerChannelMinMaxObserver(1)
    per_channel(ct.ones(2, 3))
    with pytest.raises(ValueError, match="saw 3 channels before, now 4"):
        per_channel(ct.ones(2, 4))


# ---- straight-through fake quantization ----

def bitnet_weight_quant(w):  # the BitNet b1.58 reference formulation
    scale = w.abs().mean().clamp(min=1e-5)
    return (w / scale).round().clamp(-1, 1) * scale


def bitnet_activation_quant(x):
    scale = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5) / 127
    return (x / scale).round().clamp(-128, 127) * scale


def ste_pair(ours_fn, torch_fn, x, upstream, broadcast=None):
    """(our forward, our grad, torch's forward, torch's grad) for sum(f(x) * upstream)."""
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = xt + (torch_fn(xt) - xt).detach()  # the straight-through estimator, in torch
    (yt * torch.from_numpy(upstream)).sum().backward()
    xc = ct.tensor(x).requires_grad_()
    yc = ours_fn(xc)
    (yc * ct.tensor(upstream)).sum().backward()
    return yc.detach().numpy(), xc.grad.numpy(), yt.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,upstream_shape", [((7,), (7,)), ((5, 9), (5, 9)), ((5, 9), (9,)), ((2, 3, 17), (3, 1))])
def test_ste_matches_torch(dtype, shape, upstream_shape):
    rng = np.random.default_rng(13)
    x = rng.standard_normal(shape).astype(dtype)
    upstream = rng.standard_normal(upstream_shape).astype(dtype)
    for ours, reference in ((nq.fake_quantize_ternary, bitnet_weight_quant),
                            (nq.fake_quantize_per_token, bitnet_activation_quant)):
        y, g, y_ref, g_ref = ste_pair(ours, reference, x, upstream)
        np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-7)
        assert y.dtype == dtype
        np.testing.assert_array_equal(g, g_ref)  # straight through: the upstream gradient, broadcast


def test_ste_non_contiguous_and_second_order():
    x = ct.tensor(data((6, 8), 14)).requires_grad_()
    view = x.T  # non-contiguous input
    y = nq.fake_quantize_per_token(view)
    np.testing.assert_allclose(y.detach().numpy(), bitnet_activation_quant(torch.from_numpy(data((6, 8), 14).T.copy()))
                               .numpy(), rtol=1e-6)
    (g,) = ct.autograd.grad((y * y).sum(), (x,), create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 2 * y.detach().numpy().T, rtol=1e-6)  # d/dx y^2 = 2 y * 1
    assert nq.fake_quantize_ternary(ct.tensor([1.0, -2.0])).grad_fn is None  # nothing needs a gradient
    assert nq.fake_quantize_ternary(ct.tensor(data((4,), 15)).requires_grad_()).grad_fn is not None
    with ct.no_grad():
        assert nq.fake_quantize_ternary(ct.tensor(data((4,), 15)).requires_grad_()).grad_fn is None


def test_ste_error_bound_and_values():
    x = data((3, 50), 16)
    y = nq.fake_quantize_per_token(ct.tensor(x)).numpy()
    scale = np.abs(x).max(axis=-1, keepdims=True) / 127
    assert (np.abs(x - y) <= scale / 2 * (1 + 1e-5)).all()
    w = nq.fake_quantize_ternary(ct.tensor(x)).numpy()
    assert len(np.unique(np.abs(w))) <= 2  # {0, scale}
    with pytest.raises(TypeError, match="fake_quantize_ternary: expected a Tensor"):
        nq.fake_quantize_ternary(x)
    with pytest.raises(TypeError, match="expected a floating tensor"):
        nq.fake_quantize_per_token(ct.tensor([1, 2]))


@pytest.mark.parametrize("scale,zero_point,qmin,qmax", [(0.1, 0, -128, 127), (0.05, 10, 0, 255), (0.3, -2, -8, 7)])
def test_fake_quantize_per_tensor_affine_matches_torch(scale, zero_point, qmin, qmax):
    x = np.concatenate([data((200,), 17, 8.0), ties(scale)])
    upstream = np.random.default_rng(18).standard_normal(x.shape).astype(np.float32)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    yt = torch.fake_quantize_per_tensor_affine(xt, scale, zero_point, qmin, qmax)
    (yt * torch.from_numpy(upstream)).sum().backward()
    xc = ct.tensor(x).requires_grad_()
    yc = nq.fake_quantize_per_tensor_affine(xc, scale, zero_point, qmin, qmax)
    (yc * ct.tensor(upstream)).sum().backward()
    np.testing.assert_array_equal(yc.detach().numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(xc.grad.numpy(), xt.grad.numpy())
    assert 0 < (xc.grad.numpy() == 0).sum() < x.size  # some values were clamped, some passed
    with pytest.raises(ValueError, match="quant_min <= zero_point <= quant_max"):
        nq.fake_quantize_per_tensor_affine(xc, scale, 300, qmin, qmax)


def test_torch_top_level_names():
    """torch.quantize_per_tensor, torch.qint8, ... are cogtensor.quantize_per_tensor, cogtensor.qint8, ..."""
    for name in ("quantize_per_tensor", "quantize_per_channel", "dequantize", "qint8", "quint8", "qscheme",
                 "per_tensor_affine", "per_tensor_symmetric", "per_channel_affine", "per_channel_symmetric",
                 "fake_quantize_per_tensor_affine"):
        assert getattr(ct, name) is getattr(nq, name) and hasattr(torch, name)
