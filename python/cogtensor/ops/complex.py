"""Complex tensors: ``real``/``imag`` views, ``conj``, ``angle``, ``sgn``, ``polar``, ``complex``,
``view_as_real``/``view_as_complex``, and complex sums and means, as PyTorch.

Gradients follow torch's convention for complex numbers: the gradient of a real loss
``L`` with respect to a complex ``z`` is ``dL/dRe(z) + i dL/dIm(z)``, so the backward
of a holomorphic ``f`` multiplies by ``conj(f'(z))`` (``mul``: ``grad * other.conj()``).

One difference from torch: ``conj()`` of a complex tensor returns a new tensor (torch
returns a lazy view with a conjugate bit; it reads the same).
"""

from __future__ import annotations

import math

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ShapeError
from cogtensor.graph import attach
from cogtensor.ops.autograd_methods import view_result
from cogtensor.ops.elementwise_core import ElementwiseBase, _quiet
from cogtensor.ops.reduction import ReductionOps
from cogtensor.ops.views import normalize_dim

__all__ = [
    "is_complex", "real", "imag", "conj", "conj_physical", "resolve_conj", "angle", "sgn", "polar", "complex",
    "view_as_real", "view_as_complex",
]

_REAL_OF = {np.dtype(np.complex64): np.dtype(np.float32), np.dtype(np.complex128): np.dtype(np.float64)}
_COMPLEX_OF = {v: k for k, v in _REAL_OF.items()}


def _is_c(x) -> bool:
    return x._data.dtype.kind == "c"


def _require_tensor(op: str, x) -> None:
    if not isinstance(x, ElementwiseBase):
        raise TypeError(f"{op}: expected a tensor, got {type(x).__name__}")


def handle_r_to_c(x, g):
    """The gradient ``g`` for the input ``x``: its real part when ``x`` is a real tensor and ``g``
    is complex (torch's handle_r_to_c), else ``g`` itself."""
    if _is_c(g) and isinstance(x, ElementwiseBase) and not _is_c(x):
        return g.real
    return g


# ------------------------------------------------------------------ predicates
def is_complex(input) -> bool:
    """Whether ``input`` has a complex dtype (complex64 or complex128)."""
    _require_tensor("is_complex", input)
    return _is_c(input)


# ---------------------------------------------------------- real, imag, conj
def _refuse_in_place_through(part: str):
    def replay(t):
        raise NotImplementedError(
            f"an in-place change through the .{part} view of a complex tensor that requires grad is not supported; "
            f"build the new tensor out of place instead, e.g. cogtensor.complex(new_real, z.imag)")
    return replay


def real(input):
    """The real part: a real view of a complex tensor (complex64 -> float32, sharing memory);
    a real tensor is returned as it is.

    Example:
        >>> cogtensor.tensor([1 + 2j, 3 - 4j]).real
        tensor([1., 3.])
    """
    _require_tensor("real", input)
    if not _is_c(input):
        return input
    return view_result(input, input._data.real, "RealBackward0", lambda g: _as_complex(g),
                       _refuse_in_place_through("real"))


def imag(input):
    """The imaginary part of a complex tensor as a real view (shares memory).

    Raises:
        NotImplementedForDType: for a real tensor, as torch.

    Example:
        >>> cogtensor.tensor([1 + 2j, 3 - 4j]).imag
        tensor([ 2., -4.])
    """
    _require_tensor("imag", input)
    if not _is_c(input):
        raise NotImplementedForDType(f"imag is not implemented for tensors with non-complex dtypes (got {input.dtype})")
    return view_result(input, input._data.imag, "ImagBackward0", lambda g: g * 1j, _refuse_in_place_through("imag"))


def _as_complex(x):
    """A real tensor as complex with zero imaginary parts (float32 -> complex64), in the graph."""
    out = x._wrap(x._data.astype(_COMPLEX_OF[x._data.dtype]))
    return attach(out, "ToComplexBackward", (x,), lambda g: g.real)


