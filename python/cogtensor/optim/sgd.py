"""Stochastic gradient descent, optionally with (Nesterov) momentum, as ``torch.optim.SGD``."""

from __future__ import annotations

import numpy as np

from cogtensor.optim._options import check_flags, check_lr, check_nonnegative
from cogtensor.optim._updates import add_scaled_, real_view, update_grad, value_of
from cogtensor.optim.optimizer import ParameterwiseOptimizer
from cogtensor.tensor import Tensor

__all__ = ["SGD"]


class SGD(ParameterwiseOptimizer):
    """Stochastic gradient descent (optionally with momentum).

    Per parameter with a gradient ``g``::

        g <- -g if maximize;  g <- g + weight_decay * p
        buf <- g (first step),  else momentum * buf + (1 - dampening) * g
        g <- g + momentum * buf if nesterov else buf        (when momentum != 0)
        p <- p - lr * g

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (default 1e-3).
        momentum: momentum factor (default 0).
        dampening: dampening of the momentum (default 0).
        weight_decay: L2 penalty (default 0).
        nesterov: Nesterov momentum (needs momentum > 0 and zero dampening).
        maximize: maximize the objective instead of minimizing it.
        foreach, fused: torch's implementation switches; every setting runs the same
            in-place numpy update here (``fused`` and ``foreach`` may not both be True).
        differentiable: must be False (the update is not recorded for autograd).

    State: ``'momentum_buffer'`` per parameter when momentum != 0.

    Example:
        >>> w = cogtensor.tensor([1.0, -2.0], dtype=cogtensor.float64, requires_grad=True)
        >>> opt = cogtensor.optim.SGD([w], lr=0.1, momentum=0.9)
        >>> w.grad = cogtensor.tensor([1.0, 1.0], dtype=cogtensor.float64)
        >>> opt.step()
        >>> w.tolist()
        [0.9, -2.1]
    """

    def __init__(self, params, lr=1e-3, momentum: float = 0, dampening: float = 0, weight_decay=0,
                 nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        check_lr(lr)
        check_nonnegative("momentum value", momentum)
        check_nonnegative("weight_decay value", weight_decay)
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                    "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                    "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        check_flags(type(self).__name__, differentiable, foreach, fused)
        super().__init__(params, defaults)

    def _group_fallbacks(self) -> dict:
        return {"nesterov": False, "maximize": False, "foreach": None, "differentiable": False, "fused": False}

    def _state_for(self, p: Tensor, group: dict):
        # plain SGD keeps no state at all (not even an empty entry), as torch
        return self.state[p] if group["momentum"] != 0 else None

    def _update(self, p: Tensor, group: dict, state) -> None:
        momentum, lr = group["momentum"], value_of(group["lr"])
        g = update_grad(p, group["maximize"], value_of(group["weight_decay"]))
        owned = g is not p.grad._data  # a fresh array this step may overwrite
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = Tensor(np.array(g, copy=True, order="K"))
            else:
                b = real_view(buf._data)
                np.multiply(b, momentum, out=b)
                add_scaled_(b, real_view(g), 1 - group["dampening"], np.empty_like(b))
            if group["nesterov"]:
                ahead = np.multiply(buf._data, momentum, out=np.empty_like(g))
                g, owned = np.add(g, ahead, out=ahead), True
            else:
                g, owned = buf._data, False
        g = real_view(g)
        add_scaled_(real_view(p._data), g, -lr, g if owned else np.empty_like(g))
        p._bump_version()
