"""Loss functions (``cogtensor.nn.functional``), with torch's arguments, defaults and results.

Every loss takes ``reduction``: ``'none'`` (the per-element losses), ``'mean'`` (the
default; NaN for an empty input) or ``'sum'``; torch's deprecated ``size_average`` /
``reduce`` flags still work, with torch's warning. Gradients flow to the input and, where
torch has them, to the target; backward formulas are tensor ops, so ``create_graph=True``
works through every loss. ``cross_entropy`` and ``nll_loss`` are one graph node each
(:mod:`cogtensor.nn._cross_entropy` for class indices, :mod:`cogtensor.nn._soft_targets` for
class probabilities); so are the binary cross entropies, computed as torch computes them
(log clamped at -100; a stable log-sigmoid).
"""

from __future__ import annotations

import warnings

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ValueRangeError
from cogtensor.graph import attach
from cogtensor.ops.activation_core import ieee, rounded
from cogtensor.nn._cross_entropy import class_index_loss
from cogtensor.nn._loss_common import (LossShapeError, broadcast_shape, compute_dtype, expandable_to, forbid_grad,
                                       legacy_reduction, reduce_loss, require_floating, require_tensor,
                                       resolve_reduction, same_dtype, warn_size_mismatch)
from cogtensor.nn._smooth_activations import logsigmoid
from cogtensor.nn._soft_targets import probability_loss
from cogtensor.ops.indexing import where

__all__ = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
]

_EPSILON = 1e-12  # torch's guard for cosine_embedding_loss's norms
_BCE_EPSILON = float(np.float32(1e-12))  # binary_cross_entropy's gradient guard: torch holds it as a float32


# ------------------------------------------------------------------ regression
def _difference(op: str, input, target, kinds: str = "f"):
    """input - target (broadcast, with torch's warning when shapes differ), after checking that
    the promoted dtype is of one of ``kinds`` ('f' floating, 'c' complex, 'i' integer)."""
    require_tensor(input, op, "input")
    require_tensor(target, op, "target")
    warn_size_mismatch(op, input, target)
    dtype = dtypes.promote_types(input.dtype, target.dtype)
    kind = "f" if dtype.is_floating_point else "c" if dtype.is_complex else "b" if dtype is dtypes.bool else "i"
    if kind not in kinds:
        raise NotImplementedForDType(f"{op}: not implemented for {dtype} (input {input.dtype}, target "
                                     f"{target.dtype}); expected floating point tensors")
    broadcast_shape(op, ("input", input.shape), ("target", target.shape))
    return input - target


