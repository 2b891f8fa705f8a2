"""``Optimizer``: parameter groups, per-parameter state and state dicts, as ``torch.optim.Optimizer``.

Subclasses implement ``step``. The updates work directly on the numpy arrays behind the
parameters (in place, with ``out=``), never through recorded tensor ops: an optimizer step
is not part of any graph, and a few fused numpy passes per parameter keep it fast. Each
updated parameter's version counter is bumped, as torch's in-place update does, so a graph
that saved the old values refuses to run backward.

The state dict is laid out as torch's, so one exported by ``torch.optim`` (its tensors
converted) loads here and the next steps reproduce torch's::

    {'state': {0: {'step': tensor(3.), 'exp_avg': ..., 'exp_avg_sq': ...}, 1: {...}},
     'param_groups': [{'lr': 0.001, 'betas': (0.9, 0.999), ..., 'params': [0, 1]}]}
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from copy import deepcopy
from itertools import chain

import numpy as np

from cogtensor import dtypes, graph
from cogtensor.tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter with no default: every group must give it."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj) -> str:
    kind = type(obj)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


class Optimizer:
    """Base class of every optimizer.

    Args:
        params: an iterable of tensors, of ``(name, tensor)`` pairs (``named_parameters()``),
            or of dicts, each a parameter group: ``{'params': [...], 'lr': ..., ...}``. Keep
            the order deterministic (a list, not a set): state dicts match parameters by it.
        defaults: the hyper-parameters a group takes when it does not name them.

    Attributes:
        param_groups (list[dict]): the groups, each with its ``'params'`` list and options.
        state (defaultdict): per-parameter state (keyed by the parameter tensor).
        defaults (dict): the default options.

    Example:
        >>> w = cogtensor.zeros(3, dtype=cogtensor.float64, requires_grad=True)
        >>> opt = cogtensor.optim.SGD([w], lr=0.1)
        >>> (w - 1.0).square().sum().backward()
        >>> opt.step(); opt.zero_grad()
        >>> w.tolist()
        [0.2, 0.2, 0.2]
    """

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or dicts, "
                            f"but got {_typename(params)}")
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    # ------------------------------------------------------------------ groups
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters (with its own options) to ``param_groups``.

        Args:
            param_group: ``{'params': tensors or (name, tensor) pairs, option: value, ...}``;
                options it leaves out take the optimizer's defaults.

        Raises:
            TypeError: not a dict, params given as a set, or a parameter that is not a tensor.
            ValueError: a non-leaf tensor, a missing required option, a parameter already in
                another group, or names given for some parameters (or groups) only.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the ordering of "
                            "tensors in sets will change between runs. Please use a list instead.")
        else:
            params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        param_group["params"] = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError("all optimizer params should be with/without names. Some param names are missing")
            param_group["param_names"] = names
        self._check_params(param_group["params"])
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(f"parameter group didn't specify a value of required optimization parameter {name}")
            param_group.setdefault(name, default)
        self._check_disjoint(param_group)
        self.param_groups.append(param_group)

    def _check_params(self, params) -> None:
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is {_typename(param)}")
            if not self.defaults.get("differentiable", None) and not (param.is_leaf or param.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")

    def _check_disjoint(self, param_group: dict) -> None:
        params = param_group["params"]
        if len(params) != len(set(params)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in future, this will "
                          "cause an error; see github.com/pytorch/pytorch/issues/40967 for more information",
                          UserWarning, stacklevel=3)
        seen: set = set()
        for group in self.param_groups:
            seen.update(group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(params):
            raise ValueError("some parameters appear in more than one parameter group")

    # ------------------------------------------------------------------- steps
    def step(self, closure=None):
        """Update the parameters once from their ``.grad`` (subclasses implement it).

        Args:
            closure: optional callable that re-evaluates the model and returns the loss
                (run with gradients enabled); ``step`` returns what it returns.
        """
        raise NotImplementedError(f"{type(self).__name__}.step is not implemented")

    @staticmethod
    def _evaluate(closure):
        """Run the closure (with gradients on, as torch) and return its loss; None without one."""
        if closure is None:
            return None
        with graph.enable_grad():
            return closure()

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter.

        Args:
            set_to_none: drop the gradients (``.grad = None``, the default: parameters that
                get no gradient next time are then skipped by ``step``) instead of filling
                them with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                grad.zero_()

    # ------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """The optimizer's state: ``{'state': {index: {...}}, 'param_groups': [{..., 'params': [index, ...]}]}``.

        Parameters are replaced by their position over all groups (0, 1, ...), so the dict
        holds no parameter and loads into any optimizer built over the same parameter list.
        State tensors are returned as they are (not copied), as torch does.
        """
        mapping: dict[int, int] = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            mapping.update({id(p): i for i, p in enumerate(group["params"], start) if id(p) not in mapping})
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        param_groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": param_groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a state dict made by :meth:`state_dict` (here or, tensors converted, by torch).

        Groups must match this optimizer's in number and size. State tensors are copied and,
        for floating parameters, cast to the parameter's dtype; ``step`` keeps its dtype.
        Values that are not cogtensor tensors but export DLPack (numpy arrays, torch
        tensors) are converted the same way.

        Raises:
            ValueError: a different number of groups, or a group of a different size.
        """
        state_dict = state_dict.copy()
        groups = self.param_groups
        saved_groups = deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group")
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key in id_map:
                state[id_map[key]] = _cast_state(id_map[key], value)
            else:
                state[key] = value
        param_groups = []
        for group, saved in zip(groups, saved_groups):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            param_groups.append(saved)
        self.__setstate__({"state": state, "param_groups": param_groups})

    def __getstate__(self) -> dict:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.defaults.setdefault("differentiable", False)
        for group in self.param_groups:
            for name, default in self._group_fallbacks().items():
                group.setdefault(name, default)
            for p in group["params"]:
                self._upgrade_state(self.state.get(p, {}))

    def _group_fallbacks(self) -> dict:
        """Options an older state dict may lack, with the value they then take."""
        return {}

    def _upgrade_state(self, state: dict) -> None:
        """Turn number-valued scalar state (older state dicts) into tensors."""
        for key in ("step", "mu_product"):
            if key in state and not isinstance(state[key], Tensor):
                state[key] = scalar_tensor(float(state[key]))

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


