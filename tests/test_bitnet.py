"""BitNet b1.58 layers (cogtensor.nn.bitnet) and dynamic int8 quantization (cogtensor.nn.quantized.dynamic):
straight-through gradients against a torch implementation of the same formulas, packed ternary
inference against the fake-quantized forward, dynamic quantization against numpy and
torch.ao.quantization, and the bitnet_digits example in a reduced setting."""

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from torch_reference import torch_of  # importing it also makes torch single-threaded here

import cogtensor as ct
from cogtensor import nn, quant
from cogtensor.errors import ShapeError
from cogtensor.nn.bitnet import BitLinear, PackedBitLinear, export_ternary, replace_linear_with_bitlinear
from cogtensor.nn.quantized import DynamicQuantizedLinear, quantize_dynamic
from cogtensor.nn.quantized import QuantizedTensor, quint8

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def data(shape, seed, dtype=np.float32, spread=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * spread).astype(dtype)


# ---- torch reference: the BitNet b1.58 formulas written with torch ops ----

def torch_bitlinear(x, w, b, eps=1e-5, norm_eps=1e-6):
    """RMSNorm (no affine) -> absmax int8 per token -> absmean ternary weights, straight through."""
    xn = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm_eps)
    s_x = xn.abs().amax(-1, keepdim=True).clamp(min=eps) / 127
    x_q = xn + ((xn / s_x).round().clamp(-128, 127) * s_x - xn).detach()
    s_w = w.abs().mean().clamp(min=eps)
    w_q = w + ((w / s_w).round().clamp(-1, 1) * s_w - w).detach()
    return TF.linear(x_q, w_q, b)


def bitlinear_pair(in_features, out_features, bias, dtype, seed):
    ct.manual_seed(seed)
    layer = BitLinear(in_features, out_features, bias=bias, dtype=ct.float64 if dtype == np.float64 else None)
    w = torch_of(layer.weight.detach().numpy()).requires_grad_()
    b = torch_of(layer.bias.detach().numpy()).requires_grad_() if bias else None
    return layer, w, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,out_features,bias", [
    ((5, 16), 7, False), ((2, 3, 13), 4, True), ((1, 1), 1, True), ((4, 64), 33, False)])
def test_bitlinear_forward_and_ste_gradients_match_torch(dtype, shape, out_features, bias):
    layer, w, b = bitlinear_pair(shape[-1], out_features, bias, dtype, seed=sum(shape))
    x_np = data(shape, 1, dtype, spread=2.0)
    g_np = data(shape[:-1] + (out_features,), 2, dtype)
    x = ct.tensor(x_np, requires_grad=True)
    out = layer(x)
    out.backward(ct.tensor(g_np))
    tx = torch_of(x_np).requires_grad_()
    expected = torch_bitlinear(tx, w, b)
    expected.backward(torch_of(g_np))
    tol = TOL[dtype]
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), **tol)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **tol)
    np.testing.assert_allclose(layer.weight.grad.numpy(), w.grad.numpy(), **tol)
    if bias:
        np.testing.assert_allclose(layer.bias.grad.numpy(), b.grad.numpy(), **tol)
    assert out.dtype == x.dtype


def test_bitlinear_gradients_with_non_contiguous_input():
    layer, w, b = bitlinear_pair(6, 5, True, np.float64, seed=3)
    base = data((6, 9), 4, np.float64)
    x = ct.tensor(base, requires_grad=True)
    out = layer(x.mT)  # (9, 6) view with swapped strides
    out.sum().backward()
    tx = torch_of(base).requires_grad_()
    torch_bitlinear(tx.mT, w, b).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad.numpy(), w.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bitlinear_weight_gradient_is_straight_through():
    """d loss / d weight is g.T @ x_q: the quantized weight's gradient, unchanged by the rounding."""
    layer = BitLinear(8, 3)
    x = ct.tensor(data((4, 8), 5))
    g = data((4, 3), 6)
    layer(x).backward(ct.tensor(g))
    x_q = layer.quantized_input(x).detach().numpy()
    np.testing.assert_allclose(layer.weight.grad.numpy(), g.T @ x_q, rtol=1e-5, atol=1e-6)