def conj(input):
    """The complex conjugate; a real tensor is returned as it is (no copy).

    Unlike torch's lazy conjugate view, a complex input gives a new tensor.

    Example:
        >>> cogtensor.tensor([1 + 2j]).conj()
        tensor([1.-2.j])
    """
    _require_tensor("conj", input)
    if not _is_c(input):
        return input
    return conj_physical(input)


def conj_physical(input):
    """The complex conjugate in new memory (a real tensor is returned as it is)."""
    _require_tensor("conj_physical", input)
    if not _is_c(input):
        return input
    return attach(input._wrap(np.conj(input._data)), "ConjBackward0", (input,), lambda g: g.conj())


def resolve_conj(input):
    """The tensor itself: conjugates here are always materialised (torch's ``resolve_conj``)."""
    _require_tensor("resolve_conj", input)
    return input


# ------------------------------------------------------------- angle and sgn
def angle(input):
    """The argument of each element in radians, in (-pi, pi]: ``atan2(imag, real)`` for complex
    tensors (a real result); 0 or pi for real ones (NaN stays NaN; integers give the default float).

    Example:
        >>> cogtensor.angle(cogtensor.tensor([1j, -1.0]))
        tensor([1.5708, 3.1416])
    """
    _require_tensor("angle", input)
    data = input._data
    if _is_c(input):
        out = input._wrap(_quiet(np.angle, data))
        return attach(out, "AngleBackward0", (input,), lambda g: _angle_grad(g, input), saved=(input,))
    target = data.dtype if input.dtype.is_floating_point else dtypes.get_default_dtype().numpy
    values = np.where(data < 0, np.pi, 0.0)
    if data.dtype.kind == "f" or input.dtype.is_floating_point:
        values = np.where(np.isnan(data.astype(np.float64)), np.nan, values)
    out = input._wrap(values.astype(target))
    return attach(out, "AngleBackward0", (input,), lambda g: g * 0.0)


def _angle_grad(g, z):
    """d angle: ``g * i z / |z|^2`` (torch's angle_backward), 0 where z == 0."""
    size, nonzero = _size_and_mask(z)
    return g * (z / size ** 2) * 1j * nonzero


def _size_and_mask(z):
    """(|z| with 1 where z == 0, a real 0/1 mask of z != 0): divisions by the first stay finite,
    so multiplying by the mask zeroes the z == 0 entries without NaNs."""
    size = z.abs()
    nonzero = size != 0
    return size.where(nonzero, 1.0), nonzero.to(size.dtype)


def sgn(input):
    """``z / |z|`` (0 at 0) for complex tensors; ``sign`` for real ones, as torch.sgn.

    Example:
        >>> cogtensor.sgn(cogtensor.tensor([3 + 4j, 0j]))
        tensor([0.6000+0.8000j, 0.0000+0.0000j])
    """
    _require_tensor("sgn", input)
    if not _is_c(input):
        return input.sign()
    out = input._wrap(_quiet(_unit, input._data))
    return attach(out, "SgnBackward0", (input,), lambda g, s: _sgn_grad(g, input, s), saved=(input,),
                  with_output=True)


def _unit(z: np.ndarray) -> np.ndarray:
    size = np.abs(z)
    return np.where(size == 0, 0, z / np.where(size == 0, 1, size)).astype(z.dtype)


def _sgn_grad(g, z, s):
    """torch's sgn_backward: ``(g - s * Re(conj(s) g)) / |z|``, 0 where z == 0."""
    size, nonzero = _size_and_mask(z)
    return (g - s * (s.conj() * g).real) / size * nonzero


# ------------------------------------------------------------- construction
def _same_float_pair(op: str, a, b):
    _require_tensor(op, a)
    _require_tensor(op, b)
    if a.dtype is not b.dtype:
        raise DTypeError(f"{op}: expected both inputs of one dtype, got {a.dtype.name} and {b.dtype.name}")
    if a.dtype not in (dtypes.float32, dtypes.float64):
        raise DTypeError(f"{op}: expected float32 or float64 inputs, got {a.dtype.name} (float16 would give "
                         "complex32, which cogtensor does not have)")
    try:
        return np.broadcast_shapes(a._data.shape, b._data.shape)
    except ValueError:
        raise ShapeError(f"{op}: shapes {list(a.shape)} and {list(b.shape)} cannot broadcast") from None


