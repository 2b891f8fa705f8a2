"""Rank-aware linear algebra: pinv, matrix_rank and lstsq, computed from the SVD (or, for
hermitian inputs, the eigendecomposition) with torch's tolerance rules, and torch's
backward formulas (pinv_backward, linalg_lstsq_backward).

Tolerances (torch's ``get_atol_rtol``): a singular value counts when it exceeds
``max(atol, rtol * largest singular value)``; ``rtol`` defaults to ``eps * max(m, n)``,
and to 0 where an ``atol > 0`` is given without ``rtol``.
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import DTypeError
from cogtensor.graph import attach, requires_grad
from cogtensor.linalg._common import (
    LinalgArgumentError, LinalgShapeError, check_finite, check_float, check_matrix, check_tensor, eps, lapack,
    linalg_lstsq, no_convergence,
)
from cogtensor.tensor import Tensor

__all__ = ["pinv", "matrix_rank", "lstsq"]

_DRIVERS = ("gels", "gelsy", "gelsd", "gelss")


# -------------------------------------------------------------- tolerances
def _tolerance_array(op: str, value, name: str):
    if value is None:
        return None
    if isinstance(value, Tensor):
        if value.dtype.name == "bool":
            raise TypeError(f"{op}: {name} must be a real number or a real tensor, got a bool tensor")
        return value._data.astype(np.float64)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a float or a Tensor, not {type(value).__name__}")
    return np.float64(value)


def _tolerances(op: str, A, atol, rtol):
    """torch's get_atol_rtol, as float64 arrays."""
    atol_a, rtol_a = _tolerance_array(op, atol, "atol"), _tolerance_array(op, rtol, "rtol")
    default_rtol = eps(A.dtype) * max(A.shape[-1], A.shape[-2])
    if rtol_a is None:
        rtol_a = np.float64(default_rtol) if atol_a is None else np.where(atol_a > 0, 0.0, default_rtol)
    return (np.float64(0.0) if atol_a is None else atol_a), rtol_a


def _threshold(atol, rtol, largest):
    """max(atol, rtol * largest) against singular values (*, k); ``largest`` is (*, 1)."""
    return np.maximum(np.asarray(atol)[..., None], np.asarray(rtol)[..., None] * largest)


def _legacy_tolerance(op: str, legacy, legacy_name: str, atol, rtol):
    """The deprecated positional tolerance (``rcond`` / ``tol``): atol=0 with rtol=rcond for
    pinv, atol=tol with rtol=0 for matrix_rank, as torch's overloads."""
    if legacy is None:
        return atol, rtol
    if atol is not None or rtol is not None:
        raise TypeError(f"{op}: give either {legacy_name} or atol/rtol, not both")
    return (0.0, legacy) if legacy_name == "rcond" else (legacy, 0.0)


def _spectrum(op: str, A, hermitian: bool):
    """Singular values (*, k) and the largest one (*, 1) (from eigvalsh when hermitian)."""
    a = A._data
    if hermitian:
        s = np.abs(lapack(op, np.linalg.eigvalsh, a, explain=no_convergence("eigenvalues")))
        return s, s.max(axis=-1, keepdims=True, initial=0)
    check_finite("linalg.svd", a)
    s = lapack(op, np.linalg.svd, a, compute_uv=False, explain=no_convergence("singular values"))
    return s, s[..., :1]


# -------------------------------------------------------------------- pinv
def pinv(A, rcond=None, hermitian: bool = False, *, atol=None, rtol=None):
    """Moore-Penrose pseudo-inverse (*, m, n) -> (*, n, m), from the SVD (the eigendecomposition
    when ``hermitian``); singular values at or below ``max(atol, rtol * largest)`` count as zero.

    Args:
        A: (*, m, n) float32 or float64.
        rcond: deprecated positional form of ``rtol`` (with atol = 0), as torch.
        hermitian: A is symmetric (only its lower triangle is read).
        atol, rtol: floats or tensors broadcasting with the batch; see the module docstring.

    Example:
        >>> cogtensor.linalg.pinv(cogtensor.tensor([[2.0, 0.0], [0.0, 0.0]])).tolist()
        [[0.5, 0.0], [0.0, 0.0]]
    """
    op = "linalg.pinv"
    check_matrix(op, A)
    atol, rtol = _tolerances(op, A, *_legacy_tolerance(op, rcond, "rcond", atol, rtol))
    out = A._wrap(_pinv_eigh(op, A, atol, rtol) if hermitian else _pinv_svd(op, A, atol, rtol))
    if requires_grad(A):
        attach(out, "LinalgPinvBackward0", (A,), lambda g, P: _pinv_backward(g, P, A), saved=(A,), with_output=True)
    return out


