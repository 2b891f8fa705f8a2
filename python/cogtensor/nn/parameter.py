"""``Parameter``: a tensor that a :class:`~cogtensor.nn.Module` registers as one of its
learnable weights when it is assigned as an attribute (``torch.nn.Parameter``)."""

from __future__ import annotations

import numpy as np

from cogtensor import dtypes
from cogtensor.tensor import Tensor

__all__ = ["Parameter", "Buffer"]


class Parameter(Tensor):
    """A leaf tensor that is a module parameter.

    It shares ``data``'s memory (no copy) and, unlike other tensors, requires grad by
    default. Ops on a parameter return plain tensors, as in torch.

    Args:
        data: the initial values (a :class:`cogtensor.Tensor`); None gives an empty
            tensor of the default dtype.
        requires_grad: whether the parameter records gradients (default True).

    Example:
        >>> w = Parameter(cogtensor.zeros(2, 3))
        >>> w.requires_grad, w.shape
        (True, cogtensor.Size([2, 3]))
    """

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            array = np.empty((0,), dtypes.get_default_dtype().numpy)
        elif isinstance(data, Tensor):
            array = data._data
        else:
            raise TypeError(f"Parameter: expected data to be a cogtensor.Tensor or None, got {type(data).__name__}")
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"Parameter: expected requires_grad to be a bool, got {type(requires_grad).__name__}")
        super().__init__(array)
        if requires_grad:
            self.requires_grad_(True)  # raises for dtypes that cannot require grad, as torch

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        """A parameter over a copy of the values, with the same ``requires_grad`` (no ``.grad``, as torch)."""
        found = memo.get(id(self))
        if found is None:
            found = memo[id(self)] = type(self)(Tensor(self._data.copy()), self.requires_grad)
        return found

    def __reduce_ex__(self, protocol):
        # the values and the flag, not the graph node (which holds a weak reference)
        return _rebuild_parameter, (type(self), np.array(self._data), self.requires_grad)


def _rebuild_parameter(cls, array: np.ndarray, requires_grad: bool) -> Parameter:
    return cls(Tensor(array), requires_grad)


class Buffer(Tensor):
    """A tensor that a :class:`~cogtensor.nn.Module` registers as a buffer when assigned as an
    attribute (``torch.nn.Buffer``): state that is not a parameter, such as running statistics.

    It shares ``data``'s memory. ``persistent=False`` keeps it out of ``state_dict``.

    Example:
        >>> self.running_mean = Buffer(cogtensor.zeros(8))   # inside a Module's __init__
    """

    def __init__(self, data: Tensor | None = None, *, persistent: bool = True):
        if data is None:
            data = Tensor(np.empty((0,), dtypes.get_default_dtype().numpy))
        if not isinstance(data, Tensor):
            raise TypeError(f"Buffer: expected data to be a cogtensor.Tensor or None, got {type(data).__name__}")
        super().__init__(data._data)
        if data.requires_grad:
            self.requires_grad_(True)
        self.persistent = bool(persistent)
