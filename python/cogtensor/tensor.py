"""cogtensor.Tensor: an n-d strided array with PyTorch semantics, backed by numpy.

A Tensor holds a numpy array (possibly a zero-copy view of an Arrow buffer or of
another tensor). Views share that memory; ``numpy()``, ``from_numpy`` and
DLPack exchange it without copies.
"""

from __future__ import annotations

import warnings

import numpy as np
import pyarrow as pa

from cogtensor import arrow, dtypes, graph
from cogtensor.errors import ShapeError
from cogtensor.ops.activation import ActivationOps
from cogtensor.ops.autograd_methods import AutogradMethods, commit_in_place, snapshot, view_result
from cogtensor.ops.complex import ComplexOps
from cogtensor.ops.elementwise import ElementwiseOps
from cogtensor.ops.fused import FusedOps
from cogtensor.ops.indexing import IndexingOps
from cogtensor.ops.products import ProductOps
from cogtensor.ops.reduction import ReductionOps
from cogtensor.ops.sampling import SamplingOps
from cogtensor.ops.shaping import ShapingOps
from cogtensor.ops.sorting import SortingOps
from cogtensor.ops.special import SpecialOps
from cogtensor.ops.statistics import StatisticsOps
from cogtensor.ops.views import ViewOps, index_key, normalize_dim

__all__ = ["Tensor", "Size", "from_numpy", "from_dlpack"]


class Size(tuple):
    """A tensor shape: a tuple of ints (``torch.Size``)."""

    def __repr__(self) -> str:
        return f"cogtensor.Size({list(self)})"

    def numel(self) -> int:
        return int(np.prod(self, dtype=np.int64))