def complex(real, imag):  # noqa: A001 - torch.complex
    """A complex tensor ``real + i imag`` from two real tensors of one dtype (float32 ->
    complex64, float64 -> complex128); the two broadcast.

    Example:
        >>> cogtensor.complex(cogtensor.tensor([1.0]), cogtensor.tensor([2.0]))
        tensor([1.+2.j])
    """
    shape = _same_float_pair("complex", real, imag)
    out = np.empty(shape, _COMPLEX_OF[real._data.dtype])
    out.real, out.imag = real._data, imag._data
    return attach(real._wrap(out), "ComplexBackward0", (real, imag), lambda g: (g.real, g.imag))


def polar(abs, angle):  # noqa: A002 - torch's argument names
    """``abs * (cos(angle) + i sin(angle))`` from two real tensors of one dtype (they broadcast).

    Example:
        >>> cogtensor.polar(cogtensor.tensor([2.0]), cogtensor.tensor([0.0]))
        tensor([2.+0.j])
    """
    shape = _same_float_pair("polar", abs, angle)
    out = np.empty(shape, _COMPLEX_OF[abs._data.dtype])
    with np.errstate(invalid="ignore", over="ignore"):
        out.real, out.imag = abs._data * np.cos(angle._data), abs._data * np.sin(angle._data)
    return attach(abs._wrap(out), "PolarBackward0", (abs, angle), lambda g, z: _polar_grads(g, z),
                  with_output=True)


def _polar_grads(g, z):
    """torch's polar_backward: ``Re(conj(g) sgn(z))`` for abs, ``Re(conj(g) i z)`` for angle."""
    g_conj = g.conj()
    return (g_conj * sgn(z)).real, (g_conj * z * 1j).real


# ------------------------------------------------------- reinterpreting views
def view_as_real(input):
    """A complex tensor's memory as real pairs: shape ``(..., 2)`` (real, imaginary), a view.

    Example:
        >>> cogtensor.view_as_real(cogtensor.tensor([1 + 2j]))
        tensor([[1., 2.]])
    """
    _require_tensor("view_as_real", input)
    if not _is_c(input):
        raise DTypeError(f"view_as_real is only supported for complex tensors (got {input.dtype})")
    array = input._data[..., None].view(_REAL_OF[input._data.dtype])
    return view_result(input, array, "ViewAsRealBackward0", lambda g: complex(g[..., 0], g[..., 1]),
                       view_as_real)


def view_as_complex(input):
    """Real pairs ``(..., 2)`` as a complex tensor of shape ``(...)`` over the same memory.

    Raises:
        DTypeError: for a dtype other than float32/float64.
        ShapeError: when the last dimension is not of size 2 and stride 1, or another
            stride is odd (the pairs would not be complex numbers in memory), as torch.

    Example:
        >>> cogtensor.view_as_complex(cogtensor.tensor([[1.0, 2.0]]))
        tensor([1.+2.j])
    """
    _require_tensor("view_as_complex", input)
    if input.dtype not in (dtypes.float32, dtypes.float64):
        raise DTypeError(f"view_as_complex is only supported for float32 and float64 tensors, but got a tensor of "
                         f"scalar type: {input.dtype.name}")
    strides = input.stride() if input.ndim else ()
    if not input.ndim or input.shape[-1] != 2:
        raise ShapeError("view_as_complex: Tensor must have a last dimension of size 2 "
                         f"(got shape {list(input.shape)})")
    if strides[-1] != 1:
        raise ShapeError("view_as_complex: Tensor must have a last dimension with stride 1 "
                         f"(got strides {list(strides)})")
    if any(s % 2 for s in strides[:-1]):
        raise ShapeError(f"view_as_complex: Tensor must have a stride divisible by 2 for all but last dimension "
                         f"(got strides {list(strides)})")
    array = input._data.view(_COMPLEX_OF[input._data.dtype])[..., 0]
    return view_result(input, array, "ViewAsComplexBackward0", lambda g: view_as_real(g), _as_complex_view)


