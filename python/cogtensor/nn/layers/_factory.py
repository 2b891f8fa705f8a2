"""What the layer constructors share: new parameter storage honouring torch's ``device`` and
``dtype`` factory arguments, and the "inplace=True" part of activation reprs."""

from __future__ import annotations

import numpy as np

from cogtensor import dtypes
from cogtensor.tensor import Tensor

__all__: list[str] = []


def empty(shape, device=None, dtype=None) -> Tensor:
    """Uninitialised storage of ``shape`` (values are set by the layer's ``reset_parameters``).

    Raises:
        ValueError: a device other than the CPU. TypeError: ``dtype`` not a cogtensor dtype.
    """
    if device is not None and str(device) != "cpu":
        raise ValueError(f"device must be None or 'cpu' (cogtensor runs on the CPU), got {device!r}")
    if dtype is None:
        dtype = dtypes.get_default_dtype()
    if not isinstance(dtype, dtypes.dtype):
        raise TypeError(f"dtype must be a cogtensor dtype (e.g. cogtensor.float64), got {dtype!r}")
    if not dtype.is_floating_point:
        raise TypeError(f"layer parameters must have a floating point dtype, got {dtype}")
    return Tensor(np.zeros(tuple(int(s) for s in shape), dtype.numpy))


def positive_int(value, name: str, owner: str) -> int:
    """``value`` as an int >= 1 (torch's layers refuse zero or negative sizes)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{owner}: {name} must be non-negative, got {value}")
    return int(value)


def inplace_suffix(inplace: bool) -> str:
    return ", inplace=True" if inplace else ""
