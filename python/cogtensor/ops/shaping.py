"""Layout ops beyond plain views: t, flip, roll, repeat, tile, repeat_interleave, tril/triu,
diag, diagonal (a view), diag_embed, trace, movedim, tensor_split, masked_select, and the
``new_*`` factories. Each op's backward sits next to its forward.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import ShapeError
from cogtensor.graph import attach
from cogtensor.ops.autograd_methods import view_result
from cogtensor.ops.elementwise import _in_place
from cogtensor.ops.views import cat, normalize_dim, size_args

__all__ = [
    "t", "flip", "fliplr", "flipud", "roll", "tile", "repeat_interleave", "tril", "triu", "diag", "diagonal",
    "diag_embed", "trace", "movedim", "moveaxis", "tensor_split", "masked_select", "select", "ravel",
    "take_along_dim", "argwhere", "broadcast_tensors", "hstack", "vstack", "meshgrid",
]


def _dims(dims, ndim: int, op: str) -> tuple[int, ...]:
    """Distinct normalised dims from an int or a sequence."""
    seq = tuple(dims) if isinstance(dims, Sequence) else (dims,)
    out = tuple(normalize_dim(d, ndim, op) for d in seq)
    if len(set(out)) != len(out):
        raise RuntimeError(f"{op}: dims {list(seq)} appear more than once")
    return out


def _need_matrix(x, op: str) -> None:
    if x.ndim < 2:
        raise ShapeError(f"{op}: expected a tensor with 2 or more dimensions, got {x.ndim}-D")


def _diagonal_view(data: np.ndarray, offset: int, d1: int, d2: int) -> np.ndarray:
    """A writable strided view of the diagonal (moved to the last dim), as torch's diagonal."""
    rows, cols = data.shape[d1], data.shape[d2]
    r0, c0 = max(-offset, 0), max(offset, 0)
    length = max(min(rows - r0, cols - c0), 0)
    start = [slice(None)] * data.ndim
    if length:
        start[d1], start[d2] = slice(r0, r0 + 1), slice(c0, c0 + 1)
    corner = data[tuple(start)]
    rest = [i for i in range(data.ndim) if i not in (d1, d2)]
    shape = tuple(data.shape[i] for i in rest) + (length,)
    strides = tuple(data.strides[i] for i in rest) + (data.strides[d1] + data.strides[d2],)
    return np.lib.stride_tricks.as_strided(corner, shape, strides)


def _diagonal_scatter(g, shape, offset: int, d1: int, d2: int):
    """``g`` placed on the diagonal of zeros of ``shape`` (diagonal's backward; its own
    backward takes the diagonal again, so double backward works)."""
    out = np.zeros(shape, g._data.dtype)
    _diagonal_view(out, offset, d1, d2)[...] = g._data
    return attach(g._wrap(out), "DiagonalBackwardBackward0", (g,), lambda gg: gg.diagonal(offset, d1, d2))


def _fold_windows(g, shape, d: int, size: int, step: int):
    """unfold's backward: each window's gradient added back at the positions it covered."""
    if not shape:
        return g.sum()
    windows = g.shape[d]
    positions = (np.arange(windows)[:, None] * step + np.arange(size)).reshape(-1)
    spread = g.movedim(-1, d + 1).flatten(d, d + 1)  # (..., windows * size, ...)
    return g._wrap(np.zeros(shape, g._data.dtype)).index_add(d, g._wrap(positions), spread)


def _triangle(x, diagonal: int, lower: bool):
    """tril/triu: the input where the mask keeps it, zeros elsewhere (batched over leading dims)."""
    _need_matrix(x, "tril" if lower else "triu")
    rows, cols = x.shape[-2:]
    keep = np.tri(rows, cols, diagonal, dtype=bool) if lower else ~np.tri(rows, cols, diagonal - 1, dtype=bool)
    out = x._wrap(np.where(keep, x._data, np.zeros((), x._data.dtype)))
    name = "TrilBackward0" if lower else "TriuBackward0"
    return attach(out, name, (x,), lambda g: _triangle(g, diagonal, lower))


