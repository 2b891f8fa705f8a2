"""Convolution, padding, pooling and interpolation (functional forms and layers) against torch:
values, input and weight gradients in float32 and float64 over strides, paddings ('same',
'valid', asymmetric), dilations, groups, unbatched and non-contiguous inputs; float64
gradchecks (and second-order checks) of every functional form; torch's errors."""

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import cogtensor as ct
import cogtensor.nn.functional as F
import cogtensor.nn.layers as L
from layer_reference import close, gradcheck, gradgradcheck, leaves, run_both, twins
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

RNG = np.random.default_rng(99)
DTYPES = [np.float32, np.float64]


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def functional_matches(name, arrays, seed=0, **kwargs):
    """F.<name>(*arrays, **kwargs) on both libraries: values and gradients of every floating input."""
    xs, ts = leaves(arrays)
    out = getattr(F, name)(*xs, **kwargs)
    want = getattr(TF, name)(*ts, **kwargs)
    if isinstance(want, tuple):  # (values, indices)
        np.testing.assert_array_equal(out[1].numpy(), want[1].numpy())
        out, want = out[0], want[0]
    close(out, want, f"{name} forward")
    upstream = np.random.default_rng(seed).standard_normal(tuple(want.shape)).astype(arrays[0].dtype)
    out.backward(ct.from_numpy(upstream))
    want.backward(torch.from_numpy(upstream))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t is not None and t.requires_grad:
            close(x.grad, t.grad, f"{name} gradient of input {i}")


# ----------------------------------------------------------------- convolution
CONV2D = [
    ((2, 4, 7, 6), (6, 4, 3, 3), {}),
    ((2, 4, 7, 6), (6, 2, 3, 2), {"stride": (2, 1), "padding": 1, "dilation": (1, 2), "groups": 2}),
    ((2, 4, 7, 6), (4, 1, 3, 3), {"padding": "same", "groups": 4}),
    ((1, 3, 8, 8), (5, 3, 4, 2), {"padding": "same", "dilation": 2}),  # even kernels: padding at the end
    ((3, 2, 5, 5), (2, 2, 2, 2), {"padding": "valid", "stride": 3}),
    ((4, 7, 6), (6, 4, 3, 3), {"padding": (2, 0)}),  # unbatched
    ((0, 4, 7, 6), (6, 4, 3, 3), {}),  # empty batch
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape,kwargs", CONV2D)
def test_conv2d_matches_torch(x_shape, w_shape, kwargs, dtype):
    bias = randn(w_shape[0], dtype=dtype)
    functional_matches("conv2d", [randn(*x_shape, dtype=dtype), randn(*w_shape, dtype=dtype), bias], **kwargs)
    functional_matches("conv2d", [randn(*x_shape, dtype=dtype), randn(*w_shape, dtype=dtype)], **kwargs)


def test_conv2d_non_contiguous_input_and_weight():
    x = randn(2, 8, 9, 6)[:, ::2, 1:, ::-1].transpose(0, 1, 3, 2)
    w = randn(5, 4, 3, 3).transpose(0, 1, 3, 2)
    functional_matches("conv2d", [x, w, randn(5)], stride=2, padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 2, "groups": 2}, {"padding": "same", "dilation": 3},
                                    {"padding": "valid"}])
