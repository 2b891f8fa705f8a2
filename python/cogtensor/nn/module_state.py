"""``state_dict`` / ``load_state_dict`` of a :class:`~cogtensor.nn.Module`, as torch's.

Keys are dotted paths (``"encoder.0.weight"``): each module's parameters, then its
persistent buffers, then its children's entries in registration order. Loading copies
values into the existing tensors under ``no_grad`` (an optimizer holding the
parameters sees the new values) and collects every problem before raising one error.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from cogtensor.graph import no_grad
from cogtensor.nn.parameter import Parameter
from cogtensor.tensor import Tensor, from_dlpack

__all__ = ["IncompatibleKeys", "StateDictMethods"]


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys the module expected but did not get, and
    the keys it got but has no place for (repr as torch's ``_IncompatibleKeys``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


IncompatibleKeys = _IncompatibleKeys


# ------------------------------------------------------------------- saving
def collect_state_dict(module, destination, prefix: str, keep_vars: bool):
    """Fill ``destination`` (a new OrderedDict with ``_metadata`` when None) with ``module``'s state."""
    if destination is None:
        destination = OrderedDict()
        destination._metadata = OrderedDict()
    if hasattr(destination, "_metadata"):
        destination._metadata[prefix[:-1]] = {"version": module._version}
    for hook in module._state_dict_pre_hooks.values():
        hook(module, prefix, keep_vars)
    module._save_to_state_dict(destination, prefix, keep_vars)
    for name, child in module._modules.items():
        if child is not None:
            child.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
    for hook in module._state_dict_hooks.values():
        changed = hook(module, destination, prefix, {"version": module._version})
        if changed is not None:
            destination = changed
    return destination


def save_own_state(module, destination, prefix: str, keep_vars: bool) -> None:
    """This module's own parameters and persistent buffers (not its children's)."""
    for name, param in module._parameters.items():
        if param is not None:
            destination[prefix + name] = param if keep_vars else param.detach()
    skipped = module._non_persistent_buffers_set
    for name, buf in module._buffers.items():
        if buf is not None and name not in skipped:
            destination[prefix + name] = buf if keep_vars else buf.detach()
    if has_extra_state(module):
        destination[prefix + "_extra_state"] = module.get_extra_state()


def has_extra_state(module) -> bool:
    """Whether the module's class overrides ``get_extra_state``."""
    return getattr(type(module), "get_extra_state", None) is not StateDictMethods.get_extra_state


# ------------------------------------------------------------------ loading
def load_state(module, state, strict: bool, assign: bool) -> IncompatibleKeys:
    """Load ``state`` into ``module`` and its children; raise RuntimeError listing every problem."""
    if not isinstance(state, Mapping):
        raise TypeError(f"Expected state_dict to be dict-like, got {type(state)}.")
    if not isinstance(strict, (bool, np.bool_)):
        raise TypeError(f"load_state_dict: expected strict to be a bool, got {type(strict).__name__}")
    missing, unexpected, errors = [], [], []
    metadata = getattr(state, "_metadata", None)
    state = OrderedDict(state)
    _load_tree(module, state, "", metadata, assign, (missing, unexpected, errors))
    if strict:
        if unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected)))
        if missing:
            errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
    if errors:
        raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(type(module).__name__,
                                                                              "\n\t".join(errors)))
    return IncompatibleKeys(missing, unexpected)


def _load_tree(module, state: dict, prefix: str, metadata, assign: bool, found: tuple) -> None:
    missing, unexpected, errors = found
    local_metadata = {} if metadata is None else dict(metadata.get(prefix[:-1], {}))
    if assign:
        local_metadata["assign_to_params_buffers"] = assign
    module._load_from_state_dict(state, prefix, local_metadata, True, missing, unexpected, errors)
    for name, child in module._modules.items():
        if child is not None:
            child_prefix = prefix + name + "."
            child_state = {k: v for k, v in state.items() if k.startswith(child_prefix)}
            _load_tree(child, child_state, child_prefix, metadata, assign, found)
    keys = IncompatibleKeys(missing, unexpected)
    for hook in module._load_state_dict_post_hooks.values():
        if hook(module, keys) is not None:
            raise RuntimeError("Hooks registered with ``register_load_state_dict_post_hook`` are not expected "
                               "to return new values, if incompatible_keys need to be modified, it should be "
                               "done inplace.")


