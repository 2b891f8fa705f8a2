"""Linear algebra on LAPACK (through numpy), batched over leading dimensions, with
``torch.linalg``'s names, arguments, defaults, result types and errors, and gradients.

Functions: decompositions :func:`svd`, :func:`svdvals`, :func:`eigh`, :func:`eigvalsh`,
:func:`qr`, :func:`cholesky`; solvers :func:`solve`, :func:`inv`, :func:`lstsq`,
:func:`pinv`; :func:`det`, :func:`slogdet`, :func:`matrix_rank`; norms
:func:`vector_norm`, :func:`matrix_norm`; and :func:`cross`.

- Inputs are float32 or float64 (float32 is computed in float32, as torch); integer
  inputs are refused (``NotImplementedForDType``, a TypeError and RuntimeError).
  ``vector_norm``, ``matrix_norm`` ('fro', ±1, ±inf) and ``cross`` also take float16 and
  bfloat16; ``cross`` takes integers too, as torch.
- A singular matrix (``inv``, ``solve``), a matrix that is not positive-definite
  (``cholesky``), a non-finite input to the SVD or a decomposition that does not converge
  raise :class:`LinAlgError` (a RuntimeError, as ``torch.linalg.LinAlgError``) naming the
  function and the failing batch element; ``det`` of a singular matrix is 0, as torch.
- Every differentiable result records its backward (torch's formulas), written with tensor
  ops so that ``create_graph=True`` gives gradients that can be differentiated again.

Example:
    >>> A = cogtensor.tensor([[4.0, 1.0], [1.0, 3.0]], requires_grad=True)
    >>> cogtensor.linalg.det(A).backward()
    >>> A.grad.tolist()  # det(A) A^{-T}, the cofactor matrix
    [[3.0, -1.0], [-1.0, 4.0]]
"""

from cogtensor.errors import LinAlgError
from cogtensor.linalg._common import (  # noqa: F401 - error and result types, for isinstance checks
    LinalgArgumentError, LinalgShapeError, linalg_eigh, linalg_lstsq, linalg_qr, linalg_slogdet, linalg_svd,
)
from cogtensor.linalg.decompositions import cholesky, eigh, eigvalsh, qr, svd, svdvals
from cogtensor.linalg.determinants import det, slogdet
from cogtensor.linalg.least_squares import lstsq, matrix_rank, pinv
from cogtensor.linalg.norms import cross, matrix_norm, vector_norm
from cogtensor.linalg.solvers import inv, solve

__all__ = [
    "svd", "svdvals", "eigh", "eigvalsh", "qr", "cholesky", "solve", "inv", "lstsq", "det", "slogdet", "pinv",
    "matrix_norm", "vector_norm", "matrix_rank", "cross", "LinAlgError",
]