def test_conv1d_matches_torch(kwargs, dtype):
    functional_matches("conv1d", [randn(2, 4, 11, dtype=dtype), randn(6, 4 // kwargs.get("groups", 1), 3, dtype=dtype),
                                  randn(6, dtype=dtype)], **kwargs)
    functional_matches("conv1d", [randn(4, 11, dtype=dtype), randn(6, 4 // kwargs.get("groups", 1), 3, dtype=dtype)],
                       **kwargs)


TRANSPOSED = [
    ((2, 4, 5, 4), (4, 3, 3, 3), {}),
    ((2, 4, 5, 4), (4, 3, 3, 2), {"stride": (2, 3), "padding": 1, "output_padding": (1, 2), "groups": 2,
                                  "dilation": (1, 2)}),
    ((2, 4, 3, 3), (4, 2, 2, 2), {"stride": 2, "output_padding": 1, "dilation": 2}),
    ((4, 3, 3), (4, 2, 3, 3), {"padding": (1, 0)}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,w_shape,kwargs", TRANSPOSED)
def test_conv_transpose2d_matches_torch(x_shape, w_shape, kwargs, dtype):
    out_channels = w_shape[1] * kwargs.get("groups", 1)
    functional_matches("conv_transpose2d", [randn(*x_shape, dtype=dtype), randn(*w_shape, dtype=dtype),
                                            randn(out_channels, dtype=dtype)], **kwargs)


def test_conv_transpose1d_matches_torch():
    functional_matches("conv_transpose1d", [randn(2, 4, 6), randn(4, 3, 3), randn(3)], stride=2, padding=1,
                       output_padding=1)
    functional_matches("conv_transpose1d", [randn(4, 6), randn(4, 1, 2)], groups=2, dilation=2)


def test_unfold_fold_match_torch():
    functional_matches("unfold", [randn(2, 3, 6, 5)], kernel_size=(2, 3), dilation=(2, 1), padding=1, stride=(1, 2))
    functional_matches("unfold", [randn(3, 5, 5)], kernel_size=2)
    functional_matches("fold", [randn(2, 12, 9)], output_size=(4, 5), kernel_size=2, stride=2, padding=1)
    functional_matches("fold", [randn(12, 6)], output_size=(4, 5), kernel_size=(3, 2), dilation=(1, 2))


def test_convolution_gradchecks():
    gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2), randn(2, 4, 5, 5),
                  randn(6, 2, 3, 3), randn(6))
    gradgradcheck(lambda x, w: F.conv2d(x, w, padding="same", dilation=2), randn(1, 2, 4, 4), randn(3, 2, 2, 3))
    gradgradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2),
                  randn(2, 4, 3, 3), randn(4, 3, 3, 3), randn(6))
    gradcheck(lambda x, w: F.conv1d(x, w, stride=2, padding=1), randn(2, 3, 7), randn(4, 3, 3))
    gradcheck(lambda x, w: F.conv_transpose1d(x, w, stride=2), randn(2, 3, 4), randn(3, 2, 3))
    gradgradcheck(lambda x: F.unfold(x, 2, padding=1, stride=(1, 2)), randn(1, 2, 4, 3))
    gradgradcheck(lambda x: F.fold(x, (3, 4), 2, padding=1), randn(1, 8, 20))


def test_convolution_errors():
    x, w = ct.randn(2, 4, 6, 6), ct.randn(6, 4, 3, 3)
    with pytest.raises(ValueError, match="expected input .* to have 8 channels, but got 4"):
        F.conv2d(x, ct.randn(6, 8, 3, 3))
    with pytest.raises(ValueError, match="to be divisible by 4 at dimension 0"):
        F.conv2d(x, ct.randn(6, 1, 3, 3), groups=4)
    with pytest.raises(RuntimeError, match="negative padding is not supported"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(RuntimeError, match="padding='same' is not supported for strided convolutions"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="Invalid padding string|invalid padding string"):
        F.conv2d(x, w, padding="full")
    with pytest.raises(ValueError, match="too small"):
        F.conv2d(x, ct.randn(6, 4, 7, 7))
    with pytest.raises(ValueError, match="expected 3D \\(unbatched\\) or 4D \\(batched\\) input"):
        F.conv2d(ct.randn(6, 6), w)
    with pytest.raises(TypeError, match="weight"):
        F.conv2d(x, w.double())
    with pytest.raises(ValueError, match="bias"):
        F.conv2d(x, w, ct.randn(5))
    with pytest.raises(TypeError, match="floating point"):
        F.conv2d(ct.ones(1, 1, 3, 3, dtype=ct.int64), ct.ones(1, 1, 1, 1, dtype=ct.int64))
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        F.conv_transpose2d(x, ct.randn(4, 2, 3, 3), output_padding=1)
    with pytest.raises(ValueError, match="divisible by the product of kernel_size"):
        F.fold(ct.randn(1, 5, 4), (3, 3), 2)


# ---------------------------------------------------------------------- layers
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_layers_match_torch(dtype):
    cases = [
        (L.Conv2d, tnn.Conv2d, (3, 6, 3), {"padding": 1}, (2, 3, 7, 7)),
        (L.Conv2d, tnn.Conv2d, (4, 6, (3, 2)), {"stride": 2, "groups": 2, "bias": False}, (2, 4, 7, 6)),
        (L.Conv2d, tnn.Conv2d, (3, 4, 3), {"padding": "same", "padding_mode": "reflect"}, (2, 3, 5, 6)),
        (L.Conv2d, tnn.Conv2d, (3, 4, 2), {"padding": 1, "padding_mode": "circular"}, (2, 3, 5, 6)),
        (L.Conv2d, tnn.Conv2d, (3, 4, 3), {"padding": (1, 2), "padding_mode": "replicate"}, (3, 5, 6)),
        (L.Conv1d, tnn.Conv1d, (3, 4, 3), {"dilation": 2, "padding": "same"}, (2, 3, 9)),
        (L.Conv1d, tnn.Conv1d, (3, 4, 3), {"padding": 2, "padding_mode": "reflect"}, (2, 3, 9)),
        (L.ConvTranspose2d, tnn.ConvTranspose2d, (4, 6, 3), {"stride": 2, "output_padding": 1, "groups": 2},
         (2, 4, 4, 5)),
        (L.ConvTranspose1d, tnn.ConvTranspose1d, (4, 2, 3), {"stride": 3, "padding": 1}, (2, 4, 5)),
    ]
    for ours_cls, torch_cls, args, kwargs, shape in cases:
        ours, theirs = twins(ours_cls, torch_cls, *args, dtype=dtype, **kwargs)
        assert repr(ours) == repr(theirs)
        run_both(ours, theirs, randn(*shape, dtype=dtype))


def test_conv_transpose_output_size():
    ours, theirs = twins(L.ConvTranspose2d, tnn.ConvTranspose2d, 2, 3, 3, stride=2, padding=1)
    for size in ((9, 10), (2, 3, 10, 9), (10, 10)):
        run_both(ours, theirs, randn(2, 2, 5, 5), output_size=size)
    with pytest.raises(ValueError, match="requested an output size of"):
        ours(ct.randn(2, 2, 5, 5), output_size=(12, 12))


def test_conv_layer_argument_errors():
    with pytest.raises(ValueError, match="in_channels must be divisible by groups"):
        L.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups"):
        L.Conv2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        L.Conv2d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        L.Conv2d(4, 4, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported'):
        L.ConvTranspose2d(4, 4, 3, padding_mode="reflect")


# ------------------------------------------------------------------------- pad
@pytest.mark.parametrize("mode,pad", [("constant", (1, 2, -1, 1)), ("constant", (0, 0, 2, 1, 1, 1)),
                                      ("reflect", (2, 1, 1, 2)), ("replicate", (2, 1, 1, 2)),
                                      ("circular", (2, 1, 1, 2)), ("circular", (-1, 2)), ("reflect", (2, 3))])
def test_pad_matches_torch(mode, pad):
    kwargs = {"value": 2.5} if mode == "constant" else {}
    shape = (2, 3, 4, 5) if mode == "constant" else (2, 3, 4, 5)[2 - len(pad) // 2:]  # batch, channels, padded dims
    functional_matches("pad", [randn(*shape)], pad=pad, mode=mode, **kwargs)
    gradgradcheck(lambda x: F.pad(x, pad, mode=mode), randn(*shape))


def test_pad_errors():
    x = ct.randn(1, 2, 3)
    with pytest.raises(ValueError, match="Padding length must be divisible by 2"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="less than or equal to two times the input dimension"):
        F.pad(x, (1,) * 8)
    with pytest.raises(RuntimeError, match="Padding size should be less than the corresponding input dimension"):
        F.pad(x, (3, 3), mode="reflect")
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        F.pad(x, (4, 4), mode="circular")
    with pytest.raises(ValueError, match="doesn't take in value argument"):
        F.pad(x, (1, 1), mode="reflect", value=1.0)
    with pytest.raises(NotImplementedError, match="padding size 2 is not supported for 1D input"):
        F.pad(ct.randn(3), (1, 1), mode="reflect")


# --------------------------------------------------------------------- pooling
POOLS = [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
         {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 1)}]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", POOLS)
def test_max_pool_matches_torch(kwargs, dtype):
    functional_matches("max_pool2d", [randn(2, 3, 7, 8, dtype=dtype)], return_indices=True, dilation=(1, 2)
                       if kwargs.get("padding", 0) == 0 else 1, **kwargs)
    functional_matches("max_pool2d", [randn(3, 7, 8, dtype=dtype)], **kwargs)
    one_d = {k: (v[0] if isinstance(v, tuple) else v) for k, v in kwargs.items()}
    functional_matches("max_pool1d", [randn(2, 3, 9, dtype=dtype)], return_indices=True, **one_d)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", POOLS + [{"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True,
                                             "count_include_pad": False},
                                            {"kernel_size": (2, 3), "padding": (1, 1), "divisor_override": 5}])
