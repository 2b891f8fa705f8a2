"""Matrix products: matmul (batched, broadcasting), mm, bmm, mv, dot, outer, tensordot
(einsum is in :mod:`cogtensor.ops.einsum`).

Dtypes follow PyTorch: both operands of a product must have the same dtype
(``outer`` promotes, as it is a broadcast multiply); float16 and bfloat16
compute in float32 and round once to the input dtype; integer products
accumulate in int64 and wrap to the input dtype (the same bits torch gives);
bool has no matrix product. Forward kernels work on numpy arrays
(:func:`product_arrays`) so a backward can reuse them beside the forward.

Backward: every product records its node next to its forward. The gradients of
``a @ b`` are ``g @ b.mT`` and ``a.mT @ g`` (vectors taking part as a row or a
column); the engine sums gradients over broadcast batch dimensions. While
gradients are themselves recorded (``create_graph=True``) they are computed with
recorded products, so they can be differentiated again; otherwise each is one
GEMM on transposed views (BLAS reads the transposition, nothing is copied).
"""

from __future__ import annotations

import math

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ShapeError
from cogtensor.graph import attach, requires_grad
from cogtensor.ops.elementwise_core import _quiet
from cogtensor.ops.views import normalize_dim

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "outer", "tensordot"]


# ------------------------------------------------------------------ helpers
def _is_tensor(x) -> bool:
    return isinstance(x, ProductOps)


def _require_tensors(op: str, **named) -> None:
    for name, x in named.items():
        if not _is_tensor(x):
            raise TypeError(f"{op}: argument '{name}' must be a Tensor, not {type(x).__name__}")


def _shapes(a, b) -> str:
    return f"shapes {list(a.shape)} and {list(b.shape)}"


def work_dtype(d: dtypes.dtype) -> np.dtype:
    """The numpy dtype a product of ``d`` operands is computed in."""
    if d.is_complex:
        raise NotImplementedForDType(f"matrix products of {d} tensors are not supported")
    if d is dtypes.float16 or d is dtypes.bfloat16:
        return np.dtype(np.float32)
    if not d.is_floating_point:
        return np.dtype(np.int64)
    return d.numpy


def product_arrays(fn, arrays, out: dtypes.dtype) -> np.ndarray:
    """``fn(*arrays)`` computed in the work dtype of ``out`` and rounded (or wrapped) to ``out``."""
    work = work_dtype(out)
    result = np.asarray(_quiet(fn, *(a.astype(work, copy=False) for a in arrays)))
    return result.astype(out.numpy, copy=False)


_BLAS = (np.dtype(np.float32), np.dtype(np.float64))


def _fast(x, y) -> bool:
    """Both operands tensors of one float32/float64 dtype: numpy computes the product as is."""
    return isinstance(x, ProductOps) and isinstance(y, ProductOps) and x._data.dtype is y._data.dtype \
        and x._data.dtype in _BLAS


def _same_dtype(op: str, a, b, what: str = "expected both operands to have the same dtype") -> dtypes.dtype:
    if a.dtype is not b.dtype:
        raise DTypeError(f"{op}: {what}, but got {a.dtype.name} and {b.dtype.name}; "
                         f"convert one side first, e.g. b.to({a.dtype})")
    if a.dtype is dtypes.bool:
        raise DTypeError(f"{op}: not implemented for bool tensors (as in torch); "
                         "convert first, e.g. .int() or .float()")
    return a.dtype


def _transpose_hint(a_shape, b_shape, a: str = "a", b: str = "b") -> str:
    """A hint naming the transposition that would make a (.., n, k) @ (.., m, p) product fit, if one does."""
    an, bn = len(a_shape), len(b_shape)
    ta, tb = ("T" if an == 2 else "mT"), ("T" if bn == 2 else "mT")
    kb = b_shape[-2] if bn >= 2 else b_shape[0]
    if an >= 2 and a_shape[-2] == kb:
        return f"; transposing the first operand would fit: {a}.{ta} @ {b}"
    if bn >= 2 and a_shape[-1] == b_shape[-1]:
        return f"; transposing the second operand would fit: {a} @ {b}.{tb}"
    if an >= 2 and bn >= 2 and a_shape[-2] == b_shape[-1]:
        return f"; transposing both operands would fit: {a}.{ta} @ {b}.{tb} (the transpose of {b} @ {a})"
    return ""


