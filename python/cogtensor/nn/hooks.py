"""Module hooks: the handle that removes a hook (``torch.utils.hooks.RemovableHandle``)
and the forward call with pre-/post-hooks (torch's ``Module._call_impl``)."""

from __future__ import annotations

import itertools
import warnings
import weakref
from collections import OrderedDict

__all__ = ["RemovableHandle", "HookMethods"]


class RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` unregisters the hook.

    It can also be used as a context manager (the hook is removed on exit). Holds the
    hook dictionaries weakly, so a handle never keeps a module alive.

    Example:
        >>> handle = module.register_forward_hook(lambda m, args, out: print(out.shape))
        >>> handle.remove()
    """

    _ids = itertools.count()

    def __init__(self, hooks_dict: dict, *, extra_dict=None):
        self.hooks_dict_ref = weakref.ref(hooks_dict)
        self.id = next(RemovableHandle._ids)
        extras = extra_dict if isinstance(extra_dict, (list, tuple)) else ([extra_dict] if extra_dict is not None
                                                                           else [])
        self.extra_dict_ref = tuple(weakref.ref(d) for d in extras)

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        for ref in (self.hooks_dict_ref, *self.extra_dict_ref):
            hooks = ref()
            if hooks is not None and self.id in hooks:
                del hooks[self.id]

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def add_hook(hooks: OrderedDict, hook, prepend: bool, extra=None) -> RemovableHandle:
    """Store ``hook`` in ``hooks`` (first when ``prepend``) and return its handle."""
    if not callable(hook):
        raise TypeError(f"hook must be callable, got {type(hook).__name__}")
    handle = RemovableHandle(hooks, extra_dict=extra)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle


def call_with_hooks(module, args: tuple, kwargs: dict):
    """Run ``module.forward`` between its forward pre-hooks and forward hooks, as torch.

    If anything raises, the forward hooks registered with ``always_call=True`` that did
    not run yet still run (an error of theirs becomes a warning), then the error propagates.
    """
    state = {"args": args, "kwargs": kwargs, "result": None, "called": set()}
    try:
        state["args"], state["kwargs"] = _run_pre_hooks(module, args, kwargs)
        state["result"] = module.forward(*state["args"], **state["kwargs"])
        return _run_post_hooks(module, state)
    except Exception:
        _run_always_called_hooks(module, state)
        raise


def _run_pre_hooks(module, args: tuple, kwargs: dict):
    with_kwargs = module._forward_pre_hooks_with_kwargs
    for hook_id, hook in list(module._forward_pre_hooks.items()):
        if hook_id in with_kwargs:
            changed = hook(module, args, kwargs)
            if changed is not None:
                if not (isinstance(changed, tuple) and len(changed) == 2):
                    raise RuntimeError("forward pre-hook must return None or a tuple of (new_args, new_kwargs), "
                                       f"but got {changed}.")
                args, kwargs = changed
        else:
            changed = hook(module, args)
            if changed is not None:
                args = changed if isinstance(changed, tuple) else (changed,)
    return args, kwargs


def _call_post_hook(module, hook_id, hook, state):
    if hook_id in module._forward_hooks_with_kwargs:
        return hook(module, state["args"], state["kwargs"], state["result"])
    return hook(module, state["args"], state["result"])


def _run_post_hooks(module, state: dict):
    always = module._forward_hooks_always_called
    for hook_id, hook in list(module._forward_hooks.items()):
        if hook_id in always:
            state["called"].add(hook_id)
        changed = _call_post_hook(module, hook_id, hook, state)
        if changed is not None:
            state["result"] = changed
    return state["result"]


def _run_always_called_hooks(module, state: dict) -> None:
    always = module._forward_hooks_always_called
    for hook_id, hook in list(module._forward_hooks.items()):
        if hook_id not in always or hook_id in state["called"]:
            continue
        try:
            changed = _call_post_hook(module, hook_id, hook, state)
        except Exception as e:  # the forward's error is the one to report
            warnings.warn("module forward hook with ``always_call=True`` raised an exception that was silenced "
                          f"as another error was raised in forward: {e}", stacklevel=3)
            continue
        if changed is not None:
            state["result"] = changed


class HookMethods:
    """Hook registration methods of :class:`~cogtensor.nn.Module`."""

    def register_forward_pre_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False):
        """``hook(module, args)`` (or ``hook(module, args, kwargs)`` with ``with_kwargs``) runs
        before ``forward``; it may return replacement args (or ``(args, kwargs)``).
        Returns a handle whose ``remove()`` unregisters it."""
        handle = add_hook(self._forward_pre_hooks, hook, prepend, extra=self._forward_pre_hooks_with_kwargs)
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        return handle

    def register_forward_hook(self, hook, *, prepend: bool = False, with_kwargs: bool = False,
                              always_call: bool = False):
        """``hook(module, args, output)`` (or ``hook(module, args, kwargs, output)``) runs after
        ``forward``; it may return a replacement output. ``always_call`` runs it even when
        ``forward`` raises. Returns a handle whose ``remove()`` unregisters it."""
        handle = add_hook(self._forward_hooks, hook, prepend,
                          extra=[self._forward_hooks_with_kwargs, self._forward_hooks_always_called])
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        return handle

    def register_state_dict_pre_hook(self, hook):
        """``hook(module, prefix, keep_vars)`` runs before ``state_dict`` saves this module."""
        return add_hook(self._state_dict_pre_hooks, hook, False)

    def register_state_dict_post_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata)`` runs after ``state_dict`` saved this
        module (and its children); it may edit ``state_dict`` in place."""
        return add_hook(self._state_dict_hooks, hook, False)

    def register_load_state_dict_pre_hook(self, hook):
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
        error_msgs)`` runs before this module's entries are loaded."""
        return add_hook(self._load_state_dict_pre_hooks, hook, False)

    def register_load_state_dict_post_hook(self, hook):
        """``hook(module, incompatible_keys)`` runs after this module and its children loaded; it
        may edit the key lists in place."""
        return add_hook(self._load_state_dict_post_hooks, hook, False)
