"""Fused arithmetic (addmm, addmv, addr, baddbmm, addbmm, addcmul, addcdiv), closeness tests
(isclose, allclose, equal), NaN-aware reductions (nansum, nanmean, nan_to_num,
count_nonzero), cumprod and diff.

The fused ops are compositions of recorded ops, so their gradients (and double backward)
come from those ops; ``beta=0`` drops ``input`` entirely (its NaN and inf do not reach the
result), as torch.
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import DTypeError, ShapeError
from cogtensor.graph import attach
from cogtensor.ops.elementwise import _in_place
from cogtensor.ops.views import cat, normalize_dim

__all__ = [
    "addmm", "addmv", "addr", "baddbmm", "addbmm", "addcmul", "addcdiv", "isclose", "allclose", "equal",
    "nan_to_num", "nansum", "nanmean", "count_nonzero", "cumprod", "diff", "kron", "inner",
]


def _scaled_sum(op: str, input, product, beta, alpha):
    """``beta * input + alpha * product``, with ``input`` broadcast to the product's shape."""
    try:
        shape = np.broadcast_shapes(tuple(input.shape), tuple(product.shape))
    except ValueError:
        shape = None
    if shape != tuple(product.shape):
        raise ShapeError(f"{op}: input of shape {list(input.shape)} does not broadcast to the product's shape "
                         f"{list(product.shape)}")
    if alpha != 1:
        product = product * alpha
    if beta == 0:  # input takes no part in the value, NaN and inf included; its gradient is zero
        return product + (input * 0).where(input.isfinite(), 0)
    return product + (input if beta == 1 else input * beta)


def _need_dims(op: str, **tensors) -> None:
    for name, (t, ndim) in tensors.items():
        if t.ndim != ndim:
            raise ShapeError(f"{op}: {name} must be a {ndim}-D tensor, got {t.ndim}-D")