def test_avg_pool_matches_torch(kwargs, dtype):
    functional_matches("avg_pool2d", [randn(2, 3, 7, 8, dtype=dtype)], **kwargs)
    one_d = {k: (v[0] if isinstance(v, tuple) else v) for k, v in kwargs.items() if k != "divisor_override"}
    functional_matches("avg_pool1d", [randn(2, 3, 9, dtype=dtype)], **one_d)


@pytest.mark.parametrize("dtype", DTYPES)
def test_adaptive_avg_pool_matches_torch(dtype):
    for size in (1, (3, 5), (None, 2), 4, (7, 8), (9, 11)):
        functional_matches("adaptive_avg_pool2d", [randn(2, 3, 7, 8, dtype=dtype)], output_size=size)
    functional_matches("adaptive_avg_pool2d", [randn(3, 7, 8, dtype=dtype)], output_size=(2, 3))
    functional_matches("adaptive_avg_pool1d", [randn(2, 3, 9, dtype=dtype)], output_size=4)


def test_non_contiguous_inputs():
    x = randn(3, 2, 9, 8).transpose(1, 0, 3, 2)[:, :, ::2]  # (2, 3, 4, 9), strided
    functional_matches("max_pool2d", [x], kernel_size=2, return_indices=True)
    functional_matches("avg_pool2d", [x], kernel_size=(2, 3), padding=1)
    functional_matches("adaptive_avg_pool2d", [x], output_size=(3, 2))
    functional_matches("interpolate", [x], scale_factor=1.5, mode="bilinear")
    functional_matches("pad", [x], pad=(1, 2, 2, 1), mode="reflect")
    functional_matches("conv_transpose2d", [x, randn(3, 2, 2, 2)], stride=2)


