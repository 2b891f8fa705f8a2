"""The attention kernels behind :func:`cogtensor.nn.functional.scaled_dot_product_attention`
and multi-head attention: softmax(q @ k^T * scale + mask) @ v, forward and backward.

- :func:`attention` records ONE node. The dense kernel keeps the (..., L, S) attention
  probabilities for the backward (dV = P^T dO, dS = P * (dP - rowsum(dP * P)),
  dQ = dS K scale, dK = dS^T Q scale), as torch's math kernel.
- For long sequences the blockwise kernel never holds more than a (block x block) tile of
  scores per batch entry: queries and keys are processed in blocks with an online softmax
  (running max and sum), and only the output and the per-row log-sum-exp are kept; the
  backward recomputes each tile's probabilities from them (the FlashAttention scheme).
  Dropout tiles are drawn from seeded generators, so the backward redraws the same masks.
- When the backward is recorded (``create_graph=True``) it is written with tensor ops
  over recomputed probabilities, so second derivatives are right for both kernels.

Rows whose keys are all masked give zeros when ``safe`` (as torch's scaled_dot_product_attention)
and NaN otherwise (as torch's multi-head attention with ``need_weights=True``).
"""

from __future__ import annotations

import math

import numpy as np

from cogtensor import random
from cogtensor.graph import attach, requires_grad
from cogtensor.nn.functional_misc import keep_scale
from cogtensor.nn.functional_utils import wants
from cogtensor.ops.products import matmul

__all__: list[str] = []

# dense kernel while batch * L * S stays at most this; blockwise tiles hold about BLOCK_ELEMENTS scores
DENSE_LIMIT = 1 << 23
BLOCK_ELEMENTS = 1 << 21


def _quiet():
    return np.errstate(invalid="ignore", divide="ignore", over="ignore")


def _mT(a: np.ndarray) -> np.ndarray:
    return a.swapaxes(-1, -2)


class Mask:
    """What is added to the scores: an additive float array and/or a boolean keep-array (True:
    attend), both broadcastable to (..., L, S), and/or a causal (lower-triangular, top-left) mask."""

    def __init__(self, additive=None, keep=None, causal: bool = False):
        self.additive, self.keep, self.causal = additive, keep, causal

    @staticmethod
    def _rows_cols(a: np.ndarray, rows: slice, cols: slice):
        return a[..., rows if a.shape[-2] != 1 else slice(None), cols if a.shape[-1] != 1 else slice(None)]

    def apply(self, scores: np.ndarray, rows: slice, cols: slice) -> None:
        """Mask a tile of scores (rows x cols of the full L x S) in place."""
        if self.additive is not None:
            scores += self._rows_cols(self.additive, rows, cols)
        if self.keep is not None:
            np.copyto(scores, -np.inf, where=~self._rows_cols(self.keep, rows, cols))
        if self.causal and cols.stop - 1 > rows.start:
            above = np.arange(rows.start, rows.stop)[:, None] < np.arange(cols.start, cols.stop)[None, :]
            np.copyto(scores, -np.inf, where=above)

    def skips(self, rows: slice, cols: slice) -> bool:
        """Whether the causal mask hides the whole tile."""
        return self.causal and cols.start > rows.stop - 1


def _scores(q, k, scale, mask: Mask, rows: slice, cols: slice) -> np.ndarray:
    s = np.matmul(q[..., rows, :], _mT(k[..., cols, :]))
    s *= s.dtype.type(scale)
    mask.apply(s, rows, cols)
    return s


def _softmax_rows(s: np.ndarray, safe: bool) -> np.ndarray:
    """Row softmax of scores in place of ``s``; all -inf rows give 0 (``safe``) or NaN."""
    with _quiet():
        top = s.max(axis=-1, keepdims=True, initial=-np.inf)
        if safe:
            top[~np.isfinite(top)] = 0
        np.subtract(s, top, out=s)
        np.exp(s, out=s)
        total = s.sum(axis=-1, keepdims=True)
        if safe:
            total[total == 0] = 1
        s /= total
    return s