def _check_inner(op: str, x, y, names=("a", "b")) -> None:
    """Raise ShapeError unless x's last dimension equals y's contracted one."""
    ka = x.shape[-1]
    kb = y.shape[-2] if y.ndim >= 2 else y.shape[0]
    if ka != kb:
        where = "second-to-last" if y.ndim >= 2 else "only"
        raise ShapeError(
            f"{op}: {_shapes(x, y)} cannot be multiplied: inner dimensions {ka} != {kb} "
            f"(the last dimension of the first must equal the {where} dimension of the second)"
            + _transpose_hint(tuple(x.shape), tuple(y.shape), *names)
        )


def _batch_shape(op: str, a, b) -> tuple[int, ...]:
    """The broadcast batch shape of two (.., n, k) / (.., k, p) operands."""
    ba, bb = tuple(a.shape[:-2]), tuple(b.shape[:-2])
    bad = [i for i in range(1, min(len(ba), len(bb)) + 1) if ba[-i] != bb[-i] and 1 not in (ba[-i], bb[-i])]
    if bad:
        i = bad[0]
        raise ShapeError(
            f"{op}: {_shapes(a, b)} cannot be multiplied: batch dimensions {list(ba)} and {list(bb)} do not "
            f"broadcast (size {ba[-i]} in dimension {len(ba) - i} of the first, {bb[-i]} in dimension "
            f"{len(bb) - i} of the second; batch sizes must be equal or 1)"
        )
    return np.broadcast_shapes(ba, bb)


# ------------------------------------------------------------- 2-operand ops
def matmul(input, other):
    """Matrix product with torch.matmul's rules.

    1-D @ 1-D is a dot product (0-d result); 2-D @ 2-D a matrix product; a 1-D
    first operand is a row vector and a 1-D second operand a column vector
    (their added dimension is removed again); batch dimensions (all but the
    last two) broadcast: (j, 1, n, k) @ (l, k, p) -> (j, l, n, p).

    Raises ShapeError for 0-d operands, inner dimensions that differ (with a
    hint when a transpose would fit) or batches that do not broadcast;
    DTypeError (TypeError, RuntimeError) for different or bool dtypes.

    Example:
        >>> (cogtensor.ones(2, 3) @ cogtensor.ones(3)).tolist()
        [3.0, 3.0]
    """
    if _fast(input, other) and input._data.ndim and other._data.ndim:
        try:  # numpy's matmul rules are torch's; a ValueError is explained below
            return _recorded(input._wrap(_quiet(np.matmul, input._data, other._data)), input, other)
        except ValueError:
            pass
    _require_tensors("matmul", input=input, other=other)
    a, b = input, other
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both arguments need to be at least 1-D, but got {a.ndim}-D and {b.ndim}-D "
                         f"({_shapes(a, b)}); multiply by a 0-d tensor with * instead")
    if a.ndim == 1 and b.ndim == 1:
        return _dot("matmul", a, b)
    _check_inner("matmul", a, b)
    _batch_shape("matmul", a, b)
    d = _same_dtype("matmul", a, b, "expected m1 and m2 to have the same dtype")
    return _recorded(a._wrap(product_arrays(np.matmul, (a._data, b._data), d)), a, b)


def mm(input, mat2):
    """Product of two matrices: (n, k) @ (k, p) -> (n, p); no broadcasting (see :func:`matmul`)."""
    if _fast(input, mat2) and input._data.ndim == mat2._data.ndim == 2 and input._data.shape[1] == mat2._data.shape[0]:
        return _recorded(input._wrap(_quiet(np.matmul, input._data, mat2._data)), input, mat2)
    _require_tensors("mm", input=input, mat2=mat2)
    if input.ndim != 2 or mat2.ndim != 2:
        raise ShapeError(f"mm: expected 2-D matrices, but got {input.ndim}-D and {mat2.ndim}-D "
                         f"({_shapes(input, mat2)}); use matmul for vectors and batches")
    _check_inner("mm", input, mat2)
    d = _same_dtype("mm", input, mat2, "expected m1 and m2 to have the same dtype")
    return _recorded(input._wrap(product_arrays(np.matmul, (input._data, mat2._data), d)), input, mat2)


