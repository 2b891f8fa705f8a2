"""``Module``, the base class of every layer and model, and ``Parameter`` (``torch.nn.Module``,
``torch.nn.Parameter``).

A module registers a :class:`Parameter`, a child :class:`Module` or a buffer when it is
assigned as an attribute (``self.weight = Parameter(...)``); ``parameters()``,
``state_dict()``, ``to()``, ``train()``... then walk that tree. Names, traversal order,
``state_dict`` keys, error messages and ``repr`` are torch's, so a model written for torch
ports by changing the import and loads torch's checkpoints.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict

from cogtensor import dtypes
from cogtensor.graph import no_grad
from cogtensor.nn.hooks import HookMethods, RemovableHandle, call_with_hooks
from cogtensor.nn.module_state import IncompatibleKeys, StateDictMethods
from cogtensor.nn.parameter import Buffer, Parameter
from cogtensor.tensor import Tensor

__all__ = ["Module", "Parameter", "Buffer", "RemovableHandle", "IncompatibleKeys"]

_HOOK_DICTS = ("_forward_hooks", "_forward_hooks_with_kwargs",
               "_forward_hooks_always_called", "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
               "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
               "_load_state_dict_post_hooks")


def _typename(value) -> str:
    """torch.typename: ``cogtensor.Tensor``, ``int``, ``mypackage.MyClass``."""
    if isinstance(value, Tensor):
        return f"cogtensor.{type(value).__name__}"
    cls = type(value)
    return cls.__qualname__ if cls.__module__ in ("builtins", "") else f"{cls.__module__}.{cls.__qualname__}"


def _addindent(text: str, spaces: int) -> str:
    first, *rest = text.split("\n")
    return "\n".join([first] + [" " * spaces + line for line in rest]) if rest else text


class Module(StateDictMethods, HookMethods):
    """Base class for neural-network modules.

    Subclasses call ``super().__init__()`` first, assign their parameters and child
    modules as attributes, and define ``forward``; calling the module runs its forward
    pre-hooks, ``forward`` and its forward hooks.

    Example:
        >>> class Affine(Module):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.scale = Parameter(cogtensor.ones(3))
        ...     def forward(self, x):
        ...         return x * self.scale
        >>> list(Affine().state_dict())
        ['scale']
    """

    _version = 1  # stored in state_dict metadata; subclasses bump it when their layout changes
    training: bool
    call_super_init = False
    dump_patches = False

    def __init__(self, *args, **kwargs) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                            f"'{next(iter(kwargs))}'")
        if args:
            raise TypeError(f"{type(self).__name__}.__init__() takes 1 positional argument but "
                            f"{len(args) + 1} were given")
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        for name in _HOOK_DICTS:
            setattr_(self, name, OrderedDict())
        setattr_(self, "_modules", {})

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')

    def __call__(self, *args, **kwargs):
        # the common case (no hooks) is one dict lookup per hook kind and the forward call
        if self._forward_pre_hooks or self._forward_hooks:
            return call_with_hooks(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------- attributes
    def __getattr__(self, name: str):
        # only called when normal lookup fails: parameters, buffers and children live in their dicts
        members = self.__dict__
        params = members.get("_parameters")
        if params is not None:
            if name in params:
                return params[name]
            buffers = members["_buffers"]
            if name in buffers:
                return buffers[name]
            modules = members["_modules"]
            if name in modules:
                return modules[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value) -> None:
        members = self.__dict__
        params = members.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(cogtensor.nn.Parameter or None expected)")
            self.register_parameter(name, value)
        elif isinstance(value, Module):
            modules = members.get("_modules")
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            modules[name] = value
        else:
            self._set_plain(members, name, value)

    def _set_plain(self, members: dict, name: str, value) -> None:
        modules, buffers = members.get("_modules"), members.get("_buffers")
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(cogtensor.nn.Module or None expected)")
            modules[name] = value
        elif isinstance(value, Buffer) or (buffers is not None and name in buffers):
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(cogtensor.nn.Buffer, cogtensor.Tensor or None expected)")
            persistent = value.persistent if isinstance(value, Buffer) else \
                name not in members["_non_persistent_buffers_set"]
            self.register_buffer(name, value, persistent)
        else:
            object.__setattr__(self, name, value)

    def _forget(self, name: str, keep: str) -> None:
        """Drop ``name`` from every place but ``keep`` (a new kind of member replaces an old one)."""
        members = self.__dict__
        members.pop(name, None)
        for place in ("_parameters", "_buffers", "_modules"):
            if place != keep:
                members[place].pop(name, None)
        members["_non_persistent_buffers_set"].discard(name)

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self):
        names = list(object.__dir__(self)) + list(self._parameters) + list(self._modules) + list(self._buffers)
        return sorted(n for n in set(names) if not n[0].isdigit())

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        for name in _HOOK_DICTS:  # pickles from older layouts lack some hook dicts
            self.__dict__.setdefault(name, OrderedDict())
        self.__dict__.setdefault("_non_persistent_buffers_set", set())

    # --------------------------------------------------------- registration
    def _check_member_name(self, kind: str, name, store: str) -> None:
        if store not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if hasattr(self, name) and name not in self.__dict__[store]:
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder) under ``name``; same as assigning it."""
        self._check_member_name("parameter", name, "_parameters")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                            "(cogtensor.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                             f"created explicitly. To express '{name}' as a function of another Tensor, compute "
                             "the value in the forward() method.")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is state but not a parameter (running means, masks...).

        ``persistent=False`` keeps it out of ``state_dict``. Later assignments to
        ``self.<name>`` replace the buffer.
        """
        self._check_member_name("buffer", name, "_buffers")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(cogtensor Tensor or None required)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module under ``name``; same as assigning it."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        self._modules[name] = module

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        """The submodule at a dotted path (``"encoder.layers.0"``); ``""`` is self."""
        module = self
        for item in target.split(".") if target else ():
            if not hasattr(module, item):
                raise AttributeError(module._get_name() + " has no attribute `" + item + "`")
            module = getattr(module, item)
            if not isinstance(module, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return module

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"encoder.0.weight"``)."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(module._get_name() + " has no attribute `" + name + "`")
        param = getattr(module, name)
        if not isinstance(param, Parameter):
            raise AttributeError("`" + name + "` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at a dotted path (``"bn.running_mean"``)."""
        module_path, _, name = target.rpartition(".")
        module = self.get_submodule(module_path)
        if not hasattr(module, name):
            raise AttributeError(module._get_name() + " has no attribute `" + name + "`")
        if name not in module._buffers:
            raise AttributeError("`" + name + "` is not a buffer")
        return getattr(module, name)

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True):
        """Yield ``(dotted_name, module)`` for self and every descendant, depth first (each once)."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is not None:
                yield from module.named_modules(memo, prefix + ("." if prefix else "") + name, remove_duplicate)

    def modules(self):
        """Yield self and every descendant module."""
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        """Yield ``(name, module)`` for the direct children (each once)."""
        memo = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, members_of, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        memo = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for module_prefix, module in modules:
            for key, value in members_of(module):
                if value is None or value in memo:
                    continue
                if remove_duplicate:
                    memo.add(value)
                yield module_prefix + ("." if module_prefix else "") + key, value

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        """Yield ``(dotted_name, parameter)``; a parameter shared by two modules comes once."""
        return self._named_members(lambda m: m._parameters.items(), prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        for _, param in self.named_parameters(recurse=recurse):
            yield param

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, buf in self.named_buffers(recurse=recurse):
            yield buf

    # ------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode on self and every descendant (Dropout, BatchNorm behave differently); returns self."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        """``train(False)``; returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Set ``requires_grad`` on every parameter; returns self."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default) or to zeros in place."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                grad = param.grad
                if grad.grad_fn is not None:
                    grad.detach_()
                else:
                    grad.requires_grad_(False)
                grad.zero_()

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every descendant (children first) and on self; returns self.

        Example:
            >>> model.apply(lambda m: init.zeros_(m.bias) if getattr(m, "bias", None) is not None else None)
        """
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------- conversions
    def _apply(self, fn, recurse: bool = True) -> Module:
        """Replace every parameter's values (and gradient's) by ``fn(values)`` in place, keeping
        the Parameter objects (``param.data = ...``), and every buffer by ``fn(buffer)``."""
        if recurse:
            for module in self.children():
                module._apply(fn)
        for param in self._parameters.values():
            if param is None:
                continue
            with no_grad():
                param.data = fn(param)
                if param.grad is not None:
                    param.grad.data = fn(param.grad)
        for key, buf in self._buffers.items():
            if buf is not None:
                self._buffers[key] = fn(buf)
        return self

    def to(self, *args, **kwargs) -> Module:
        """Convert floating-point (and complex) parameters and buffers to a dtype, in place; returns self.

        Accepts ``to(dtype)``, ``to(tensor)`` (its dtype), ``to("cpu")``, ``to("cpu", dtype)`` and
        the keywords ``device``, ``dtype``, ``non_blocking``. Integer tensors keep their dtype.

        Example:
            >>> model.to(cogtensor.float64)
        """
        target = _parse_to(args, kwargs)
        if target is None:
            return self
        if not (target.is_floating_point or target.is_complex):
            raise TypeError(f"nn.Module.to only accepts floating point or complex dtypes, but got desired "
                            f"dtype={target}")
        if target.is_complex:
            warnings.warn("Complex modules are a new feature under active development whose design may change, "
                          "and some modules might not work as expected when using complex tensors as parameters "
                          "or buffers.", UserWarning, stacklevel=2)
        return self._apply(lambda t: t.to(target) if t.is_floating_point() or t.is_complex() else t)

    def _cast_floating(self, target) -> Module:
        return self._apply(lambda t: t.to(target) if t.is_floating_point() else t)

    def float(self) -> Module:
        """Floating-point parameters and buffers to float32; returns self."""
        return self._cast_floating(dtypes.float32)

    def double(self) -> Module:
        return self._cast_floating(dtypes.float64)

    def half(self) -> Module:
        return self._cast_floating(dtypes.float16)

    def bfloat16(self) -> Module:
        return self._cast_floating(dtypes.bfloat16)

    def cpu(self) -> Module:
        """Nothing to move (every tensor lives in CPU memory); returns self."""
        return self

    def type(self, dst_type) -> Module:
        """Every parameter and buffer (integers too) to ``dst_type``; returns self."""
        if not isinstance(dst_type, dtypes.dtype):
            raise TypeError(f"Module.type: expected a cogtensor dtype, got {dst_type!r}")
        return self._apply(lambda t: t.to(dst_type))

    # -------------------------------------------------------------- repr
    def extra_repr(self) -> str:
        """The text inside ``Name(...)`` besides the children (override in layers)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2) for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if lines:
            body = extra_lines[0] if len(extra_lines) == 1 and not child_lines \
                else "\n  " + "\n  ".join(lines) + "\n"
        return f"{self._get_name()}({body})"


def _parse_to(args: tuple, kwargs: dict):
    """The dtype ``Module.to(...)`` asks for (None: keep), checking the device is the CPU."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking", "memory_format", "copy"}
    if unknown:
        raise TypeError(f"to() got an unexpected keyword argument '{sorted(unknown)[0]}'")
    if len(args) > 2:
        raise TypeError(f"to() takes at most 2 positional arguments but {len(args)} were given")
    target, device = kwargs.get("dtype"), kwargs.get("device")
    for arg in args:
        if isinstance(arg, dtypes.dtype):
            target = arg
        elif isinstance(arg, Tensor):
            target = arg.dtype
        elif isinstance(arg, str) or arg is None:
            device = arg
        else:
            raise TypeError(f"to() received an invalid combination of arguments - got {type(arg).__name__}; "
                            "expected a dtype, a tensor or a device")
    if target is not None and not isinstance(target, dtypes.dtype):
        raise TypeError(f"to(): dtype must be a cogtensor dtype, got {target!r}")
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"to(): cogtensor runs on the CPU only, got device {device!r}")
    return target