def _pinv_svd(op, A, atol, rtol) -> np.ndarray:
    a = A._data
    check_finite("linalg.svd", a)
    u, s, vh = lapack(op, np.linalg.svd, a, full_matrices=False, explain=no_convergence("singular values"))
    with np.errstate(divide="ignore"):
        s_inv = np.where(s > _threshold(atol, rtol, s[..., :1]), 1 / s, 0).astype(a.dtype)
    return np.matmul(np.swapaxes(vh, -1, -2) * s_inv[..., None, :], np.swapaxes(u, -1, -2))


def _pinv_eigh(op, A, atol, rtol) -> np.ndarray:
    a = A._data
    w, v = lapack(op, np.linalg.eigh, a, explain=no_convergence("eigenvalues"))
    s = np.abs(w)
    with np.errstate(divide="ignore"):
        w_inv = np.where(s > _threshold(atol, rtol, s.max(axis=-1, keepdims=True, initial=0)), 1 / w, 0)
    return np.matmul(v * w_inv.astype(a.dtype)[..., None, :], np.swapaxes(v, -1, -2))


def _pinv_backward(g, P, A):
    """torch's pinv_backward (real case), arranged so the intermediates are the smaller side."""
    m, n = A.shape[-2], A.shape[-1]
    Ph, gh = P.mT, g.mT
    if m <= n:
        K = gh @ P
        KPh = K @ Ph
        return -(P @ K).mT + KPh - (A @ P) @ KPh + (Ph @ P) @ (gh - K @ A)
    K = P @ gh
    PhK = Ph @ K
    return -(K @ P).mT + ((gh - A @ K) @ P) @ Ph + PhK - (PhK @ P) @ A


# ------------------------------------------------------------- matrix_rank
def matrix_rank(A, tol=None, hermitian: bool = False, *, atol=None, rtol=None):
    """Numerical rank: how many singular values exceed ``max(atol, rtol * largest)``.

    Args:
        A: (*, m, n) float32 or float64.
        tol: deprecated positional form of ``atol`` (with rtol = 0), as torch.
        hermitian: A is symmetric: use |eigenvalues| (lower triangle only).
        atol, rtol: floats or tensors broadcasting with the batch; see the module docstring.

    Returns:
        int64 tensor of the batch shape (*); 0 for empty matrices.

    Example:
        >>> cogtensor.linalg.matrix_rank(cogtensor.tensor([[1.0, 2.0], [2.0, 4.0]])).item()
        1
    """
    op = "linalg.matrix_rank"
    check_tensor(op, A, "A")
    check_float(op, A)
    if A.ndim < 2:
        raise LinalgShapeError(f"{op}: The input tensor A must have at least 2 dimensions, but it has shape "
                               f"{list(A.shape)}")
    if hermitian and A.shape[-1] != A.shape[-2]:
        raise LinalgShapeError(f"{op}: with hermitian=True A must be batches of square matrices, but they are "
                               f"{A.shape[-2]} by {A.shape[-1]} matrices")
    atol, rtol = _tolerances(op, A, *_legacy_tolerance(op, tol, "tol", atol, rtol))
    if A.numel() == 0:
        return A._wrap(np.zeros(A.shape[:-2], np.int64))
    s, largest = _spectrum(op, A, hermitian)
    return A._wrap(np.count_nonzero(s > _threshold(atol, rtol, largest), axis=-1).astype(np.int64))


# ------------------------------------------------------------------ lstsq
def _lstsq_operands(op: str, A, B):
    """Checks; returns (B as a matrix (*, m, k), whether B was a vector, the broadcast batch)."""
    check_tensor(op, A, "A")
    check_tensor(op, B, "B")
    check_float(op, A)
    check_float(op, B)
    if A.dtype is not B.dtype:
        raise DTypeError(f"{op}: Expected input and other to have the same dtype, but got input's dtype "
                        f"{A.dtype.name} and other's dtype {B.dtype.name}")
    if A.ndim < 2:
        raise LinalgShapeError(f"{op}: input must have at least 2 dimensions, but it has shape {list(A.shape)}")
    if not 0 <= A.ndim - B.ndim <= 1:
        raise LinalgShapeError(f"{op}: input.dim() must be greater or equal to other.dim() and (input.dim() - "
                               f"other.dim()) <= 1; got shapes {list(A.shape)} and {list(B.shape)}")
    vector = A.ndim - B.ndim == 1
    b = B._data[..., None] if vector else B._data
    if b.shape[-2] != A.shape[-2]:
        raise LinalgShapeError(f"{op}: input.size(-2) should match other.size(-2) (shapes {list(A.shape)} and "
                               f"{list(B.shape)}{' as a vector' if vector else ''})")
    try:
        batch = np.broadcast_shapes(tuple(A.shape[:-2]), b.shape[:-2])
    except ValueError:
        raise LinalgShapeError(f"{op}: the batch dimensions of A {list(A.shape[:-2])} and B {list(b.shape[:-2])} "
                               "do not broadcast") from None
    return b, vector, batch


