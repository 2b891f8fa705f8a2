"""Adagrad, as ``torch.optim.Adagrad``."""

from __future__ import annotations

import numpy as np

from cogtensor.optim._options import check_flags, check_lr, check_nonnegative
from cogtensor.optim._updates import addcdiv_, real_view, update_grad, value_of
from cogtensor.optim.optimizer import ParameterwiseOptimizer, scalar_tensor
from cogtensor.tensor import Tensor

__all__ = ["Adagrad"]


class Adagrad(ParameterwiseOptimizer):
    """Adagrad (Duchi et al.): per-element steps scaled by the root of the summed squared gradients.

    Per parameter with a gradient ``g``, at step ``t``::

        g <- -g if maximize;  g <- g + weight_decay * p
        clr <- lr / (1 + (t - 1) * lr_decay)
        s <- s + g * g;  p <- p - clr * g / (sqrt(s) + eps)

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 1e-2).
        lr_decay: learning-rate decay (default 0).
        weight_decay: L2 penalty (default 0).
        initial_accumulator_value: starting value of the sums ``s`` (default 0; complex
            parameters start at ``v + vj``).
        eps: added to the denominator (default 1e-10).
        foreach, fused: torch's implementation switches (the same numpy update runs either way).
        maximize: maximize the objective.
        differentiable: must be False.

    State (made for every parameter at construction, as torch): ``'step'`` and ``'sum'``.

    Example:
        >>> w = cogtensor.tensor([1.0], requires_grad=True)
        >>> opt = cogtensor.optim.Adagrad([w], lr=0.1)
        >>> w.grad = cogtensor.tensor([2.0])
        >>> opt.step()
        >>> round(w.item(), 4)  # 1 - 0.1 * 2 / sqrt(4)
        0.9
    """

    def __init__(self, params, lr=1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:
        check_lr(lr)
        check_nonnegative("lr_decay value", lr_decay)
        check_nonnegative("weight_decay value", weight_decay)
        check_nonnegative("initial_accumulator_value value", initial_accumulator_value)
        check_nonnegative("epsilon value", eps)
        check_flags(type(self).__name__, differentiable, foreach, fused)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                    "maximize": maximize, "differentiable": differentiable, "fused": fused}
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(self.state[p], p, group)

    def _init_state(self, state: dict, p: Tensor, group: dict) -> None:
        # (the optimizer-wide value, also for groups added later: torch's choice)
        value = self.defaults["initial_accumulator_value"]
        state["step"] = scalar_tensor(0.0)
        state["sum"] = Tensor(np.full_like(p._data, complex(value, value) if p.dtype.is_complex else value))

    def _group_fallbacks(self) -> dict:
        return {"foreach": None, "maximize": False, "differentiable": False, "fused": None}

    def _update(self, p: Tensor, group: dict, state: dict) -> None:
        step_array = state["step"]._data
        step_array += 1
        step = step_array.item()
        g = real_view(update_grad(p, group["maximize"], group["weight_decay"]))
        clr = value_of(group["lr"]) / (1 + (step - 1) * group["lr_decay"])
        param, state_sum = real_view(p._data), real_view(state["sum"]._data)
        scratch = np.empty_like(param)
        np.multiply(g, g, out=scratch)
        np.add(state_sum, scratch, out=state_sum)
        std = np.sqrt(state_sum, out=np.empty_like(param))
        np.add(std, group["eps"], out=std)
        addcdiv_(param, g, std, -clr, scratch)
        p._bump_version()
