"""Attention against torch: scaled_dot_product_attention (masks, causal, scale, grouped-query,
broadcast batches, fully masked rows, dropout), its blockwise kernel for long sequences
(same values and gradients as the dense one, bounded memory), MultiheadAttention and
TransformerEncoderLayer / TransformerEncoder with torch's weights (outputs, input and
parameter gradients, float32 and float64), and float64 gradchecks."""

import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn as tnn
import torch.nn.functional as TF

import cogtensor as ct
import cogtensor.nn.functional as F
import cogtensor.nn.layers as L
from cogtensor.nn import functional_attention_core as core
from layer_reference import close, compare_state, gradcheck, gradgradcheck, leaves, run_both, twins
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

RNG = np.random.default_rng(7)
DTYPES = [np.float32, np.float64]


def randn(*shape, dtype=np.float64):
    return RNG.standard_normal(shape).astype(dtype)


def sdpa_matches(arrays, mask=None, **kwargs):
    """scaled_dot_product_attention on both libraries: output and gradients of q, k, v (and a float mask)."""
    xs, ts = leaves(list(arrays) + [mask])
    out = F.scaled_dot_product_attention(*xs[:3], attn_mask=xs[3], **kwargs)
    want = TF.scaled_dot_product_attention(*ts[:3], attn_mask=ts[3], **kwargs)
    close(out, want, "attention output")
    upstream = RNG.standard_normal(tuple(want.shape)).astype(arrays[0].dtype)
    out.backward(ct.from_numpy(upstream))
    want.backward(torch.from_numpy(upstream))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if t is not None and t.requires_grad:
            close(x.grad, t.grad, f"gradient of input {i}")
    return out


# ------------------------------------------------------------------------ sdpa
@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_matches_torch(dtype):
    q, k, v = randn(2, 3, 5, 4, dtype=dtype), randn(2, 3, 7, 4, dtype=dtype), randn(2, 3, 7, 6, dtype=dtype)
    sdpa_matches((q, k, v))
    sdpa_matches((q, k, v), is_causal=True, scale=0.3)
    sdpa_matches((q, k, v), mask=randn(3, 1, 7, dtype=dtype))  # float mask, broadcast, with a gradient
    keep = RNG.random((5, 7)) > 0.4
    keep[:, 0] = True
    sdpa_matches((q, k, v), mask=keep)
    sdpa_matches((randn(2, 1, 5, 4, dtype=dtype), randn(1, 3, 7, 4, dtype=dtype), randn(3, 7, 4, dtype=dtype)))
    sdpa_matches((randn(5, 4, dtype=dtype), randn(6, 4, dtype=dtype), randn(6, 2, dtype=dtype)), is_causal=True)
    sdpa_matches((randn(2, 6, 5, 4, dtype=dtype), randn(2, 2, 7, 4, dtype=dtype), randn(2, 2, 7, 4, dtype=dtype)),
                 enable_gqa=True)


def test_sdpa_non_contiguous_and_fully_masked_rows():
    q = randn(3, 2, 6, 4).transpose(1, 0, 2, 3)
    sdpa_matches((q, randn(2, 3, 8, 4)[:, :, ::2], randn(2, 3, 4, 5)))
    keep = RNG.random((2, 3, 5, 4)) > 0.3
    keep[:, :, 2] = False  # queries that may attend nothing: zeros, as torch
    out = sdpa_matches((randn(2, 3, 5, 4), randn(2, 3, 4, 4), randn(2, 3, 4, 3)), mask=keep)
    assert not np.any(out.detach().numpy()[:, :, 2])
    minus_inf = np.where(keep, 0.0, -np.inf)
    sdpa_matches((randn(2, 3, 5, 4), randn(2, 3, 4, 4), randn(2, 3, 4, 3)), mask=minus_inf)