class Tensor(AutogradMethods, ViewOps, ShapingOps, ElementwiseOps, FusedOps, ComplexOps, ReductionOps, SortingOps,
             IndexingOps, ProductOps, SamplingOps, ActivationOps, SpecialOps, StatisticsOps):
    """An n-d tensor. Build one with :func:`cogtensor.tensor`, :func:`cogtensor.zeros`,
    :func:`cogtensor.from_numpy`, :meth:`Tensor.from_arrow`, ..."""

    # _node: the graph node that made this tensor (an AccumulateGrad for a leaf that requires
    # grad, None when it requires none); _vc: version counter shared with views; _extra: rare state
    __slots__ = ("_data", "_node", "_vc", "_grad", "_extra", "__weakref__")
    __hash__ = object.__hash__  # identity, as torch (element-wise __eq__ comes with the ops)

    def __init__(self, data: np.ndarray):
        if not isinstance(data, np.ndarray):
            raise TypeError("Tensor(...) wraps a numpy array; use cogtensor.tensor(data) to build one from data")
        dtypes.from_numpy_dtype(data.dtype)  # refuse dtypes tensors do not hold
        self._data = data
        self._node = self._vc = self._grad = self._extra = None

    @classmethod
    def _wrap(cls, array) -> Tensor:
        """A plain tensor over `array` (numpy scalars from 0-d results become 0-d arrays).

        Results of ops on a subclass (``nn.Parameter``) are plain tensors, as in torch."""
        return Tensor(array if isinstance(array, np.ndarray) else np.asarray(array))

    # ----------------------------------------------------------------- metadata
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def device(self) -> str:
        return "cpu"

    def dim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel
    ndimension = dim

    def size(self, dim: int | None = None):
        """The shape, or the size of one dimension."""
        if dim is None:
            return self.shape
        return self._data.shape[_dim_of(self, dim, "size")]

    def stride(self, dim: int | None = None):
        """Strides in elements (not bytes), as torch.

        numpy gives new empty arrays zero strides and new size-1 dimensions stride 0;
        torch reports ``size * stride`` of the next dimension there (contiguous
        strides for a new empty tensor), and so does this.
        """
        shape, strides = self._data.shape, [s // self._data.itemsize for s in self._data.strides]
        inner = 1
        for i in reversed(range(len(shape))):
            if strides[i] == 0 and (shape[i] == 1 or self._data.size == 0):
                strides[i] = inner
            inner = strides[i] * max(shape[i], 1)
        return tuple(strides) if dim is None else strides[_dim_of(self, dim, "stride")]

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        """Bytes of the elements (``numel * itemsize``), as torch."""
        return self._data.size * self._data.itemsize

    def cpu(self):
        """This tensor (everything lives on the CPU), as torch's ``cpu()`` of a CPU tensor."""
        return self

    def is_contiguous(self) -> bool:
        return bool(self._data.flags.c_contiguous)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    def contiguous(self) -> Tensor:
        """Self if already C-contiguous, else a contiguous copy."""
        return self if self.is_contiguous() else _copy_of(self, np.ascontiguousarray(self._data))

    def clone(self) -> Tensor:
        """A copy with the same layout (torch's preserve_format: a transposed tensor stays transposed)."""
        return _copy_of(self, self._data.copy(order="C" if 0 in self._data.strides else "K"))  # expanded: contiguous

    # -------------------------------------------------------------- conversion
    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        value = self._data.reshape(()).item() if self.dtype is not dtypes.bfloat16 else float(self._data.reshape(()))
        return value

    def tolist(self):
        """Nested Python lists (a number for a 0-d tensor)."""
        data = self._data.astype(np.float32) if self.dtype is dtypes.bfloat16 else self._data
        return data.tolist()

    def numpy(self) -> np.ndarray:
        """The underlying numpy array (shared memory, no copy)."""
        return self._data

    def __array__(self, dtype=None, copy=None):
        if copy is False and dtype is not None and np.dtype(dtype) != self._data.dtype:
            raise ValueError("__array__: a dtype change needs a copy")
        out = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return out.copy() if copy else out

    def __dlpack__(self, *args, **kwargs):
        if self.dtype is dtypes.bfloat16:
            raise BufferError("__dlpack__: numpy's DLPack has no bfloat16; export t.view(cogtensor.int16) and "
                              "call .view(torch.bfloat16) on the result")
        return self._data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._data.__dlpack_device__()

    @classmethod
    def from_arrow(cls, array) -> Tensor:
        """A tensor over an Arrow array without copying.

        ``FixedSizeList`` (nested for more dimensions) and ``arrow.fixed_shape_tensor``
        arrays become ``(n, ...)`` tensors; a ``pyarrow.Tensor`` keeps its shape; a
        primitive numeric array becomes 1-d. Nulls raise ValueError.
        """
        if isinstance(array, pa.Tensor):
            return cls(array.to_numpy())
        if isinstance(array, pa.ChunkedArray):  # one chunk: zero copy; several: joined (a copy)
            array = array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
        if isinstance(array, (pa.Array, pa.ChunkedArray)) and (
            pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_boolean(array.type)
        ):
            if array.null_count:
                raise ValueError(f"from_arrow: the array holds {array.null_count} null(s)")
            return cls(np.asarray(array.to_numpy(zero_copy_only=not pa.types.is_boolean(array.type))))
        return cls(arrow.to_numpy(array))

    def to_arrow(self) -> pa.Array:
        """An Arrow array over this tensor's memory (contiguous tensors are not copied).

        1-d -> a primitive array; n-d -> an ``arrow.fixed_shape_tensor`` array of
        ``shape[0]`` tensors of shape ``shape[1:]``.
        """
        if self.ndim == 0:
            raise ValueError("to_arrow: a 0-d tensor has no rows; use t.reshape(1)")
        if self.dtype is dtypes.bfloat16:
            raise TypeError("to_arrow: Arrow has no bfloat16 type; convert with .float() first")
        if self.dtype.is_complex:
            raise TypeError("to_arrow: Arrow has no complex type; export cogtensor.view_as_real(t) (real, imaginary "
                            "pairs in a last dimension of size 2)")
        data = np.ascontiguousarray(self._data)
        if self.ndim == 1:
            return pa.Array.from_buffers(pa.from_numpy_dtype(data.dtype), len(data), [None, pa.py_buffer(data)]) \
                if data.dtype != np.bool_ else pa.array(data)
        return arrow.fixed_shape_tensor_from_numpy(data)

    def to(self, *args, **kwargs) -> Tensor:
        """Convert to a dtype (``t.to(cogtensor.float64)``, ``t.to(other)``); ``"cpu"`` is accepted.

        Returns self when nothing changes, as torch.
        """
        target = kwargs.get("dtype")
        for a in args:
            if isinstance(a, dtypes.dtype):
                target = a
            elif isinstance(a, Tensor):
                target = a.dtype
            elif a not in ("cpu", None):
                raise TypeError(f"to: expected a dtype, a tensor or 'cpu', got {a!r}")
        copy = kwargs.get("copy", False)
        if target is None or (target is self.dtype and not copy):
            return self.clone() if copy else self
        data = self._data
        if data.dtype.kind == "c" and target is dtypes.bool:
            data = data != 0  # a complex number is true when either part is non-zero
        elif data.dtype.kind == "c" and not target.is_complex:
            warnings.warn("Casting complex values to real discards the imaginary part", UserWarning, stacklevel=2)
            data = data.real
        with np.errstate(over="ignore", invalid="ignore"):  # 1e10 -> half is inf, as torch, without a warning
            out = self._wrap(data.astype(target.numpy))
        source = self.dtype
        return graph.attach(out, "ToCopyBackward0", (self,), lambda g: _real_if(g, source).to(source))

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def bfloat16(self):
        return self.to(dtypes.bfloat16)

    def long(self):
        return self.to(dtypes.int64)

    def int(self):
        return self.to(dtypes.int32)

    def short(self):
        return self.to(dtypes.int16)

    def char(self):
        return self.to(dtypes.int8)

    def byte(self):
        return self.to(dtypes.uint8)

    def bool(self):
        return self.to(dtypes.bool)

    # ---------------------------------------------------------- python protocol
    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            many = "no values" if self._data.size == 0 else "more than one value"
            raise RuntimeError(f"Boolean value of Tensor with {many} is ambiguous")
        return bool(self._data.reshape(()))

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype.is_floating_point or self.dtype.is_complex or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __getitem__(self, key) -> Tensor:
        """numpy/torch indexing: ints, slices (positive steps), None, ..., integer and
        boolean tensors or arrays. Basic indexing returns a view (a 0-d one for all-int keys)."""
        key = index_key(key)
        out = self._data[key]
        if not isinstance(out, np.ndarray):  # numpy gives a scalar copy; torch a 0-d view
            key = (*key, Ellipsis) if isinstance(key, tuple) else (key, Ellipsis)
            out = self._data[key]
        return view_result(self, out, "IndexBackward0", lambda g: _unindex(g, self.shape, key), lambda t: t[key])

    def __setitem__(self, key, value) -> None:
        key = index_key(key)
        if not self._data.flags.writeable:
            raise ValueError("setitem: this tensor is a read-only view (an expand()/broadcast_to() result or an "
                             "Arrow buffer); write to a .clone() instead")
        if graph.requires_grad(self, value):
            commit_in_place("setitem", self, _index_put(snapshot(self), key, value))
            return
        try:
            self._data[key] = value._data if isinstance(value, Tensor) else value
            self._bump_version()
        except ValueError:
            vshape, tshape = np.shape(value), np.shape(self._data[key])
            try:  # the value broadcasts to the target, give or take leading 1s
                both = np.broadcast_shapes(vshape, tshape)
                fits = both[len(both) - len(tshape):] == tshape and set(both[: len(both) - len(tshape)]) <= {1}
            except ValueError:
                fits = False
            if fits:
                raise
            raise ShapeError(f"setitem: value of shape {list(vshape)} cannot be broadcast to the indexed "
                             f"shape {list(tshape)}") from None

    def __repr__(self) -> str:
        """torch's format: 4 decimals (``1.5000``), ``1.`` when all values are integers,
        ``1.0000e+05`` for wide ranges, ``1.+2.j`` for complex values (real and imaginary
        parts formatted apart); dtype shown unless it is a default one."""
        data = self._data.astype(np.float32) if self.dtype is dtypes.bfloat16 else self._data
        body = np.array2string(data, separator=", ", prefix="tensor(", threshold=1000, edgeitems=3,
                               max_line_width=80, formatter=_formatter(data))
        suffix = f", size={tuple(self.shape)}" if not self.numel() and self.ndim != 1 else ""
        # torch names the dtype unless it is a default one; an empty tensor shows all but the default float
        defaults = (dtypes.get_default_dtype(), dtypes.get_default_dtype().to_complex(), dtypes.int64, dtypes.bool)
        if self.dtype not in (defaults if self.numel() else defaults[:1]):
            suffix += f", dtype={self.dtype}"
        if self.grad_fn is not None:
            suffix += f", grad_fn=<{self.grad_fn.name}>"
        elif self.requires_grad:
            suffix += ", requires_grad=True"
        return f"tensor({body}{suffix})"


Tensor._result_class = Tensor  # what ops return, for subclasses too (set here: the ops cannot import Tensor)


def _copy_of(t: Tensor, array: np.ndarray) -> Tensor:
    """``array`` (a copy of ``t``'s values) as a tensor in the graph: the gradient passes through."""
    return graph.attach(t._wrap(array), "CloneBackward0", (t,), lambda g: g)


def _real_if(g: Tensor, source: dtypes.dtype) -> Tensor:
    """The real part of a complex gradient bound for a real tensor (torch's handle_r_to_c)."""
    return g.real if g._data.dtype.kind == "c" and not source.is_complex else g


def _unindex(g: Tensor, shape, key) -> Tensor:
    """The gradient of ``x[key]`` for ``x`` of ``shape``: ``g`` placed at ``key`` in zeros
    (repeated indices add up)."""
    z = np.zeros(shape, g._data.dtype)
    if np.may_share_memory(z[key], z):
        z[key] = g._data
    else:
        np.add.at(z, key, g._data)
    return graph.attach(g._wrap(z), "IndexBackwardBackward0", (g,), lambda gg: gg[key])


def _index_put(x: Tensor, key, value) -> Tensor:
    """``x`` with ``x[key] = value`` as a new tensor in the graph (setitem computes this while recording)."""
    out = x._data.copy()
    out[key] = value._data if isinstance(value, Tensor) else value
    keep = np.ones(x._data.shape, x._data.dtype)
    keep[key] = 0
    return graph.attach(x._wrap(out), "IndexPutBackward0", (x, value), lambda g: (g * x._wrap(keep), g[key]))


def _dim_of(t: Tensor, dim, op: str) -> int:
    """A dim of a tensor with dimensions (size/stride/unbind refuse 0-d tensors, as torch)."""
    if t.ndim == 0:
        raise IndexError(f"{op}: dimension specified as {dim} but tensor has no dimensions")
    return normalize_dim(dim, t.ndim, op)


def _formatter(data: np.ndarray) -> dict:
    """array2string formatters that print like torch, padded to one width."""
    if data.dtype == np.bool_:
        return {"bool": lambda v: f"{v!s:>{5 if data.size and not data.all() else 4}}"}
    if data.dtype.kind == "c":
        real, imag = _float_format(data.real), _float_format(data.imag)

        def fmt(v) -> str:  # torch: the imaginary part unpadded, its sign (or "+") joining the two
            im = imag(v.imag).lstrip() + "j"
            return real(v.real) + (im if im[0] in "+-" else "+" + im)
        return {"complex_kind": fmt}
    if data.dtype.kind != "f":
        return {}
    return {"float_kind": _float_format(data)}


def _float_format(data: np.ndarray):
    """A formatter of one float value as torch prints the values of ``data``, padded to one width."""
    finite = np.abs(data[np.isfinite(data) & (data != 0)].astype(np.float64))
    integral = bool(np.all(finite == np.ceil(finite)))
    big, small = (finite.max(), finite.min()) if finite.size else (0.0, 1.0)
    sci = big / small > 1000 or big > 1e8 or (not integral and small < 1e-4)
    spec = ".4e" if sci else ".0f" if integral else ".4f"

    def fmt(v) -> str:
        return (f"{v:{spec}}" + ("." if spec == ".0f" else "")) if np.isfinite(v) else str(v)

    shown = data[np.isfinite(data) & (data != 0)]  # torch pads to the widest finite non-zero value only
    width = max(len(fmt(shown.min())), len(fmt(shown.max()))) if shown.size else 0
    return lambda v: f"{fmt(v):>{width}}"


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory (torch.from_numpy); TypeError for unsupported dtypes."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray, got {type(array).__name__}")
    return Tensor(array)


def from_dlpack(obj) -> Tensor:
    """A tensor sharing the memory of any DLPack producer (torch tensors, numpy arrays, ...)."""
    try:
        return Tensor(np.from_dlpack(obj))
    except RuntimeError as e:
        if "dtype" not in str(e):
            raise
        raise TypeError(f"from_dlpack: {e} (numpy's DLPack has no bfloat16: pass x.view(torch.int16) and call "
                        ".view(cogtensor.bfloat16) on the result)") from None