def bmm(input, mat2):
    """Batched matrix product: (b, n, k) @ (b, k, p) -> (b, n, p), equal batch sizes (no broadcasting)."""
    if _fast(input, mat2) and input._data.ndim == mat2._data.ndim == 3 and input._data.shape[0] == mat2._data.shape[0] \
            and input._data.shape[2] == mat2._data.shape[1]:
        return _recorded(input._wrap(_quiet(np.matmul, input._data, mat2._data)), input, mat2)
    _require_tensors("bmm", input=input, mat2=mat2)
    if input.ndim != 3 or mat2.ndim != 3:
        raise ShapeError(f"bmm: expected 3-D tensors (batches of matrices), but got {input.ndim}-D and "
                         f"{mat2.ndim}-D ({_shapes(input, mat2)}); use matmul to broadcast")
    if input.shape[0] != mat2.shape[0]:
        raise ShapeError(f"bmm: {_shapes(input, mat2)}: batch sizes {input.shape[0]} != {mat2.shape[0]} "
                         "(bmm needs the same number of matrices on both sides; matmul broadcasts batches of 1)")
    _check_inner("bmm", input, mat2)
    d = _same_dtype("bmm", input, mat2, "expected m1 and m2 to have the same dtype")
    return _recorded(input._wrap(product_arrays(np.matmul, (input._data, mat2._data), d)), input, mat2)


def mv(input, vec):
    """Matrix-vector product: (n, k) @ (k,) -> (n,)."""
    x, v = getattr(input, "_data", None), getattr(vec, "_data", None)
    if _fast(input, vec) and x.ndim == 2 and v.ndim == 1 and x.shape[1] == v.shape[0]:
        return _recorded(input._wrap(_quiet(np.matmul, input._data, vec._data)), input, vec)
    _require_tensors("mv", input=input, vec=vec)
    if input.ndim != 2 or vec.ndim != 1:
        raise ShapeError(f"mv: expected a 2-D matrix and a 1-D vector, but got {input.ndim}-D and {vec.ndim}-D "
                         f"({_shapes(input, vec)})")
    _check_inner("mv", input, vec, ("a", "v"))
    d = _same_dtype("mv", input, vec, "expected the matrix and the vector to have the same dtype")
    return _recorded(input._wrap(product_arrays(np.matmul, (input._data, vec._data), d)), input, vec)


def _dot(op: str, a, b):
    if a.shape[0] != b.shape[0]:
        raise ShapeError(f"{op}: {_shapes(a, b)} cannot be multiplied: 1-D tensors must have the same number of "
                         f"elements, {a.shape[0]} != {b.shape[0]}")
    d = _same_dtype(op, a, b, "expected both vectors to have the same dtype")
    return _recorded(a._wrap(product_arrays(np.dot, (a._data, b._data), d)), a, b)


def dot(input, tensor):
    """Inner product of two 1-D tensors of one dtype (a 0-d tensor), as torch.dot."""
    if _fast(input, tensor) and input._data.ndim == tensor._data.ndim == 1 and input._data.shape == tensor._data.shape:
        return _recorded(input._wrap(np.dot(input._data, tensor._data)), input, tensor)
    _require_tensors("dot", input=input, tensor=tensor)
    if input.ndim != 1 or tensor.ndim != 1:
        raise ShapeError(f"dot: expected 1-D tensors, but got {input.ndim}-D and {tensor.ndim}-D "
                         f"({_shapes(input, tensor)}); use matmul for matrices")
    return _dot("dot", input, tensor)


def outer(input, vec2):
    """Outer product of two 1-D tensors: (n,), (m,) -> (n, m); dtypes promote as in multiplication."""
    _require_tensors("outer", input=input, vec2=vec2)
    for name, x in (("self", input), ("vec2", vec2)):
        if x.ndim != 1:
            raise ShapeError(f"outer: expected 1-D arguments, but argument {name} is {x.ndim}-D "
                             f"({_shapes(input, vec2)}); flatten it first")
    d = dtypes.result_type(input, vec2)
    x, y = input._data.astype(d.numpy, copy=False), vec2._data.astype(d.numpy, copy=False)
    out = input._wrap(np.multiply.outer(x, y))
    return attach(out, "MulBackward0", (input, vec2),  # torch's outer is a broadcast multiply
                  lambda g: ((g * vec2).sum(1) if _wants(input) else None,
                             (g * input.unsqueeze(1)).sum(0) if _wants(vec2) else None), saved=(input, vec2))


# ----------------------------------------------------------- product backward
def _wants(x) -> bool:
    """Whether ``x`` is in the graph (its gradient is worth computing)."""
    return getattr(x, "_node", None) is not None