class FusedOps:
    """addmm, addmv, addr, baddbmm, addbmm, addcmul, addcdiv, isclose, allclose, equal,
    nan_to_num, nansum, nanmean, count_nonzero, cumprod, diff."""

    __slots__ = ()

    # ----------------------------------------------------------- fused products
    def addmm(self, mat1, mat2, *, beta=1, alpha=1):
        """``beta * self + alpha * (mat1 @ mat2)`` for matrices; ``self`` broadcasts."""
        _need_dims("addmm", mat1=(mat1, 2), mat2=(mat2, 2))
        return _scaled_sum("addmm", self, mat1.mm(mat2), beta, alpha)

    def addmv(self, mat, vec, *, beta=1, alpha=1):
        """``beta * self + alpha * (mat @ vec)``."""
        _need_dims("addmv", mat=(mat, 2), vec=(vec, 1))
        return _scaled_sum("addmv", self, mat.mv(vec), beta, alpha)

    def addr(self, vec1, vec2, *, beta=1, alpha=1):
        """``beta * self + alpha * outer(vec1, vec2)``."""
        _need_dims("addr", vec1=(vec1, 1), vec2=(vec2, 1))
        return _scaled_sum("addr", self, vec1.outer(vec2), beta, alpha)

    def baddbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """``beta * self + alpha * (batch1 @ batch2)`` for batches of matrices."""
        _need_dims("baddbmm", batch1=(batch1, 3), batch2=(batch2, 3))
        return _scaled_sum("baddbmm", self, batch1.bmm(batch2), beta, alpha)

    def addbmm(self, batch1, batch2, *, beta=1, alpha=1):
        """``beta * self + alpha * sum_b(batch1[b] @ batch2[b])``."""
        _need_dims("addbmm", batch1=(batch1, 3), batch2=(batch2, 3))
        return _scaled_sum("addbmm", self, batch1.bmm(batch2).sum(0), beta, alpha)

    def addcmul(self, tensor1, tensor2, *, value=1):
        """``self + value * tensor1 * tensor2`` (all broadcast)."""
        product = tensor1 * tensor2
        return self + (product if value == 1 else product * value)

    def addcdiv(self, tensor1, tensor2, *, value=1):
        """``self + value * tensor1 / tensor2`` (all broadcast; integer division is refused, as torch)."""
        if not (tensor1.is_floating_point() or tensor1.dtype.is_complex) and \
                not (tensor2.is_floating_point() or tensor2.dtype.is_complex):
            raise DTypeError("addcdiv: Integer division with addcdiv is no longer supported, and in a future "
                             "release addcdiv will perform a true division of tensor1 and tensor2.")
        quotient = tensor1 / tensor2
        return self + (quotient if value == 1 else quotient * value)

    addmm_, addmv_, addr_ = _in_place(addmm, "addmm_"), _in_place(addmv, "addmv_"), _in_place(addr, "addr_")
    baddbmm_, addbmm_ = _in_place(baddbmm, "baddbmm_"), _in_place(addbmm, "addbmm_")
    addcmul_, addcdiv_ = _in_place(addcmul, "addcmul_"), _in_place(addcdiv, "addcdiv_")

    def kron(self, other):
        """Kronecker product: block (i, j, ...) is ``self[i, j, ...] * other`` (dims aligned
        from the right, the shorter padded with leading 1s)."""
        n = max(self.ndim, other.ndim)
        a = self.reshape((1,) * (n - self.ndim) + tuple(self.shape))
        b = other.reshape((1,) * (n - other.ndim) + tuple(other.shape))
        # (a0, 1, a1, 1, ...) * (1, b0, 1, b1, ...) -> (a0 * b0, a1 * b1, ...)
        a_split = [v for size in a.shape for v in (size, 1)]
        b_split = [v for size in b.shape for v in (1, size)]
        product = a.reshape(a_split) * b.reshape(b_split)
        return product.reshape([x * y for x, y in zip(a.shape, b.shape)])

    def inner(self, other):
        """Sum over the last dims of products: (*a, k), (*b, k) -> (*a, *b); a scalar scales."""
        if self.ndim == 0 or other.ndim == 0:
            return self * other
        if self.shape[-1] != other.shape[-1]:
            raise ShapeError(f"inner() the last dimension must match on both input tensors but got shapes "
                             f"{list(self.shape)} and {list(other.shape)}")
        a = self.reshape(-1, self.shape[-1])
        b = other.reshape(-1, other.shape[-1])
        return (a @ b.mT).reshape(tuple(self.shape[:-1]) + tuple(other.shape[:-1]))

    # ----------------------------------------------------------- closeness
    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        """``|self - other| <= atol + rtol * |other|`` element-wise (bool; broadcasting); equal
        infinities are close, NaN only with ``equal_nan``."""
        if self.dtype != other.dtype:
            raise DTypeError(f"isclose: {self.dtype} did not match {other.dtype}")
        if rtol < 0 or atol < 0:
            raise RuntimeError(f"isclose: rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
        a, b = self._data, other._data
        if a.dtype == np.bool_:
            return self._wrap(np.broadcast_to(a == b, np.broadcast_shapes(a.shape, b.shape)).copy())
        with np.errstate(invalid="ignore", over="ignore"):
            return self._wrap(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))

    def allclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        """Whether every element is :meth:`isclose` (a Python bool)."""
        return bool(self.isclose(other, rtol, atol, equal_nan)._data.all())

    def equal(self, other) -> bool:
        """Same shape and same elements (a Python bool; NaN is unequal to itself)."""
        if tuple(self.shape) != tuple(other.shape):
            return False
        return bool(np.array_equal(self._data, other._data))

    # ----------------------------------------------------------- NaN-aware
    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
        """NaN -> ``nan``, +inf -> ``posinf``, -inf -> ``neginf`` (defaults: the dtype's
        largest and lowest finite values); gradient flows only through finite elements."""
        data = self._data
        if data.dtype.kind not in "fc" and str(data.dtype) != "bfloat16":
            return attach(self._wrap(data.copy()), "NanToNumBackward0", (self,), lambda g: g)
        out = np.nan_to_num(data, nan=nan, posinf=posinf, neginf=neginf)
        finite = self._wrap(np.isfinite(data))
        return attach(self._wrap(out), "NanToNumBackward0", (self,), lambda g: g.where(finite, 0.0))

    nan_to_num_ = _in_place(nan_to_num, "nan_to_num_")

    def nansum(self, dim=None, keepdim: bool = False, *, dtype=None):
        """:meth:`sum` with NaN counted as zero."""
        if self.dtype.is_complex:
            raise DTypeError("nansum does not support complex inputs")
        x = self if dtype is None else self.to(dtype)
        if not x.is_floating_point():
            return x.sum(dim, keepdim)
        return x.where(~x.isnan(), 0.0).sum(dim, keepdim)

    def nanmean(self, dim=None, keepdim: bool = False, *, dtype=None):
        """Mean of the non-NaN elements (NaN where every element is NaN)."""
        x = self if dtype is None else self.to(dtype)
        if not x.is_floating_point():
            raise DTypeError(f"nanmean(): expected input to have floating point or complex dtype but got {x.dtype}")
        kept = ~x.isnan()
        return x.nansum(dim, keepdim) / kept.sum(dim, keepdim)

    def count_nonzero(self, dim=None):
        """Number of nonzero elements over ``dim`` (int, tuple or None for all); int64."""
        return (self != 0).sum(dim)

    # ----------------------------------------------------------- cumulative
    def cumprod(self, dim: int, *, dtype=None):
        """Running product along ``dim`` (bool and integers accumulate in int64, as torch)."""
        x = self if dtype is None else self.to(dtype)
        d = normalize_dim(dim, x.ndim, "cumprod")
        data = x._data
        if data.dtype.kind in "biu" and dtype is None:
            data = data.astype(np.int64)
        out = x._wrap(np.cumprod(data, axis=d) if x.ndim else data.copy())
        return attach(out, "CumprodBackward0", (x,), lambda g, y: _cumprod_backward(g, x, y, d),
                      saved=(x,), with_output=True)

    def diff(self, n: int = 1, dim: int = -1, prepend=None, append=None):
        """n-th forward difference along ``dim``, after joining ``prepend`` / ``append``."""
        if self.ndim == 0:
            raise RuntimeError("diff expects input to be at least one-dimensional")
        if n < 0:
            raise RuntimeError(f"order must be non-negative but got {n}")
        d = normalize_dim(dim, self.ndim, "diff")
        parts = [p for p in (prepend, self, append) if p is not None]
        x = cat(parts, d) if len(parts) > 1 else self
        for _ in range(n):
            if x.shape[d] == 0:
                break
            hi, lo = x.narrow(d, 1, x.shape[d] - 1), x.narrow(d, 0, x.shape[d] - 1)
            x = hi ^ lo if x.dtype.name == "bool" else hi - lo
        return x


