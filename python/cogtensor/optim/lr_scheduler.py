"""Learning-rate schedulers (``torch.optim.lr_scheduler``): same names, arguments, state dicts and
learning-rate sequences as torch's.

Example:
    >>> w = cogtensor.zeros(3, requires_grad=True)
    >>> opt = cogtensor.optim.AdamW([w], lr=1e-3)
    >>> warmup = LinearLR(opt, start_factor=0.1, total_iters=100)
    >>> cosine = CosineAnnealingLR(opt, T_max=900)
    >>> sched = SequentialLR(opt, [warmup, cosine], milestones=[100])
    >>> for step in range(1000):   # forward, backward, then:
    ...     opt.step(); sched.step()
"""

from cogtensor.optim._lr_base import LRScheduler
from cogtensor.optim._lr_composite import ChainedScheduler, ReduceLROnPlateau, SequentialLR
from cogtensor.optim._lr_cycles import CosineAnnealingWarmRestarts, OneCycleLR
from cogtensor.optim._lr_decay import (ConstantLR, CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR,
                                       MultiplicativeLR, MultiStepLR, PolynomialLR, StepLR)

__all__ = [
    "LRScheduler", "LambdaLR", "MultiplicativeLR", "StepLR", "MultiStepLR", "ConstantLR", "LinearLR",
    "ExponentialLR", "PolynomialLR", "CosineAnnealingLR", "CosineAnnealingWarmRestarts", "OneCycleLR",
    "SequentialLR", "ChainedScheduler", "ReduceLROnPlateau",
]