class ShapingOps:
    """t, flip, roll, repeat, tile, repeat_interleave, tril/triu, diag, diagonal, diag_embed,
    trace, movedim, tensor_split, masked_select, new_zeros/ones/full/empty/tensor."""

    __slots__ = ()

    # ---------------------------------------------------------------- views
    def t(self):
        """The transpose of a matrix (0-D and 1-D tensors come back as they are, as views)."""
        if self.ndim > 2:
            raise ShapeError(f"t: expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self.view(self.shape)

    def movedim(self, source, destination):
        """Move dims ``source`` to positions ``destination`` (a view, ``torch.movedim``)."""
        src, dst = _dims(source, self.ndim, "movedim"), _dims(destination, self.ndim, "movedim")
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
                               f"contain the same number of dims as destination ({list(dst)} dims)")
        order = [d for d in range(self.ndim) if d not in src]
        for d, s in sorted(zip(dst, src)):
            order.insert(d, s)
        return self.permute(order)

    moveaxis = movedim

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        """The diagonal over ``dim1``/``dim2`` as the last dim (a view; ``offset`` > 0 above)."""
        _need_matrix(self, "diagonal")
        d1, d2 = normalize_dim(dim1, self.ndim, "diagonal"), normalize_dim(dim2, self.ndim, "diagonal")
        if d1 == d2:
            raise RuntimeError(f"diagonal: dimensions cannot be identical {dim1}, {dim2}")
        shape = self.shape
        return view_result(self, _diagonal_view(self._data, offset, d1, d2), "DiagonalBackward0",
                           lambda g: _diagonal_scatter(g, shape, offset, d1, d2),
                           lambda t: t.diagonal(offset, d1, d2))

    def select(self, dim: int, index: int):
        """The slice at ``index`` of dimension ``dim``, that dimension removed (a view)."""
        d = normalize_dim(dim, self.ndim, "select")
        size = self.shape[d] if self.ndim else 0
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not -size <= index < size:
            raise IndexError(f"select(): index {index} out of range for tensor of size {list(self.shape)} "
                             f"at dimension {d}")
        return self[(slice(None),) * d + (int(index),)]

    def unfold(self, dimension: int, size: int, step: int):
        """Windows of ``size`` elements every ``step`` along ``dimension``, in a new last dim
        (a view): (..., n, ...) -> (..., (n - size) // step + 1, ..., size)."""
        d = normalize_dim(dimension, self.ndim, "unfold")
        length = self.shape[d] if self.ndim else 1
        if size < 0 or size > length:
            raise RuntimeError(f"unfold: maximum size for tensor at dimension {d} is {length} but size is {size}")
        if step <= 0:
            raise RuntimeError(f"unfold: step is {step} but must be > 0")
        data = self._data.reshape(1) if self.ndim == 0 else self._data
        windows = (length - size) // step + 1
        shape = list(data.shape[:d]) + [windows] + list(data.shape[d + 1:]) + [size]
        strides = list(data.strides[:d]) + [data.strides[d] * step] + list(data.strides[d + 1:]) + [data.strides[d]]
        view = np.lib.stride_tricks.as_strided(data, shape, strides)
        if self.ndim == 0:
            view = view.reshape(size)
        in_shape = self.shape
        return view_result(self, view, "UnfoldBackward0", lambda g: _fold_windows(g, in_shape, d, size, step),
                           lambda t: t.unfold(d, size, step))

    def ravel(self):
        """The elements as one dimension (a view when the layout allows)."""
        return self.reshape(-1)

    # --------------------------------------------------------------- copies
    def take_along_dim(self, indices, dim=None):
        """Elements at ``indices`` along ``dim`` (the flattened tensor when None); ``indices``
        broadcasts against the input in the other dims (``torch.take_along_dim``)."""
        if indices.dtype.name != "int64":
            raise RuntimeError(f"take_along_dim(): dtype of indices should be Long but got {indices.dtype}")
        if dim is None:
            return self.reshape(-1).gather(0, indices.reshape(-1))
        d = normalize_dim(dim, self.ndim, "take_along_dim")
        if indices.ndim != self.ndim:
            raise RuntimeError(f"take_along_dim(): input and indices should have the same number of dimensions, "
                               f"but got {self.ndim} dimensions for input, and {indices.ndim} dimensions for indices")
        shape = [max(a, b) if i != d else None for i, (a, b) in enumerate(zip(self.shape, indices.shape))]
        x_shape = [self.shape[i] if i == d else n for i, n in enumerate(shape)]
        i_shape = [indices.shape[i] if i == d else n for i, n in enumerate(shape)]
        return self.expand(x_shape).gather(d, indices.expand(i_shape))

    def argwhere(self):
        """(nonzeros, ndim) int64 coordinates of the nonzero elements (``nonzero()``)."""
        return self.nonzero()

    def flip(self, *dims):
        """Reverse the order along ``dims`` (a copy, as torch)."""
        axes = _dims(size_args(dims, "flip") if dims else (), self.ndim, "flip")
        out = self._wrap(np.flip(self._data, axes).copy() if axes else self._data.copy())
        return attach(out, "FlipBackward0", (self,), lambda g: g.flip(axes))

    def fliplr(self):
        """Reverse the columns (dim 1); needs at least 2 dims."""
        if self.ndim < 2:
            raise ShapeError("fliplr: Input must be >= 2-d.")
        return self.flip(1)

    def flipud(self):
        """Reverse the rows (dim 0); needs at least 1 dim."""
        if self.ndim < 1:
            raise ShapeError("flipud: Input must be >= 1-d.")
        return self.flip(0)

    def roll(self, shifts, dims=None):
        """Shift elements cyclically along ``dims`` (the flattened tensor when None)."""
        if dims is None:
            if isinstance(shifts, Sequence) and len(shifts) != 1:
                raise RuntimeError(f"roll: shifts {list(shifts)} need dims")
            shift = shifts[0] if isinstance(shifts, Sequence) else shifts
            return self.flatten().roll(shift, 0).view(self.shape)
        shift_seq = tuple(shifts) if isinstance(shifts, Sequence) else (shifts,)
        axes = _dims(dims, self.ndim, "roll")
        if len(shift_seq) != len(axes):
            raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shift_seq)}, dims:{len(axes)}")
        out = self._wrap(np.roll(self._data, shift_seq, axes))
        back = tuple(-int(s) for s in shift_seq)
        return attach(out, "RollBackward0", (self,), lambda g: g.roll(back, axes))

    def repeat(self, *sizes):
        """Tile the tensor ``sizes`` times along each dim (``torch.Tensor.repeat``; ``sizes``
        may add leading dims)."""
        reps = size_args(sizes, "repeat")
        if len(reps) < self.ndim:
            raise RuntimeError("repeat: Number of dimensions of repeat dims can not be smaller than number of "
                               "dimensions of tensor")
        if any(r < 0 for r in reps):
            raise RuntimeError(f"repeat: Trying to create tensor with negative dimension: {list(reps)}")
        shape = (1,) * (len(reps) - self.ndim) + tuple(self.shape)
        out = self._wrap(np.tile(self._data.reshape(shape), reps))
        own_shape = self.shape

        def backward(g):
            # (r0 * n0, r1 * n1, ...) -> (r0, n0, r1, n1, ...), summed over the r's
            split = [v for r, n in zip(reps, shape) for v in (r, n)]
            return g.reshape(split).sum(dim=tuple(range(0, len(split), 2))).reshape(own_shape)

        return attach(out, "RepeatBackward0", (self,), backward)

    def tile(self, *dims):
        """``repeat`` with ``dims`` padded by leading 1s to the tensor's ndim (``torch.tile``)."""
        reps = size_args(dims, "tile")
        return self.repeat((1,) * (self.ndim - len(reps)) + reps)

    def repeat_interleave(self, repeats, dim=None, *, output_size=None):
        """Repeat each element (each slice along ``dim``) ``repeats`` times; the flattened
        tensor when ``dim`` is None. ``repeats``: an int, or a tensor of one count per slice."""
        x = self.flatten() if dim is None else self
        d = 0 if dim is None else normalize_dim(dim, x.ndim, "repeat_interleave")
        size = x.shape[d] if x.ndim else 1
        counts = np.asarray(repeats._data if hasattr(repeats, "_data") else repeats)
        if counts.dtype.kind not in "iu":
            raise RuntimeError(f"repeat_interleave: repeats must be integers, got {counts.dtype}")
        if counts.ndim > 1 or counts.ndim == 1 and len(counts) not in (1, size):
            raise RuntimeError(f"repeat_interleave: repeats must have the same size as input along dim, "
                               f"but got repeats.size(0) = {counts.size} and input.size({d}) = {size}")
        if (counts < 0).any():
            raise RuntimeError("repeat_interleave: repeats can not be negative")
        counts = np.broadcast_to(counts.reshape(-1), (size,)).astype(np.int64)
        if output_size is not None and output_size != counts.sum():
            raise RuntimeError(f"repeat_interleave: output_size {output_size} does not match {counts.sum()}")
        source = np.repeat(np.arange(size), counts)
        out = x._wrap(np.take(x._data, source, axis=d) if x.ndim else np.repeat(x._data, counts))
        source_t = x._wrap(source)
        return attach(out, "RepeatInterleaveBackward0", (x,),
                      lambda g: g._wrap(np.zeros(x.shape, g._data.dtype)).index_add(d, source_t, g)
                      if x.ndim else g.sum())

    def tril(self, diagonal: int = 0):
        """The lower triangle of the last two dims (elements with col - row <= ``diagonal``)."""
        return _triangle(self, diagonal, lower=True)

    def triu(self, diagonal: int = 0):
        """The upper triangle of the last two dims (elements with col - row >= ``diagonal``)."""
        return _triangle(self, diagonal, lower=False)

    tril_, triu_ = _in_place(tril, "tril_"), _in_place(triu, "triu_")

    def diag(self, diagonal: int = 0):
        """1-D: a square matrix with the vector on diagonal ``diagonal``; 2-D: that diagonal (a copy)."""
        if self.ndim == 1:
            n = self.shape[0] + abs(diagonal)
            out = np.zeros((n, n), self._data.dtype)
            _diagonal_view(out, diagonal, 0, 1)[...] = self._data
            return attach(self._wrap(out), "DiagEmbedBackward0", (self,), lambda g: g.diagonal(diagonal))
        if self.ndim == 2:
            return self.diagonal(diagonal).clone()
        raise ShapeError(f"diag(): Supports 1D or 2D tensors. Got {self.ndim}D")

    def diag_embed(self, offset: int = 0, dim1: int = -2, dim2: int = -1):
        """Each last-dim vector placed on a diagonal of new dims ``dim1``/``dim2``."""
        ndim = self.ndim + 1
        d1, d2 = normalize_dim(dim1, ndim, "diag_embed"), normalize_dim(dim2, ndim, "diag_embed")
        if d1 == d2:
            raise RuntimeError(f"diag_embed: diagonal dimensions cannot be identical {dim1}, {dim2}")
        n = (self.shape[-1] if self.ndim else 1) + abs(offset)
        rest = list(self.shape[:-1])
        shape = []
        for i in range(ndim):
            shape.append(n if i in (d1, d2) else rest.pop(0))
        data = self._data if self.ndim else self._data.reshape(1)
        out = np.zeros(shape, self._data.dtype)
        _diagonal_view(out, offset, d1, d2)[...] = data
        return attach(self._wrap(out), "DiagEmbedBackward0", (self,),
                      lambda g: g.diagonal(offset, d1, d2).reshape(self.shape))

    def trace(self):
        """Sum of the main diagonal of a matrix."""
        if self.ndim != 2:
            raise ShapeError(f"trace: expected a matrix, but got tensor with dim {self.ndim}")
        return self.diagonal().sum()

    def tensor_split(self, indices_or_sections, dim: int = 0):
        """Split into ``n`` nearly equal parts (the first ``size % n`` one longer), or at the
        given indices; views."""
        d = normalize_dim(dim, self.ndim, "tensor_split")
        size = self.shape[d]
        if isinstance(indices_or_sections, (int, np.integer)) and not isinstance(indices_or_sections, bool):
            n = int(indices_or_sections)
            if n <= 0:
                raise RuntimeError(f"tensor_split: number of sections must be larger than 0, got {n}")
            lengths = [size // n + (1 if i < size % n else 0) for i in range(n)]
            bounds = np.concatenate([[0], np.cumsum(lengths)])
        else:
            cuts = [int(i) for i in (indices_or_sections.tolist() if hasattr(indices_or_sections, "tolist")
                                     else indices_or_sections)]
            bounds = [0] + cuts + [size]
        pieces = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            lo, hi = min(max(int(lo), 0), size), min(max(int(hi), 0), size)
            pieces.append(self.narrow(d, lo, max(hi - lo, 0)))
        return tuple(pieces)

    def masked_select(self, mask):
        """The elements where the (broadcast) bool ``mask`` is True, as a 1-D tensor."""
        if not hasattr(mask, "_data") or mask.dtype.name != "bool":
            raise RuntimeError(f"masked_select: expected BoolTensor for mask, got {getattr(mask, 'dtype', type(mask))}")
        shape = np.broadcast_shapes(self.shape, mask.shape)
        return self.expand(shape)[mask.expand(shape)]

    # --------------------------------------------------------------- factories
    def new_zeros(self, *size, dtype=None, requires_grad: bool = False):
        return self._new(np.zeros, size, dtype, requires_grad, "new_zeros")

    def new_ones(self, *size, dtype=None, requires_grad: bool = False):
        return self._new(np.ones, size, dtype, requires_grad, "new_ones")

    def new_empty(self, *size, dtype=None, requires_grad: bool = False):
        return self._new(np.empty, size, dtype, requires_grad, "new_empty")

    def new_full(self, size, fill_value, *, dtype=None, requires_grad: bool = False):
        return self._new(lambda shape, dt: np.full(shape, fill_value, dt), (size,), dtype, requires_grad, "new_full")

    def new_tensor(self, data, *, dtype=None, requires_grad: bool = False):
        """A tensor holding a copy of ``data``, in this tensor's dtype unless ``dtype`` is given."""
        values = data._data if hasattr(data, "_data") else data
        out = self._wrap(np.array(values, dtype=self._new_dtype(dtype, "new_tensor")))
        return out.requires_grad_() if requires_grad else out

    def _new(self, make, size, dtype, requires_grad: bool, op: str):
        """A fresh tensor of ``size`` in this tensor's dtype (or ``dtype``), as torch's new_*."""
        shape = size_args(size, op)
        if any(s < 0 for s in shape):
            raise RuntimeError(f"{op}: Trying to create tensor with negative dimension: {list(shape)}")
        out = self._wrap(make(shape, self._new_dtype(dtype, op)))
        return out.requires_grad_() if requires_grad else out

    def _new_dtype(self, dtype, op: str) -> np.dtype:
        if dtype is None:
            return self._data.dtype
        if not isinstance(dtype, dtypes.dtype):
            raise TypeError(f"{op}: dtype must be a cogtensor dtype, got {dtype!r}")
        return dtype.numpy


def broadcast_tensors(*tensors):
    """The tensors expanded to their common broadcast shape (views)."""
    shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(t.expand(shape) for t in tensors)


def hstack(tensors):
    """Join along dim 1 (dim 0 for 1-D tensors), as ``torch.hstack``."""
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in tensors]
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """Stack as rows: tensors made at least 2-D, joined along dim 0."""
    return cat([t.reshape(1, -1) if t.ndim < 2 else t for t in tensors], 0)


