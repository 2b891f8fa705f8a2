"""RMSprop, as ``torch.optim.RMSprop``."""

from __future__ import annotations

import numpy as np

from cogtensor.optim._options import check_flags, check_lr, check_nonnegative
from cogtensor.optim._updates import add_scaled_, addcdiv_, addcmul_, lerp_, real_view, update_grad, value_of
from cogtensor.optim.optimizer import ParameterwiseOptimizer, scalar_tensor
from cogtensor.tensor import Tensor

__all__ = ["RMSprop"]


class RMSprop(ParameterwiseOptimizer):
    """RMSprop (Hinton), optionally centered and with momentum.

    Per parameter with a gradient ``g``::

        g <- -g if maximize;  g <- g + weight_decay * p
        v <- alpha * v + (1 - alpha) * g * g
        avg <- sqrt(v - g_avg^2) with g_avg <- lerp(g_avg, g, 1 - alpha)   if centered, else sqrt(v)
        avg <- avg + eps
        buf <- momentum * buf + g / avg;  p <- p - lr * buf     if momentum > 0
        p <- p - lr * g / avg                                   otherwise

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 1e-2).
        alpha: smoothing constant (default 0.99).
        eps: added to the denominator (default 1e-8).
        weight_decay: L2 penalty (default 0).
        momentum: momentum factor (default 0).
        centered: normalise by the estimated variance of the gradient.
        capturable, differentiable: must be False.
        foreach: torch's implementation switch (the same numpy update runs either way).
        maximize: maximize the objective.

    State: ``'step'``, ``'square_avg'``, and ``'momentum_buffer'`` (momentum > 0),
    ``'grad_avg'`` (centered).

    Example:
        >>> w = cogtensor.tensor([1.0], requires_grad=True)
        >>> opt = cogtensor.optim.RMSprop([w], lr=0.01)
        >>> w.grad = cogtensor.tensor([2.0])
        >>> opt.step()
        >>> round(w.item(), 4)  # 1 - 0.01 * 2 / sqrt(0.01 * 4)
        0.9
    """

    def __init__(self, params, lr=1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:
        check_lr(lr)
        check_nonnegative("epsilon value", eps)
        check_nonnegative("momentum value", momentum)
        check_nonnegative("weight_decay value", weight_decay)
        check_nonnegative("alpha value", alpha)
        check_flags(type(self).__name__, differentiable, foreach, capturable=capturable)
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                    "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable}
        super().__init__(params, defaults)

    def _group_fallbacks(self) -> dict:
        return {"momentum": 0, "centered": False, "foreach": None, "maximize": False, "differentiable": False,
                "capturable": False}

    def _init_state(self, state: dict, p: Tensor, group: dict) -> None:
        state["step"] = scalar_tensor(0.0)
        state["square_avg"] = Tensor(np.zeros_like(p._data))
        if group["momentum"] > 0:
            state["momentum_buffer"] = Tensor(np.zeros_like(p._data))
        if group["centered"]:
            state["grad_avg"] = Tensor(np.zeros_like(p._data))

    def _update(self, p: Tensor, group: dict, state: dict) -> None:
        alpha, lr, momentum = group["alpha"], value_of(group["lr"]), group["momentum"]
        state["step"]._data += 1
        g = real_view(update_grad(p, group["maximize"], group["weight_decay"]))
        param, square_avg = real_view(p._data), real_view(state["square_avg"]._data)
        scratch = np.empty_like(param)
        np.multiply(square_avg, alpha, out=square_avg)
        addcmul_(square_avg, g, g, 1 - alpha, scratch)
        avg = np.empty_like(param)
        if group["centered"]:
            grad_avg = real_view(state["grad_avg"]._data)
            lerp_(grad_avg, g, 1 - alpha, scratch)
            np.multiply(grad_avg, grad_avg, out=avg)  # v - g_avg^2, as torch's addcmul(value=-1)
            np.subtract(square_avg, avg, out=avg)
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(square_avg, out=avg)
        np.add(avg, group["eps"], out=avg)
        if momentum > 0:
            buf = real_view(state["momentum_buffer"]._data)
            np.multiply(buf, momentum, out=buf)
            addcdiv_(buf, g, avg, 1, scratch)
            add_scaled_(param, buf, -lr, scratch)
        else:
            addcdiv_(param, g, avg, -lr, scratch)
        p._bump_version()
