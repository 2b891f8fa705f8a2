"""Shape and view operations: results share memory with their input wherever the
strides allow, as in PyTorch (``reshape`` copies only when it must), plus joining
and splitting (``cat``, ``stack``, ``split``, ``chunk``, ``unbind``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import ShapeError
from cogtensor.graph import attach
from cogtensor.ops.autograd_methods import view_result


def normalize_dim(dim, ndim: int, op: str) -> int:
    """A dim in [-ndim, ndim) as a non-negative index (0-d tensors accept -1 and 0)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an integer, got {type(dim).__name__}")
    span = max(ndim, 1)
    if not -span <= dim < span:
        raise IndexError(f"{op}: dimension out of range (expected to be in range of [{-span}, {span - 1}], but got {dim})")
    return int(dim) % span


def size_args(args, op: str) -> tuple[int, ...]:
    """Sizes given as ints (``view(2, 3)``) or one sequence (``view((2, 3))``)."""
    if len(args) == 1 and isinstance(args[0], Sequence):
        args = tuple(args[0])
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"{op}: sizes must be integers, got {type(a).__name__}")
    return tuple(int(a) for a in args)


def infer_shape(shape: tuple[int, ...], numel: int, old: tuple[int, ...], op: str) -> tuple[int, ...]:
    """Resolve one -1 in `shape` so it holds `numel` elements."""
    unknown = [i for i, s in enumerate(shape) if s == -1]
    if len(unknown) > 1:
        raise ShapeError(f"{op}: only one dimension can be inferred (-1), got shape {list(shape)}")
    if any(s < -1 for s in shape):
        raise ShapeError(f"{op}: invalid shape dimension in {list(shape)}")
    known = math.prod(s for s in shape if s != -1)
    if unknown:
        if known == 0 or numel % known:
            raise ShapeError(f"{op}: shape {list(shape)} is invalid for input of size {numel} (shape {list(old)})")
        shape = shape[: unknown[0]] + (numel // known,) + shape[unknown[0] + 1 :]
    elif known != numel:
        raise ShapeError(f"{op}: shape {list(shape)} is invalid for input of size {numel} (shape {list(old)})")
    return shape


def _index_item(item):
    """A Tensor index becomes its array; slices with a negative step are refused as in torch."""
    if isinstance(item, slice) and item.step is not None and item.step <= 0:
        raise ValueError("step must be greater than zero")
    data = getattr(item, "_data", None)
    return item if data is None else data


def index_key(key):
    return tuple(_index_item(k) for k in key) if isinstance(key, tuple) else _index_item(key)


class ViewOps:
    """Methods that reshape or reinterpret a tensor without copying its data."""

    __slots__ = ()

    def view(self, *shape):
        """Same data, another shape (or dtype of the same size); never copies.

        Raises ShapeError when the strides cannot express the new shape: use
        :meth:`reshape`, which copies then.
        """
        if len(shape) == 1 and isinstance(shape[0], dtypes.dtype):
            target = shape[0]
            try:
                array = self._data.view(target.numpy)
                return view_result(self, array, "ViewBackward0", lambda g: g.view(self.dtype), lambda t: t.view(target))
            except ValueError as e:  # the last dim must be contiguous (stride 1) and divide evenly, as torch
                raise ShapeError(f"view: cannot view a {self.dtype} tensor of shape {list(self.shape)} and stride "
                                 f"{list(self.stride())} as {target} (different element sizes): {e}") from None
        new = infer_shape(size_args(shape, "view"), self.numel(), self.shape, "view")
        try:
            array = np.reshape(self._data, new, copy=False)
        except ValueError:
            raise ShapeError(
                f"view: size {list(new)} is not compatible with the input's size {list(self.shape)} and stride "
                f"{list(self.stride())} (at least one dimension spans across two contiguous subspaces); "
                "use .reshape(...) instead"
            ) from None
        return view_result(self, array, "ViewBackward0", lambda g: g.reshape(self.shape), lambda t: t.view(new))

    def reshape(self, *shape):
        """A tensor of the new shape: a view when the strides allow, else a copy."""
        new = infer_shape(size_args(shape, "reshape"), self.numel(), self.shape, "reshape")
        return view_result(self, np.reshape(self._data, new), "ViewBackward0", lambda g: g.reshape(self.shape),
                           lambda t: t.reshape(new))

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def transpose(self, dim0: int, dim1: int):
        """Swap two dimensions (a view)."""
        d0, d1 = normalize_dim(dim0, self.ndim, "transpose"), normalize_dim(dim1, self.ndim, "transpose")
        array = np.swapaxes(self._data, d0, d1) if self.ndim else self._data.view()
        return view_result(self, array, "TransposeBackward0", lambda g: g.transpose(d0, d1),
                           lambda t: t.transpose(d0, d1))

    swapaxes = transpose

    def permute(self, *dims):
        """Reorder all dimensions (a view)."""
        order = [normalize_dim(d, self.ndim, "permute") for d in size_args(dims, "permute")]
        if sorted(order) != list(range(self.ndim)):
            raise ShapeError(f"permute: dims {list(dims)} are not a permutation of the {self.ndim} dimensions")
        inverse = tuple(int(i) for i in np.argsort(order))
        return view_result(self, np.transpose(self._data, order), "PermuteBackward0", lambda g: g.permute(inverse),
                           lambda t: t.permute(order))

    @property
    def T(self):  # noqa: N802 - torch's name
        """All dimensions reversed (the transpose for a matrix)."""
        return view_result(self, self._data.T, "PermuteBackward0", lambda g: g.T, lambda t: t.T)

    @property
    def mT(self):  # noqa: N802 - torch's name
        """The last two dimensions swapped (batched matrix transpose)."""
        if self.ndim < 2:
            raise ShapeError(f"mT: tensor.mT is only supported on matrices or batches of matrices, got {self.ndim}-D")
        return view_result(self, np.swapaxes(self._data, -1, -2), "TransposeBackward0", lambda g: g.mT,
                           lambda t: t.mT)

    def squeeze(self, dim=None):
        """Drop dimensions of size 1 (all, or those in ``dim`` that have size 1)."""
        if dim is None:
            array = np.squeeze(self._data)
        else:
            dims = dim if isinstance(dim, (tuple, list)) else (dim,)
            drop = tuple(d for d in {normalize_dim(x, self.ndim, "squeeze") for x in dims}
                         if self.ndim and self.shape[d] == 1)
            array = np.squeeze(self._data, axis=drop) if drop else self._data.view()
        return view_result(self, array, "SqueezeBackward0", lambda g: g.reshape(self.shape),
                           lambda t: t.squeeze(dim))

    def unsqueeze(self, dim: int):
        """Insert a dimension of size 1 at ``dim`` (in [-ndim - 1, ndim])."""
        d = normalize_dim(dim, self.ndim + 1, "unsqueeze")
        return view_result(self, np.expand_dims(self._data, d), "UnsqueezeBackward0", lambda g: g.reshape(self.shape),
                           lambda t: t.unsqueeze(d))

    def expand(self, *sizes):
        """Broadcast to a larger shape without copying (-1 keeps a size); read-only view."""
        sizes = size_args(sizes, "expand")
        if len(sizes) < self.ndim:
            raise ShapeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to "
                             f"the number of dimensions in the tensor ({self.ndim})")
        lead = len(sizes) - self.ndim
        target = []
        for i, s in enumerate(sizes):
            old = self.shape[i - lead] if i >= lead else None
            if s == -1:
                if old is None:
                    raise ShapeError(f"expand: -1 is not allowed in a new leading dimension ({list(sizes)})")
                s = old
            if old is not None and old != s and old != 1:
                raise ShapeError(f"expand: the expanded size of the tensor ({s}) must match the existing size ({old}) "
                                 f"at non-singleton dimension {i}; target sizes {list(sizes)}, tensor shape {list(self.shape)}")
            target.append(s)
        # the engine sums a gradient back over broadcast dimensions: it passes through as it is
        return view_result(self, np.broadcast_to(self._data, target), "ExpandBackward0", lambda g: g,
                           lambda t: t.expand(target))

    def expand_as(self, other):
        return self.expand(other.shape)

    def broadcast_to(self, *shape):
        return self.expand(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        """Merge dimensions start_dim..end_dim into one (a view when possible)."""
        if self.ndim == 0:
            return self.reshape(1)
        s, e = normalize_dim(start_dim, self.ndim, "flatten"), normalize_dim(end_dim, self.ndim, "flatten")
        if s > e:
            raise ShapeError(f"flatten: start_dim ({start_dim}) cannot come after end_dim ({end_dim})")
        shape = self.shape
        return self.reshape(shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :])

    def unflatten(self, dim: int, sizes):
        """Split dimension ``dim`` into ``sizes`` (one may be -1)."""
        d = normalize_dim(dim, self.ndim, "unflatten")
        sizes = infer_shape(size_args((sizes,), "unflatten"), self.shape[d], (self.shape[d],), "unflatten")
        return self.view(self.shape[:d] + sizes + self.shape[d + 1 :])

    def narrow(self, dim: int, start: int, length: int):
        """Elements start..start+length of dimension ``dim`` (a view)."""
        d = normalize_dim(dim, self.ndim, "narrow")
        size = self.shape[d]
        if not -size <= start <= size:
            raise IndexError(f"narrow: start out of range (expected to be in range of [{-size}, {size}], but got {start})")
        if start < 0:
            start += size
        if not (length >= 0 and start + length <= size):
            raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension size ({size})")
        index = [slice(None)] * self.ndim
        index[d] = slice(start, start + length)
        return self[tuple(index)]

    def split(self, split_size_or_sections, dim: int = 0):
        """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes; views."""
        d = normalize_dim(dim, self.ndim, "split")
        size = self.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0 and size:
                raise ValueError(f"split: split_size must be positive, got {step}")
            sections = [min(step, size - i) for i in range(0, size, step)] if size else [0]
        else:
            sections = list(split_size_or_sections)
            if sum(sections) != size or any(s < 0 for s in sections):
                raise ShapeError(f"split: split sizes {sections} must sum to the size of dimension {d} ({size})")
        starts = np.cumsum([0, *sections[:-1]])
        return tuple(self.narrow(d, int(a), int(n)) for a, n in zip(starts, sections))

    def chunk(self, chunks: int, dim: int = 0):
        """Split into ``chunks`` nearly equal views (fewer when the size runs out), as torch.chunk."""
        if chunks <= 0:
            raise ValueError(f"chunk: chunks must be positive, got {chunks}")
        size = self.shape[normalize_dim(dim, self.ndim, "chunk")]
        if size == 0:  # torch gives `chunks` empty pieces
            return self.split([0] * chunks, dim)
        return self.split(-(-size // chunks), dim)

    def unbind(self, dim: int = 0):
        """The slices along ``dim``, each without that dimension (views)."""
        if self.ndim == 0:
            raise IndexError(f"unbind: dimension specified as {dim} but tensor has no dimensions")
        d = normalize_dim(dim, self.ndim, "unbind")
        lead = (slice(None),) * d
        return tuple(self[(*lead, i)] for i in range(self.shape[d]))


def cat(tensors, dim: int = 0):
    """Concatenate along an existing dimension; dtypes promote as in torch.cat."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise ShapeError(f"cat: zero-dimensional tensor (at position {i}) cannot be concatenated; use stack")
    # as in torch, 1-d empty tensors are skipped so they can seed a concatenation (but still promote)
    parts = [t for t in tensors if not (t.ndim == 1 and t.numel() == 0)] or tensors[:1]
    d = normalize_dim(dim, parts[0].ndim, "cat")
    ref = parts[0].shape
    for t in parts[1:]:
        if t.ndim != len(ref):
            raise ShapeError(f"cat: tensors must have the same number of dimensions; got {list(ref)} and {list(t.shape)}")
        if any(a != b for i, (a, b) in enumerate(zip(t.shape, ref)) if i != d):
            raise ShapeError(f"cat: sizes of tensors must match except in dimension {d}; got {list(ref)} and {list(t.shape)}")
    out = dtypes.result_type(*tensors).numpy
    result = parts[0]._wrap(np.concatenate([t._data for t in parts], axis=d, dtype=out))
    bounds = np.cumsum([0] + [t.shape[d] for t in parts]).tolist()
    return attach(result, "CatBackward0", parts,
                  lambda g: tuple(g.narrow(d, a, b - a) for a, b in zip(bounds, bounds[1:])))


def stack(tensors, dim: int = 0):
    """Join tensors of one shape along a new dimension."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ShapeError(f"stack: expects each tensor to be equal size, but got {list(tensors[0].shape)} and {list(t.shape)}")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    return cat([t.unsqueeze(d) for t in tensors], d)