def attention(q, k, v, mask: Mask, scale: float, dropout_p: float = 0.0, need_weights: bool = False,
              safe: bool = True, mask_tensor=None):
    """Attention over tensors q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev)
    (and the (..., L, S) weights after dropout when ``need_weights``); batch dimensions broadcast.

    ``mask_tensor``: the float tensor behind ``mask.additive`` when it needs a gradient."""
    qd, kd, vd = q._data, k._data, v._data
    batch = np.broadcast_shapes(qd.shape[:-2], kd.shape[:-2], vd.shape[:-2])
    length, keys = qd.shape[-2], kd.shape[-2]
    if not need_weights and math.prod(batch) * length * keys > DENSE_LIMIT:
        return _blockwise(q, k, v, mask, scale, dropout_p, safe, mask_tensor, batch)
    return _dense(q, k, v, mask, scale, dropout_p, need_weights, safe, mask_tensor)


# ---------------------------------------------------------------------- dense
def _dense(q, k, v, mask, scale, dropout_p, need_weights, safe, mask_tensor):
    qd, kd, vd = q._data, k._data, v._data
    full = slice(0, qd.shape[-2]), slice(0, kd.shape[-2])
    p = _softmax_rows(_scores(qd, kd, scale, mask, *full), safe)
    drop = keep_scale(p.shape, dropout_p, p.dtype) if dropout_p > 0 else None
    pd = p if drop is None else p * drop
    out = q._wrap(np.matmul(pd, vd))
    inputs = (q, k, v, mask_tensor)
    weights = q._wrap(pd.copy()) if need_weights else None  # the caller may change it; backward reads pd
    if not any(wants(t) for t in inputs):
        return (out, weights) if need_weights else out

    def backward(grads):
        g, gw = grads if need_weights else (grads, None)
        if requires_grad(g, gw, q, k, v, mask_tensor):
            return _recorded_grads(g, gw, q, k, v, mask, scale, drop, safe, mask_tensor)
        gd = g._data
        dpd = np.matmul(gd, _mT(vd))
        if gw is not None:
            dpd += gw._data
        dq, dk, ds = _score_grads(g, dpd, p, drop, qd, kd, scale, q, k, mask_tensor)
        dv = g._wrap(np.matmul(_mT(pd), gd)) if wants(v) else None
        return dq, dk, dv, ds

    result = (out, weights) if need_weights else out
    return attach(result, "ScaledDotProductAttentionBackward0", inputs, backward, saved=(q, k, v))


def _score_grads(g, dpd, p, drop, qd, kd, scale, q, k, mask_tensor):
    """(dq, dk, d scores) from the gradient of the (dropped-out) probabilities (numpy)."""
    dp = dpd if drop is None else dpd * drop
    with _quiet():
        ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    dq = g._wrap(np.matmul(ds, kd) * ds.dtype.type(scale)) if wants(q) else None
    dk = g._wrap(np.matmul(_mT(ds), qd) * ds.dtype.type(scale)) if wants(k) else None
    return dq, dk, (g._wrap(ds) if wants(mask_tensor) else None)


def _recorded_grads(g, gw, q, k, v, mask, scale, drop, safe, mask_tensor):
    """The attention gradients with tensor ops (probabilities recomputed from q, k and the mask)."""
    p = _probabilities(q, k, mask, scale, safe, mask_tensor)
    pd = p if drop is None else p * p._wrap(drop)
    dpd = matmul(g, v.mT)
    if gw is not None:
        dpd = dpd + gw
    dp = dpd if drop is None else dpd * p._wrap(drop)
    ds = p * (dp - (dp * p).sum(-1, keepdim=True))
    dq = matmul(ds, k) * scale if wants(q) else None
    dk = matmul(ds.mT, q) * scale if wants(k) else None
    dv = matmul(pd.mT, g) if wants(v) else None
    return dq, dk, dv, (ds if wants(mask_tensor) else None)