class ParameterwiseOptimizer(Optimizer):
    """An optimizer whose step updates each parameter that has a gradient on its own.

    Subclasses implement ``_init_state(state, p, group)`` (fill a new parameter's state dict)
    and ``_update(p, group, state)`` (the in-place update).
    """

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns the closure's loss (or None).

        Raises:
            ValueError: a parameter over read-only memory (e.g. a zero-copy view of an
                immutable buffer), which cannot be updated in place.
        """
        loss = self._evaluate(closure)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p._data.flags.writeable:
                    raise ValueError(f"{type(self).__name__}.step: a parameter of shape {list(p.shape)} is read-only "
                                     "memory (a view of an immutable buffer); optimize a copy (p.clone()) instead")
                self._update(p, group, self._state_for(p, group))
        return loss

    def _state_for(self, p: Tensor, group: dict):
        state = self.state[p]
        if len(state) == 0:  # lazily, at the first step with a gradient (as torch)
            self._init_state(state, p, group)
        return state

    def _init_state(self, state: dict, p: Tensor, group: dict) -> None:
        raise NotImplementedError

    def _update(self, p: Tensor, group: dict, state) -> None:
        raise NotImplementedError


def _cast_state(param: Tensor, value, key=None):
    """A deep copy of loaded state, tensors cast to the parameter's floating dtype ('step' kept)."""
    if isinstance(value, dict):
        return {k: _cast_state(param, v, k) for k, v in value.items()}
    array = _array_of(value)
    if array is not None:
        if key != "step" and param.dtype.is_floating_point:
            return Tensor(np.array(array, dtype=param._data.dtype, copy=True))
        return Tensor(np.array(array, copy=True))
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_state(param, v) for v in value)
    return value


def _array_of(value):
    """The numpy array behind a tensor-like state value (ours, numpy, DLPack), else None."""
    if isinstance(value, Tensor):
        return value._data
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__") and hasattr(value, "__dlpack_device__"):
        return np.from_dlpack(value)
    return None


def scalar_dtype() -> np.dtype:
    """The dtype of scalar state such as 'step': float64 when that is the default dtype, else float32 (torch's)."""
    return np.dtype(np.float64) if dtypes.get_default_dtype() is dtypes.float64 else np.dtype(np.float32)


def scalar_tensor(value: float) -> Tensor:
    """A 0-d tensor of :func:`scalar_dtype` holding ``value`` (torch keeps 'step' this way)."""
    return Tensor(np.array(value, dtype=scalar_dtype()))
