"""Layers (cogtensor.nn.layers) against torch.nn: linear, embedding, normalization, dropout,
activation and shape modules get torch's weights through load_state_dict and must give the
same outputs, input gradients and parameter gradients (float32 and float64); plus default
initialisation, running statistics, dropout statistics, reprs, errors and float64 gradchecks
of the functional forms."""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn as tnn

import cogtensor as ct
import cogtensor.nn.functional as F
import cogtensor.nn.layers as L
from layer_reference import close, compare_state, gradcheck, gradgradcheck, run_both, twins
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

RNG = np.random.default_rng(1234)
DTYPES = [np.float32, np.float64]


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


# ----------------------------------------------------------------------- linear
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(dtype, bias):
    ours, theirs = twins(L.Linear, tnn.Linear, 5, 3, bias=bias, dtype=dtype)
    run_both(ours, theirs, randn(4, 5, dtype=dtype))
    run_both(ours, theirs, randn(2, 3, 5, dtype=dtype)[:, ::2])  # batched, non-contiguous
    run_both(ours, theirs, randn(5, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bilinear_and_identity(dtype):
    ours, theirs = twins(L.Bilinear, tnn.Bilinear, 3, 4, 2, dtype=dtype)
    assert repr(ours) == repr(theirs)
    run_both(ours, theirs, randn(5, 3, dtype=dtype), randn(5, 4, dtype=dtype))
    run_both(ours, theirs, randn(2, 5, 3, dtype=dtype), randn(2, 5, 4, dtype=dtype))
    x = ct.ones(3)
    assert L.Identity(7, key="ignored")(x) is x


def test_default_initialisation_bounds_and_seed():
    ct.manual_seed(7)
    a = L.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (a.weight, a.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.95 * bound
        assert abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound  # uniform on [-b, b]
    ct.manual_seed(7)
    b = L.Linear(400, 300)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    conv = L.Conv2d(4, 6, 3, groups=2)
    fan_in = 2 * 9
    assert np.abs(conv.weight.detach().numpy()).max() <= 1 / math.sqrt(fan_in)
    assert np.abs(conv.bias.detach().numpy()).max() <= 1 / math.sqrt(fan_in)
    emb = L.Embedding(1000, 20, padding_idx=3)
    assert not np.any(emb.weight.detach().numpy()[3])
    assert abs(emb.weight.detach().numpy().std() - 1) < 0.05
    mha = L.MultiheadAttention(8, 2)
    assert not np.any(mha.in_proj_bias.detach().numpy()) and not np.any(mha.out_proj.bias.detach().numpy())
    assert np.abs(mha.in_proj_weight.detach().numpy()).max() <= math.sqrt(6 / (8 + 24))


def test_factory_arguments():
    assert L.Linear(2, 3, dtype=ct.float64).weight.dtype is ct.float64
    assert L.LayerNorm(4, device="cpu").weight.dtype is ct.float32
    with pytest.raises(ValueError, match="device"):
        L.Linear(2, 3, device="cuda")
    with pytest.raises(TypeError, match="floating"):
        L.Linear(2, 3, dtype=ct.int64)
    with pytest.raises(ValueError, match="non-negative"):
        L.Linear(-1, 3)


# -------------------------------------------------------------------- embedding
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"padding_idx": 2}, {"padding_idx": -1, "scale_grad_by_freq": True}])
def test_embedding_matches_torch(dtype, options):
    ours, theirs = twins(L.Embedding, tnn.Embedding, 10, 4, dtype=dtype, **options)
    idx = RNG.integers(0, 10, (3, 7))
    idx[0, :3] = 2
    run_both(ours, theirs, idx)
    run_both(ours, theirs, idx[:, ::2].T)  # non-contiguous indices
    if options.get("padding_idx") is not None:
        pad = options["padding_idx"] % 10
        ours.weight.grad = None
        ours(ct.from_numpy(idx)).sum().backward()
        assert not np.any(ours.weight.grad.numpy()[pad])


def test_embedding_max_norm_and_from_pretrained():
    ours, theirs = twins(L.Embedding, tnn.Embedding, 6, 3, max_norm=1.0, norm_type=1.0)
    idx = np.array([[0, 1, 1], [4, 5, 0]])
    run_both(ours, theirs, idx)
    compare_state(ours, theirs)  # the looked-up rows were renormalised in place, as torch
    table = randn(5, 2)
    frozen = L.Embedding.from_pretrained(ct.from_numpy(table))
    assert not frozen.weight.requires_grad
    np.testing.assert_array_equal(frozen(ct.tensor([4])).numpy(), table[[4]])
    assert L.Embedding.from_pretrained(ct.from_numpy(table), freeze=False).weight.requires_grad