def _recorded(out, a, b):
    """Record ``out = a @ b`` (any of the matmul family) when an operand needs a gradient."""
    if a._node is None and b._node is None:  # the common inference case: nothing to check
        return out
    return attach(out, _node_name(a._data.ndim, b._data.ndim), (a, b), lambda g: _matmul_grads(g, a, b),
                  saved=(a, b))


def _node_name(na: int, nb: int) -> str:
    """torch's name for the node of an (na-D) @ (nb-D) product."""
    if na == 1:
        return "DotBackward0" if nb == 1 else "MatmulBackward0"
    if nb == 1:
        return "MvBackward0" if na == 2 else "MatmulBackward0"
    if na == nb == 2:
        return "MmBackward0"
    return "BmmBackward0" if na == nb == 3 else "MatmulBackward0"


def _matmul_grads(g, a, b):
    """Gradients of ``a @ b`` (torch.matmul's rank rules) given the output gradient ``g``.

    Batch gradients come out in the broadcast batch shape; the engine sums them to
    each operand's own. A 2-D ``b`` under a batched ``a`` (a linear layer on a batch
    of sequences) folds the batch into rows instead: one GEMM, no per-batch sum.
    """
    wa, wb = _wants(a), _wants(b)
    na, nb = a._data.ndim, b._data.ndim
    if na == 1 and nb == 1:
        return (g * b if wa else None), (g * a if wb else None)
    if nb == 1:  # (.., n, k) @ (k,) -> (.., n): b is a column
        ga = g.unsqueeze(-1) * b if wa else None
        gb = _product(a, g.unsqueeze(-1), tx=True).squeeze(-1) if wb else None
        return ga, gb
    if na == 1:  # (k,) @ (.., k, p) -> (.., p): a is a row
        ga = _product(g.unsqueeze(-2), b, ty=True).squeeze(-2) if wa else None
        gb = a.unsqueeze(-1) * g.unsqueeze(-2) if wb else None
        return ga, gb
    if nb == 2 and na > 2:  # fold a's batch into rows
        k, p = b._data.shape
        rows = math.prod(g._data.shape[:-1])
        ga = _product(g.reshape(rows, p), b, ty=True).reshape(*g._data.shape[:-1], k) if wa else None
        gb = _product(a.reshape(rows, k), g.reshape(rows, p), tx=True) if wb else None
        return ga, gb
    return (_product(g, b, ty=True) if wa else None), (_product(a, g, tx=True) if wb else None)


def _product(x, y, tx: bool = False, ty: bool = False):
    """``x @ y`` with the last two dimensions of ``x`` (``tx``) or ``y`` (``ty``) swapped.

    While recording (double backward) it is a recorded matmul of transposed views;
    otherwise one numpy matmul straight on the arrays' transposed views."""
    if requires_grad(x, y):
        return matmul(x.mT if tx else x, y.mT if ty else y)
    xs, ys = x._data, y._data
    if tx:
        xs = xs.swapaxes(-1, -2)
    if ty:
        ys = ys.swapaxes(-1, -2)
    if xs.dtype is ys.dtype and xs.dtype in _BLAS:
        return x._wrap(_quiet(np.matmul, xs, ys))
    return x._wrap(product_arrays(np.matmul, (xs, ys), x.dtype))


# -------------------------------------------------------------------- tensordot
def _tensordot_dims(dims, a, b) -> tuple[list[int], list[int]]:
    if _is_tensor(dims):
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        n = int(dims)
        if n < 0:
            raise ValueError(f"tensordot: expects dims >= 0, but got dims={n}")
        if n > min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: dims={n} contracts more dimensions than the operands have "
                             f"({_shapes(a, b)})")
        return list(range(a.ndim - n, a.ndim)), list(range(n))
    if not isinstance(dims, (list, tuple)) or len(dims) != 2:
        raise TypeError(f"tensordot: dims must be an int or a pair of dimension lists, got {dims!r}")
    da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    if len(da) != len(db):
        raise ShapeError(f"tensordot: both dimension lists must have the same length, got {da} and {db}")
    da = [normalize_dim(d, a.ndim, "tensordot") for d in da]
    db = [normalize_dim(d, b.ndim, "tensordot") for d in db]
    for name, ds in (("first", da), ("second", db)):
        if len(set(ds)) != len(ds):
            raise ShapeError(f"tensordot: a dimension appears twice in the {name} dimension list {ds}")
    return da, db


