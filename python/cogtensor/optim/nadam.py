"""NAdam, as ``torch.optim.NAdam``."""

from __future__ import annotations

import numpy as np

from cogtensor.optim._options import check_betas, check_flags, check_lr, check_nonnegative
from cogtensor.optim._updates import addcdiv_, addcmul_, lerp_, real_view, update_grad, value_of
from cogtensor.optim.optimizer import ParameterwiseOptimizer, scalar_tensor
from cogtensor.tensor import Tensor

__all__ = ["NAdam"]


class NAdam(ParameterwiseOptimizer):
    """NAdam (Dozat): Adam with Nesterov momentum and a warming-up momentum schedule.

    Per parameter with a gradient ``g``, at step ``t``::

        g <- -g if maximize
        p <- p * (1 - lr * weight_decay)  if decoupled_weight_decay, else  g <- g + weight_decay * p
        mu_t <- beta1 * (1 - 0.5 * 0.96^(t * momentum_decay));  prod <- prod * mu_t
        m <- lerp(m, g, 1 - beta1);  v <- beta2 * v + (1 - beta2) * g * g
        d <- sqrt(v / (1 - beta2^t)) + eps
        p <- p - lr (1 - mu_t) / (1 - prod) * g / d - lr mu_{t+1} / (1 - prod mu_{t+1}) * m / d

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 2e-3).
        betas: (beta1, beta2) in [0, 1) (default (0.9, 0.999)).
        eps: added to the denominator (default 1e-8).
        weight_decay: weight decay (default 0).
        momentum_decay: the momentum schedule's decay psi (default 4e-3).
        decoupled_weight_decay: decay the weights directly (NAdamW) instead of an L2 term.
        foreach: torch's implementation switch (the same numpy update runs either way).
        maximize: maximize the objective.
        capturable, differentiable: must be False.

    State: ``'step'``, ``'mu_product'`` (0-d tensors), ``'exp_avg'``, ``'exp_avg_sq'``.

    Example:
        >>> w = cogtensor.tensor([1.0], requires_grad=True)
        >>> opt = cogtensor.optim.NAdam([w], lr=0.1)
        >>> w.grad = cogtensor.tensor([2.0])
        >>> opt.step()
        >>> round(w.item(), 4)
        0.8944
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0,
                 momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_lr(lr)
        check_nonnegative("epsilon value", eps)
        check_betas(betas)
        check_nonnegative("weight_decay value", weight_decay)
        check_nonnegative("momentum_decay value", momentum_decay)
        check_flags(type(self).__name__, differentiable, foreach, capturable=capturable)
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                    "maximize": maximize, "foreach": foreach, "capturable": capturable,
                    "differentiable": differentiable}
        super().__init__(params, defaults)

    def _group_fallbacks(self) -> dict:
        return {"maximize": False, "foreach": None, "capturable": False, "differentiable": False,
                "decoupled_weight_decay": False}

    def _init_state(self, state: dict, p: Tensor, group: dict) -> None:
        state["step"] = scalar_tensor(0.0)
        state["mu_product"] = scalar_tensor(1.0)
        state["exp_avg"] = Tensor(np.zeros_like(p._data))
        state["exp_avg_sq"] = Tensor(np.zeros_like(p._data))

    def _update(self, p: Tensor, group: dict, state: dict) -> None:
        lr, weight_decay = value_of(group["lr"]), group["weight_decay"]
        beta1, beta2 = (value_of(b) for b in group["betas"])
        step_array, mu_product = state["step"]._data, state["mu_product"]._data
        step_array += 1
        step = step_array.item()
        decoupled = group["decoupled_weight_decay"] and weight_decay != 0
        if decoupled:
            np.multiply(p._data, 1 - lr * weight_decay, out=p._data)
        g = real_view(update_grad(p, group["maximize"], 0 if decoupled else weight_decay))
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * group["momentum_decay"]))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * group["momentum_decay"]))
        np.multiply(mu_product, mu, out=mu_product)  # in the state's precision, as torch's 0-d tensor
        product = mu_product.item()
        param, m, v = real_view(p._data), real_view(state["exp_avg"]._data), real_view(state["exp_avg_sq"]._data)
        scratch = np.empty_like(param)
        lerp_(m, g, 1 - beta1, scratch)
        np.multiply(v, beta2, out=v)
        addcmul_(v, g, g, 1 - beta2, scratch)
        denom = np.divide(v, 1 - beta2 ** step, out=np.empty_like(param))
        np.sqrt(denom, out=denom)
        np.add(denom, group["eps"], out=denom)
        addcdiv_(param, g, denom, -lr * (1.0 - mu) / (1.0 - product), scratch)
        addcdiv_(param, m, denom, (-lr * mu_next) / (1.0 - product * mu_next), scratch)
        p._bump_version()