def test_embedding_errors():
    emb = L.Embedding(5, 2)
    with pytest.raises(IndexError, match="index out of range"):
        emb(ct.tensor([5]))
    with pytest.raises(IndexError, match="index out of range"):
        emb(ct.tensor([-1]))
    with pytest.raises(TypeError, match="int64 or int32"):
        emb(ct.tensor([1.0]))
    with pytest.raises(ValueError, match="Padding_idx must be within num_embeddings"):
        L.Embedding(5, 2, padding_idx=5)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_embedding_bag_matches_torch(mode, dtype):
    ours, theirs = twins(L.EmbeddingBag, tnn.EmbeddingBag, 10, 3, mode=mode, dtype=dtype)
    idx = RNG.integers(0, 10, 9)
    offsets = np.array([0, 3, 3, 7])  # an empty bag
    run_both(ours, theirs, idx, offsets)
    run_both(ours, theirs, RNG.integers(0, 10, (4, 5)))
    padded, theirs_padded = twins(L.EmbeddingBag, tnn.EmbeddingBag, 10, 3, mode=mode, padding_idx=int(idx[1]),
                                  dtype=dtype)
    run_both(padded, theirs_padded, idx, offsets)
    last, theirs_last = twins(L.EmbeddingBag, tnn.EmbeddingBag, 10, 3, mode=mode, include_last_offset=True,
                              dtype=dtype)
    run_both(last, theirs_last, idx, np.array([0, 2, 5, 9]))


