"""cross_entropy with class-probability targets (a target of the input's shape), one graph node.

Per row (the input viewed as (M, C), classes last) with q the target smoothed towards the
uniform distribution, (1 - eps) q + eps / C, and w the class weights, the loss is
-sum_c w_c q_c log_softmax(x)_c; 'mean' divides the sum by M (torch's rule, whatever the
weights). Gradients reach the input (p sum(q w) - q w, p the softmax), the target
(-(1 - eps) w log p) and the weights (-sum over rows of q log p): in numpy, or with tensor
ops while the backward itself is recorded (``create_graph=True``).
"""

from __future__ import annotations

from cogtensor import dtypes
from cogtensor.errors import DTypeError, ValueRangeError
from cogtensor.graph import attach, is_grad_enabled, requires_grad
from cogtensor.ops.activation_core import ieee, rounded
from cogtensor.nn._loss_common import (LossShapeError, class_dim, compute_dtype, from_rows, from_rows_tensor,
                                       log_softmax_rows, require_floating, softmax_node, to_rows, to_rows_tensor)


def _check(input, target, weight, ignore_index) -> int:
    op = "cross_entropy"
    if not target.dtype.is_floating_point:
        raise DTypeError(f"{op}: Expected floating point type for target with class probabilities, got "
                         f"{target.dtype} (class indices need a target without the class dimension)")
    if ignore_index >= 0:
        raise ValueRangeError(f"{op}: ignore_index is not supported for floating point target (class "
                              f"probabilities), got ignore_index={ignore_index}")
    if input.ndim == 0:
        raise IndexError(f"{op}: the input needs a class dimension (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    require_floating(input, op)
    classes = input.shape[class_dim(input.ndim)]
    if weight is not None and (weight.ndim != 1 or weight.shape[0] != classes):
        raise LossShapeError(f"{op}: weight tensor should be defined either for all {classes} classes or no "
                             f"classes but got weight tensor of shape: {list(weight.shape)}")
    return classes


def probability_loss(input, target, weight, ignore_index, reduction, smoothing):
    """cross_entropy of ``input`` against class probabilities ``target`` (same shape)."""
    classes = _check(input, target, weight, ignore_index)
    out_dtype = dtypes.promote_types(input.dtype, target.dtype)
    if weight is not None:
        out_dtype = dtypes.promote_types(out_dtype, weight.dtype)
    dt = compute_dtype(out_dtype.numpy)
    rows, q = to_rows(input._data, compute_dtype(input._data.dtype)), to_rows(target._data, dt)
    logp, p = log_softmax_rows(rows, requires_grad(input))  # in the input's precision, as torch
    logp = logp.astype(dt, copy=False)
    p = None if p is None else p.astype(dt, copy=False)
    weights = None if weight is None else weight._data.astype(dt, copy=False)
    with ieee():
        if smoothing:
            q = q * (1 - smoothing) + smoothing / classes
        qw = q if weights is None else q * weights
        per_row = -(logp * qw).sum(axis=1)
        count = rows.shape[0] if input.numel() else 0  # N * d1 * ...; NaN for an empty input, as torch
        if reduction == "none":
            value = per_row.reshape(input.shape[:1] + input.shape[2:] if input.ndim > 1 else ())
        else:
            value = per_row.sum() / count if reduction == "mean" else per_row.sum()
    out = input._wrap(rounded(value, out_dtype.numpy))
    if not requires_grad(input, target, weight):
        return out
    grad = _ProbabilityGrad(input, target, weight, logp, p, q, qw, smoothing, reduction, count, dt)
    return attach(out, "CrossEntropyLossBackward0", (input, target, weight), grad)


class _ProbabilityGrad:
    """The backward of :func:`probability_loss` (see the module's docstring for the formulas)."""

    def __init__(self, input, target, weight, logp, p, q, qw, smoothing, reduction, count, dt):
        self.input, self.target, self.weight = input, target, weight
        self.logp, self.p, self.q, self.qw = logp, p, q, qw
        self.smoothing, self.reduction, self.count, self.dt = smoothing, reduction, count, dt

    def __call__(self, g):
        if is_grad_enabled():
            return self._tensor_grads(g)
        values = g._data.astype(self.dt, copy=False)
        with ieee():
            if self.reduction == "none":
                scale = values.reshape(-1, 1)
            else:
                scale = values / self.dt.type(self.count) if self.reduction == "mean" else values
            gx = gt = gw = None
            if self.p is not None and self.input._node is not None:
                gx = g._wrap(from_rows((self.p * self.qw.sum(axis=1, keepdims=True) - self.qw) * scale,
                                       self.input.shape))
            if self.target._node is not None:
                factor = scale * -(1 - self.smoothing)
                values = self.logp * (factor if self.weight is None else factor * self.weight._data.astype(self.dt))
                gt = g._wrap(from_rows(values, self.target.shape))
            if self.weight is not None and self.weight._node is not None:
                gw = g._wrap(-(self.logp * self.q * scale).sum(axis=0))
        return gx, gt, gw

    def _tensor_grads(self, g):
        x_rows = to_rows_tensor(self.input)
        if self.reduction == "none":
            scale = g.reshape(-1, 1)
        else:
            scale = g / float(self.count) if self.reduction == "mean" else g
        q = to_rows_tensor(self.target)
        if self.smoothing:
            q = q * (1 - self.smoothing) + self.smoothing / self.logp.shape[1]
        qw = q if self.weight is None else q * self.weight
        gx = gt = gw = None
        if self.input._node is not None:
            p = softmax_node(x_rows, self.p, log=False)
            gx = from_rows_tensor((p * qw.sum(1, keepdim=True) - qw) * scale, self.input.shape)
        logp = softmax_node(x_rows, self.logp, log=True)
        if self.target._node is not None:
            factor = scale * -(1 - self.smoothing)
            gt = from_rows_tensor(logp * (factor if self.weight is None else factor * self.weight), self.target.shape)
        if self.weight is not None and self.weight._node is not None:
            gw = -(logp * q * scale).sum(0)
        return gx, gt, gw