def _weighted(op: str, loss, input, weight, reduction: str, mean_by_weight: bool):
    """torch's weighted element-wise losses: loss * weight, reduced; 'mean' divides by the summed
    weights (mse_loss, l1_loss) or by the element count (huber_loss)."""
    require_tensor(weight, op, "weight")
    if weight.shape != input.shape:
        raise LossShapeError(f"{op}: Weights and input must have the same size: weight {list(weight.shape)}, input "
                             f"{list(input.shape)}")
    weighted = loss * weight
    if reduction == "mean" and mean_by_weight:
        return weighted.sum() / weight.sum()
    return reduce_loss(weighted, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """The squared error (input - target)^2, element-wise, reduced; input and target broadcast.

    With ``weight`` (the input's shape): weight * (input - target)^2, and 'mean' divides by
    the sum of the weights.

    Raises:
        NotImplementedForDType: integer, bool or complex operands.
        LossShapeError: shapes that do not broadcast, or a weight not of the input's shape.

    Example:
        >>> mse_loss(cogtensor.tensor([1.0, 2.0]), cogtensor.tensor([0.0, 4.0]))
        tensor(2.5000)
    """
    op = "mse_loss"
    loss = _difference(op, input, target).square()
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    return reduce_loss(loss, reduction) if weight is None else _weighted(op, loss, input, weight, reduction, True)


def l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", weight=None):
    """The absolute error |input - target|, element-wise, reduced (complex operands give real
    losses; integer ones work with 'none' and 'sum'). ``weight`` as in :func:`mse_loss`.

    Example:
        >>> l1_loss(cogtensor.tensor([1.0, 2.0]), cogtensor.tensor([0.0, 4.0]))
        tensor(1.5000)
    """
    op = "l1_loss"
    loss = _difference(op, input, target, kinds="fci").abs()
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    if reduction == "mean" and not (loss.dtype.is_floating_point or loss.dtype.is_complex):
        raise DTypeError(f"{op}: the 'mean' of integer losses ({loss.dtype}) is not defined; pass floating point "
                         "tensors, or reduction='sum' or 'none'")
    return reduce_loss(loss, reduction) if weight is None else _weighted(op, loss, input, weight, reduction, True)


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
    """0.5 * z^2 / beta where z = |input - target| < beta, else z - 0.5 * beta (l1_loss when beta is 0).

    Raises:
        ValueRangeError: ``beta < 0``.

    Example:
        >>> smooth_l1_loss(cogtensor.tensor([0.5, 3.0]), cogtensor.tensor([0.0, 0.0]), reduction="none")
        tensor([0.1250, 2.5000])
    """
    op = "smooth_l1_loss"
    if beta < 0:
        raise ValueRangeError(f"{op}: smooth_l1_loss does not support negative values for beta, got {beta}")
    if beta == 0:
        return l1_loss(input, target, size_average, reduce, reduction)
    z = _difference(op, input, target).abs()
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    return reduce_loss(where(z < beta, z * z * (0.5 / beta), z - 0.5 * beta), reduction)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None):
    """0.5 * z^2 where z = |input - target| < delta, else delta * (z - 0.5 * delta): smooth_l1_loss
    times delta. With ``weight`` (the input's shape) the losses are weighted and 'mean' is
    still the mean over elements (torch's rule).

    Raises:
        ValueRangeError: ``delta <= 0``.

    Example:
        >>> huber_loss(cogtensor.tensor([0.5, 3.0]), cogtensor.tensor([0.0, 0.0]), reduction="none")
        tensor([0.1250, 2.5000])
    """
    op = "huber_loss"
    if delta <= 0:
        raise ValueRangeError(f"{op}: huber_loss does not support non-positive values for delta, got {delta}")
    z = _difference(op, input, target).abs()
    reduction = resolve_reduction(reduction, None, None, op)
    loss = where(z < delta, z * z * 0.5, (z - 0.5 * delta) * delta)
    return reduce_loss(loss, reduction) if weight is None else _weighted(op, loss, input, weight, reduction, False)