def tensordot(a, b, dims=2):
    """Contract dimensions ``dims`` of ``a`` with those of ``b``.

    ``dims`` is an int n (the last n of ``a`` with the first n of ``b``) or a
    pair of lists ``([a dims], [b dims])``. The result has ``a``'s free
    dimensions, then ``b``'s. As in torch, a contracted size of 1 on one side
    broadcasts against the other side.

    Example:
        >>> cogtensor.tensordot(cogtensor.ones(3, 4), cogtensor.ones(4, 5), dims=1).shape
        cogtensor.Size([3, 5])
    """
    _require_tensors("tensordot", a=a, b=b)
    da, db = _tensordot_dims(dims, a, b)
    d = _same_dtype("tensordot", a, b, "both inputs should have the same dtype")
    work = work_dtype(d)
    x, y = a._data.astype(work, copy=False), b._data.astype(work, copy=False)
    for i, j in zip(da, db):
        sa, sb = a.shape[i], b.shape[j]
        if sa != sb:
            if 1 not in (sa, sb):
                raise ShapeError(f"tensordot: {_shapes(a, b)}: contracted dimensions need to match, but the first "
                                 f"has size {sa} in dim {i} and the second has size {sb} in dim {j}")
            x = x.sum(axis=i, keepdims=True) if sb == 1 else x
            y = y.sum(axis=j, keepdims=True) if sa == 1 else y
    out = a._wrap(np.asarray(np.tensordot(x, y, axes=(da, db))).astype(d.numpy, copy=False))
    return attach(out, "TensordotBackward0", (a, b), lambda g: _tensordot_grads(g, a, b, da, db), saved=(a, b))


def _tensordot_grads(g, a, b, da, db):
    """Gradients of ``tensordot(a, b, (da, db))``: each is a tensordot of ``g`` with the
    other operand over the other's free dimensions, permuted back to the operand's order."""
    fa = [i for i in range(a.ndim) if i not in da]
    fb = [j for j in range(b.ndim) if j not in db]
    ga = gb = None
    if _wants(a):  # g's b-part against b's free dims leaves a's free dims, then b's contracted dims in b's order
        raw = tensordot(g, b, dims=(list(range(len(fa), len(fa) + len(fb))), fb))
        ga = _restore_order(raw, fa + [da[db.index(j)] for j in sorted(db)], a.shape)
    if _wants(b):
        raw = tensordot(a, g, dims=(fa, list(range(len(fa)))))
        gb = _restore_order(raw, [db[da.index(i)] for i in sorted(da)] + fb, b.shape)
    return ga, gb


def _restore_order(grad, dims, shape):
    """``grad`` (whose axis k is the operand's dimension ``dims[k]``) in the operand's dimension
    order and ``shape``: a size-1 contracted dimension broadcast on one side only is summed
    (this operand had 1) or expanded (the other had 1)."""
    grad = grad.permute([dims.index(i) for i in range(len(dims))])
    summed = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if summed:
        grad = grad.sum(summed, keepdim=True)
    return grad.expand(shape) if tuple(grad.shape) != tuple(shape) else grad


class ProductOps:
    """Matrix-product methods and the ``@`` operator."""

    __slots__ = ()

    def matmul(self, other):
        """``self @ other`` (see :func:`cogtensor.matmul`)."""
        return matmul(self, other)

    def __matmul__(self, other):
        if not isinstance(other, ProductOps):
            return NotImplemented
        x, y = self._data, other._data
        if x.dtype is y.dtype and x.dtype in _BLAS and x.ndim and y.ndim:
            try:  # the common case without the checks' overhead (numpy's rules are torch's)
                out = self._wrap(_quiet(np.matmul, x, y))
            except ValueError:
                return matmul(self, other)
            return out if self._node is None and other._node is None else _recorded(out, self, other)
        return matmul(self, other)

    def __rmatmul__(self, other):
        if not _is_tensor(other):
            return NotImplemented
        return matmul(other, self)

    def mm(self, mat2):
        return mm(self, mat2)

    def bmm(self, mat2):
        return bmm(self, mat2)

    def mv(self, vec):
        return mv(self, vec)

    def dot(self, other):
        return dot(self, other)

    def outer(self, vec2):
        return outer(self, vec2)

    ger = outer
