"""Adamax, as ``torch.optim.Adamax``."""

from __future__ import annotations

import numpy as np

from cogtensor.optim._options import check_betas, check_flags, check_lr, check_nonnegative
from cogtensor.optim._updates import addcdiv_, lerp_, real_view, update_grad, value_of
from cogtensor.optim.optimizer import ParameterwiseOptimizer, scalar_tensor
from cogtensor.tensor import Tensor

__all__ = ["Adamax"]


class Adamax(ParameterwiseOptimizer):
    """Adamax: Adam with the infinity norm in place of the second moment.

    Per parameter with a gradient ``g``, at step ``t``::

        g <- -g if maximize;  g <- g + weight_decay * p
        m <- lerp(m, g, 1 - beta1);  u <- max(beta2 * u, |g| + eps)
        p <- p - lr / (1 - beta1^t) * m / u

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 2e-3).
        betas: (beta1, beta2) in [0, 1) (default (0.9, 0.999)).
        eps: added to ``|g|`` (default 1e-8).
        weight_decay: L2 penalty (default 0).
        foreach: torch's implementation switch (the same numpy update runs either way).
        maximize: maximize the objective.
        differentiable, capturable: must be False.

    State: ``'step'``, ``'exp_avg'``, ``'exp_inf'``.

    Example:
        >>> w = cogtensor.tensor([1.0], requires_grad=True)
        >>> opt = cogtensor.optim.Adamax([w], lr=0.1)
        >>> w.grad = cogtensor.tensor([2.0])
        >>> opt.step()
        >>> round(w.item(), 4)
        0.9
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 foreach: bool | None = None, *, maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        check_lr(lr)
        check_nonnegative("epsilon value", eps)
        check_betas(betas)
        check_nonnegative("weight_decay value", weight_decay)
        check_flags(type(self).__name__, differentiable, foreach, capturable=capturable)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "capturable": capturable}
        super().__init__(params, defaults)

    def _group_fallbacks(self) -> dict:
        return {"foreach": None, "maximize": False, "differentiable": False, "capturable": False}

    def _init_state(self, state: dict, p: Tensor, group: dict) -> None:
        state["step"] = scalar_tensor(0.0)
        state["exp_avg"] = Tensor(np.zeros_like(p._data))
        state["exp_inf"] = Tensor(np.zeros_like(p._data))

    def _update(self, p: Tensor, group: dict, state: dict) -> None:
        beta1, beta2 = (value_of(b) for b in group["betas"])
        step_array = state["step"]._data
        step_array += 1
        g = real_view(update_grad(p, group["maximize"], group["weight_decay"]))
        param, m, u = real_view(p._data), real_view(state["exp_avg"]._data), real_view(state["exp_inf"]._data)
        scratch = np.empty_like(param)
        lerp_(m, g, 1 - beta1, scratch)
        np.multiply(u, beta2, out=u)
        np.abs(g, out=scratch)
        np.add(scratch, group["eps"], out=scratch)
        np.maximum(u, scratch, out=u)
        clr = value_of(group["lr"]) / (1 - beta1 ** step_array.item())
        addcdiv_(param, m, u, -clr, scratch)
        p._bump_version()