def _cumprod_backward(g, x, y, d: int):
    """Gradient of a running product: ``sum_{k >= i} g_k * y_k / x_i`` where no element is 0;
    with zeros, each position's gradient is the product of the other factors of every
    prefix that contains it (computed exactly, as torch's cumprod_backward)."""
    if x.ndim == 0 or x.shape[d] == 0:
        return g
    if not np.any(x._data == 0):
        return (g * y).flip(d).cumsum(d).flip(d) / x
    n = x.shape[d]
    pieces = []
    for i in range(n):
        # y_k for k >= i, with x_i replaced by 1: prefix before i times the product of x[i+1..k]
        before = x.narrow(d, 0, i).prod(d, keepdim=True) if i else None
        after = x.narrow(d, i, n - i)
        ones = after.narrow(d, 0, 1) * 0 + 1
        rest = cat([ones, after.narrow(d, 1, n - i - 1)], d).cumprod(d)
        term = rest if before is None else rest * before
        pieces.append((g.narrow(d, i, n - i) * term).sum(d, keepdim=True))
    return cat(pieces, d)


# function forms: cogtensor.addmm(m, a, b) == m.addmm(a, b)
addmm, addmv, addr, baddbmm, addbmm = FusedOps.addmm, FusedOps.addmv, FusedOps.addr, FusedOps.baddbmm, FusedOps.addbmm
addcmul, addcdiv = FusedOps.addcmul, FusedOps.addcdiv
isclose, allclose, equal = FusedOps.isclose, FusedOps.allclose, FusedOps.equal
nan_to_num, nansum, nanmean, count_nonzero = FusedOps.nan_to_num, FusedOps.nansum, FusedOps.nanmean, \
    FusedOps.count_nonzero
cumprod, diff, kron, inner = FusedOps.cumprod, FusedOps.diff, FusedOps.kron, FusedOps.inner
