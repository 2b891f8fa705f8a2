"""Matrix decompositions: svd, svdvals, eigh, eigvalsh, qr, cholesky, with their backward
formulas (those of PyTorch's FunctionsManual: svd_backward, linalg_eig_backward for the
symmetric case, linalg_qr_backward, cholesky_backward).

Backward formulas are written with Tensor ops and with this package's own recorded
functions (``solve``), so ``create_graph=True`` gives gradients that can be differentiated
again. The saved outputs (U, S, Vh, ...) come back to the backward carrying the node, so a
second derivative also flows through the decomposition itself.
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import LinAlgError
from cogtensor.graph import attach, requires_grad
from cogtensor.linalg._common import (
    LinalgArgumentError, as_batch, batch_prefix, check_finite, check_matrix, diag_embed, diagonal, eye,
    first_failing, lapack, linalg_eigh, linalg_qr, linalg_svd, no_convergence, tril, triu, used, zeros,
)
from cogtensor.linalg.solvers import solve
from cogtensor.ops.views import cat

__all__ = ["svd", "svdvals", "eigh", "eigvalsh", "qr", "cholesky"]


# ---------------------------------------------------------------------- svd
def _check_driver(op: str, driver) -> None:
    if driver is not None:
        raise LinalgArgumentError(f"{op}: keyword argument `driver=` is only supported on CUDA inputs with the "
                                  f"cuSOLVER backend (got driver={driver!r}); leave it as None on CPU")


def svd(A, full_matrices: bool = True, *, driver=None):
    """Singular value decomposition ``A = U diag(S) Vh``, batched over leading dims.

    Args:
        A: (*, m, n) float32 or float64.
        full_matrices: U is (*, m, m) and Vh (*, n, n) when True; (*, m, k) and (*, k, n)
            with k = min(m, n) when False.
        driver: CUDA only in torch; must be None.

    Returns:
        ``linalg_svd(U, S, Vh)``; S (*, k) in descending order.

    Raises:
        LinAlgError: the input holds inf or NaN, or LAPACK did not converge.

    Gradients follow torch's svd_backward: a loss of S alone gets ``U diag(gS) Vh``,
    finite also where singular values repeat; one that uses U or Vh divides by
    ``S_j^2 - S_i^2`` and gives inf/NaN where they repeat, as torch's. Such a loss must
    not depend on the signs of the singular vectors (the gauge: ``(U D, S, D Vh)`` with
    D = diag(±1) is an SVD too). With ``full_matrices`` the extra columns of U (rows of
    Vh) get no gradient.

    Example:
        >>> U, S, Vh = cogtensor.linalg.svd(cogtensor.tensor([[3.0, 0.0], [0.0, -2.0]]))
        >>> S.tolist()
        [3.0, 2.0]
    """
    op = "linalg.svd"
    check_matrix(op, A)
    _check_driver(op, driver)
    check_finite(op, A._data)
    u, s, vh = lapack(op, np.linalg.svd, A._data, full_matrices=bool(full_matrices),
                      explain=no_convergence("singular values"))
    out = (A._wrap(u), A._wrap(s), A._wrap(vh))
    if requires_grad(A):
        full = bool(full_matrices)
        attach(out, "LinalgSvdBackward0", (A,), lambda g, o: (_quietly(_svd_backward, *g, *o, full),),
               with_output=True)
    return linalg_svd(*out)


def svdvals(A, *, driver=None):
    """Singular values of A (*, m, n) -> (*, min(m, n)), descending.

    When A requires grad the singular vectors are computed too and the result is the S of
    :func:`svd` (as torch), so its gradient is ``U diag(gS) Vh``.

    Example:
        >>> cogtensor.linalg.svdvals(cogtensor.tensor([[0.0, 2.0], [1.0, 0.0]])).tolist()
        [2.0, 1.0]
    """
    op = "linalg.svd"
    check_matrix(op, A)
    _check_driver(op, driver)
    if requires_grad(A):
        return svd(A, full_matrices=False).S
    check_finite(op, A._data)
    return A._wrap(lapack(op, np.linalg.svd, A._data, compute_uv=False, explain=no_convergence("singular values")))


def _quietly(backward, *args):
    """Run a backward whose inf/NaN at repeated singular values or eigenvalues is the answer
    (as torch's), without numpy's warnings about it."""
    with np.errstate(all="ignore"):
        return backward(*args)


def _svd_backward(gU, gS, gVh, U, S, Vh, full_matrices: bool):
    """torch's svd_backward (real case); see the svd docstring for its conditions."""
    m, n, k = U.shape[-2], Vh.shape[-1], S.shape[-1]
    if full_matrices:
        U, Vh, gU, gVh = U.narrow(-1, 0, k), Vh.narrow(-2, 0, k), gU.narrow(-1, 0, k), gVh.narrow(-2, 0, k)
    has_u, has_v = used(gU), used(gVh)
    if not has_u and not has_v:  # S alone: defined even for repeated singular values
        return U @ (gS.unsqueeze(-1) * Vh) if m >= n else (U * gS.unsqueeze(-2)) @ Vh
    s_row, s_col = S.unsqueeze(-2), S.unsqueeze(-1)
    S2 = S * S
    E = S2.unsqueeze(-2) - S2.unsqueeze(-1) + eye(S, k)  # E_jk = S_k^2 - S_j^2, 1 on the diagonal
    if has_u:
        UhgU = U.mT @ gU
        UhgU = UhgU - UhgU.mT
    if has_v:
        VhgV = Vh @ gVh.mT
        VhgV = VhgV - VhgV.mT
    if has_u and has_v:
        inner = (UhgU * s_row + s_col * VhgV) / E
    elif has_u:
        inner = (UhgU / E) * s_row
    else:
        inner = s_col * (VhgV / E)
    inner = inner + diag_embed(gS)
    if m > n and has_u:  # the part of gU outside span(U)
        gUSinv = gU / s_row
        return (U @ inner + gUSinv - U @ (U.mT @ gUSinv)) @ Vh
    if m < n and has_v:
        SinvgVh = gVh / s_col
        return U @ (inner @ Vh + SinvgVh - (SinvgVh @ Vh.mT) @ Vh)
    return U @ (inner @ Vh) if m >= n else (U @ inner) @ Vh


# --------------------------------------------------------------------- eigh
def _check_uplo(op: str, UPLO) -> str:
    if UPLO not in ("L", "U"):
        raise LinalgArgumentError(f"{op}: Expected UPLO argument to be 'L' or 'U', but got {UPLO!r}")
    return UPLO


def eigh(A, UPLO: str = "L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors of symmetric matrices.

    Only the triangle named by ``UPLO`` ('L' lower, 'U' upper) is read, as LAPACK and torch.

    Args:
        A: (*, n, n) float32 or float64.

    Returns:
        ``linalg_eigh(eigenvalues (*, n), eigenvectors (*, n, n))``; column i of the
        eigenvectors belongs to eigenvalue i.

    Gradients follow torch: symmetric, ``V (sym(V^T gV) / E + diag(gL)) V^T`` with
    ``E_ij = L_j - L_i`` (inf/NaN where eigenvalues repeat and the loss uses the vectors;
    the loss must not depend on their signs).

    Example:
        >>> L, V = cogtensor.linalg.eigh(cogtensor.tensor([[2.0, 1.0], [1.0, 2.0]]))
        >>> L.tolist()
        [1.0, 3.0]
    """
    op = "linalg.eigh"
    check_matrix(op, A, square=True)
    UPLO = _check_uplo(op, UPLO)
    w, v = lapack(op, np.linalg.eigh, A._data, UPLO=UPLO, explain=no_convergence("eigenvalues"))
    out = (A._wrap(w), A._wrap(v))
    if requires_grad(A):
        attach(out, "LinalgEighBackward0", (A,), lambda g, o: (_quietly(_eigh_backward, *g, *o),), with_output=True)
    return linalg_eigh(*out)


def eigvalsh(A, UPLO: str = "L"):
    """Eigenvalues (ascending) of symmetric matrices (*, n, n) -> (*, n); see :func:`eigh`.

    Example:
        >>> cogtensor.linalg.eigvalsh(cogtensor.tensor([[2.0, 0.0], [0.0, -1.0]])).tolist()
        [-1.0, 2.0]
    """
    op = "linalg.eigh"
    check_matrix(op, A, square=True)
    UPLO = _check_uplo(op, UPLO)
    if requires_grad(A):  # the gradient needs the eigenvectors: the eigenvalues of eigh, as torch
        return eigh(A, UPLO).eigenvalues
    return A._wrap(lapack(op, np.linalg.eigvalsh, A._data, UPLO=UPLO, explain=no_convergence("eigenvalues")))


def _eigh_backward(gL, gV, L, V):
    if not used(gV):
        return (V * gL.unsqueeze(-2)) @ V.mT
    VhgV = V.mT @ gV
    VhgV = (VhgV - VhgV.mT) * 0.5  # onto the skew-symmetric matrices (the tangent space of O(n))
    E = L.unsqueeze(-2) - L.unsqueeze(-1) + eye(L, L.shape[-1])
    return V @ ((VhgV / E + diag_embed(gL)) @ V.mT)


# ----------------------------------------------------------------------- qr
def qr(A, mode: str = "reduced"):
    """QR decomposition ``A = Q R`` (Householder, LAPACK geqrf: R's diagonal may be negative).

    Args:
        A: (*, m, n) float32 or float64.
        mode: 'reduced' (Q (*, m, k), R (*, k, n), k = min(m, n)), 'complete'
            (Q (*, m, m), R (*, m, n)) or 'r' (R only; Q is an empty tensor).

    Returns:
        ``linalg_qr(Q, R)``.

    Gradients as torch's: not defined for mode='r', nor for mode='complete' with m > n
    (backward raises RuntimeError); backward raises LinAlgError where R is singular (A
    without full rank), where torch's gives inf/NaN.

    Example:
        >>> Q, R = cogtensor.linalg.qr(cogtensor.tensor([[3.0], [4.0]]))
        >>> R.abs().item()
        5.0
    """
    op = "linalg.qr"
    check_matrix(op, A)
    if mode not in ("reduced", "complete", "r"):
        raise LinalgArgumentError(f"qr received unrecognized mode {mode!r} but expected one of 'reduced' "
                                  "(default), 'r', or 'complete'")
    explain = no_convergence("columns")
    if mode == "r":
        out = (A._wrap(np.zeros((0,), A._data.dtype)), A._wrap(lapack(op, np.linalg.qr, A._data, mode="r",
                                                                       explain=explain)))
    else:
        q, r = lapack(op, np.linalg.qr, A._data, mode=mode, explain=explain)
        out = (A._wrap(q), A._wrap(r))
    if requires_grad(A):
        attach(out, "LinalgQrBackward0", (A,), lambda g, o: (_qr_backward(*g, *o, mode),), with_output=True)
    return linalg_qr(*out)


def _qr_backward(gQ, gR, Q, R, mode: str):
    """torch's linalg_qr_backward (real case)."""
    if mode == "r":
        raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed when mode='r'. Please "
                           "use linalg.qr(A, mode='reduced') if you are going to differentiate through linalg.qr.")
    m, n = Q.shape[-2], R.shape[-1]
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' and nrows > ncols.")
    gA = gR @ R.mT - Q.mT @ gQ
    if m >= n:
        upper = triu(gA)
        sym = upper + upper.mT
        gA = Q @ (sym - diag_embed(diagonal(sym)) * 0.5) + gQ
        return _times_inverse_transpose(gA, R)  # gA R^{-T}
    gA = Q @ tril(gA.mT - gA)
    gA = _times_inverse_transpose(gA, R.narrow(-1, 0, m))
    return _cat_zeros(gA, n - m) + Q @ gR


def _times_inverse_transpose(X, R):
    """X R^{-T} for the square triangular R of a QR decomposition."""
    try:
        return solve(R.mT, X, left=False)
    except LinAlgError:
        raise LinAlgError("linalg.qr: backward: R is singular (the input does not have full rank), where the QR "
                          "decomposition has no derivative") from None


def _cat_zeros(X, extra: int):
    """X (*, m, k) -> (*, m, k + extra), zeros on the right."""
    return cat([X, zeros(X, X.shape[:-1] + (extra,))], -1)


# ----------------------------------------------------------------- cholesky
def cholesky(A, *, upper: bool = False):
    """Cholesky factor of symmetric positive-definite matrices: ``A = L L^T`` (or ``U^T U``).

    Only one triangle is read: the lower one, or the upper one when ``upper`` (as torch).

    Args:
        A: (*, n, n) float32 or float64.
        upper: return the upper-triangular factor ``U = L^T``.

    Raises:
        LinAlgError: a matrix is not positive-definite; the message names the batch element
            and the order of its leading minor that is not.

    Example:
        >>> cogtensor.linalg.cholesky(cogtensor.tensor([[4.0, 2.0], [2.0, 5.0]])).tolist()
        [[2.0, 0.0], [1.0, 2.0]]
    """
    op = "linalg.cholesky"
    check_matrix(op, A, square=True)
    a = A._data
    factor = lapack(op, np.linalg.cholesky, a, upper=bool(upper), explain=lambda: _not_pd_message(a, bool(upper)))
    _check_cholesky_finite(op, a, factor)
    out = A._wrap(factor)
    if requires_grad(A):
        attach(out, "LinalgCholeskyExBackward0", (A,), lambda g, L: (_cholesky_backward(g, L, bool(upper)),),
               with_output=True)
    return out


def _leading_minor_order(m: np.ndarray, upper: bool) -> int:
    """The smallest k whose leading k x k minor is not positive-definite (binary search:
    a minor of a positive-definite minor is positive-definite)."""
    lo, hi = 1, m.shape[-1]
    with np.errstate(all="ignore"):
        while lo < hi:
            mid = (lo + hi) // 2
            try:
                np.linalg.cholesky(m[:mid, :mid], upper=upper)
                lo = mid + 1
            except np.linalg.LinAlgError:
                hi = mid
    return lo


def _not_pd_message(a: np.ndarray, upper: bool) -> str:
    flat = as_batch(a)
    i = max(first_failing(flat, lambda m: np.linalg.cholesky(m, upper=upper)), 0)
    order = _leading_minor_order(flat[i], upper)
    return (f"{batch_prefix(a.shape, i)}The factorization could not be completed because the input is not "
            f"positive-definite (the leading minor of order {order} is not positive-definite).")


def _check_cholesky_finite(op: str, a: np.ndarray, factor: np.ndarray) -> None:
    """LAPACK flags a NaN pivot as not positive-definite in torch's build, not in numpy's:
    a non-finite diagonal entry of the factor is reported the same way."""
    diag = as_batch(np.diagonal(factor, axis1=-2, axis2=-1)[..., None])[..., 0]
    bad = ~np.isfinite(diag)
    if bad.any():
        i = int(np.argmax(bad.any(axis=1)))
        order = int(np.argmax(bad[i])) + 1
        raise LinAlgError(f"{op}: {batch_prefix(a.shape, i)}The factorization could not be completed because the "
                          f"input is not positive-definite (the leading minor of order {order} is not "
                          "positive-definite).")


def _cholesky_backward(gL, L, upper: bool):
    """torch's cholesky_backward: ``L^{-T} P L^{-1}`` with ``P = (X + tril(X, -1)^T) / 2`` and
    ``X = tril(L^T gL)`` (a symmetric gradient, not a triangular one)."""
    if upper:
        L, gL = L.mT, gL.mT
    gA = tril(L.mT @ gL)
    gA = (gA + tril(gA, -1).mT) * 0.5
    gA = solve(L.mT, gA)  # L^{-T} gA
    return solve(L, gA, left=False)  # ... L^{-1}