def test_pool_layers_match_torch():
    pairs = [(L.MaxPool2d(2), tnn.MaxPool2d(2)), (L.MaxPool2d(3, 2, 1, ceil_mode=True),
                                                  tnn.MaxPool2d(3, 2, 1, ceil_mode=True)),
             (L.AvgPool2d(2, count_include_pad=False), tnn.AvgPool2d(2, count_include_pad=False)),
             (L.AdaptiveAvgPool2d((2, None)), tnn.AdaptiveAvgPool2d((2, None)))]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        run_both(ours, theirs, randn(2, 3, 6, 7))
    for ours, theirs in ((L.MaxPool1d(3, 2), tnn.MaxPool1d(3, 2)), (L.AvgPool1d(3), tnn.AvgPool1d(3)),
                         (L.AdaptiveAvgPool1d(4), tnn.AdaptiveAvgPool1d(4))):
        assert repr(ours) == repr(theirs)
        run_both(ours, theirs, randn(2, 3, 10))
    out, indices = L.MaxPool2d(2, return_indices=True)(ct.from_numpy(randn(1, 2, 4, 4)))
    assert indices.dtype is ct.int64 and tuple(indices.shape) == (1, 2, 2, 2)


def test_pooling_gradchecks_and_errors():
    gradgradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), randn(2, 2, 5, 6))
    gradgradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), randn(2, 2, 5, 6))
    gradgradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), randn(1, 2, 5, 6))
    gradcheck(lambda x: F.max_pool1d(x, 2), randn(2, 2, 7))
    gradcheck(lambda x: F.avg_pool1d(x, 3, 2, 1, ceil_mode=True), randn(2, 2, 7))
    gradcheck(lambda x: F.adaptive_avg_pool1d(x, 3), randn(2, 2, 7))
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel size"):
        F.max_pool2d(ct.randn(1, 1, 4, 4), 2, padding=2)
    with pytest.raises(ValueError, match="too small"):
        F.max_pool2d(ct.randn(1, 1, 2, 2), 3)
    with pytest.raises(RuntimeError, match="divisor must be not zero"):
        F.avg_pool2d(ct.randn(1, 1, 4, 4), 2, divisor_override=0)


