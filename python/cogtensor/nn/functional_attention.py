"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward`` with torch's
arguments, mask conventions, shapes and errors.

Masks: for ``scaled_dot_product_attention`` a boolean ``attn_mask`` marks the keys a query
MAY attend (True) and a float one is added to the scores; for multi-head attention a
boolean mask marks what may NOT be attended (True), as in torch. The kernels (one graph
node each; blockwise with an online softmax for long sequences) are in
:mod:`cogtensor.nn.functional_attention_core`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, ShapeError
from cogtensor.nn.functional_attention_core import Mask, attention
from cogtensor.nn.functional_utils import check_probability, floating_data, require_tensor, same_dtype, wants
from cogtensor.ops.views import cat

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_HALF = (dtypes.float16, dtypes.bfloat16)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale=None, enable_gqa: bool = False):
    """softmax(query @ key^T * scale + mask) @ value, with dropout on the attention weights.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the
    batch dimensions broadcast. ``scale`` defaults to 1 / sqrt(E).

    Args:
        attn_mask: bool (True: may attend) or float (added), broadcastable to (..., L, S).
        is_causal: query i attends keys 0..i (top-left aligned); not with ``attn_mask``.
        enable_gqa: grouped-query attention: key / value heads (dimension -3) are repeated
            to match the query's.

    Queries that may attend no key give zeros (and zero gradients), as torch.
    Long sequences run blockwise (memory O(L * block), not O(L * S)).

    Raises:
        ShapeError: shapes that do not fit. DTypeError: operands of different dtypes.
        ValueError: ``attn_mask`` together with ``is_causal``; dropout_p outside [0, 1].

    Example:
        >>> q = cogtensor.ones(2, 3, 4)
        >>> scaled_dot_product_attention(q, q, q, is_causal=True).shape
        cogtensor.Size([2, 3, 4])
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        floating_data(t, op, name)
        if t.ndim < 2:
            raise ShapeError(f"{op}: expected {name} of at least 2 dimensions (..., length, features), got shape "
                             f"{list(t.shape)}")
    same_dtype(op, query, ("key", key), ("value", value))
    dropout_p = check_probability(dropout_p, op)
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: Explicit attn_mask should not be set when is_causal=True")
    if enable_gqa:
        key, value = _repeat_heads(query, key, op), _repeat_heads(query, value, op)
    _check_qkv(query, key, value, op)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    dtype = query.dtype
    if dtype in _HALF:  # compute in float32, as torch on CPU
        query, key, value = (t.to(dtypes.float32) for t in (query, key, value))
    mask, mask_tensor = _sdpa_mask(attn_mask, query, key, is_causal, op)
    out = attention(query, key, value, mask, scale, dropout_p, safe=True, mask_tensor=mask_tensor)
    return out.to(dtype) if dtype in _HALF else out


def _check_qkv(query, key, value, op) -> None:
    if key.shape[-1] != query.shape[-1]:
        raise ShapeError(f"{op}: query {list(query.shape)} and key {list(key.shape)} must have the same last "
                         "dimension (features)")
    if key.shape[-2] != value.shape[-2]:
        raise ShapeError(f"{op}: key {list(key.shape)} and value {list(value.shape)} must have the same length "
                         "(dimension -2)")
    try:
        np.broadcast_shapes(*(tuple(t.shape[:-2]) for t in (query, key, value)))
    except ValueError:
        raise ShapeError(f"{op}: the batch dimensions of query {list(query.shape)}, key {list(key.shape)} and value "
                         f"{list(value.shape)} do not broadcast") from None


def _repeat_heads(query, t, op):
    """Key or value heads (dimension -3) repeated to the query's number of heads."""
    if query.ndim < 3 or t.ndim < 3:
        raise ShapeError(f"{op}: enable_gqa needs (..., heads, length, features) operands")
    heads, kv_heads = query.shape[-3], t.shape[-3]
    if kv_heads == heads:
        return t
    if heads % kv_heads:
        raise ShapeError(f"{op}: number of heads in key/value ({kv_heads}) must divide the number of heads in "
                         f"query ({heads})")
    return t.index_select(t.ndim - 3, t._wrap(np.repeat(np.arange(kv_heads), heads // kv_heads)))


def _sdpa_mask(attn_mask, query, key, is_causal, op):
    """(Mask, the float mask tensor when it needs a gradient) from torch's attn_mask conventions."""
    if attn_mask is None:
        return Mask(causal=bool(is_causal)), None
    require_tensor(attn_mask, op, "attn_mask")
    target = tuple(np.broadcast_shapes(tuple(query.shape[:-2]), tuple(key.shape[:-2]))) + (query.shape[-2],
                                                                                          key.shape[-2])
    try:
        fits = np.broadcast_shapes(tuple(attn_mask.shape), target) == target
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{op}: attn_mask of shape {list(attn_mask.shape)} does not broadcast to the attention "
                         f"scores' shape {list(target)}")
    mask = attn_mask if attn_mask.ndim >= 2 else attn_mask.reshape((1,) * (2 - attn_mask.ndim) + tuple(attn_mask.shape))
    if mask.dtype is dtypes.bool:
        return Mask(keep=mask._data), None
    if not mask.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected attn_mask dtype to be bool or float or to match query dtype, got "
                         f"{attn_mask.dtype}")
    if mask.dtype is not query.dtype:
        if mask.dtype in _HALF and query.dtype is dtypes.float32:
            mask = mask.to(dtypes.float32)
        else:
            raise DTypeError(f"{op}: expected attn_mask dtype to be bool or to match query dtype {query.dtype}, got "
                             f"{mask.dtype}")
    return Mask(additive=mask._data), (mask if wants(mask) else None)


# ------------------------------------------------------------ multi-head attention
def _float_mask(mask, name: str, dtype, op: str):
    """torch's _canonical_mask: a bool mask becomes 0 / -inf in ``dtype``; a float one stays."""
    if mask is None:
        return None
    require_tensor(mask, op, name)
    if mask.dtype is dtypes.bool:
        return mask._wrap(np.where(mask._data, -np.inf, 0.0).astype(dtype.numpy))
    if not mask.dtype.is_floating_point:
        raise DTypeError(f"{op}: only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask


def _mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads, op) -> bool:
    """torch's _mha_shape_check: whether the input is batched."""
    if query.ndim not in (2, 3):
        raise ShapeError(f"{op}: query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query "
                         "tensor")
    batched = query.ndim == 3
    if key.ndim != query.ndim or value.ndim != query.ndim:
        raise ShapeError(f"{op}: for {query.ndim}-D query, expected key and value to be {query.ndim}-D but found "
                         f"{key.ndim}-D and {value.ndim}-D tensors respectively")
    if key_padding_mask is not None and key_padding_mask.ndim != query.ndim - 1:
        raise ShapeError(f"{op}: expected key_padding_mask to be None or {query.ndim - 1}-D but found "
                         f"{key_padding_mask.ndim}-D tensor instead")
    if attn_mask is not None and attn_mask.ndim not in (2, 3):
        raise ShapeError(f"{op}: expected attn_mask to be None, 2-D or 3-D but found {attn_mask.ndim}-D tensor "
                         "instead")
    if not batched and attn_mask is not None and attn_mask.ndim == 3 and \
            tuple(attn_mask.shape) != (num_heads, query.shape[0], key.shape[0]):
        raise ShapeError(f"{op}: expected attn_mask shape to be {[num_heads, query.shape[0], key.shape[0]]} but got "
                         f"{list(attn_mask.shape)}")
    return batched


def _in_projection(query, key, value, weight, bias, q_w, k_w, v_w, separate, embed_dim):
    """(q, k, v) projections, as torch's _in_projection_packed / _in_projection."""
    from cogtensor.nn.functional import linear  # functional re-exports this module: import when called
    if separate:
        biases = (None,) * 3 if bias is None else bias.chunk(3)
        return linear(query, q_w, biases[0]), linear(key, k_w, biases[1]), linear(value, v_w, biases[2])
    if key is value and query is key:  # self-attention: one GEMM
        proj = linear(query, weight, bias).unflatten(-1, (3, embed_dim))
        return proj[..., 0, :], proj[..., 1, :], proj[..., 2, :]
    w_q, w_k, w_v = weight.chunk(3)
    b_q, b_k, b_v = (None,) * 3 if bias is None else bias.chunk(3)
    if key is value:
        kv = linear(key, cat([w_k, w_v]), None if bias is None else cat([b_k, b_v])).unflatten(-1, (2, embed_dim))
        return linear(query, w_q, b_q), kv[..., 0, :], kv[..., 1, :]
    return linear(query, w_q, b_q), linear(key, w_k, b_k), linear(value, w_v, b_v)


def multi_head_attention_forward(query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
                                 in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float, out_proj_weight,
                                 out_proj_bias, training: bool = True, key_padding_mask=None, need_weights: bool = True,
                                 attn_mask=None, use_separate_proj_weight: bool = False, q_proj_weight=None,
                                 k_proj_weight=None, v_proj_weight=None, static_k=None, static_v=None,
                                 average_attn_weights: bool = True, is_causal: bool = False):
    """Multi-head attention on sequence-first inputs (torch's functional form of
    ``nn.MultiheadAttention``): query (L, N, E) or (L, E), key / value (S, N, E) or (S, E).

    Returns:
        (output (L, N, E), weights) where weights are None unless ``need_weights``: then
        (N, L, S) averaged over heads (``average_attn_weights``) or (N, num_heads, L, S),
        after dropout, as torch. Boolean masks mark positions NOT to attend.
    """
    op = "multi_head_attention_forward"
    for name, t in (("query", query), ("key", key), ("value", value)):
        floating_data(t, op, name)
    batched = _mha_shapes(query, key, value, key_padding_mask, attn_mask, num_heads, op)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]
    if key_padding_mask is not None and attn_mask is not None and key_padding_mask.dtype is not attn_mask.dtype:
        warnings.warn("Support for mismatched key_padding_mask and attn_mask is deprecated. Use same type for both "
                      "instead.", UserWarning, stacklevel=3)
    key_padding_mask = _float_mask(key_padding_mask, "key_padding_mask", query.dtype, op)
    if is_causal and attn_mask is None:
        raise ValueError("Need attn_mask if specifying the is_causal hint. You may use the Transformer module method "
                         "`generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None
    else:
        attn_mask = _float_mask(attn_mask, "attn_mask", query.dtype, op)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise ShapeError(f"{op}: was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise ShapeError(f"{op}: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if (tuple(key.shape[:2]) != tuple(value.shape[:2])) if use_separate_proj_weight else \
            (tuple(key.shape) != tuple(value.shape)):
        raise ShapeError(f"{op}: key shape {list(key.shape)} does not match value shape {list(value.shape)}")
    if not use_separate_proj_weight and in_proj_weight is None:
        raise ValueError(f"{op}: use_separate_proj_weight is False but in_proj_weight is None")
    if use_separate_proj_weight and (q_proj_weight is None or k_proj_weight is None or v_proj_weight is None):
        raise ValueError(f"{op}: use_separate_proj_weight is True but q_proj_weight, k_proj_weight or v_proj_weight "
                         "is None")
    q, k, v = _in_projection(query, key, value, in_proj_weight, in_proj_bias, q_proj_weight, k_proj_weight,
                             v_proj_weight, use_separate_proj_weight, embed_dim)
    attn_mask = _mha_attn_mask(attn_mask, tgt_len, src_len, bsz, num_heads, op)
    k, v, attn_mask, key_padding_mask = _add_bias_kv(k, v, bias_k, bias_v, attn_mask, key_padding_mask, bsz,
                                                     static_k, static_v, op)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = _heads(k, static_k, bsz, num_heads, head_dim, "static_k", op)
    v = _heads(v, static_v, bsz, num_heads, head_dim, "static_v", op)
    if add_zero_attn:
        zeros = k._wrap(np.zeros((bsz * num_heads, 1, head_dim), k._data.dtype))
        k, v = cat([k, zeros], 1), cat([v, zeros], 1)
        attn_mask = None if attn_mask is None else _pad_last(attn_mask)
        key_padding_mask = None if key_padding_mask is None else _pad_last(key_padding_mask)
    src_len = k.shape[1]
    attn_mask = _merge_padding(attn_mask, key_padding_mask, bsz, num_heads, src_len, op)
    dropout_p = check_probability(dropout_p, op) if training else 0.0
    return _attend(q, k, v, attn_mask, is_causal, dropout_p, need_weights, average_attn_weights, out_proj_weight,
                   out_proj_bias, (tgt_len, bsz, num_heads, head_dim, batched))


def _mha_attn_mask(attn_mask, tgt_len, src_len, bsz, num_heads, op):
    if attn_mask is None:
        return None
    if attn_mask.ndim == 2:
        if tuple(attn_mask.shape) != (tgt_len, src_len):
            raise ShapeError(f"{op}: The shape of the 2D attn_mask is {list(attn_mask.shape)}, but should be "
                             f"{[tgt_len, src_len]}.")
        return attn_mask.unsqueeze(0)
    if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
        raise ShapeError(f"{op}: The shape of the 3D attn_mask is {list(attn_mask.shape)}, but should be "
                         f"{[bsz * num_heads, tgt_len, src_len]}.")
    return attn_mask


def _pad_last(mask):
    """One more key position (never masked) at the end of the last dimension."""
    zeros = mask._wrap(np.zeros(tuple(mask.shape[:-1]) + (1,), mask._data.dtype))
    return cat([mask, zeros], -1)


def _add_bias_kv(k, v, bias_k, bias_v, attn_mask, key_padding_mask, bsz, static_k, static_v, op):
    if (bias_k is None) != (bias_v is None):
        raise ValueError(f"{op}: bias_k and bias_v must be given together")
    if bias_k is None:
        return k, v, attn_mask, key_padding_mask
    if static_k is not None or static_v is not None:
        raise ValueError(f"{op}: bias cannot be added to a static key or value.")
    k = cat([k, bias_k.expand(1, bsz, bias_k.shape[-1])])
    v = cat([v, bias_v.expand(1, bsz, bias_v.shape[-1])])
    return (k, v, None if attn_mask is None else _pad_last(attn_mask),
            None if key_padding_mask is None else _pad_last(key_padding_mask))


def _heads(t, static, bsz, num_heads, head_dim, name, op):
    """(S, N, E) -> (N * heads, S, head_dim), or the given static (N * heads, S, head_dim) tensor."""
    if static is None:
        return t.reshape(t.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    if static.ndim != 3 or static.shape[0] != bsz * num_heads or static.shape[2] != head_dim:
        raise ShapeError(f"{op}: expecting {name} of shape ({bsz * num_heads}, S, {head_dim}), got "
                         f"{list(static.shape)}")
    return static


def _merge_padding(attn_mask, key_padding_mask, bsz, num_heads, src_len, op):
    if key_padding_mask is None:
        return attn_mask
    if tuple(key_padding_mask.shape) != (bsz, src_len):
        raise ShapeError(f"{op}: expected key_padding_mask of shape {[bsz, src_len]}, got "
                         f"{list(key_padding_mask.shape)}")
    padding = key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
    padding = padding.reshape(bsz * num_heads, 1, src_len)
    return padding if attn_mask is None else attn_mask + padding


def _attend(q, k, v, attn_mask, is_causal, dropout_p, need_weights, average, out_w, out_b, dims):
    """Attention over (N * heads, L, head_dim) operands, then the output projection."""
    from cogtensor.nn.functional import linear
    tgt_len, bsz, num_heads, head_dim, batched = dims
    embed_dim = num_heads * head_dim
    src_len = k.shape[1]
    scale = 1.0 / math.sqrt(head_dim)
    if need_weights:
        mask = Mask(additive=None if attn_mask is None else attn_mask._data)
        out, weights = attention(q, k, v, mask, scale, dropout_p, need_weights=True, safe=False,
                                 mask_tensor=attn_mask if wants(attn_mask) else None)
        out = linear(out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim), out_w, out_b)
        out = out.reshape(tgt_len, bsz, out.shape[1])
        weights = weights.reshape(bsz, num_heads, tgt_len, src_len)
        if average:
            weights = weights.mean(1)
        return (out, weights) if batched else (out.squeeze(1), weights.squeeze(0))
    if attn_mask is not None:
        attn_mask = attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1 else \
            attn_mask.reshape(bsz, num_heads, -1, src_len)
    mask = Mask(additive=None if attn_mask is None else attn_mask._data, causal=bool(is_causal))
    q4 = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k4 = k.reshape(bsz, num_heads, src_len, head_dim)
    v4 = v.reshape(bsz, num_heads, src_len, head_dim)
    out = attention(q4, k4, v4, mask, scale, dropout_p, safe=True,
                    mask_tensor=attn_mask if wants(attn_mask) else None)
    out = linear(out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim), out_w, out_b)
    out = out.reshape(tgt_len, bsz, out.shape[1])
    return (out, None) if batched else (out.squeeze(1), None)
