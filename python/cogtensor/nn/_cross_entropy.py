"""cross_entropy and nll_loss with class-index targets, each one graph node.

The input (C,), (N, C) or (N, C, d1, ...) is viewed as rows (M, C) with the classes last,
and the targets as (M,). cross_entropy fuses a stable log-softmax (the row maximum
subtracted first) with the negative log-likelihood in numpy; its gradient is the softmax
minus the (weighted, smoothed) one-hot target, scaled by the row's share of the output
gradient. The backward runs in numpy from the softmax kept by the forward, unless the
backward itself is being recorded (``create_graph=True``): then it is written with tensor
ops over a softmax node attached to the input, so second derivatives are exact.
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import DTypeError
from cogtensor.graph import attach, is_grad_enabled, requires_grad
from cogtensor.ops.activation_core import ieee
from cogtensor.nn._loss_common import (LossShapeError, class_dim, compute_dtype, forbid_grad, from_rows,
                                       from_rows_tensor, log_softmax_rows, require_floating, row_sums, same_dtype,
                                       softmax_node, to_rows, to_rows_tensor)
from cogtensor.ops.indexing import where

_TARGET_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))


# ------------------------------------------------------------------------ checks
def _check_shapes(op: str, input, target) -> None:
    """torch's nll_loss_nd rules for an input (C,) / (N, C) / (N, C, d1, ...) and its target."""
    xs, ts = input._data.shape, target._data.shape
    if not xs:
        raise LossShapeError(f"{op}: Expected 1 or more dimensions (got 0): the input needs a class dimension")
    if len(xs) > 1 and (not ts or ts[0] != xs[0]):
        raise LossShapeError(f"{op}: Expected input batch_size ({xs[0]}) to match target batch_size "
                             f"({ts[0] if ts else 0}).")
    if len(xs) == 1 and ts not in ((), (1,)):
        raise LossShapeError(f"{op}: for a 1-D input (C,), the target must be 0-d or of shape [1], got {list(ts)}")
    if len(xs) == 2 and len(ts) != 1:
        raise LossShapeError(f"{op}: 0D or 1D target tensor expected, multi-target not supported (input "
                             f"{list(xs)}, target {list(ts)})")
    if len(xs) > 2 and ts[1:] != xs[2:]:
        raise LossShapeError(f"{op}: Expected target size {[xs[0], *xs[2:]]}, got {list(ts)}")
    if target._data.dtype not in _TARGET_DTYPES:
        hint = f"; class probabilities need the input's shape {list(xs)}" if target.dtype.is_floating_point else ""
        raise DTypeError(f"{op}: expected target dtype to be int64 (Long) or uint8 (Byte) class indices, but got "
                         f"{target.dtype}{hint}")


def _check_weight(op: str, input, weight, classes: int) -> None:
    if weight is None:
        return
    if weight.ndim != 1 or weight.shape[0] != classes:
        raise LossShapeError(f"{op}: weight tensor should be defined either for all {classes} classes or no "
                             f"classes but got weight tensor of shape: {list(weight.shape)}")
    same_dtype(weight, input, op, "weight")
    forbid_grad(weight, op, "weight")


class _ClassTargets:
    """Class-index targets as rows: their classes, which rows count, and their weights.

    ``valid`` is None when no target is ``ignore_index``, and ``weight`` None when every row
    counts with weight 1: the common case needs no per-row arrays.
    """

    def __init__(self, op: str, target, weights, classes: int, ignore_index: int, dt):
        t = target._data.reshape(-1).astype(np.int64, copy=False)
        self.count, self.valid = t.shape[0], None
        plain = ignore_index < 0 or ignore_index >= classes  # no class index can equal it
        if not (t.size and plain and t.min() >= 0 and t.max() < classes):
            valid = t != ignore_index
            counted = t[valid]
            bad = counted[(counted < 0) | (counted >= classes)]
            if bad.size:
                raise IndexError(f"{op}: Target {bad[0]} is out of bounds: class indices must lie in [0, {classes}) "
                                 f"or equal ignore_index ({ignore_index})")
            if not valid.all():
                self.valid, t = valid, np.where(valid, t, 0)  # ignored rows read class 0 and weigh 0
        self.index = (np.arange(self.count), t)  # each row's target element in (M, C)
        if weights is None:
            self.weight = None if self.valid is None else self.valid.astype(dt)
        else:
            self.weight = self.masked(weights[t])
        self.total = self.count if self.weight is None else self.weight.sum()  # what 'mean' divides by

    def masked(self, values):
        """``values`` (M,) with ignored rows set to 0 (even where they are inf or NaN)."""
        return values if self.valid is None else np.where(self.valid, values, 0)

    def weighted(self, values):
        return values if self.weight is None else values * self.weight