# ------------------------------------------------------------------ interpolate
INTERPOLATIONS = [
    {"scale_factor": 2}, {"size": (5, 11)}, {"scale_factor": (1.7, 0.6)}, {"size": (5, 11), "mode": "nearest-exact"},
    {"scale_factor": 1.3, "mode": "nearest-exact"}, {"size": (5, 11), "mode": "bilinear"},
    {"size": (5, 11), "mode": "bilinear", "align_corners": True}, {"scale_factor": (1.7, 0.6), "mode": "bilinear"},
    {"size": (3, 4), "mode": "area"}, {"scale_factor": 2.5, "mode": "bilinear", "recompute_scale_factor": True},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kwargs", INTERPOLATIONS)
def test_interpolate_matches_torch(kwargs, dtype):
    functional_matches("interpolate", [randn(2, 3, 4, 7, dtype=dtype)], **kwargs)


def test_interpolate_1d_3d_gradchecks_and_errors():
    functional_matches("interpolate", [randn(2, 3, 4)], size=7, mode="linear")
    functional_matches("interpolate", [randn(2, 3, 5)], scale_factor=3)
    functional_matches("interpolate", [randn(1, 2, 4, 3, 4)], scale_factor=(2, 1.5, 0.5), mode="trilinear")
    functional_matches("interpolate", [randn(1, 2, 4, 3, 4)], size=(2, 2, 3), mode="area")
    gradgradcheck(lambda x: F.interpolate(x, size=(7, 4), mode="bilinear"), randn(1, 2, 3, 5))
    gradcheck(lambda x: F.interpolate(x, scale_factor=2), randn(1, 2, 3, 3))
    x = ct.randn(1, 1, 4, 4)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, scale_factor=2, align_corners=True)
    with pytest.raises(NotImplementedError, match="bilinear mode needs 4D input"):
        F.interpolate(ct.randn(1, 1, 4), scale_factor=2, mode="bilinear")
    with pytest.raises(NotImplementedError, match="bicubic"):
        F.interpolate(x, scale_factor=2, mode="bicubic")


# ------------------------------------------------------------------ half types
HALF_CASES = [
    ("conv2d", lambda m, x, w: m.conv2d(x, w, padding=1)),
    ("conv_transpose2d", lambda m, x, w: m.conv_transpose2d(x, w.transpose(0, 1), stride=2)),
    ("max_pool2d", lambda m, x, w: m.max_pool2d(x, 2)),
    ("avg_pool2d", lambda m, x, w: m.avg_pool2d(x, 3, 1, 1)),
    ("adaptive_avg_pool2d", lambda m, x, w: m.adaptive_avg_pool2d(x, (2, 3))),
    ("interpolate", lambda m, x, w: m.interpolate(x, scale_factor=1.5, mode="bilinear")),
    ("layer_norm", lambda m, x, w: m.layer_norm(x, (6,))),
    ("rms_norm", lambda m, x, w: m.rms_norm(x, (6,))),
    ("group_norm", lambda m, x, w: m.group_norm(x, 3)),
    ("scaled_dot_product_attention", lambda m, x, w: m.scaled_dot_product_attention(x, x, x, is_causal=True)),
]


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
@pytest.mark.parametrize("name,fn", HALF_CASES)
def test_half_precision_computes_in_float32_as_torch(name, fn, dtype):
    x, w = RNG.random((2, 3, 6, 6), dtype=np.float32), RNG.random((4, 3, 3, 3), dtype=np.float32)
    ours = fn(F, ct.from_numpy(x).to(getattr(ct, dtype)), ct.from_numpy(w).to(getattr(ct, dtype)))
    want = fn(TF, torch.from_numpy(x).to(getattr(torch, dtype)), torch.from_numpy(w).to(getattr(torch, dtype)))
    assert ours.dtype is getattr(ct, dtype)
    ulp = 2.0 ** (-8 if dtype == "bfloat16" else -11)  # half a unit in the last place at 1
    close(ours.float(), want.float(), name, rtol=2 * ulp)