def test_sdpa_dropout_statistics_and_consistent_gradients():
    ct.manual_seed(11)
    q = ct.from_numpy(np.zeros((1, 1, 200, 4))).requires_grad_()
    k = ct.from_numpy(np.zeros((1, 1, 200, 4))).requires_grad_()
    v = ct.from_numpy(np.eye(200)[None, None]).requires_grad_()  # the output is the dropped-out weights
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    weights = out.detach().numpy()[0, 0]
    kept = weights != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(weights[kept], 1 / 200 / 0.75)
    upstream = ct.from_numpy(randn(1, 1, 200, 200))
    first = ct.autograd.grad(out, (q, k, v), upstream, retain_graph=True)
    recorded = ct.autograd.grad(out, (q, k, v), upstream, create_graph=True)  # same mask, tensor-op backward
    for a, b in zip(first, recorded):
        close(a, b.detach(), "dropout gradient")
    np.testing.assert_allclose(first[2].numpy()[0, 0], weights.T @ upstream.numpy()[0, 0], rtol=1e-10)
    assert not np.any(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).detach().numpy())


def test_sdpa_gradchecks():
    q, k, v = randn(1, 2, 3, 2), randn(1, 2, 4, 2), randn(1, 2, 4, 3)
    gradgradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), q, k, v, randn(3, 4))
    gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7), q, k, v)

    def dropped(q, k, v):
        ct.manual_seed(2)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)
    gradgradcheck(dropped, q, k, v)


def test_sdpa_errors():
    q = ct.randn(2, 3, 4)
    with pytest.raises(ValueError, match="Explicit attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ct.ones(3, 3, dtype=ct.bool), is_causal=True)
    with pytest.raises(ValueError, match="same last dimension"):
        F.scaled_dot_product_attention(q, ct.randn(2, 3, 5), ct.randn(2, 3, 5))
    with pytest.raises(ValueError, match="does not broadcast"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=ct.ones(4, 3, dtype=ct.bool))
    with pytest.raises(TypeError, match="dtype"):
        F.scaled_dot_product_attention(q, q.double(), q)
    with pytest.raises(ValueError, match="dropout probability"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=2.0)
    with pytest.raises(ValueError, match="must divide the number of heads"):
        F.scaled_dot_product_attention(ct.randn(1, 4, 2, 2), ct.randn(1, 3, 2, 2), ct.randn(1, 3, 2, 2),
                                       enable_gqa=True)


# ------------------------------------------------------------------- blockwise
BLOCKWISE = [(False, None), (True, None), (False, "bool"), (False, "float")]


@pytest.mark.parametrize("causal,mask_kind", BLOCKWISE)
def test_blockwise_matches_dense(causal, mask_kind, monkeypatch):
    """Force the blockwise kernel with small tiles: same values and gradients as the dense one."""
    q, k, v = randn(2, 3, 37, 4), randn(2, 3, 29, 4), randn(2, 3, 29, 5)
    mask = None
    if mask_kind == "bool":
        mask = RNG.random((37, 29)) > 0.3
        mask[5] = False  # a query with no visible key
    elif mask_kind == "float":
        mask = randn(3, 1, 29)
    results = []
    for limit, block in ((1 << 30, 1 << 21), (0, 64)):  # dense, then 8 x 8 tiles
        monkeypatch.setattr(core, "DENSE_LIMIT", limit)
        monkeypatch.setattr(core, "BLOCK_ELEMENTS", block)
        xs, _ = leaves([q, k, v, mask])
        out = F.scaled_dot_product_attention(*xs[:3], attn_mask=xs[3], is_causal=causal, scale=0.4)
        out.backward(ct.from_numpy(np.linspace(-1, 1, out.numel()).reshape(tuple(out.shape))))
        results.append([out] + [x.grad for x in xs if x is not None and x.requires_grad])
    assert results[0][0].grad_fn.name == "ScaledDotProductAttentionBackward0"
    assert results[1][0].grad_fn.name == "ScaledDotProductEfficientAttentionBackward0"
    for dense, blockwise in zip(*results):
        close(blockwise, dense, "blockwise vs dense")


def test_blockwise_gradients_and_dropout_consistency(monkeypatch):
    monkeypatch.setattr(core, "DENSE_LIMIT", 0)
    monkeypatch.setattr(core, "BLOCK_ELEMENTS", 16)
    q, k, v = randn(1, 2, 5, 2), randn(1, 2, 6, 2), randn(1, 2, 6, 3)
    gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), q, k, v)
    gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), q, k, v, randn(2, 1, 6))
    ct.manual_seed(4)
    xs = [ct.from_numpy(a).requires_grad_() for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*xs, dropout_p=0.4)
    assert out.grad_fn.name == "ScaledDotProductEfficientAttentionBackward0"
    upstream = ct.from_numpy(randn(1, 2, 5, 3))
    tiles = ct.autograd.grad(out, xs, upstream, retain_graph=True)
    recorded = ct.autograd.grad(out, xs, upstream, create_graph=True)  # the same masks, redrawn densely
    for a, b in zip(tiles, recorded):
        close(a, b.detach(), "blockwise dropout gradient")


