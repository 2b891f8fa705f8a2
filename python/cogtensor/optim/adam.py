"""Adam and AdamW, as ``torch.optim.Adam`` / ``torch.optim.AdamW``."""

from __future__ import annotations

import numpy as np

from cogtensor.optim._options import check_betas, check_flags, check_lr, check_nonnegative
from cogtensor.optim._updates import addcdiv_, addcmul_, lerp_, real_view, scaled_sqrt_plus, update_grad, value_of
from cogtensor.optim.optimizer import ParameterwiseOptimizer, scalar_tensor
from cogtensor.tensor import Tensor

__all__ = ["Adam", "AdamW"]


class Adam(ParameterwiseOptimizer):
    """Adam (Kingma & Ba), optionally AMSGrad, with L2 or decoupled (AdamW) weight decay.

    Per parameter with a gradient ``g``, at step ``t``::

        g <- -g if maximize
        p <- p * (1 - lr * weight_decay)   if decoupled_weight_decay, else  g <- g + weight_decay * p
        m <- lerp(m, g, 1 - beta1);  v <- beta2 * v + (1 - beta2) * g * g
        v_hat <- max(v_max, v) if amsgrad else v
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)

    Complex parameters are updated as pairs of reals (torch's ``view_as_real``).

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 1e-3; a float or a 1-element tensor).
        betas: (beta1, beta2), both floats in [0, 1) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay (default 0).
        amsgrad: use the running maximum of ``v`` (AMSGrad).
        foreach, fused: torch's implementation switches (the same numpy update runs either way).
        maximize: maximize the objective.
        capturable, differentiable: must be False.
        decoupled_weight_decay: decay the weights directly (AdamW) instead of adding an L2 term.

    State: ``'step'`` (0-d float32 tensor, float64 when that is the default dtype),
    ``'exp_avg'``, ``'exp_avg_sq'`` and, with amsgrad, ``'max_exp_avg_sq'``.

    Example:
        >>> w = cogtensor.tensor([1.0, -2.0], requires_grad=True)
        >>> opt = cogtensor.optim.Adam([w], lr=0.1)
        >>> w.grad = cogtensor.tensor([0.5, -3.0])
        >>> opt.step()
        >>> [round(v, 4) for v in w.tolist()]  # the first step moves each weight by lr against its gradient's sign
        [0.9, -1.9]
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 amsgrad: bool = False, *, foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        check_lr(lr)
        check_nonnegative("epsilon value", eps)
        betas = check_betas(betas, both_floats=True)
        check_nonnegative("weight_decay value", weight_decay)
        check_flags(type(self).__name__, differentiable, foreach, fused, capturable)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay, "amsgrad": amsgrad,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable, "fused": fused, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _group_fallbacks(self) -> dict:
        return {"amsgrad": False, "maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                "decoupled_weight_decay": False, "fused": None}

    def _init_state(self, state: dict, p: Tensor, group: dict) -> None:
        state["step"] = scalar_tensor(0.0)
        state["exp_avg"] = Tensor(np.zeros_like(p._data))
        state["exp_avg_sq"] = Tensor(np.zeros_like(p._data))
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = Tensor(np.zeros_like(p._data))

    def _update(self, p: Tensor, group: dict, state: dict) -> None:
        lr, weight_decay = value_of(group["lr"]), value_of(group["weight_decay"])
        beta1, beta2 = (value_of(b) for b in group["betas"])
        step_array = state["step"]._data
        step_array += 1
        step = step_array.item()
        decoupled = group["decoupled_weight_decay"] and weight_decay != 0
        param = p._data
        if decoupled:
            np.multiply(param, 1 - lr * weight_decay, out=param)
        g = real_view(update_grad(p, group["maximize"], 0 if decoupled else weight_decay))
        param, m, v = real_view(param), real_view(state["exp_avg"]._data), real_view(state["exp_avg_sq"]._data)
        scratch = np.empty_like(param)
        lerp_(m, g, 1 - beta1, scratch)
        np.multiply(v, beta2, out=v)
        addcmul_(v, g, g, 1 - beta2, scratch)
        if group["amsgrad"]:
            v = np.maximum(real_view(state["max_exp_avg_sq"]._data), v, out=real_view(state["max_exp_avg_sq"]._data))
        step_size = lr / (1 - beta1 ** step)
        denom = scaled_sqrt_plus(v, (1 - beta2 ** step) ** 0.5, group["eps"], out=np.empty_like(param))
        addcdiv_(param, m, denom, -step_size, scratch)
        p._bump_version()


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p <- p * (1 - lr * weight_decay)``
    before the Adam step. Same arguments as :class:`Adam` (weight_decay defaults to 1e-2).

    Example:
        >>> w = cogtensor.tensor([1.0], requires_grad=True)
        >>> opt = cogtensor.optim.AdamW([w], lr=0.1, weight_decay=0.5)
        >>> w.grad = cogtensor.tensor([2.0])
        >>> opt.step()
        >>> round(w.item(), 4)  # 1 * (1 - 0.05) - 0.1
        0.85
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