# ------------------------------------------------------------------------ forward
def class_index_loss(op, input, target, weight, ignore_index, reduction, smoothing, log_probs=False):
    """cross_entropy (``log_probs=False``) or nll_loss of ``input`` against class indices."""
    _check_shapes(op, input, target)
    require_floating(input, op)
    classes = input._data.shape[class_dim(input._data.ndim)]
    _check_weight(op, input, weight, classes)
    dt = compute_dtype(input._data.dtype)
    rows = to_rows(input._data, dt)
    weights = None if weight is None else weight._data.astype(dt, copy=False)
    targets = _ClassTargets(op, target, weights, classes, ignore_index, dt)
    wants_grad = requires_grad(input)
    logp = p = None
    with ieee():
        if log_probs:
            picked = rows[targets.index]
            logp = rows
        elif smoothing:
            logp, p = log_softmax_rows(rows, wants_grad)
            picked = logp[targets.index]
        else:
            picked, p = _picked_log_softmax(rows, targets.index, wants_grad)
        nll = targets.masked(-targets.weighted(picked))
        smooth = None
        if smoothing:
            smooth = targets.masked(-(logp @ weights if weights is not None else row_sums(logp)))
        value = _reduce(nll, smooth, smoothing, classes, targets.total, reduction)
        if reduction == "none":
            value = value.reshape(() if input._data.ndim == 1 else target._data.shape)
        out = input._wrap(np.asarray(value).astype(input._data.dtype, copy=False))
    if not wants_grad:
        return out
    grad = _ClassIndexGrad(input, targets, weights, p, smoothing, reduction, dt)
    return attach(out, "NllLossBackward0" if log_probs else "CrossEntropyLossBackward0", (input,), grad)


def _picked_log_softmax(rows: np.ndarray, index, with_softmax: bool):
    """(log_softmax at each row's target, softmax or None): only the M picked log-probabilities
    are formed, and exp works in place (the cheapest stable pass)."""
    if rows.shape[1] == 0:  # every target is ignored (any other raised already)
        return np.zeros(rows.shape[0], rows.dtype), (rows.copy() if with_softmax else None)
    shifted = rows - rows.max(axis=1, keepdims=True)
    picked = shifted[index]
    e = np.exp(shifted, out=shifted)
    total = row_sums(e)
    picked -= np.log(total)
    return picked, (np.divide(e, total[:, None], out=e) if with_softmax else None)


def _reduce(nll, smooth, smoothing, classes, total, reduction):
    """torch's mix (1 - eps) * nll + eps / C * smooth, after the reduction ('mean' divides both by
    the summed target weights)."""
    if reduction == "none":
        return nll if smooth is None else (1 - smoothing) * nll + (smoothing / classes) * smooth
    nll_part, smooth_part = nll.sum(), (None if smooth is None else smooth.sum())
    if reduction == "mean":
        nll_part = nll_part / total
        smooth_part = None if smooth is None else smooth_part / total
    return nll_part if smooth is None else (1 - smoothing) * nll_part + smooth_part * (smoothing / classes)


# ----------------------------------------------------------------------- backward
class _ClassIndexGrad:
    """The backward of cross_entropy / nll_loss with class indices.

    Per row the loss is -sum_c Q_c log p_c, Q the weighted, smoothed one-hot target (all zero
    on ignored rows); its gradient is p * sum(Q) - Q for cross_entropy (p the softmax) and
    -Q for nll_loss, times the row's share of the output gradient.
    """

    def __init__(self, input, targets, weights, p, smoothing, reduction, dt):
        self.input, self.targets, self.weights, self.p = input, targets, weights, p
        self.smoothing, self.reduction, self.dt = smoothing, reduction, dt
        self.classes = input._data.shape[class_dim(input._data.ndim)]

    def __call__(self, g):
        if is_grad_enabled():  # create_graph=True: tensor ops, differentiable again
            return (self._tensor_grad(g),)
        return (self.input._wrap(self._numpy_grad(g)),)

    def _share(self, g):
        """Each row's share of ``g``: (M,) for 'none', a scalar when all rows share it alike."""
        values = g._data.astype(self.dt, copy=False)
        if self.reduction == "none":
            return values.reshape(-1)
        share = values / self.dt.type(self.targets.total) if self.reduction == "mean" else values
        plain = self.targets.weight is None and not self.smoothing and self.p is not None
        return share if plain else np.full(self.targets.count, share, self.dt)

    def _numpy_grad(self, g) -> np.ndarray:
        targets, p, eps = self.targets, self.p, self.smoothing
        with ieee():
            share = self._share(g)
            hit = targets.masked(targets.weighted(share) * self.dt.type(1 - eps))  # the target class's part
            if p is None:  # nll_loss: -Q
                grad = np.zeros((targets.count, self.classes), self.dt)
                grad[targets.index] = -hit
            elif not eps:
                grad = p * (hit[:, None] if np.ndim(hit) else hit)
                grad[targets.index] -= hit
            else:
                spread = targets.masked(share * self.dt.type(eps / self.classes))  # uniform part, per class weight
                w = self.weights if self.weights is not None else 1
                total_w = self.weights.sum() if self.weights is not None else self.classes
                grad = p * (hit + spread * total_w)[:, None] - spread[:, None] * w
                grad[targets.index] -= hit
        return from_rows(grad, self.input._data.shape)

    def _tensor_grad(self, g):
        targets, eps, dt = self.targets, self.smoothing, self.dt
        q = np.zeros((targets.count, self.classes), dt)
        if eps:
            uniform = self.weights if self.weights is not None else np.ones(self.classes, dt)
            q += targets.masked(np.ones(targets.count, dt))[:, None] * (uniform * (eps / self.classes))
        q[targets.index] += targets.weighted(np.ones(targets.count, dt)) * (1 - eps)  # 0 on ignored rows
        share = g.reshape(-1) if self.reduction == "none" else g / float(targets.total) if \
            self.reduction == "mean" else g
        if targets.valid is not None:
            share = where(g._wrap(targets.valid), share, 0.0)
        share = share.reshape(-1, 1) if share.ndim else share
        if self.p is None:
            grad = g._wrap(-q) * share
        else:
            p = softmax_node(to_rows_tensor(self.input), self.p, log=False)
            grad = (p * g._wrap(q.sum(axis=1, keepdims=True)) - g._wrap(q)) * share
        return from_rows_tensor(grad, self.input._data.shape)