def test_embedding_bag_per_sample_weights_and_errors():
    ours, theirs = twins(L.EmbeddingBag, tnn.EmbeddingBag, 10, 3, mode="sum")
    idx, offsets = RNG.integers(0, 10, 6), np.array([0, 2])
    run_both(ours, theirs, idx, offsets, randn(6))
    with pytest.raises(NotImplementedError, match="only supported for mode='sum'"):
        F.embedding_bag(ct.tensor([1]), ct.randn(3, 2), ct.tensor([0]), mode="mean", per_sample_weights=ct.ones(1))
    with pytest.raises(ValueError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(ct.tensor([1, 2]), ct.randn(3, 2), ct.tensor([1]))
    with pytest.raises(ValueError, match="mode has to be one of"):
        L.EmbeddingBag(3, 2, mode="median")


# ---------------------------------------------------------------- normalization
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_norm_rms_norm_group_norm(dtype):
    for args, kwargs in (((4,), {}), (((3, 4),), {"eps": 1e-3}), ((4,), {"elementwise_affine": False}),
                         ((4,), {"bias": False})):
        ours, theirs = twins(L.LayerNorm, tnn.LayerNorm, *args, dtype=dtype, **kwargs)
        with torch.no_grad():  # non-trivial affine parameters
            for p in theirs.parameters():
                p.copy_(torch.randn(p.shape, dtype=p.dtype))
        ours.load_state_dict({k: ct.from_numpy(v.numpy().copy()) for k, v in theirs.state_dict().items()})
        run_both(ours, theirs, randn(2, 3, 4, dtype=dtype) * 3 + 1)
    for kwargs in ({}, {"eps": 1e-4}):
        ours, theirs = twins(L.RMSNorm, tnn.RMSNorm, (3, 4), dtype=dtype, **kwargs)
        run_both(ours, theirs, randn(2, 3, 4, dtype=dtype))
    for kwargs in ({}, {"affine": False}):
        ours, theirs = twins(L.GroupNorm, tnn.GroupNorm, 2, 6, dtype=dtype, **kwargs)
        run_both(ours, theirs, randn(3, 6, 5, dtype=dtype))
        run_both(ours, theirs, randn(3, 2, 2, 6, dtype=dtype).transpose(0, 3, 1, 2))  # non-contiguous


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batch_norm_training_steps_and_eval(dtype, momentum):
    for cls, tcls, shape in ((L.BatchNorm1d, tnn.BatchNorm1d, (8, 3)), (L.BatchNorm1d, tnn.BatchNorm1d, (4, 3, 5)),
                             (L.BatchNorm2d, tnn.BatchNorm2d, (4, 3, 2, 5))):
        ours, theirs = twins(cls, tcls, 3, momentum=momentum, dtype=dtype)
        for step in range(3):
            run_both(ours, theirs, randn(*shape, dtype=dtype) * (step + 1) + step)
            compare_state(ours, theirs)  # running_mean / running_var / num_batches_tracked
        assert int(ours.num_batches_tracked.item()) == 3
        ours.eval()
        theirs.eval()
        run_both(ours, theirs, randn(*shape, dtype=dtype))
        compare_state(ours, theirs)  # eval mode leaves the statistics alone


def test_batch_norm_without_running_stats_and_errors():
    ours, theirs = twins(L.BatchNorm1d, tnn.BatchNorm1d, 3, track_running_stats=False, affine=False)
    assert ours.running_mean is None and list(ours.state_dict()) == []
    run_both(ours, theirs, randn(5, 3))
    ours.eval()
    theirs.eval()
    run_both(ours, theirs, randn(5, 3))  # batch statistics in eval too
    with pytest.raises(ValueError, match="expected 2D or 3D input \\(got 4D input\\)"):
        L.BatchNorm1d(3)(ct.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match="expected 4D input \\(got 3D input\\)"):
        L.BatchNorm2d(3)(ct.randn(2, 3, 4))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        L.BatchNorm1d(3)(ct.randn(1, 3))


def test_normalization_errors():
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(ct.randn(2, 3), (4,))
    with pytest.raises(ValueError, match="divisible by num_groups"):
        F.group_norm(ct.randn(2, 6, 3), 4)
    with pytest.raises(ValueError, match="num_channels must be divisible by num_groups"):
        L.GroupNorm(4, 6)
    with pytest.raises(TypeError, match="weight"):
        F.layer_norm(ct.randn(2, 3), (3,), ct.ones(3, dtype=ct.float64))


def test_normalization_gradchecks():
    x = randn(3, 4, 5)
    gradgradcheck(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), x, randn(4, 5), randn(4, 5))
    gradgradcheck(lambda x, w: F.rms_norm(x, (5,), w), x, randn(5))
    gradgradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), x, randn(4), randn(4))
    gradgradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, randn(4), randn(4))
    mean, var = ct.from_numpy(randn(4)), ct.from_numpy(np.abs(randn(4)) + 0.1)
    gradgradcheck(lambda x, w, b: F.batch_norm(x, mean, var, w, b, training=False), x, randn(4), randn(4))
    gradcheck(lambda x: F.normalize(x, dim=-1), x)


# ---------------------------------------------------------------------- dropout
def test_dropout_statistics_and_mask_consistency():
    ct.manual_seed(0)
    x = ct.from_numpy(randn(400, 500) + 3).requires_grad_()
    out = F.dropout(x, 0.3)
    upstream = randn(400, 500)
    out.backward(ct.from_numpy(upstream))
    kept = out.detach().numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.005
    np.testing.assert_allclose(out.detach().numpy()[kept], x.detach().numpy()[kept] / 0.7, rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, upstream / 0.7, 0), rtol=1e-12)
    ct.manual_seed(0)
    np.testing.assert_array_equal(F.dropout(x, 0.3).detach().numpy(), out.detach().numpy())  # seeded


def test_dropout_modes_and_module():
    x = ct.from_numpy(randn(5, 6))
    layer = L.Dropout(0.5)
    layer.eval()
    assert layer(x) is x
    assert F.dropout(x, 0.0) is x
    assert not np.any(F.dropout(x, 1.0).numpy())
    y = x.clone()
    ct.manual_seed(1)
    returned = F.dropout(y, 0.5, inplace=True)
    assert returned is y and np.all((y.numpy() == 0) | np.isclose(y.numpy(), 2 * x.numpy()))
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1, but got 1.5"):
        L.Dropout(1.5)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(x, -0.1)
    assert repr(L.Dropout2d(0.2, True)) == repr(tnn.Dropout2d(0.2, True))