def lstsq(A, B, rcond=None, *, driver=None):
    """Least-squares solution of ``A X = B`` (the minimum-norm one when A is rank-deficient).

    Computed from the SVD for every driver, with torch CPU's outputs for each:

    - ``rank`` (int64, batch shape) for 'gelsy' (the default), 'gelsd' and 'gelss';
    - ``singular_values`` (*, min(m, n)) for 'gelsd' and 'gelss';
    - ``residuals`` (*, k), the squared column norms of ``A X - B``, when m > n and the
      driver is not 'gelsy' (for 'gelsd'/'gelss' only when every matrix has full rank);
    - every result not computed is an empty tensor, as torch.

    Singular values at or below ``rcond * largest`` count as zero (``rcond`` defaults to
    ``eps * max(m, n)``); 'gels' assumes full rank and uses every non-zero singular value.

    Args:
        A: (*, m, n) float32 or float64.
        B: (*, m, k), or (*, m) (a vector right-hand side); batch dims broadcast.

    Returns:
        ``linalg_lstsq(solution, residuals, rank, singular_values)``. ``solution`` and
        ``residuals`` are differentiable (torch's formula, through ``pinv``).

    Example:
        >>> A = cogtensor.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        >>> cogtensor.linalg.lstsq(A, cogtensor.tensor([1.0, 2.0, 3.0])).solution.tolist()
        [1.0, 2.0]
    """
    op = "linalg.lstsq"
    driver = "gelsy" if driver is None else driver
    if driver not in _DRIVERS:
        raise LinalgArgumentError(f"{op}: parameter `driver` should be one of (gels, gelsy, gelsd, gelss), "
                                  f"got {driver!r}")
    b, vector, batch = _lstsq_operands(op, A, B)
    b = np.broadcast_to(b, batch + b.shape[-2:])
    x, s, rank = _lstsq_solve(op, A._data, b, rcond, driver, A.dtype)
    residuals = _residuals(A._data, b, x, rank, driver)
    empty = np.zeros((0,), A._data.dtype)
    solution = A._wrap(x[..., 0] if vector else x)
    outs = (solution, A._wrap(empty if residuals is None else residuals))
    if requires_grad(A, B):
        attach(outs, "LinalgLstsqBackward0", (A, B), lambda g, o: _lstsq_backward(*g, A, B, o[0], vector),
               saved=(A, B), with_output=True)
    return linalg_lstsq(*outs, A._wrap(rank if driver != "gels" else np.zeros((0,), np.int64)),
                        A._wrap(s if driver in ("gelsd", "gelss") else empty))


def _lstsq_solve(op, a, b, rcond, driver, dtype):
    """X = V diag(1 / S, truncated) U^T B; with the singular values and the rank (these two for
    A's own batch shape, as torch, not the one broadcast with B)."""
    check_finite("linalg.svd", a)
    u, s, vh = lapack(op, np.linalg.svd, a, full_matrices=False, explain=no_convergence("singular values"))
    if driver == "gels":
        keep = s > 0
    else:
        cutoff = eps(dtype) * max(a.shape[-1], a.shape[-2]) if rcond is None else float(rcond)
        keep = s > cutoff * s[..., :1]
    with np.errstate(divide="ignore"):
        s_inv = np.where(keep, 1 / s, 0).astype(a.dtype)
    x = np.matmul(np.swapaxes(vh, -1, -2), s_inv[..., None] * np.matmul(np.swapaxes(u, -1, -2), b))
    return x, s, np.count_nonzero(keep, axis=-1).astype(np.int64)


def _residuals(a, b, x, rank, driver):
    m, n = a.shape[-2], a.shape[-1]
    if m <= n or driver == "gelsy" or (driver != "gels" and not (rank == n).all()):
        return None
    r = np.matmul(a, x) - b
    return np.sum(r * r, axis=-2)


def _lstsq_backward(gX, gL, A, B, X, vector: bool):
    """torch's linalg_lstsq_backward: through pinv(A) for the solution, Danskin's theorem for
    the residuals ``||A X - B||^2``."""
    wants_a, wants_b = A._node is not None, B._node is not None
    if vector:
        gX, X, B = gX.unsqueeze(-1), X.unsqueeze(-1), B.unsqueeze(-1)
    P = pinv(A)
    gA = _pinv_backward(gX @ B.mT, P, A) if wants_a else None
    gB = P.mT @ gX if wants_b else None
    if gL.numel():
        r = A @ X - B
        gl = gL.unsqueeze(-2)
        if gA is not None:
            gA = gA + ((gl * r) @ X.mT) * 2.0
        if gB is not None:
            gB = gB - gl * r * 2.0
    if vector and gB is not None:
        gB = gB.squeeze(-1)
    return gA, gB