def test_bitlinear_uses_ternary_weights_and_int8_activations():
    layer = BitLinear(10, 4)
    w_q = layer.quantized_weight().detach().numpy()
    scale = np.abs(layer.weight.detach().numpy()).mean()
    assert set(np.unique(np.round(w_q / scale))) <= {-1.0, 0.0, 1.0}
    x_q = layer.quantized_input(ct.tensor(data((3, 10), 7))).numpy()
    steps = x_q / (np.abs(x_q).max(-1, keepdims=True) / 127)
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)


def test_bitlinear_trains_like_linear():
    ct.manual_seed(0)
    layer = BitLinear(8, 2, bias=True)
    x = ct.tensor(data((64, 8), 8))
    y = ct.tensor((data((64,), 9) > 0).astype(np.int64))
    optimizer = ct.optim.AdamW(layer.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(layer(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_bitlinear_errors_and_repr():
    with pytest.raises(ValueError, match="in_features"):
        BitLinear(0, 3)
    with pytest.raises(TypeError, match="out_features"):
        BitLinear(3, 2.0)
    with pytest.raises(ValueError, match="eps"):
        BitLinear(3, 2, eps=0.0)
    with pytest.raises(ShapeError):
        BitLinear(3, 2)(ct.ones(4, 5))
    with pytest.raises(TypeError, match="nn.Linear"):
        BitLinear.from_float(nn.ReLU())
    assert repr(BitLinear(3, 2)) == "BitLinear(in_features=3, out_features=2, bias=False, eps=1e-05, norm_eps=1e-06)"


# ---- packed ternary inference ----

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,out_features,bias", [
    ((5, 16), 7, False), ((2, 3, 13), 4, True), ((1, 1), 1, True), ((9, 130), 65, False), ((0, 5), 3, True)])
def test_packed_matches_fake_quantized_forward(dtype, shape, out_features, bias):
    layer, _, _ = bitlinear_pair(shape[-1], out_features, bias, dtype, seed=sum(shape) + 1)
    x = ct.tensor(data(shape, 11, dtype, spread=3.0))
    packed = PackedBitLinear.from_float(layer)
    expected = layer(x).detach().numpy()
    got = packed(x)
    assert got.dtype == x.dtype and tuple(got.shape) == expected.shape
    # same int8 activations and ternary weights; only the float sums round differently
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)
    q, _ = quant.absmean_quantize(layer.weight.detach().numpy())
    np.testing.assert_array_equal(packed.ternary_weight().numpy(), q)


def test_packed_layer_state_dict_and_memory():
    layer = BitLinear(256, 64, bias=True)
    packed = PackedBitLinear.from_float(layer)
    assert packed.packed_weight.dtype == ct.uint8 and tuple(packed.packed_weight.shape) == (64, 64)
    assert packed.weight_nbytes() == 64 * 64 + 4  # 16x less than 256 * 64 float32 weights
    fresh = PackedBitLinear(256, 64, bias=True)
    fresh.load_state_dict(packed.state_dict())
    x = ct.tensor(data((3, 256), 12))
    np.testing.assert_array_equal(fresh(x).numpy(), packed(x).numpy())
    assert sorted(packed.state_dict()) == ["bias", "packed_weight", "weight_scale"]


def test_packed_layer_errors():
    packed = PackedBitLinear.from_float(BitLinear(6, 2))
    with pytest.raises(ShapeError, match=r"\(\*, 6\)"):
        packed(ct.ones(3, 5))
    with pytest.raises(ShapeError):
        packed(ct.tensor(1.0))
    with pytest.raises(TypeError, match="Tensor"):
        packed(np.ones((3, 6), np.float32))
    with pytest.raises(TypeError, match="BitLinear"):
        PackedBitLinear.from_float(nn.Linear(6, 2))
    with pytest.raises(ValueError, match="NaN"):
        packed(ct.tensor(np.full((1, 6), np.nan, np.float32)))


def mlp(seed=0):
    ct.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Sequential(nn.Linear(16, 8, bias=False), nn.Tanh()),
                         nn.Linear(8, 3))