def _probabilities(q, k, mask, scale, safe, mask_tensor):
    """softmax(q k^T scale + mask) as a recorded tensor (all-masked rows: 0 when ``safe``)."""
    s = matmul(q, k.mT) * scale
    if mask_tensor is not None:
        s = s + mask_tensor
    elif mask.additive is not None:
        s = s + s._wrap(mask.additive)
    shape = s._data.shape
    hidden = np.zeros(shape, bool)
    if mask.keep is not None:
        hidden |= ~mask.keep
    if mask.causal:
        hidden |= np.triu(np.ones(shape[-2:], bool), 1)
    hidden |= np.isneginf(s._data)
    dead = np.all(hidden, axis=-1, keepdims=True) if shape[-1] else np.ones(shape[:-1] + (1,), bool)
    if np.any(hidden):
        s = s.masked_fill(s._wrap(hidden & ~dead if safe else hidden), -np.inf)
    if safe and np.any(dead):
        s = s.masked_fill(s._wrap(np.broadcast_to(dead, shape)), 0.0)
    p = _softmax_t(s)
    if safe and np.any(dead):
        p = p.masked_fill(p._wrap(np.broadcast_to(dead, shape)), 0.0)
    return p


def _softmax_t(s):
    from cogtensor.nn.functional import softmax  # the recorded softmax (functional imports this module)
    return softmax(s, -1)


# ------------------------------------------------------------------ blockwise
def block_sizes(batch: int, length: int, keys: int) -> tuple[int, int]:
    """Query and key block sizes that keep a tile near BLOCK_ELEMENTS scores."""
    side = max(16, int(math.sqrt(BLOCK_ELEMENTS / max(batch, 1))))
    return min(side, max(length, 1)), min(side, max(keys, 1))


def _blockwise(q, k, v, mask, scale, dropout_p, safe, mask_tensor, batch, blocks=None):
    qd, kd, vd = (np.broadcast_to(t._data, batch + t._data.shape[-2:]) for t in (q, k, v))
    length, keys = qd.shape[-2], kd.shape[-2]
    bq, bk = blocks or block_sizes(math.prod(batch), length, keys)
    seed = int(random.rng(None).integers(1 << 63)) if dropout_p > 0 else None
    out, lse = _blockwise_forward(qd, kd, vd, mask, scale, dropout_p, seed, bq, bk, safe)
    result = q._wrap(out)
    inputs = (q, k, v, mask_tensor)
    if not any(wants(t) for t in inputs):
        return result

    def backward(g):
        if requires_grad(g, q, k, v, mask_tensor):
            drop = _dense_drop(qd.shape[:-1] + (keys,), dropout_p, seed, bq, bk, qd.dtype) if seed is not None else None
            return _recorded_grads(g, None, q, k, v, mask, scale, drop, safe, mask_tensor)
        gd = np.broadcast_to(g._data, out.shape)
        grads = _blockwise_backward(gd, qd, kd, vd, out, lse, mask, scale, dropout_p, seed, bq, bk,
                                    mask.additive.shape if wants(mask_tensor) else None)
        return tuple(None if gr is None or not wants(t) else g._wrap(gr) for gr, t in zip(grads, inputs))
    return attach(result, "ScaledDotProductEfficientAttentionBackward0", inputs, backward, saved=(q, k, v))


def _tiles(length, keys, bq, bk, mask):
    for qs in range(0, length, bq):
        rows = slice(qs, min(qs + bq, length))
        yield rows, [slice(ks, min(ks + bk, keys)) for ks in range(0, keys, bk)
                     if not mask.skips(rows, slice(ks, min(ks + bk, keys)))]


def _tile_drop(seed, rows, cols, shape, p, dtype):
    generator = np.random.Generator(np.random.PCG64([seed, rows.start, cols.start]))
    return keep_scale(shape, p, dtype, generator)


