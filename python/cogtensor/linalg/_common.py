"""Shared pieces of cogtensor.linalg: argument checks with torch's messages, calls into
numpy's LAPACK that turn its failures into :class:`LinAlgError`, named result tuples, and
small differentiable matrix helpers (diagonal, diag_embed, triangles) built from Tensor
ops so that backward formulas using them can be differentiated again."""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, LinAlgError, NotImplementedForDType, ShapeError
from cogtensor.ops.views import normalize_dim
from cogtensor.tensor import Tensor

#: the dtypes LAPACK works in (float32 is computed in float32, as torch does)
LAPACK_DTYPES = (dtypes.float32, dtypes.float64)
_LOW_PRECISION = (dtypes.float16, dtypes.bfloat16)

# torch.return_types.linalg_* (same names and fields)
linalg_svd = namedtuple("linalg_svd", ["U", "S", "Vh"], module="cogtensor.return_types")
linalg_eigh = namedtuple("linalg_eigh", ["eigenvalues", "eigenvectors"], module="cogtensor.return_types")
linalg_qr = namedtuple("linalg_qr", ["Q", "R"], module="cogtensor.return_types")
linalg_slogdet = namedtuple("linalg_slogdet", ["sign", "logabsdet"], module="cogtensor.return_types")
linalg_lstsq = namedtuple("linalg_lstsq", ["solution", "residuals", "rank", "singular_values"],
                          module="cogtensor.return_types")


class LinalgShapeError(ShapeError, RuntimeError):
    """A shape a linalg function does not accept (too few dimensions, not square, operands
    that do not fit). A ShapeError, and also the RuntimeError torch raises."""


class LinalgArgumentError(ValueError, RuntimeError):
    """An argument value a linalg function does not accept (an unknown mode, driver or
    order). A ValueError, and also the RuntimeError torch raises."""