def test_replace_linear_with_bitlinear_keeps_weights_and_exact_types():
    model = mlp()
    converted = replace_linear_with_bitlinear(model, exclude=["3"])
    assert [type(m).__name__ for m in converted.modules()] == [
        "Sequential", "BitLinear", "ReLU", "Sequential", "BitLinear", "Tanh", "Linear"]
    assert type(model[0]) is nn.Linear  # the original is untouched without inplace
    np.testing.assert_array_equal(converted[0].weight.detach().numpy(), model[0].weight.detach().numpy())
    np.testing.assert_array_equal(converted[0].bias.detach().numpy(), model[0].bias.detach().numpy())
    assert converted[2][0].bias is None
    assert type(replace_linear_with_bitlinear(nn.Linear(3, 2))) is BitLinear
    attention = nn.MultiheadAttention(8, 2)
    assert type(replace_linear_with_bitlinear(attention).out_proj) is type(attention.out_proj)
    same = replace_linear_with_bitlinear(model, inplace=True)
    assert same is model and type(model[0]) is BitLinear
    with pytest.raises(TypeError, match="Module"):
        replace_linear_with_bitlinear(object())
    with pytest.raises(TypeError, match="exclude"):
        replace_linear_with_bitlinear(mlp(), exclude=[3])


def test_export_ternary_model_matches_fake_quantized_model():
    model = replace_linear_with_bitlinear(mlp(1), exclude={"3"})
    exported = export_ternary(model)
    assert [type(m).__name__ for m in exported.modules()] == [
        "Sequential", "PackedBitLinear", "ReLU", "Sequential", "PackedBitLinear", "Tanh", "Linear"]
    x = ct.tensor(data((2, 7, 12), 13))
    with ct.no_grad():
        np.testing.assert_allclose(exported(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)
    assert type(export_ternary(BitLinear(4, 2))) is PackedBitLinear


# ---- dynamic quantization ----

def reference_dynamic_linear(x, qweight, w_scale, bias):
    """numpy: int8 per-token activations (scale max|x| / 127, round half to even), exact int64 sums."""
    rows = x.reshape(-1, x.shape[-1]).astype(np.float32)
    s_x = np.abs(rows).max(axis=1) / np.float32(127)
    safe = np.where(s_x == 0, np.float32(1), s_x)
    x_q = np.clip(np.rint(rows / safe[:, None]), -127, 127).astype(np.int64)
    acc = x_q @ qweight.astype(np.int64).T
    out = acc.astype(np.float64) * s_x[:, None].astype(np.float64) * w_scale.astype(np.float64)
    if bias is not None:
        out += bias
    return out.reshape(x.shape[:-1] + (qweight.shape[0],))


def torch_dynamic(linear: nn.Linear):
    """torch's dynamic quantized Linear with per-channel weights, on the same float weights."""
    if not {"x86", "fbgemm"} & set(torch.backends.quantized.supported_engines):
        pytest.skip("torch has no x86/fbgemm quantized engine here")
    from torch.ao.quantization import per_channel_dynamic_qconfig
    from torch.ao.quantization import quantize_dynamic as torch_quantize_dynamic
    twin = torch.nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None)
    with torch.no_grad():
        twin.weight.copy_(torch_of(linear.weight.detach().numpy()))
        if linear.bias is not None:
            twin.bias.copy_(torch_of(linear.bias.detach().numpy()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch deprecates torch.ao.quantization and quantized tensors
        return twin, torch_quantize_dynamic(torch.nn.Sequential(twin), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                            dtype=torch.qint8)[0]


@pytest.mark.parametrize("in_features,out_features,bias", [(64, 32, True), (13, 5, False), (1, 1, True)])
def test_dynamic_weights_equal_torch_per_channel(in_features, out_features, bias):
    ct.manual_seed(in_features)
    linear = nn.Linear(in_features, out_features, bias=bias)
    qlinear = DynamicQuantizedLinear.from_float(linear)
    _, theirs = torch_dynamic(linear)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tw = theirs.weight()
    np.testing.assert_array_equal(qlinear.qweight.numpy(), tw.int_repr().numpy())
    np.testing.assert_allclose(qlinear.weight_scale.numpy(), tw.q_per_channel_scales().numpy(), rtol=1e-7)
    assert isinstance(qlinear.weight(), QuantizedTensor)
    np.testing.assert_allclose(qlinear.weight().dequantize().numpy(), tw.dequantize().numpy(), rtol=1e-6)


@pytest.mark.parametrize("shape", [(7, 64), (2, 3, 64), (1, 64), (0, 64)])
def test_dynamic_forward_matches_numpy_reference(shape):
    ct.manual_seed(1)
    linear = nn.Linear(64, 24)
    qlinear = DynamicQuantizedLinear.from_float(linear)
    x = data(shape, 14, spread=2.0)
    if shape[0] > 1:
        x[0] = 0.0  # a zero token: scale 0, output = bias
    got = qlinear(ct.tensor(x))
    expected = reference_dynamic_linear(x, qlinear.qweight.numpy(), qlinear.weight_scale.numpy(),
                                        linear.bias.detach().numpy())
    assert got.dtype == ct.float32 and tuple(got.shape) == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)
    # float64 input: quantized through float32, output float64
    got64 = qlinear(ct.tensor(x.astype(np.float64)))
    assert got64.dtype == ct.float64
    np.testing.assert_allclose(got64.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dynamic_forward_non_contiguous_and_extreme_weights():
    linear = nn.Linear(9, 4)
    with ct.no_grad():
        linear.weight.copy_(ct.tensor(np.array([[1.0, -1.0] * 4 + [1.0]] * 4, np.float32)))  # +-127.5 ties
    qlinear = DynamicQuantizedLinear.from_float(linear)
    assert {-128, 127} & set(np.unique(qlinear.qweight.numpy()).tolist())
    base = data((9, 6), 15)
    got = qlinear(ct.tensor(base).mT)
    expected = reference_dynamic_linear(np.ascontiguousarray(base.T), qlinear.qweight.numpy(),
                                        qlinear.weight_scale.numpy(), linear.bias.detach().numpy())
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_dynamic_forward_close_to_float_and_to_torch():
    """Both ours (int8 per token) and torch's (7-bit uint8 per tensor) stay near the float
    output; ours within the per-element rounding bound, and no less accurate than torch's."""
    ct.manual_seed(2)
    linear = nn.Linear(128, 40)
    qlinear = DynamicQuantizedLinear.from_float(linear)
    twin, theirs = torch_dynamic(linear)
    x = data((50, 128), 16)
    x[::7] *= 20.0  # tokens of very different size: per-token scales pay off
    reference = twin(torch_of(x)).detach().numpy().astype(np.float64)
    ours = qlinear(ct.tensor(x)).numpy()
    torch_out = theirs(torch_of(x)).numpy()
    w = linear.weight.detach().numpy().astype(np.float64)
    w_dq = qlinear.weight().dequantize().numpy().astype(np.float64)
    s_x = np.abs(x).max(axis=1, keepdims=True) / 127
    bound = np.abs(x) @ np.abs(w - w_dq).T + (s_x / 2) * np.abs(w_dq).sum(axis=1)
    assert (np.abs(ours - reference) <= bound * (1 + 1e-4) + 1e-5).all()
    ours_error, torch_error = np.abs(ours - reference).mean(), np.abs(torch_out - reference).mean()
    assert ours_error <= torch_error
    np.testing.assert_allclose(torch_out, reference, atol=0.05 * np.abs(reference).max())


def test_quantize_dynamic_swaps_as_torch():
    model = mlp(3)
    model.add_module("bit", BitLinear(3, 3))
    model.add_module("attention", nn.MultiheadAttention(4, 2))
    quantized = quantize_dynamic(model)
    kinds = [type(m).__name__ for m in quantized.modules()]
    assert kinds.count("DynamicQuantizedLinear") == 3 and "BitLinear" in kinds
    assert type(quantized.attention.out_proj) is type(model.attention.out_proj)  # not a plain Linear
    assert type(model[0]) is nn.Linear  # a copy was converted
    only_inner = quantize_dynamic(mlp(3), {"2"})
    assert [type(m).__name__ for m in only_inner.modules()].count("DynamicQuantizedLinear") == 1
    assert type(only_inner[2][0]) is DynamicQuantizedLinear
    by_type = quantize_dynamic(mlp(3), {nn.Sequential})  # a selected container covers its children
    assert [type(m).__name__ for m in by_type.modules()].count("DynamicQuantizedLinear") == 3
    bare = nn.Linear(3, 2)
    assert quantize_dynamic(bare, inplace=True) is bare  # the root itself is never swapped (torch)
    x = ct.tensor(data((4, 12), 17))
    with ct.no_grad():
        np.testing.assert_allclose(quantize_dynamic(mlp(3))(x).numpy(), mlp(3)(x).numpy(), atol=0.05)


def test_dynamic_state_dict_round_trip_and_empty_layers():
    qlinear = DynamicQuantizedLinear.from_float(nn.Linear(10, 6))
    fresh = DynamicQuantizedLinear(10, 6)
    fresh.load_state_dict(qlinear.state_dict())
    x = ct.tensor(data((3, 10), 18))
    np.testing.assert_array_equal(fresh(x).numpy(), qlinear(x).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # initialising an empty weight warns, as in torch
        no_inputs, no_outputs = nn.Linear(0, 3), nn.Linear(4, 0)
    np.testing.assert_array_equal(DynamicQuantizedLinear.from_float(no_inputs)(ct.ones(2, 0)).numpy(),
                                  np.broadcast_to(no_inputs.bias.detach().numpy(), (2, 3)))
    assert tuple(DynamicQuantizedLinear.from_float(no_outputs)(ct.ones(2, 4)).shape) == (2, 0)


def test_dynamic_errors():
    qlinear = DynamicQuantizedLinear.from_float(nn.Linear(5, 2))
    with pytest.raises(ShapeError, match=r"\(\*, 5\)"):
        qlinear(ct.ones(3, 4))
    with pytest.raises(TypeError, match="float32 or float64"):
        qlinear(ct.ones(3, 5, dtype=ct.float16))
    with pytest.raises(TypeError, match="float32 or float64"):
        qlinear(ct.ones(3, 5, dtype=ct.int64))
    with pytest.raises(ValueError, match="NaN"):
        qlinear(ct.tensor(np.full((1, 5), np.nan, np.float32)))
    with pytest.raises(ValueError, match="qint8"):
        quantize_dynamic(mlp(), dtype=quint8)
    with pytest.raises(TypeError, match="Module"):
        quantize_dynamic([nn.Linear(2, 2)])
    with pytest.raises(TypeError, match="qconfig_spec"):
        quantize_dynamic(mlp(), {3})
    with pytest.raises(TypeError, match="nn.Linear"):
        DynamicQuantizedLinear.from_float(nn.ReLU())
    with pytest.raises(ShapeError):
        qlinear.set_weight_bias(QuantizedTensor.from_float(ct.ones(3, 5)), None)


# ---- the example ----

def load_example(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bitnet_digits_example_reduced():
    metrics = load_example("bitnet_digits").main(["--epochs", "3", "--hidden", "64", "--quiet", "--threads", "1"])
    assert metrics["float_accuracy"] > 0.9
    assert metrics["bitnet_accuracy"] > 0.85
    assert metrics["layer_max_rel_diff"] < 1e-5  # each packed layer = its BitLinear up to float rounding
    assert metrics["packed_agreement"] >= 0.99  # end to end, a rounding flip may move a near tie
    assert abs(metrics["packed_accuracy"] - metrics["bitnet_accuracy"]) <= 1 - metrics["packed_agreement"]
    assert abs(metrics["dynamic_accuracy"] - metrics["float_accuracy"]) <= 0.02
    assert metrics["packed_weight_bytes"] * 15 < metrics["float_weight_bytes"]


def test_bitnet_char_transformer_example_reduced():
    metrics = load_example("bitnet_char_transformer").main(
        ["--steps", "20", "--d-model", "32", "--context", "16", "--layers", "1", "--sample-length", "10",
         "--quiet", "--threads", "1"])
    assert metrics["float_train_loss"] < metrics["initial_loss"]
    assert metrics["bitnet_train_loss"] < metrics["initial_loss"]
    assert metrics["layer_max_rel_diff"] < 1e-5
    assert abs(metrics["packed_val_loss"] - metrics["bitnet_val_loss"]) < 0.02
    assert metrics["sample"].startswith("The old man ") and len(metrics["sample"]) == len("The old man ") + 10
