"""Determinants: det and slogdet (LU through numpy), with torch's backward formulas.

``det`` is differentiable everywhere, singular matrices included: where ``|det| < 100 eps``
the gradient is the adjugate computed from the SVD (torch's linalg_det_backward), elsewhere
``det * A^{-T}`` from a solve. ``slogdet`` has no derivative at a singular matrix.
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import LinAlgError
from cogtensor.graph import attach, requires_grad
from cogtensor.linalg._common import batch_prefix, check_matrix, eps, eye, lapack, linalg_slogdet
from cogtensor.linalg.decompositions import svd
from cogtensor.linalg.solvers import solve
from cogtensor.ops.views import cat

__all__ = ["det", "slogdet"]


def _no_lu():
    return "The LU factorization failed."


def det(A):
    """Determinant of square matrices (*, n, n) -> (*); 1 for 0 x 0 matrices, 0 for singular ones.

    Example:
        >>> cogtensor.linalg.det(cogtensor.tensor([[2.0, 1.0], [1.0, 3.0]])).item()
        5.0
    """
    op = "linalg.det"
    check_matrix(op, A, square=True)
    out = A._wrap(np.asarray(lapack(op, np.linalg.det, A._data, explain=_no_lu), A._data.dtype))
    if requires_grad(A):
        attach(out, "LinalgDetBackward0", (A,), lambda g, d: _det_backward(g, d, A), saved=(A,), with_output=True)
    return out


def slogdet(A):
    """Sign and natural log of the absolute value of the determinant: (*, n, n) -> (*), (*).

    A singular matrix gives ``sign = 0`` and ``logabsdet = -inf`` (its backward raises
    LinAlgError: the log has no derivative there).

    Returns:
        ``linalg_slogdet(sign, logabsdet)``.

    Example:
        >>> sign, logabsdet = cogtensor.linalg.slogdet(cogtensor.tensor([[0.0, 1.0], [1.0, 0.0]]))
        >>> sign.item(), logabsdet.item()
        (-1.0, 0.0)
    """
    op = "linalg.slogdet"
    check_matrix(op, A, square=True)
    sign, logabsdet = lapack(op, np.linalg.slogdet, A._data, explain=_no_lu)
    dt = A._data.dtype
    out = (A._wrap(np.asarray(sign, dt)), A._wrap(np.asarray(logabsdet, dt)))
    if requires_grad(A):
        attach(out, "LinalgSlogdetBackward0", (A,), lambda g, o: (_slogdet_backward(g[1], o[0], A),), saved=(A,),
               with_output=True)
    return linalg_slogdet(*out)


def _scaled_identity(c, n: int):
    """(*) -> (*, n, n): c times the identity."""
    return c.unsqueeze(-1).unsqueeze(-1) * eye(c, n)


def _slogdet_backward(g, sign, A):
    if A.numel() == 0:
        return None
    singular = sign._data == 0
    if singular.any():
        i = int(np.argmax(singular.reshape(-1)))
        raise LinAlgError(f"linalg.slogdet: backward: {batch_prefix(A.shape, i)}the matrix is singular (logabsdet "
                          "is -inf), where logabsdet has no derivative")
    return solve(A.mT, _scaled_identity(g, A.shape[-1]))  # g A^{-T}


def _det_backward(g, d, A):
    if A.numel() == 0:
        return None
    singular = np.abs(d._data) < 100 * eps(A.dtype)
    if not singular.any():
        return _det_grad_invertible(g, d, A)
    if singular.all():
        return _det_grad_singular(g, A)
    n = A.shape[-1]  # a mixed batch: each part by its own formula, then back in order
    A2, g2, d2 = A.reshape(-1, n, n), g.expand(d.shape).reshape(-1), d.reshape(-1)
    flat = singular.reshape(-1)
    si, ri = np.flatnonzero(flat), np.flatnonzero(~flat)
    pick = lambda t, idx: t.index_select(0, A._wrap(idx))  # noqa: E731
    parts = cat([_det_grad_invertible(pick(g2, ri), pick(d2, ri), pick(A2, ri)), _det_grad_singular(pick(g2, si),
                                                                                                     pick(A2, si))])
    order = np.argsort(np.concatenate([ri, si]))
    return parts.index_select(0, A._wrap(order)).reshape(A.shape)


def _det_grad_invertible(g, d, A):
    """g det(A) A^{-T}, through a solve (as torch) so a second derivative is exact."""
    return solve(A.mT, _scaled_identity(g * d, A.shape[-1]))


def _det_grad_singular(g, A):
    """The adjugate from the SVD: U diag(alpha prod_{j != i} S_j) Vh with alpha = det(U) det(Vh) g."""
    U, S, Vh = svd(A)
    alpha = det(U) * det(Vh) * g
    D = _products_of_others(S) * alpha.unsqueeze(-1)
    return (U * D.unsqueeze(-2)) @ Vh


def _products_of_others(S):
    """(*, n) -> (*, n): entry i is the product of all entries but the i-th (no division, so
    zeros are fine), from prefix and suffix products."""
    n = S.shape[-1]
    one = S._wrap(np.ones(tuple(S.shape[:-1]) + (1,), S._data.dtype))
    prefix, suffix = [one], [one]
    for j in range(n - 1):
        prefix.append(prefix[-1] * S.narrow(-1, j, 1))
        suffix.append(suffix[-1] * S.narrow(-1, n - 1 - j, 1))
    return cat([prefix[i] * suffix[n - 1 - i] for i in range(n)], -1)
