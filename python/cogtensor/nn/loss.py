"""Loss modules (``torch.nn.MSELoss``, ``CrossEntropyLoss``, ...): each holds its options and
calls its function in :mod:`cogtensor.nn.functional_loss` in ``forward``.

Class weights (``weight``, ``pos_weight``) are buffers, as in torch: they follow ``to()``
and appear in ``state_dict()`` when given.

Example:
    >>> loss_fn = CrossEntropyLoss(label_smoothing=0.1)
    >>> loss_fn(cogtensor.randn(8, 5, requires_grad=True), cogtensor.randint(0, 5, (8,))).backward()
"""

from __future__ import annotations

from cogtensor.nn import functional_loss as F
from cogtensor.nn._loss_common import legacy_reduction
from cogtensor.nn.module import Module

__all__ = [
    "L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
    "KLDivLoss", "CosineEmbeddingLoss", "MarginRankingLoss",
]


class _Loss(Module):
    """A loss with a ``reduction`` ('none', 'mean' or 'sum'; torch's legacy flags also accepted)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            self.reduction = legacy_reduction(size_average, reduce, stacklevel=4)
        else:
            self.reduction = reduction


class _WeightedLoss(_Loss):
    """A loss with an optional per-class ``weight``, held as a buffer."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class L1Loss(_Loss):
    """Mean (or sum, or each) |input - target|: (*), (*) -> () or (*). See :func:`~cogtensor.nn.functional.l1_loss`."""

    def forward(self, input, target):
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum, or each) (input - target)^2: (*), (*) -> () or (*).

    Example:
        >>> MSELoss()(cogtensor.tensor([1.0, 2.0]), cogtensor.tensor([0.0, 4.0]))
        tensor(2.5000)
    """

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Squared error below ``beta``, absolute error above. See :func:`~cogtensor.nn.functional.smooth_l1_loss`."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Squared error below ``delta``, delta-scaled absolute error above. See
    :func:`~cogtensor.nn.functional.huber_loss`."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy of softmax(input) over dimension 1 and class indices or probabilities:
    (N, C) or (N, C, d1, ...) scores with (N,) / (N, d1, ...) indices or same-shape
    probabilities -> () (or (N, d1, ...) with reduction='none'). See
    :func:`~cogtensor.nn.functional.cross_entropy`.

    Example:
        >>> loss_fn = CrossEntropyLoss(weight=cogtensor.tensor([1.0, 2.0]), ignore_index=-1)
        >>> loss_fn(cogtensor.tensor([[2.0, 0.0], [0.0, 1.0]]), cogtensor.tensor([0, -1]))
        tensor(0.1269)
    """

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities: (N, C) / (N, C, d1, ...) with class indices
    (N,) / (N, d1, ...). See :func:`~cogtensor.nn.functional.nll_loss`."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross entropy of probabilities in [0, 1]: (*), (*) -> () or (*). See
    :func:`~cogtensor.nn.functional.binary_cross_entropy`."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy of sigmoid(logits), computed stably, with per-element ``weight`` and
    positive-class ``pos_weight`` (buffers). See
    :func:`~cogtensor.nn.functional.binary_cross_entropy_with_logits`.

    Example:
        >>> loss_fn = BCEWithLogitsLoss(pos_weight=cogtensor.tensor([3.0]))
        >>> loss_fn(cogtensor.tensor([0.0]), cogtensor.tensor([1.0]))
        tensor(2.0794)
    """

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean",
                 pos_weight=None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight, pos_weight=self.pos_weight,
                                                  reduction=self.reduction)


class KLDivLoss(_Loss):
    """Pointwise KL divergence of the target from the input (log-probabilities); use
    ``reduction='batchmean'`` for the mathematical KL divergence. See
    :func:`~cogtensor.nn.functional.kl_div`."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class CosineEmbeddingLoss(_Loss):
    """1 - cos for similar pairs (target 1), max(0, cos - margin) for dissimilar ones (-1):
    (N, D), (N, D), (N,) -> (). See :func:`~cogtensor.nn.functional.cosine_embedding_loss`."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, -target * (input1 - input2) + margin): (N,), (N,), (N,) -> (). See
    :func:`~cogtensor.nn.functional.margin_ranking_loss`."""

    def __init__(self, margin: float = 0.0, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1, input2, target):
        return F.margin_ranking_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)