def meshgrid(*tensors, indexing: str | None = None):
    """Coordinate grids from 1-D tensors (views): ``indexing="ij"`` (the default, as torch;
    torch warns when it is left out) or ``"xy"`` (the first two dims swapped)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing is None:
        warnings.warn("torch.meshgrid: in an upcoming release, it will be required to pass the indexing argument.",
                      UserWarning, stacklevel=2)
        indexing = "ij"
    if indexing not in ("ij", "xy"):
        raise RuntimeError(f'meshgrid: indexing must be one of "xy" or "ij", but received: {indexing}')
    if any(t.ndim > 1 for t in tensors):
        raise RuntimeError("meshgrid: Expected 0D or 1D tensor in the tensor list")
    flat = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(flat) >= 2
    if swap:
        flat[0], flat[1] = flat[1], flat[0]
    shape = [t.shape[0] for t in flat]
    grids = [t.reshape([-1 if j == i else 1 for j in range(len(flat))]).expand(shape) for i, t in enumerate(flat)]
    if swap:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


# function forms: cogtensor.flip(x, (0,)) == x.flip(0)
t, flip, fliplr, flipud, roll = ShapingOps.t, ShapingOps.flip, ShapingOps.fliplr, ShapingOps.flipud, ShapingOps.roll
tile, repeat_interleave = ShapingOps.tile, ShapingOps.repeat_interleave
tril, triu, diag, diagonal, diag_embed = (ShapingOps.tril, ShapingOps.triu, ShapingOps.diag, ShapingOps.diagonal,
                                          ShapingOps.diag_embed)
trace, movedim, moveaxis = ShapingOps.trace, ShapingOps.movedim, ShapingOps.moveaxis
tensor_split, masked_select = ShapingOps.tensor_split, ShapingOps.masked_select
select, ravel, take_along_dim, argwhere = ShapingOps.select, ShapingOps.ravel, ShapingOps.take_along_dim, \
    ShapingOps.argwhere