def load_own_state(module, state, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    """Copy this module's own entries of ``state`` in; record what is missing, unexpected or wrong."""
    for hook in module._load_state_dict_pre_hooks.values():
        hook(module, state, prefix, local_metadata, strict, missing, unexpected, errors)
    skipped = module._non_persistent_buffers_set
    local = {k: v for k, v in module._parameters.items() if v is not None}
    local.update((k, v) for k, v in module._buffers.items() if v is not None and k not in skipped)
    assign = local_metadata.get("assign_to_params_buffers", False)
    for name, current in local.items():
        key = prefix + name
        if key in state:
            _load_one(module, name, key, current, state[key], assign, errors)
        elif strict:
            missing.append(key)
    _load_extra_state(module, state, prefix, strict, missing, unexpected)
    if strict:
        extra_key = prefix + "_extra_state"
        for key in state:
            if key.startswith(prefix) and key != extra_key:
                head = key[len(prefix):].split(".", 1)
                if (head[0] not in module._modules) if len(head) > 1 else (head[0] not in local):
                    unexpected.append(key)


def _load_extra_state(module, state, prefix, strict, missing, unexpected) -> None:
    key = prefix + "_extra_state"
    if has_extra_state(module):
        if key in state:
            module.set_extra_state(state[key])
        elif strict:
            missing.append(key)
    elif strict and key in state:
        unexpected.append(key)


def _load_one(module, name: str, key: str, current, value, assign: bool, errors: list) -> None:
    raw, value = value, _as_tensor(value)
    if value is None:
        errors.append(f'While copying the parameter named "{key}", expected cogtensor.Tensor or Tensor-like '
                      f"object from checkpoint but received {type(raw)}")
        return
    if current.ndim == 0 and value.ndim == 1:  # torch 0.3 saved scalars as shape (1,); torch still accepts them
        value = value[0]
    if value.shape != current.shape:
        errors.append(f"size mismatch for {key}: copying a param with shape {value.shape} from checkpoint, "
                      f"the shape in current model is {current.shape}.")
        return
    try:
        with no_grad():
            if assign:
                _assign(module, name, current, value)
            else:
                current.copy_(value)
    except Exception as ex:  # noqa: BLE001 - torch reports any failure of the copy with the key
        errors.append(f'While copying the parameter named "{key}", whose dimensions in the model are '
                      f"{current.size()} and whose dimensions in the checkpoint are {value.size()}, an exception "
                      f"occurred : {ex.args}.")


def _assign(module, name: str, current, value) -> None:
    """``load_state_dict(assign=True)``: the module takes the loaded tensor itself (no copy)."""
    if isinstance(current, Parameter):
        if isinstance(value, Parameter):
            value.requires_grad_(current.requires_grad)
        else:
            value = Parameter(value, requires_grad=current.requires_grad)
    setattr(module, name, value)


def _as_tensor(value):
    """A checkpoint value as a cogtensor Tensor: cogtensor tensors as they are, numpy arrays and
    DLPack producers (torch tensors) wrapped without a copy; None for anything else."""
    if isinstance(value, Tensor):
        return value
    try:
        if isinstance(value, np.ndarray):
            return Tensor(value)
        if hasattr(value, "__dlpack__"):
            return from_dlpack(value.detach() if hasattr(value, "detach") else value)
    except (TypeError, RuntimeError, BufferError):
        pass
    return None


class StateDictMethods:
    """``state_dict`` / ``load_state_dict`` methods of :class:`~cogtensor.nn.Module`."""

    def get_extra_state(self):
        """State beyond parameters and buffers for ``state_dict`` (override with ``set_extra_state``)."""
        raise RuntimeError("Reached a code path in Module.get_extra_state() that should never be called. Please "
                           "file an issue with the library so a fix can be made.")

    def set_extra_state(self, state) -> None:
        raise RuntimeError("Reached a code path in Module.set_extra_state() that should never be called. Please "
                           "file an issue with the library so a fix can be made.")

    def state_dict(self, *args, destination=None, prefix: str = "", keep_vars: bool = False):
        """An OrderedDict of every parameter and persistent buffer, keyed by dotted name, in torch's
        order (own parameters, own buffers, then each child's). Values share the module's
        memory (detached, unless ``keep_vars``).

        Example:
            >>> list(Sequential(Linear(2, 3), ReLU(), Linear(3, 1)).state_dict())
            ['0.weight', '0.bias', '2.weight', '2.bias']
        """
        if args:
            if len(args) > 3:
                raise TypeError(f"state_dict() takes at most 3 positional arguments but {len(args)} were given")
            warnings.warn("Positional args are being deprecated, use kwargs instead. Refer to "
                          "https://pytorch.org/docs/main/generated/torch.nn.Module.html#torch.nn.Module.state_dict"
                          " for details.", FutureWarning, stacklevel=2)
            destination = args[0]
            prefix = args[1] if len(args) > 1 else prefix
            keep_vars = args[2] if len(args) > 2 else keep_vars
        return collect_state_dict(self, destination, prefix, keep_vars)

    def _save_to_state_dict(self, destination, prefix: str, keep_vars: bool) -> None:
        save_own_state(self, destination, prefix, keep_vars)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False) -> IncompatibleKeys:
        """Copy values from ``state_dict`` into this module's parameters and buffers (in place,
        so optimizers holding them see the new values).

        Values may be cogtensor tensors, numpy arrays or DLPack producers such as torch
        tensors (``model.load_state_dict(torch_model.state_dict())`` works).

        Args:
            state_dict: a mapping from dotted names to tensors.
            strict: require the keys to match exactly (default True).
            assign: take the given tensors instead of copying into the existing ones.

        Returns:
            ``IncompatibleKeys(missing_keys, unexpected_keys)``.

        Raises:
            RuntimeError: listing every missing and unexpected key (when ``strict``) and every
                shape mismatch, as torch.
        """
        return load_state(self, state_dict, strict, assign)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        load_own_state(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