# ------------------------------------------------------------- cross entropy
def _require_tensors(op, input, target, weight) -> None:
    require_tensor(input, op, "input")
    require_tensor(target, op, "target")
    if weight is not None:
        require_tensor(weight, op, "weight")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """The cross entropy between softmax(input) over the classes and the target.

    ``input`` holds unnormalised scores: (C,), (N, C) or (N, C, d1, ...). ``target`` is either
    class indices (int64 or uint8) of shape (), (N,) or (N, d1, ...), or class probabilities
    of the input's own shape (floating). Per element, with q the target distribution (the
    one-hot class, or the probabilities) mixed with the uniform one by ``label_smoothing``
    eps as (1 - eps) q + eps / C, and w the class ``weight`` (C,):
    ``loss = -sum_c w_c q_c log_softmax(input)_c``.

    Reductions: 'none' gives the per-element losses, shape (N, d1, ...) (() for a 1-D
    input); 'sum' their sum; 'mean' divides by the summed weights of the target classes of
    the elements whose target is not ``ignore_index`` (class indices: NaN when every target
    is ignored), or by N * d1 * ... (probabilities). One graph node, stable for any scores.

    Raises:
        DTypeError: a target that is neither int64/uint8 indices nor floating probabilities
            of the input's shape; a weight of another dtype than the input (class indices).
        IndexError: a class index outside [0, C) that is not ``ignore_index``.
        LossShapeError: a target whose shape does not fit the input's; a weight that is not (C,).
        ValueRangeError: ``label_smoothing > 1``; ``ignore_index >= 0`` with probabilities.
        RuntimeError: a class weight that requires grad, with class indices (as torch).

    Example:
        >>> cross_entropy(cogtensor.tensor([[2.0, 0.5, -1.0]]), cogtensor.tensor([0]))
        tensor(0.2413)
    """
    op = "cross_entropy"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    _require_tensors(op, input, target, weight)
    if label_smoothing > 1.0:
        raise ValueRangeError(f"{op}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    smoothing = float(label_smoothing) if label_smoothing > 0.0 else 0.0  # torch ignores a negative one
    if input.shape == target.shape:  # torch's rule: a target of the input's shape holds probabilities
        return probability_loss(input, target, weight, ignore_index, reduction, smoothing)
    return class_index_loss(op, input, target, weight, ignore_index, reduction, smoothing)


def nll_loss(input, target, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean"):
    """The negative log-likelihood loss ``-weight[t] * input[t]`` per element, for inputs that
    are log-probabilities (e.g. ``log_softmax``'s output).

    Shapes as :func:`cross_entropy` with class indices: input (C,), (N, C) or (N, C, d1, ...),
    target (), (N,) or (N, d1, ...). Elements whose target is ``ignore_index`` count nothing;
    'mean' divides by the summed weights of the other targets (NaN if there are none).

    Raises:
        DTypeError, IndexError, LossShapeError, RuntimeError: as :func:`cross_entropy` with
            class indices.

    Example:
        >>> nll_loss(cogtensor.tensor([[-0.1, -2.4]]), cogtensor.tensor([1]))
        tensor(2.4000)
    """
    op = "nll_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    _require_tensors(op, input, target, weight)
    return class_index_loss(op, input, target, weight, ignore_index, reduction, 0.0, log_probs=True)


# ---------------------------------------------------------------- binary losses
def _binary_args(op: str, input, target, weight, pos_weight=None) -> None:
    require_tensor(input, op, "input")
    require_tensor(target, op, "target")
    if target.shape != input.shape:
        raise LossShapeError(f"{op}: Using a target size ({list(target.shape)}) that is different to the input size "
                             f"({list(input.shape)}) is not supported: they must be the same")
    require_floating(input, op)
    for name, extra in (("weight", weight), ("pos_weight", pos_weight)):
        if extra is not None:
            require_tensor(extra, op, name)
            expandable_to(op, name, extra.shape, input.shape)
            forbid_grad(extra, op, name)


def _float_values(t) -> np.ndarray:
    """A tensor's values in its compute dtype (float32 for float16/bfloat16)."""
    return t._data.astype(compute_dtype(t._data.dtype), copy=False)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
    """-weight * (target * log(input) + (1 - target) * log(1 - input)), each log clamped at -100
    (so input 0 or 1 gives a finite loss, as torch); ``input`` holds probabilities in [0, 1],
    ``target`` (same shape and dtype) too. ``weight`` broadcasts to the input's shape.

    Raises:
        LossShapeError: a target of another shape; a weight that does not broadcast to it.
        DTypeError: a target of another dtype than the input.
        ValueRangeError: an input or target element outside [0, 1] (or NaN).

    Example:
        >>> binary_cross_entropy(cogtensor.tensor([0.8, 0.1]), cogtensor.tensor([1.0, 0.0]))
        tensor(0.1643)
    """
    op = "binary_cross_entropy"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    _binary_args(op, input, target, weight)
    same_dtype(target, input, op, "target")
    dt = compute_dtype(input._data.dtype)
    x, t = input._data.astype(dt, copy=False), target._data.astype(dt, copy=False)
    for name, values in (("input", x), ("target", t)):
        if not ((values >= 0) & (values <= 1)).all():
            raise ValueRangeError(f"{op}: all elements of {name} should be between 0 and 1")
    with ieee():
        loss = (t - 1) * np.maximum(np.log1p(-x), -100) - t * np.maximum(np.log(x), -100)
        if weight is not None:  # in the weight's precision, rounded once (torch's in-place multiply)
            loss = (loss * _float_values(weight)).astype(dt, copy=False)
    w = None if weight is None else weight.to(input.dtype)

    def backward(g):
        gx = gt = None
        if input._node is not None:  # torch's (x - t) / max(x (1 - x), 1e-12)
            gx = g * (input - target) / ((1 - input) * input).clamp_min(_BCE_EPSILON)
            gx = gx if w is None else gx * w
        if target._node is not None:  # -logit(x)
            gt = -(input / (1 - input)).log() * g
            gt = gt if w is None else gt * w
        return gx, gt
    out = attach(input._wrap(rounded(loss, input._data.dtype)), "BinaryCrossEntropyBackward0", (input, target),
                 backward, saved=(input, target))
    return reduce_loss(out, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction: str = "mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target), computed stably from the logits:
    ``(1 - target) * input - log_sigmoid(input) * (1 + (pos_weight - 1) * target)``, times
    ``weight``. ``pos_weight`` (e.g. (C,), one per class along the last dimension) weighs the
    positive examples; both broadcast to the input's shape. The result has the promoted
    dtype of input and target.

    Raises:
        LossShapeError: a target of another shape; a weight or pos_weight that does not broadcast to it.
        DTypeError: a target that is not floating point.

    Example:
        >>> binary_cross_entropy_with_logits(cogtensor.tensor([100.0, -2.0]), cogtensor.tensor([1.0, 0.0]))
        tensor(0.0635)
    """
    op = "binary_cross_entropy_with_logits"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    _binary_args(op, input, target, weight, pos_weight)
    if not target.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected a floating point target (probabilities), got {target.dtype}")
    out_dtype = dtypes.promote_types(input.dtype, target.dtype)
    dt = compute_dtype(out_dtype.numpy)
    x, t = _float_values(input), _float_values(target)
    with ieee():  # each step in torch's precision: log_sigmoid in the input's, then in place
        log_sigmoid = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
        if pos_weight is not None:
            log_sigmoid = (log_sigmoid * ((_float_values(pos_weight) - 1) * t + 1)).astype(x.dtype, copy=False)
        loss = (1 - t) * x.astype(dt, copy=False) - log_sigmoid
        if weight is not None:
            loss = (loss * _float_values(weight)).astype(dt, copy=False)
    w = None if weight is None else weight.to(out_dtype)
    pw = None if pos_weight is None else pos_weight.to(out_dtype)

    def backward(g):
        gx = gt = None
        if input._node is not None:  # torch's (pw t + 1 - t) sigmoid(x) - pw t
            gx = input.sigmoid() - target if pw is None else (pw * target + 1 - target) * input.sigmoid() - pw * target
            gx = gx * g if w is None else gx * g * w
        if target._node is not None:  # torch's log_sigmoid(-x) - pw log_sigmoid(x)
            gt = -input if pw is None else logsigmoid(-input) - logsigmoid(input) * pw
            gt = gt * g if w is None else gt * g * w
        return gx, gt
    out = attach(input._wrap(rounded(loss, out_dtype.numpy)), "BinaryCrossEntropyWithLogitsBackward0",
                 (input, target), backward, saved=(input, target))
    return reduce_loss(out, reduction)


# -------------------------------------------------------------- divergences
def _xlogx(t):
    """t * log(t), 0 where t is 0 (torch's xlogy(t, t)); its gradient log(t) + t / t is NaN at 0, as torch's."""
    dt = compute_dtype(t._data.dtype)
    values = t._data.astype(dt, copy=False)
    with ieee():
        out = t._wrap(rounded(np.where(values == 0, 0, values * np.log(values)), t._data.dtype))
    return attach(out, "XlogyBackward0", (t,), lambda g: (g * (where(t != 0, t.log(), 0.0) + t / t),), saved=(t,))


def kl_div(input, target, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
    """The pointwise Kullback-Leibler divergence of ``target`` from ``input``, where ``input``
    holds log-probabilities and ``target`` probabilities (log-probabilities when ``log_target``):
    ``target * (log(target) - input)`` (0 where target is 0), broadcast, reduced.

    ``reduction='batchmean'`` divides the sum by the batch size (the KL divergence's
    definition); 'mean' divides by the element count, and warns (as torch).

    Raises:
        DTypeError: integer, bool or complex operands.
        LossShapeError: shapes that do not broadcast.

    Example:
        >>> kl_div(cogtensor.tensor([[-0.5, -1.0]]), cogtensor.tensor([[0.6, 0.4]]), reduction="batchmean")
        tensor(0.0270)
    """
    op = "kl_div"
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce)
    elif reduction == "mean":
        warnings.warn(f"{op}: reduction='mean' divides the total loss by both the batch size and the support size; "
                      "'batchmean' divides only by the batch size, which is the KL divergence's definition. "
                      "'mean' will behave as 'batchmean' in a future release (as in torch).", UserWarning,
                      stacklevel=2)
    reduction = resolve_reduction(reduction, None, None, op, extra=("batchmean",))
    require_tensor(input, op, "input")
    require_tensor(target, op, "target")
    for name, x in (("input", input), ("target", target)):
        if not x.dtype.is_floating_point:
            raise DTypeError(f"{op}: integral, bool and complex inputs are not supported, got {name} of dtype "
                             f"{x.dtype}")
    broadcast_shape(op, ("input", input.shape), ("target", target.shape))
    loss = target.exp() * (target - input) if log_target else _xlogx(target) - target * input
    if reduction != "batchmean":
        return reduce_loss(loss, reduction)
    total = loss.sum()
    return total / input.shape[0] if input.ndim else total


# ------------------------------------------------------------------ embeddings
def cosine_embedding_loss(input1, input2, target, margin: float = 0.0, size_average=None, reduce=None,
                          reduction: str = "mean"):
    """1 - cos(x1, x2) for pairs with target 1, max(0, cos(x1, x2) - margin) for target -1
    (0 for any other target), cos computed along the last dimension with 1e-12 added to
    each squared norm. Inputs (N, D) with target (N,), or (D,) with a 0-d target.

    Raises:
        LossShapeError: a target that is not 0-d or 1-D; inputs of the wrong dimension for
            it; shapes that do not broadcast.

    Example:
        >>> x = cogtensor.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> cosine_embedding_loss(x, cogtensor.tensor([[1.0, 1.0], [0.0, 1.0]]), cogtensor.tensor([1, -1]))
        tensor(0.6464)
    """
    op = "cosine_embedding_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    for name, x in (("input1", input1), ("input2", input2), ("target", target)):
        require_tensor(x, op, name)
    if target.ndim > 1:
        raise LossShapeError(f"{op}: 0D or 1D target tensor expected, multi-target not supported, got target of "
                             f"shape {list(target.shape)}")
    want = target.ndim + 1
    if input1.ndim != want or input2.ndim != want:
        raise LossShapeError(f"{op}: a {target.ndim}-D target expects {want}-D inputs, but found inputs with sizes "
                             f"{list(input1.shape)} and {list(input2.shape)}")
    pair_shape = broadcast_shape(op, ("input1", input1.shape), ("input2", input2.shape))
    broadcast_shape(op, ("the inputs' rows", pair_shape[:-1]), ("target", target.shape))
    d = target.ndim
    prod_sum = (input1 * input2).sum(d)
    squared_norms = ((input1 * input1).sum(d) + _EPSILON) * ((input2 * input2).sum(d) + _EPSILON)
    cos = prod_sum / squared_norms.sqrt()
    loss = where(target == 1, 1 - cos, 0.0) + where(target == -1, (cos - float(margin)).clamp_min(0), 0.0)
    return reduce_loss(loss, reduction)


def margin_ranking_loss(input1, input2, target, margin: float = 0.0, size_average=None, reduce=None,
                        reduction: str = "mean"):
    """max(0, -target * (input1 - input2) + margin), element-wise: target 1 asks input1 to rank
    higher, -1 lower. All three have the same number of dimensions and broadcast.

    Raises:
        LossShapeError: operands of different dimensions, or shapes that do not broadcast.

    Example:
        >>> margin_ranking_loss(cogtensor.tensor([0.2, 0.9]), cogtensor.tensor([0.5, 0.1]),
        ...                     cogtensor.tensor([1.0, 1.0]), margin=0.1)
        tensor(0.2000)
    """
    op = "margin_ranking_loss"
    reduction = resolve_reduction(reduction, size_average, reduce, op)
    for name, x in (("input1", input1), ("input2", input2), ("target", target)):
        require_tensor(x, op, name)
    if not input1.ndim == input2.ndim == target.ndim:
        raise LossShapeError(f"{op}: All input tensors should have same dimension but got sizes: input1: "
                             f"{list(input1.shape)}, input2: {list(input2.shape)}, target: {list(target.shape)}")
    broadcast_shape(op, ("input1", input1.shape), ("input2", input2.shape), ("target", target.shape))
    return reduce_loss((-target * (input1 - input2) + float(margin)).clamp_min(0), reduction)
