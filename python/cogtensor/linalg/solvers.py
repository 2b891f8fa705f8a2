"""Linear systems: solve and inv (LAPACK gesv through numpy), with torch's backward formulas.

Both raise :class:`LinAlgError` for a singular matrix (an exactly zero pivot in the LU
factorization), as torch does, instead of returning inf or NaN.
"""

from __future__ import annotations

import numpy as np

from cogtensor.graph import attach, requires_grad
from cogtensor.linalg._common import (
    LinalgShapeError, check_float, check_matrix, check_same_dtype, check_tensor, lapack, singular_message,
)

__all__ = ["solve", "inv"]


def _is_vector_rhs(A, B) -> bool:
    """torch's linalg_solve_is_vector_rhs: B is (n,) or a batch of vectors shaped like A[..., 0]."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


def _incompatible(op: str, n: int, b_shape, left: bool) -> LinalgShapeError:
    equation = "AX = B" if left else "XA = B"
    rows, cols = (b_shape[-2], b_shape[-1]) if len(b_shape) >= 2 else (b_shape[-1] if b_shape else 1, 1)
    return LinalgShapeError(f"{op}: Incompatible shapes of A and B for the equation {equation} ({n}x{n} and "
                            f"{rows}x{cols})")


def _solve_shapes(op: str, A, b: np.ndarray, left: bool) -> tuple[int, ...]:
    """Check B (as a matrix) against A; the broadcast batch shape."""
    n = A.shape[-1]
    if b.ndim < 2 or (b.shape[-2] if left else b.shape[-1]) != n:
        raise _incompatible(op, n, b.shape, left)
    try:
        return np.broadcast_shapes(tuple(A.shape[:-2]), b.shape[:-2])
    except ValueError:
        raise LinalgShapeError(f"{op}: the batch dimensions of A {list(A.shape[:-2])} and B {list(b.shape[:-2])} "
                               "do not broadcast") from None


def solve(A, B, *, left: bool = True):
    """Solve ``A X = B`` (or ``X A = B`` with ``left=False``) for square, invertible A.

    Args:
        A: (*, n, n) float32 or float64.
        B: (*, n, k), or a vector (n,) / a batch of vectors shaped like A[..., 0] (left only);
            batch dimensions broadcast with A's; the same dtype as A.
        left: solve A X = B when True, X A = B when False.

    Returns:
        X, shaped like the broadcast B.

    Raises:
        LinAlgError: A (some batch element of it) is singular.

    Example:
        >>> A = cogtensor.tensor([[2.0, 0.0], [0.0, 4.0]])
        >>> cogtensor.linalg.solve(A, cogtensor.tensor([2.0, 2.0])).tolist()
        [1.0, 0.5]
    """
    op = "linalg.solve"
    check_matrix(op, A, square=True)
    check_tensor(op, B, "B")
    check_float(op, B)
    check_same_dtype(op, A, B)
    vector = _is_vector_rhs(A, B)
    if vector and not left:
        raise _incompatible(op, A.shape[-1], tuple(B.shape[-1:]) + (1,), left)
    a, b = A._data, (B._data[..., None] if vector else B._data)
    batch = _solve_shapes(op, A, b, left)
    if not left:  # X A = B  <=>  A^T X^T = B^T
        a, b = np.swapaxes(a, -1, -2), np.swapaxes(b, -1, -2)
    x = lapack(op, np.linalg.solve, a, b,
               explain=lambda: singular_message(np.broadcast_to(a, batch + a.shape[-2:]), "the solver failed"))
    x = x[..., 0] if vector else (x if left else np.swapaxes(x, -1, -2))
    out = A._wrap(x)
    if requires_grad(A, B):
        attach(out, "LinalgSolveExBackward0", (A, B), lambda g, X: _solve_backward(g, A, B, X, left, vector),
               saved=(A,), with_output=True)
    return out


def _solve_backward(gX, A, B, X, left: bool, vector: bool):
    """gB = A^{-T} gX (left) or gX A^{-T} (right); gA = -gB X^T (left) or -X^T gB (right)."""
    if vector:
        gX, X = gX.unsqueeze(-1), X.unsqueeze(-1)
    gB = solve(A.mT, gX, left=left)
    gA = None
    if A._node is not None:
        gA = -(gB @ X.mT) if left else -(X.mT @ gB)
    return gA, ((gB.squeeze(-1) if vector else gB) if B._node is not None else None)


def inv(A):
    """Inverse of square, invertible matrices (*, n, n) -> (*, n, n).

    Raises:
        LinAlgError: a matrix is singular; the message names the batch element and the
            zero pivot, as torch's.

    Example:
        >>> cogtensor.linalg.inv(cogtensor.tensor([[2.0, 0.0], [0.0, 4.0]])).tolist()
        [[0.5, 0.0], [0.0, 0.25]]
    """
    op = "linalg.inv"
    check_matrix(op, A, square=True)
    a = A._data
    out = A._wrap(lapack(op, np.linalg.inv, a,
                         explain=lambda: singular_message(a, "the inversion could not be completed")))
    if requires_grad(A):
        attach(out, "LinalgInvExBackward0", (A,), lambda g, Ainv: -(Ainv.mT @ (g @ Ainv.mT)), with_output=True)
    return out