def test_feature_dropout_zeroes_whole_channels():
    ct.manual_seed(3)
    x = ct.from_numpy(randn(40, 50, 3, 4) + 5).requires_grad_()
    out = L.Dropout2d(0.4)(x)
    out.sum().backward()
    values = out.detach().numpy()
    dropped = np.all(values == 0, axis=(2, 3))
    assert np.all(dropped | np.all(values != 0, axis=(2, 3)))
    assert abs(dropped.mean() - 0.4) < 0.03
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(~dropped[..., None, None] / 0.6, values.shape))
    one = F.dropout1d(ct.from_numpy(randn(30, 8) + 5), 0.5)  # unbatched (C, L): per channel
    assert np.all(np.all(one.numpy() == 0, axis=1) | np.all(one.numpy() != 0, axis=1))
    three = F.dropout3d(ct.from_numpy(randn(2, 30, 2, 2, 2) + 5), 0.5)
    assert np.all(np.all(three.numpy() == 0, axis=(2, 3, 4)) | np.all(three.numpy() != 0, axis=(2, 3, 4)))
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        F.dropout2d(ct.randn(2, 3, 4), 0.5)
    with pytest.raises(ValueError, match="Expected 2D or 3D input"):
        F.dropout1d(ct.randn(2, 3, 4, 5))


def test_dropout_gradcheck_with_fixed_seed():
    def seeded(fn, *args):
        def run(x):
            ct.manual_seed(5)
            return fn(x, *args)
        return run
    gradgradcheck(seeded(F.dropout, 0.4), randn(4, 5))
    gradcheck(seeded(F.dropout2d, 0.5), randn(3, 4, 2, 2))
    gradcheck(seeded(F.dropout1d, 0.5), randn(3, 4, 2))


# ------------------------------------------------------------------- activations
ACTIVATIONS = [
    ("ReLU", ()), ("ReLU6", ()), ("LeakyReLU", (0.2,)), ("ELU", (0.7,)), ("SELU", ()), ("CELU", (2.0,)),
    ("GELU", ()), ("GELU", ("tanh",)), ("SiLU", ()), ("Mish", ()), ("Hardswish", ()), ("Hardsigmoid", ()),
    ("Softplus", (2.0, 5.0)), ("Hardtanh", (-0.5, 2.0)), ("Threshold", (0.1, -2.0)), ("Tanh", ()), ("Sigmoid", ()),
    ("LogSigmoid", ()), ("Softsign", ()), ("Tanhshrink", ()), ("Hardshrink", (0.3,)), ("Softshrink", (0.3,)),
    ("Softmax", (1,)), ("LogSoftmax", (-1,)), ("Softmin", (0,)), ("Softmax2d", ()), ("GLU", (-1,)), ("PReLU", ()),
    ("PReLU", (3, 0.1)),
]


# torch's float64 hardsigmoid backward multiplies by 1/6 rounded to float32
LOOSER = {("Hardsigmoid", np.float64): 1e-7}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args", ACTIVATIONS)
def test_activation_modules_match_torch(name, args, dtype):
    ours, theirs = twins(getattr(L, name), getattr(tnn, name), *args, dtype=dtype)
    assert repr(ours) == repr(theirs)
    run_both(ours, theirs, randn(2, 3, 4, 2, dtype=dtype) * 3, rtol=LOOSER.get((name, dtype)))


def test_activation_inplace_and_rrelu():
    x = ct.from_numpy(randn(3, 4))
    y = x.clone()
    assert L.ReLU(inplace=True)(y) is y and np.all(y.numpy() >= 0)
    assert repr(L.ReLU(True)) == repr(tnn.ReLU(True)) and repr(L.ELU(inplace=True)) == repr(tnn.ELU(inplace=True))
    rrelu = L.RReLU(0.1, 0.3)
    assert repr(rrelu) == repr(tnn.RReLU(0.1, 0.3))
    values = rrelu(ct.from_numpy(-np.ones(1000))).numpy()
    assert values.min() >= -0.3 and values.max() <= -0.1 and values.std() > 0.03
    rrelu.eval()
    np.testing.assert_allclose(rrelu(ct.tensor([-1.0])).numpy(), [-0.2])