def _as_complex_view(t):
    """view_as_complex where the layout allows it (the base's memory), else the same values copied
    (a gradient of any layout) -- what an in-place change through the view replays."""
    try:
        return view_as_complex(t)
    except ShapeError:
        return complex(t[..., 0], t[..., 1])


# -------------------------------------------------------- complex reductions
def _axes(dim, ndim: int, op: str):
    if dim is None or (isinstance(dim, (tuple, list)) and not dim):
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(normalize_dim(d, ndim, op) for d in dims)
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{op}: a dim appears multiple times in the list of dims {list(dims)}")
    return axes if ndim else None


def _spread(g, shape, axes, keepdim: bool):
    """A reduction's gradient spread back over the input's shape."""
    if not keepdim:
        g = g.reshape([1 if axes is None or i in axes else n for i, n in enumerate(shape)])
    return g.expand(shape)


def _complex_reduce(x, dim, keepdim, dtype, op: str):
    """sum or mean of a tensor whose computation is complex (a complex input, or a complex ``dtype``)."""
    target = (dtype or x.dtype)
    source = x if dtype is None or dtype is x.dtype else x.detach().to(dtype)  # recorded below, once
    axes = _axes(dim, x.ndim, op)
    count = math.prod(x.shape if axes is None else (x.shape[a] for a in axes))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        total = np.sum(source._data, axis=axes, keepdims=keepdim)
        if op == "mean":
            total = total / count
        out = x._wrap(np.asarray(total).astype(target.numpy, copy=False))
    scale = 1.0 / count if op == "mean" and count else (math.nan if op == "mean" else 1.0)
    name = "MeanBackward1" if op == "mean" else "SumBackward1"
    return attach(out, name, (x,), lambda g: handle_r_to_c(x, _spread(g * scale if op == "mean" else g, x.shape,
                                                                      axes, keepdim)))


class ComplexOps:
    """Complex methods of tensors (``real``/``imag`` properties, ``conj``, ``angle``, ...), and
    ``sum``/``mean`` for complex tensors (real tensors go on to the ordinary reductions)."""

    __slots__ = ()

    is_complex = is_complex
    conj_physical = conj_physical
    resolve_conj = resolve_conj
    angle = angle
    sgn = sgn

    def conj(self):
        """The complex conjugate (new memory); a real tensor is returned as it is. Backward
        formulas call this on real tensors too, so that path is kept short."""
        return conj_physical(self) if self._data.dtype.kind == "c" else self

    def is_conj(self) -> bool:
        """False: conjugates are never lazy here."""
        return False

    @property
    def real(self):
        """The real part (a view of a complex tensor; the tensor itself when real)."""
        return real(self)

    @real.setter
    def real(self, value) -> None:
        real(self)[...] = value

    @property
    def imag(self):
        """The imaginary part of a complex tensor (a view)."""
        return imag(self)

    @imag.setter
    def imag(self, value) -> None:
        imag(self)[...] = value

    def sum(self, dim=None, keepdim: bool = False, *, dtype=None):
        if self._data.dtype.kind == "c" or (dtype is not None and getattr(dtype, "is_complex", False)):
            return _complex_reduce(self, dim, keepdim, dtype, "sum")
        return super().sum(dim, keepdim, dtype=dtype)

    def mean(self, dim=None, keepdim: bool = False, *, dtype=None):
        if self._data.dtype.kind == "c" or (dtype is not None and getattr(dtype, "is_complex", False)):
            return _complex_reduce(self, dim, keepdim, dtype, "mean")
        return super().mean(dim, keepdim, dtype=dtype)

    sum.__doc__ = f"{ReductionOps.sum.__doc__}\n        Complex tensors sum in their own dtype.\n"
    mean.__doc__ = f"{ReductionOps.mean.__doc__}\n        Complex tensors have a mean in their own dtype.\n"