def test_long_sequence_runs_in_bounded_memory():
    """4096 x 4096 scores would take 128 MiB in float64; the blockwise kernel stays far below."""
    length = 4096
    q, k, v = (ct.from_numpy(randn(1, length, 8)) for _ in range(3))
    tracemalloc.start()
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 48 * 2 ** 20, peak
    rows = [0, 1, 2047, 4095]  # spot-check rows against a direct computation
    for r in rows:
        s = q.numpy()[0, r] @ k.numpy()[0, : r + 1].T / np.sqrt(8)
        p = np.exp(s - s.max())
        np.testing.assert_allclose(out.numpy()[0, r], (p / p.sum()) @ v.numpy()[0, : r + 1], rtol=1e-9)


# ------------------------------------------------------------- multi-head attention
MHA_CASES = [
    ({}, {}),
    ({"batch_first": True}, {}),
    ({"bias": False}, {"need_weights": False}),
    ({"add_bias_kv": True, "add_zero_attn": True}, {}),
    ({"kdim": 3, "vdim": 5}, {"average_attn_weights": False}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options,call", MHA_CASES)
def test_multihead_attention_matches_torch(options, call, dtype):
    ours, theirs = twins(L.MultiheadAttention, tnn.MultiheadAttention, 8, 2, dtype=dtype, **options)
    assert repr(ours) == repr(theirs)
    first = options.get("batch_first", False)
    shape = (lambda n, s, e: (n, s, e)) if first else (lambda n, s, e: (s, n, e))
    kdim, vdim = options.get("kdim", 8), options.get("vdim", 8)
    q, k, v = randn(*shape(3, 5, 8), dtype=dtype), randn(*shape(3, 6, kdim), dtype=dtype), \
        randn(*shape(3, 6, vdim), dtype=dtype)
    run_both(ours, theirs, q, k, v, **call)
    if kdim == vdim == 8:  # self-attention: one packed projection
        run_both(ours, theirs, call=lambda m, x: m(x, x, x, **call), *[q])


@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_masks(need_weights):
    ours, theirs = twins(L.MultiheadAttention, tnn.MultiheadAttention, 8, 2, batch_first=True)
    x = randn(3, 5, 8)
    padding = RNG.random((3, 5)) > 0.6
    padding[:, 0] = False
    causal_bool = np.triu(np.ones((5, 5), bool), 1)
    causal_float = np.where(causal_bool, -np.inf, 0.0)
    cases = [
        {"key_padding_mask": padding},
        {"attn_mask": causal_bool},
        {"attn_mask": causal_float, "is_causal": not need_weights},
        {"attn_mask": causal_bool, "key_padding_mask": padding},
        {"attn_mask": randn(6, 5, 5)},  # (N * heads, L, S)
        {"key_padding_mask": np.where(padding, -1e9, 0.0)},
    ]
    for masks in cases:
        names = [n for n in ("attn_mask", "key_padding_mask") if n in masks]

        def call(module, x, *tensors, masks=masks, names=names):
            return module(x, x, x, need_weights=need_weights, is_causal=masks.get("is_causal", False),
                          **dict(zip(names, tensors)))
        run_both(ours, theirs, x, *[masks[n] for n in names], call=call)


def test_multihead_attention_unbatched_eval_and_dropout():
    ours, theirs = twins(L.MultiheadAttention, tnn.MultiheadAttention, 6, 3, dropout=0.5)
    ours.eval()
    theirs.eval()
    run_both(ours, theirs, randn(4, 6), randn(5, 6), randn(5, 6), np.array([0, 0, 1, 0, 1], bool),
             call=lambda m, q, k, v, pad: m(q, k, v, key_padding_mask=pad))
    ours.train()
    ct.manual_seed(0)
    x = ct.from_numpy(np.ones((50, 1, 6)))
    _, weights = ours(x, x, x, average_attn_weights=False)
    kept = weights.detach().numpy() != 0
    assert abs(kept.mean() - 0.5) < 0.05  # dropout on the returned weights, as torch
    with pytest.raises(ValueError, match="embed_dim must be divisible by num_heads"):
        L.MultiheadAttention(7, 2)


def test_multi_head_attention_forward_gradcheck():
    def attend(x, w, b, out_w, out_b, bias_k, bias_v, need_weights):
        key_padding = ct.tensor([[False, False, True], [False, False, False]])
        out, weights = F.multi_head_attention_forward(x, x, x, 4, 2, w, b, bias_k, bias_v, True, 0.0, out_w, out_b,
                                                      key_padding_mask=key_padding, need_weights=need_weights)
        return weights if need_weights else out
    arrays = (randn(3, 2, 4), randn(12, 4), randn(12), randn(4, 4), randn(4), randn(1, 1, 4), randn(1, 1, 4))
    gradcheck(lambda *xs: attend(*xs, need_weights=False), *arrays)
    gradcheck(lambda *xs: attend(*xs, need_weights=True), *arrays)


# ------------------------------------------------------------------- transformer
ENCODER_CASES = [
    {}, {"norm_first": True}, {"activation": "gelu"}, {"batch_first": True, "norm_first": True},
    {"bias": False, "layer_norm_eps": 1e-3},
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", ENCODER_CASES)
def test_transformer_encoder_layer_matches_torch(options, dtype):
    ours, theirs = twins(L.TransformerEncoderLayer, tnn.TransformerEncoderLayer, 8, 2, 16, 0.0, dtype=dtype,
                         **options)
    assert repr(ours) == repr(theirs)
    src = randn(*((3, 5, 8) if options.get("batch_first") else (5, 3, 8)), dtype=dtype)  # batch 3, length 5
    run_both(ours, theirs, src)
    causal = np.triu(np.ones((5, 5), bool), 1)
    padding = np.zeros((3, 5), bool)
    padding[1, 3:] = True
    for mask, pad in ((causal, padding), (np.where(causal, -np.inf, 0).astype(dtype), None),
                      (None, np.where(padding, -np.inf, 0).astype(dtype))):
        run_both(ours, theirs, src, mask, pad, call=lambda m, x, mask, pad: m(x, src_mask=mask,
                                                                                src_key_padding_mask=pad))


def test_transformer_encoder_layer_eval_mode_and_module_activation():
    ours, theirs = twins(L.TransformerEncoderLayer, tnn.TransformerEncoderLayer, 8, 2, 16, 0.3, batch_first=True)
    ours.eval()
    theirs.eval()
    run_both(ours, theirs, randn(2, 4, 8))  # dropout is off in eval mode
    ours.train()
    ct.manual_seed(1)
    x = ct.from_numpy(randn(2, 4, 8))
    assert not np.allclose(ours(x).detach().numpy(), ours(x).detach().numpy())  # fresh masks per call
    with_module = L.TransformerEncoderLayer(8, 2, 16, 0.0, activation=L.GELU())
    assert "activation" in dict(with_module.named_children())
    with pytest.raises(ValueError, match="activation should be relu/gelu, not tanh"):
        L.TransformerEncoderLayer(8, 2, activation="tanh")


@pytest.mark.parametrize("dtype", DTYPES)
def test_transformer_encoder_matches_torch(dtype):
    def build(nn_layers, encoder):
        layer = nn_layers.TransformerEncoderLayer(8, 2, 16, 0.0, batch_first=True, norm_first=True)
        return encoder(layer, 2, norm=nn_layers.LayerNorm(8), enable_nested_tensor=False)
    theirs = build(tnn, tnn.TransformerEncoder).to(torch.float64 if dtype == np.float64 else torch.float32)
    ours = build(L, L.TransformerEncoder).to(ct.float64 if dtype == np.float64 else ct.float32)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.layers[0].linear1.weight is not ours.layers[1].linear1.weight  # deep copies
    ours.load_state_dict({k: ct.from_numpy(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()})
    compare_state(ours, theirs)
    causal = np.triu(np.full((6, 6), -np.inf), 1).astype(dtype)
    src = randn(2, 6, 8, dtype=dtype)
    run_both(ours, theirs, src, causal, call=lambda m, x, mask: m(x, mask=mask))
    run_both(ours, theirs, src, causal, call=lambda m, x, mask: m(x, mask=mask, is_causal=True))
    run_both(ours, theirs, src)
