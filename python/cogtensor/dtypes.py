"""Tensor dtypes and PyTorch's type-promotion rules.

A :class:`dtype` names a numpy dtype (bfloat16 comes from ml_dtypes) and its
category (bool < integer < floating < complex), which is what promotion looks at.
"""

from __future__ import annotations

import builtins

import ml_dtypes
import numpy as np

__all__ = [
    "dtype", "bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32",
    "float64", "half", "float", "double", "short", "int", "long", "complex64", "complex128", "cfloat", "cdouble",
    "promote_types", "result_type", "get_default_dtype", "set_default_dtype", "from_numpy_dtype",
]

_BOOL, _INT, _FLOAT, _COMPLEX = 0, 1, 2, 3


class dtype:  # noqa: N801 - named as torch.dtype
    """A tensor element type, e.g. ``cogtensor.float32``."""

    __slots__ = ("name", "numpy", "category")

    def __init__(self, name: str, numpy_dtype, category: int):
        self.name, self.numpy, self.category = name, np.dtype(numpy_dtype), category

    @property
    def is_floating_point(self) -> bool:
        return self.category == _FLOAT

    @property
    def is_complex(self) -> bool:
        return self.category == _COMPLEX

    @property
    def is_signed(self) -> bool:
        return self.name not in ("bool", "uint8")

    def to_complex(self) -> dtype:
        """The complex dtype with this floating dtype's precision (float32 -> complex64), as torch."""
        found = _COMPLEX_OF.get(self.name)
        if found is None and self.category != _COMPLEX:
            raise TypeError(f"to_complex: no complex dtype for {self.name} (complex64 and complex128 pair with "
                            "float32 and float64)")
        return self if found is None else found

    def to_real(self) -> dtype:
        """The floating dtype of a complex dtype's parts (complex64 -> float32); other dtypes unchanged."""
        return _REAL_OF.get(self.name, self)

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize

    def __repr__(self) -> str:
        return f"cogtensor.{self.name}"

    def __reduce__(self):
        return self.name  # pickles as the module attribute, so identity survives


bool = dtype("bool", np.bool_, _BOOL)  # noqa: A001 - torch.bool
uint8 = dtype("uint8", np.uint8, _INT)
int8 = dtype("int8", np.int8, _INT)
int16 = short = dtype("int16", np.int16, _INT)
int32 = int = dtype("int32", np.int32, _INT)  # noqa: A001 - torch.int
int64 = long = dtype("int64", np.int64, _INT)
float16 = half = dtype("float16", np.float16, _FLOAT)
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, _FLOAT)
float32 = float = dtype("float32", np.float32, _FLOAT)  # noqa: A001 - torch.float
float64 = double = dtype("float64", np.float64, _FLOAT)
complex64 = cfloat = dtype("complex64", np.complex64, _COMPLEX)
complex128 = cdouble = dtype("complex128", np.complex128, _COMPLEX)

_ALL = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64, complex64, complex128)
_BY_NUMPY = {d.numpy: d for d in _ALL}
_COMPLEX_OF = {"float32": complex64, "float64": complex128}
_REAL_OF = {"complex64": float32, "complex128": float64}
_default_float = float32


def from_numpy_dtype(numpy_dtype) -> dtype:
    """The cogtensor dtype of a numpy dtype; TypeError for types tensors do not hold."""
    found = _BY_NUMPY.get(np.dtype(numpy_dtype))
    if found is None:
        names = ", ".join(d.name for d in _ALL)
        raise TypeError(f"can't convert numpy dtype {np.dtype(numpy_dtype)} to a tensor dtype; supported: {names}")
    return found


def get_default_dtype() -> dtype:
    """The dtype of floating tensors made from Python floats (float32 unless changed)."""
    return _default_float


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype (any floating dtype, as torch allows)."""
    global _default_float
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"set_default_dtype: only floating-point types are supported as the default type, got {d}")
    _default_float = d


def promote_types(a: dtype, b: dtype) -> dtype:
    """The smallest dtype both promote to, by torch.promote_types' table.

    Unlike numpy, an integer with a float gives that float (int64 + float16 ->
    float16), and float16 with bfloat16 gives float32. A complex dtype with a
    float takes the wider precision (float64 + complex64 -> complex128).
    """
    if a is b:
        return a
    if a.category == _COMPLEX or b.category == _COMPLEX:
        if a.category != b.category and (a.category < _FLOAT or b.category < _FLOAT):
            return a if a.category == _COMPLEX else b  # bool and integers take the complex dtype
        return complex128 if complex128 in (a, b) or float64 in (a, b) else complex64
    if a.category == _FLOAT or b.category == _FLOAT:
        if a.category != b.category:
            return a if a.category == _FLOAT else b
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a.itemsize >= b.itemsize else b
    if a is bool or b is bool:
        return b if a is bool else a
    return _BY_NUMPY[np.promote_types(a.numpy, b.numpy)]  # integers: same table as torch


def _scalar_dtype(value) -> dtype:
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.float, np.floating)):
        return _default_float
    if isinstance(value, (builtins.complex, np.complexfloating)):
        return _default_complex()
    raise TypeError(f"unsupported operand type {type(value).__name__}: expected a tensor or a Python number")


def _default_complex() -> dtype:
    """The dtype of Python complex numbers: complex128 when the default dtype is float64, else complex64."""
    return complex128 if _default_float is float64 else complex64


def _combine(higher: dtype | None, lower: dtype | None) -> dtype | None:
    """torch's combine_categories: the higher-priority group wins unless the lower
    one brings a higher category (complex over floating over integer over bool);
    a floating group meeting a complex one keeps its precision (float64 with 1j ->
    complex128, float32 or bfloat16 with a complex128 scalar -> complex64)."""
    if higher is None:
        return lower
    if lower is None or higher.category == _COMPLEX:
        return higher
    if lower.category == _COMPLEX:
        if higher.category != _FLOAT:
            return lower
        if higher is float16:  # torch gives complex32 here
            raise TypeError("type promotion: float16 with a complex operand gives complex32 (torch.chalf), which "
                            "cogtensor does not have; convert to float32 or float64 first")
        return complex128 if higher is float64 else complex64
    if higher.category == _FLOAT:
        return higher
    if higher is bool or lower.category == _FLOAT:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> dtype:
    """The dtype of an operation's result, by PyTorch's rules.

    Operands are tensors (anything with a ``dtype`` and ``ndim``) or Python
    scalars. Tensors with dimensions take priority over zero-dimensional
    tensors, which take priority over Python scalars; a lower-priority operand
    only matters when it brings a higher category (e.g. an int tensor times
    2.5 is float32, a float16 tensor times 2.5 stays float16, an int8 tensor
    plus 1000 stays int8).
    """
    groups: list[dtype | None] = [None, None, None]  # dimensioned, zero-dim, scalars
    for x in operands:
        if hasattr(x, "dtype") and hasattr(x, "ndim") and isinstance(x.dtype, dtype):
            d, g = x.dtype, (0 if x.ndim else 1)
        else:
            d, g = _scalar_dtype(x), 2
        groups[g] = d if groups[g] is None else promote_types(groups[g], d)
    return _combine(groups[0], _combine(groups[1], groups[2]))