def _dense_drop(shape, p, seed, bq, bk, dtype):
    """The blockwise kernel's dropout masks assembled into one (..., L, S) array."""
    drop = np.empty(shape, dtype)
    for rows, tiles in _tiles(shape[-2], shape[-1], bq, bk, Mask()):
        for cols in tiles:
            drop[..., rows, cols] = _tile_drop(seed, rows, cols, drop[..., rows, cols].shape, p, dtype)
    return drop


def _blockwise_forward(q, k, v, mask, scale, p, seed, bq, bk, safe):
    """(output, per-row log-sum-exp (+inf for rows with no visible key)) by online softmax."""
    out = np.zeros(q.shape[:-1] + (v.shape[-1],), q.dtype)
    lse = np.full(q.shape[:-1] + (1,), np.inf, q.dtype)
    with _quiet():
        for rows, tiles in _tiles(q.shape[-2], k.shape[-2], bq, bk, mask):
            top = np.full(q.shape[:-2] + (rows.stop - rows.start, 1), -np.inf, q.dtype)
            total = np.zeros_like(top)
            acc = np.zeros(top.shape[:-1] + (v.shape[-1],), q.dtype)
            for cols in tiles:
                s = _scores(q, k, scale, mask, rows, cols)
                new_top = np.maximum(top, s.max(axis=-1, keepdims=True))
                shift = np.where(np.isfinite(new_top), new_top, 0)
                np.exp(s - shift, out=s)
                correction = np.exp(top - shift)
                total = total * correction + s.sum(axis=-1, keepdims=True)
                if seed is not None:
                    s *= _tile_drop(seed, rows, cols, s.shape, p, s.dtype)
                acc = acc * correction + np.matmul(s, v[..., cols, :])
                top = new_top
            empty = total == 0
            out[..., rows, :] = acc / np.where(empty, 1, total) if safe else acc / total
            lse[..., rows, :] = np.where(empty, np.inf, np.where(np.isfinite(top), top, 0) + np.log(total))
    return out, lse


def _blockwise_backward(g, q, k, v, out, lse, mask, scale, p, seed, bq, bk, mask_shape):
    """(dq, dk, dv, d mask) in the broadcast batch shape, one tile of probabilities at a time."""
    dq, dk, dv = np.zeros(q.shape, q.dtype), np.zeros(k.shape, q.dtype), np.zeros(v.shape, q.dtype)
    dmask = np.zeros(mask_shape, q.dtype) if mask_shape is not None else None
    row_dot = np.sum(g * out, axis=-1, keepdims=True)
    with _quiet():
        for rows, tiles in _tiles(q.shape[-2], k.shape[-2], bq, bk, mask):
            g_rows = g[..., rows, :]
            for cols in tiles:
                prob = np.exp(_scores(q, k, scale, mask, rows, cols) - lse[..., rows, :])
                drop = _tile_drop(seed, rows, cols, prob.shape, p, prob.dtype) if seed is not None else None
                dv[..., cols, :] += np.matmul(_mT(prob if drop is None else prob * drop), g_rows)
                dp = np.matmul(g_rows, _mT(v[..., cols, :]))
                if drop is not None:
                    dp *= drop
                ds = prob * (dp - row_dot[..., rows, :])
                ds *= ds.dtype.type(scale)
                dq[..., rows, :] += np.matmul(ds, k[..., cols, :])
                dk[..., cols, :] += np.matmul(_mT(ds), q[..., rows, :])
                if dmask is not None:
                    _add_reduced(dmask, ds / ds.dtype.type(scale), rows, cols)
    return dq, dk, dv, dmask


def _add_reduced(target: np.ndarray, tile: np.ndarray, rows: slice, cols: slice) -> None:
    """Add a (batch, rows, cols) tile of score gradients into a mask gradient of a broadcastable shape."""
    lead = tile.ndim - target.ndim
    if lead:
        tile = tile.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(target.shape) if n == 1 and tile.shape[i] != 1)
    if axes:
        tile = tile.sum(axis=axes, keepdims=True)
    Mask._rows_cols(target, rows, cols)[...] += tile