# ------------------------------------------------------------------- checks
def check_tensor(op: str, x, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: argument '{name}' must be a Tensor, not {type(x).__name__}")


def check_float(op: str, x, low_precision: bool = False) -> None:
    """float32/float64 (and float16/bfloat16 when ``low_precision``); else torch's error."""
    d = x.dtype
    if d in LAPACK_DTYPES or (low_precision and d in _LOW_PRECISION):
        return
    if d in _LOW_PRECISION:
        raise NotImplementedForDType(f"{op}: Low precision dtypes not supported. Got {d.name}; "
                                     f"convert first, e.g. A.float()")
    if getattr(d, "is_complex", False):
        raise NotImplementedForDType(f"{op}: complex inputs are not supported (got {d.name}); "
                                     "cogtensor.linalg works on float32 and float64")
    raise NotImplementedForDType(f"{op}: Expected a floating point tensor as input. Got {d.name}; "
                                 f"convert first, e.g. A.double()")


def check_matrix(op: str, A, name: str = "A", square: bool = False) -> None:
    """A float32/float64 tensor of at least 2 dimensions (square ones when ``square``)."""
    check_tensor(op, A, name)
    check_float(op, A)
    if A.ndim < 2:
        raise LinalgShapeError(f"{op}: The input tensor {name} must have at least 2 dimensions, "
                               f"but it has shape {list(A.shape)}")
    if square and A.shape[-1] != A.shape[-2]:
        raise LinalgShapeError(f"{op}: {name} must be batches of square matrices, but they are "
                               f"{A.shape[-2]} by {A.shape[-1]} matrices")


def check_same_dtype(op: str, A, B) -> None:
    if A.dtype is not B.dtype:
        raise DTypeError(f"{op}: Expected A and B to have the same dtype, but found A of type {A.dtype.name} "
                         f"and B of type {B.dtype.name} instead; convert one first, e.g. B.to(A.dtype)")


def reduce_dims(op: str, dim, ndim: int) -> tuple[int, ...]:
    """``dim`` (None, an int or a sequence; ``()`` meaning all) as sorted non-negative axes."""
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        return tuple(range(ndim))
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    axes = tuple(normalize_dim(d, ndim, op) for d in dims)
    if len(set(axes)) != len(axes):
        repeated = next(a for a in axes if axes.count(a) > 1)
        raise LinalgShapeError(f"{op}: dim {repeated} appears multiple times in the list of dims {list(dims)}")
    return tuple(sorted(axes)) if ndim else ()


def as_batch(a: np.ndarray) -> np.ndarray:
    """(*, m, n) -> (b, m, n), b the number of matrices (also when some size is 0)."""
    return a.reshape((math.prod(a.shape[:-2]),) + a.shape[-2:])


def batch_prefix(shape, index: int) -> str:
    """torch's "(Batch element k): " for a batched input, nothing for a single matrix."""
    return f"(Batch element {index}): " if len(shape) > 2 else ""


def eps(d) -> float:
    """Machine epsilon of a tensor dtype (torch's ``_get_epsilon``)."""
    return float(np.finfo(d.numpy).eps)


# ----------------------------------------------------------------- LAPACK calls
def lapack(op: str, fn, *arrays, explain, **kwargs):
    """``fn(*arrays)`` quietly; numpy's LinAlgError becomes ours, worded by ``explain()``."""
    try:
        with np.errstate(all="ignore"):
            return fn(*arrays, **kwargs)
    except np.linalg.LinAlgError:
        raise LinAlgError(f"{op}: {explain()}") from None


def first_failing(matrices: np.ndarray, fn) -> int:
    """Index of the first matrix of a flattened batch on which ``fn`` raises LinAlgError (-1 if none)."""
    with np.errstate(all="ignore"):
        for i, m in enumerate(matrices):
            try:
                fn(m)
            except np.linalg.LinAlgError:
                return i
    return -1


def first_zero_pivot(a: np.ndarray) -> int:
    """1-based index of the first exactly zero pivot of the LU factorization with partial
    pivoting (LAPACK getrf's ``info``), or 0. Only run to word an error message."""
    u = np.array(a, dtype=np.float64)
    for k in range(u.shape[0]):
        p = k + int(np.argmax(np.abs(u[k:, k])))
        if u[p, k] == 0:
            return k + 1
        u[[k, p]] = u[[p, k]]
        u[k + 1:, k:] -= np.outer(u[k + 1:, k] / u[k, k], u[k, k:])
    return 0


def singular_message(a: np.ndarray, what: str) -> str:
    """Why an LU-based op failed on the batch ``a``: which element is singular and, when the
    LU factorization says so, which pivot is zero (torch's wording: ``what`` is e.g.
    "the inversion could not be completed")."""
    flat = as_batch(a)
    i = max(first_failing(flat, np.linalg.inv), 0)
    pivot = first_zero_pivot(flat[i]) if flat.size else 0
    sentence = f"The diagonal element {pivot} is zero, {what}" if pivot else what[0].upper() + what[1:]
    return f"{batch_prefix(a.shape, i)}{sentence} because the input matrix is singular."


def check_finite(op: str, a: np.ndarray) -> None:
    """torch refuses a non-finite input to the SVD before calling LAPACK, which would not converge."""
    finite = as_batch(np.isfinite(a)).all(axis=(1, 2))
    if not finite.all():
        i = int(np.argmin(finite))
        raise LinAlgError(f"{op}: {batch_prefix(a.shape, i)}The algorithm failed to converge because the input "
                          "matrix contained non-finite values.")


def no_convergence(what: str):
    return lambda: (f"The algorithm failed to converge because the input matrix is ill-conditioned or has too "
                    f"many repeated {what}.")


# ---------------------------------------------------------- differentiable helpers
def eye(like: Tensor, n: int) -> Tensor:
    return like._wrap(np.eye(n, dtype=like._data.dtype))


def diag_embed(v: Tensor) -> Tensor:
    """(..., n) -> (..., n, n) with ``v`` on the diagonal."""
    return v.unsqueeze(-1) * eye(v, v.shape[-1])


def diagonal(X: Tensor) -> Tensor:
    """(..., n, n) -> (..., n), the main diagonal."""
    return (X * eye(X, X.shape[-1])).sum(-1)


def tril(X: Tensor, k: int = 0) -> Tensor:
    """The lower triangle (on and below the k-th diagonal), the rest zero."""
    return X * X._wrap(np.tri(X.shape[-2], X.shape[-1], k, dtype=X._data.dtype))


def triu(X: Tensor, k: int = 0) -> Tensor:
    """The upper triangle (on and above the k-th diagonal), the rest zero."""
    return X * X._wrap(1 - np.tri(X.shape[-2], X.shape[-1], k - 1, dtype=X._data.dtype))


def zeros(like: Tensor, shape) -> Tensor:
    return like._wrap(np.zeros(shape, like._data.dtype))


def used(g) -> bool:
    """Whether an output gradient carries information: a recorded one, or one that is not all
    zero. The engine fills zeros for outputs that took no part, where torch passes nothing;
    telling them apart keeps torch's shortcuts (e.g. svd's when only S was used)."""
    return g is not None and (g._node is not None or bool(g._data.any()))