# --------------------------------------------------------------------- shapes
def test_flatten_unflatten_upsample():
    for ours, theirs in ((L.Flatten(), tnn.Flatten()), (L.Flatten(0, 1), tnn.Flatten(0, 1)),
                         (L.Unflatten(1, (2, 3)), tnn.Unflatten(1, (2, 3)))):
        assert repr(ours) == repr(theirs)
        shape = (4, 6, 5) if isinstance(ours, L.Unflatten) else (4, 2, 3, 5)
        run_both(ours, theirs, randn(*shape))
    for kwargs in ({"scale_factor": 2}, {"size": (3, 7)}, {"scale_factor": (1.5, 2.0), "mode": "bilinear"},
                   {"size": 5, "mode": "bilinear", "align_corners": True}):
        ours, theirs = L.Upsample(**kwargs), tnn.Upsample(**kwargs)
        assert repr(ours) == repr(theirs)
        run_both(ours, theirs, randn(2, 3, 4, 5))
    for ours, theirs in ((L.UpsamplingNearest2d(scale_factor=2), tnn.UpsamplingNearest2d(scale_factor=2)),
                         (L.UpsamplingBilinear2d(size=7), tnn.UpsamplingBilinear2d(size=7))):
        assert repr(ours) == repr(theirs)
        run_both(ours, theirs, randn(1, 2, 3, 4))


# ----------------------------------------------------------------- reprs, state
def test_reprs_match_torch():
    pairs = [
        (L.Linear(3, 4), tnn.Linear(3, 4)), (L.Bilinear(2, 3, 4, bias=False), tnn.Bilinear(2, 3, 4, bias=False)),
        (L.Identity(), tnn.Identity()),
        (L.Embedding(5, 3, padding_idx=1, max_norm=2.0), tnn.Embedding(5, 3, padding_idx=1, max_norm=2.0)),
        (L.EmbeddingBag(5, 3, mode="max"), tnn.EmbeddingBag(5, 3, mode="max")),
        (L.LayerNorm(4), tnn.LayerNorm(4)), (L.LayerNorm(4, elementwise_affine=False),
                                             tnn.LayerNorm(4, elementwise_affine=False)),
        (L.RMSNorm([3, 4]), tnn.RMSNorm([3, 4])), (L.GroupNorm(2, 4, affine=False), tnn.GroupNorm(2, 4, affine=False)),
        (L.BatchNorm1d(4), tnn.BatchNorm1d(4)), (L.BatchNorm2d(4, momentum=None), tnn.BatchNorm2d(4, momentum=None)),
        (L.Dropout(), tnn.Dropout()), (L.Dropout1d(0.1), tnn.Dropout1d(0.1)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)


def test_state_dict_of_a_model_loads_from_torch():
    def build(nn, layers):
        return nn.Sequential(layers.Embedding(20, 8), layers.LayerNorm(8), layers.Linear(8, 6), layers.GELU(),
                             layers.Dropout(0.0), layers.Linear(6, 3))
    theirs = build(tnn, tnn)
    ours = build(ct.nn, L)
    ours.load_state_dict({k: ct.from_numpy(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.double()
    theirs.double()
    run_both(ours, theirs, RNG.integers(0, 20, (4, 5)))


def test_half_precision_layers_compute_in_float32():
    x = randn(3, 8).astype(np.float32)
    ours, theirs = twins(L.LayerNorm, tnn.LayerNorm, 8, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = ours.bfloat16()(ct.from_numpy(x).bfloat16())
        want = theirs.bfloat16()(torch.from_numpy(x).bfloat16())
    assert out.dtype is ct.bfloat16
    close(out.float(), want.float(), "bfloat16 layer_norm", rtol=1e-2)


def test_linear_and_embedding_gradchecks():
    gradgradcheck(lambda x1, x2, w, b: F.bilinear(x1, x2, w, b), randn(3, 2), randn(3, 4), randn(5, 2, 4), randn(5))
    idx = ct.from_numpy(RNG.integers(0, 6, (2, 5)))
    gradgradcheck(lambda w: F.embedding(idx, w, padding_idx=1, scale_grad_by_freq=True), randn(6, 3))
    offsets = ct.tensor([0, 4, 4])
    flat = ct.from_numpy(RNG.integers(0, 6, 10))
    gradgradcheck(lambda w, s: F.embedding_bag(flat, w, offsets, mode="sum", per_sample_weights=s), randn(6, 3),
                  randn(10))
    gradcheck(lambda w: F.embedding_bag(flat, w, offsets, mode="max"), randn(6, 3))
    gradgradcheck(lambda w: F.embedding_bag(flat, w, offsets, mode="mean", padding_idx=2), randn(6, 3))


def test_layers_are_exported_from_nn():
    for name in L.__all__:
        assert getattr(ct.nn, name) is getattr(L, name), name
        assert hasattr(tnn, name), name  # every layer is torch.nn's
