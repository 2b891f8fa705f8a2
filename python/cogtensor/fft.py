"""Discrete Fourier transforms with gradients, as ``torch.fft``, on numpy's pocketfft.

Real float32 inputs give complex64 spectra and float64 inputs complex128 (integer and
bool inputs go through the default float dtype; float16/bfloat16 are refused, as by
torch on the CPU). ``n``/``s`` crop or zero-pad the input along the transformed
dimensions first; ``norm`` is ``"backward"`` (default: no scaling forward, ``1/n``
inverse), ``"ortho"`` (``1/sqrt(n)`` both ways) or ``"forward"`` (``1/n`` forward).

Gradients follow torch's formulas: the backward of a complex transform is the adjoint
transform (the inverse direction with the "dual" normalisation); ``rfft``'s backward
zero-fills the missing half of the spectrum before that adjoint and keeps the real part;
``irfft``'s backward is an ``rfft`` of the gradient with the entries whose Hermitian
mirror was dropped counted twice.
"""

from __future__ import annotations

import builtins
import operator

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ShapeError, ValueRangeError
from cogtensor.graph import attach
from cogtensor.ops.complex import handle_r_to_c
from cogtensor.ops.views import cat, normalize_dim
from cogtensor.tensor import Tensor

__all__ = [
    "fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn", "rfftn", "irfftn",
    "fftfreq", "rfftfreq", "fftshift", "ifftshift",
]

_DUAL = {"backward": "forward", "ortho": "ortho", "forward": "backward"}  # the adjoint's normalisation
_COMPLEX_OF = {np.dtype(np.float32): np.dtype(np.complex64), np.dtype(np.float64): np.dtype(np.complex128)}
_REAL_OF = {v: k for k, v in _COMPLEX_OF.items()}


class FFTShapeError(ShapeError, RuntimeError):
    """``s``/``dim`` arguments that do not fit the input (repeated dims, lengths that disagree);
    a ShapeError, and the RuntimeError torch raises."""


# ------------------------------------------------------------ argument checks
def _norm(norm, op: str) -> str:
    if norm is None:
        return "backward"
    if norm not in _DUAL:
        raise ValueRangeError(f'{op}: Invalid normalization mode: "{norm}" (expected "backward", "ortho", '
                              '"forward" or None)')
    return norm


def _length(value, op: str, name: str) -> int:
    """An int argument (``n`` or an entry of ``s``); TypeError for floats and bools, as torch."""
    if isinstance(value, (builtins.bool, np.bool_)):
        raise TypeError(f"{op}: argument '{name}' must be int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: argument '{name}' must be int, not {type(value).__name__}") from None


def _points(n: int, op: str) -> int:
    if n < 1:
        raise ValueRangeError(f"{op}: Invalid number of data points ({n}) specified (expected at least 1)")
    return n


def _tensor(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a tensor as input, got {type(x).__name__}")
    if x.dtype in (dtypes.float16, dtypes.bfloat16):
        raise NotImplementedForDType(f"{op}: Unsupported dtype {x.dtype.name} (the CPU transforms take float32, "
                                     "float64 and complex inputs; convert with .float())")
    if not (x.dtype.is_floating_point or x.dtype.is_complex):
        x = x.to(dtypes.get_default_dtype())  # integers and bools carry no gradient
    return x


def _real_tensor(x, op: str) -> Tensor:
    x = _tensor(x, op)
    if x.dtype.is_complex:
        raise DTypeError(f"{op} expects a real input tensor, but got {x.dtype.name}")
    return x


def _one_dim(x, n, dim, op: str):
    """(dim, n) of a one-dimensional transform: ``n`` defaults to the input's size there."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, builtins.bool):
        raise TypeError(f"{op}: argument 'dim' must be int, not {type(dim).__name__}")
    if x.ndim == 0:
        raise IndexError(f"{op}: Dimension specified as {dim} but tensor has no dimensions")
    d = normalize_dim(dim, x.ndim, op)
    return d, None if n is None else _length(n, op, "n")


def _dims_and_sizes(x, s, dim, op: str):
    """torch's canonicalisation of ``s`` and ``dim``: (dims, sizes), with ``-1`` in ``s``
    meaning the input's size. Without ``dim``, ``s`` names the last ``len(s)`` dims."""
    if dim is not None:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        dims = tuple(normalize_dim(d, x.ndim, op) for d in dims)
        if len(set(dims)) != len(dims):
            raise FFTShapeError(f"{op}: FFT dims must be unique (got dim={list(dims)})")
    if s is None:
        dims = tuple(range(x.ndim)) if dim is None else dims
        return dims, [x.shape[d] for d in dims]
    sizes = [_length(n, op, "s") for n in ((s,) if isinstance(s, (int, np.integer)) else s)]
    if dim is None:
        if len(sizes) > x.ndim:
            raise FFTShapeError(f"{op}: Got shape with {len(sizes)} values but input tensor only has {x.ndim} "
                                "dimensions.")
        dims = tuple(range(x.ndim - len(sizes), x.ndim))
    elif len(sizes) != len(dims):
        raise FFTShapeError(f"{op}: When given, dim and shape arguments must have the same length "
                            f"(got s={list(sizes)} and dim={list(dims)})")
    return dims, [x.shape[d] if n == -1 else n for d, n in zip(dims, sizes)]


# ---------------------------------------------------------- crop and zero-pad
def _resize(x, d: int, n: int):
    """``x`` cropped (a view) or zero-padded at the end to length ``n`` along ``d``."""
    size = x.shape[d]
    if n == size:
        return x
    if n < size:
        return x.narrow(d, 0, n)
    data = np.zeros(x.shape[:d] + (n,) + x.shape[d + 1:], x._data.dtype)
    data[(slice(None),) * d + (slice(0, size),)] = x._data
    return attach(x._wrap(data), "ConstantPadNdBackward0", (x,), lambda g: g.narrow(d, 0, size))


def _resize_all(x, dims, sizes, op: str):
    for d, n in zip(dims, sizes):
        x = _resize(x, d, _points(n, op))
    return x


# ------------------------------------------------------------ the transforms
def _wrap_complex(like, data: np.ndarray):
    """A transform's result in the complex dtype of ``like`` (numpy keeps float32 precision)."""
    target = like._data.dtype if like._data.dtype.kind == "c" else _COMPLEX_OF[like._data.dtype]
    return like._wrap(data.astype(target, copy=False))


def _c2c(x, dims, norm: str, forward: bool):
    """A complex transform over ``dims`` (``x`` real or complex); backward: the adjoint transform."""
    if not dims:
        data = x._data.astype(x._data.dtype if x._data.dtype.kind == "c" else _COMPLEX_OF[x._data.dtype])
    else:
        data = (np.fft.fftn if forward else np.fft.ifftn)(x._data, axes=dims, norm=norm)
    out = _wrap_complex(x, data)
    return attach(out, "FftC2CBackward0", (x,), lambda g: handle_r_to_c(x, _c2c(g, dims, _DUAL[norm], not forward)))


def _r2c(x, dims, norm: str):
    """The one-sided transform of a real ``x``: the last of ``dims`` keeps ``n // 2 + 1`` entries."""
    out = _wrap_complex(x, np.fft.rfftn(x._data, axes=dims, norm=norm))
    n = x.shape[dims[-1]]
    return attach(out, "FftR2CBackward0", (x,), lambda g: _r2c_backward(g, dims, norm, n))


def _r2c_backward(g, dims, norm: str, n: int):
    """torch's fft_r2c_backward: zero-fill the dropped half, adjoint complex transform, real part."""
    return _c2c(_resize(g, dims[-1], n), dims, _DUAL[norm], False).real


def _c2r(x, dims, norm: str, n: int):
    """The real inverse of a one-sided spectrum ``x`` (its last dim already ``n // 2 + 1`` long)."""
    sizes = [x.shape[d] for d in dims[:-1]] + [n]
    data = np.fft.irfftn(x._data, s=sizes, axes=dims, norm=norm)
    out = x._wrap(data.astype(_REAL_OF[x._data.dtype], copy=False))
    return attach(out, "FftC2RBackward0", (x,), lambda g: _c2r_backward(g, dims, norm, n))


def _c2r_backward(g, dims, norm: str, n: int):
    """torch's fft_c2r_backward: a one-sided transform of the gradient, doubling entries
    1 .. n - (n // 2 + 1) of the last dim (their Hermitian mirrors were filled in forward)."""
    spectrum = _r2c(g, dims, _DUAL[norm])
    d, half = dims[-1], spectrum.shape[dims[-1]]
    doubled = n - half
    if doubled <= 0:
        return spectrum
    weight = np.ones(half, g._data.dtype)
    weight[1:1 + doubled] = 2
    return spectrum * g._wrap(weight.reshape((half,) + (1,) * (g.ndim - 1 - d)))


# ---------------------------------------------------------------- public API
def fft(input, n=None, dim=-1, norm=None):
    """The one-dimensional discrete Fourier transform along ``dim``.

    Args:
        input: a real or complex tensor (real inputs give a complex result).
        n: the signal length: the input is cropped or zero-padded to it (default: its size).
        dim: the dimension to transform.
        norm: ``"backward"`` (default, no scaling), ``"ortho"`` (``1/sqrt(n)``) or ``"forward"`` (``1/n``).

    Returns:
        A complex tensor of the input's shape with ``n`` along ``dim``: ``(..., m) -> (..., n)``.

    Example:
        >>> cogtensor.fft.fft(cogtensor.tensor([1.0, 2.0, 3.0, 4.0]))
        tensor([10.+0.j, -2.+2.j, -2.+0.j, -2.-2.j])
    """
    return _one_dimensional(input, n, dim, norm, "fft", True)


def ifft(input, n=None, dim=-1, norm=None):
    """The inverse of :func:`fft` (``"backward"`` norm scales by ``1/n``); same arguments and shapes.

    Example:
        >>> cogtensor.fft.ifft(cogtensor.fft.fft(cogtensor.tensor([1.0, 2.0]))).real
        tensor([1., 2.])
    """
    return _one_dimensional(input, n, dim, norm, "ifft", False)


def _one_dimensional(input, n, dim, norm, op: str, forward: bool):
    x = _tensor(input, op)
    d, n = _one_dim(x, n, dim, op)
    x = _resize(x, d, _points(x.shape[d] if n is None else n, op))
    return _c2c(x, (d,), _norm(norm, op), forward)


def rfft(input, n=None, dim=-1, norm=None):
    """The transform of a real signal, keeping the ``n // 2 + 1`` non-negative frequencies.

    Returns:
        A complex tensor: ``(..., m) -> (..., n // 2 + 1)`` along ``dim``.

    Raises:
        DTypeError: for a complex input.

    Example:
        >>> cogtensor.fft.rfft(cogtensor.tensor([1.0, 2.0, 3.0, 4.0]))
        tensor([10.+0.j, -2.+2.j, -2.+0.j])
    """
    x = _real_tensor(input, "rfft")
    d, n = _one_dim(x, n, dim, "rfft")
    x = _resize(x, d, _points(x.shape[d] if n is None else n, "rfft"))
    return _r2c(x, (d,), _norm(norm, "rfft"))


def irfft(input, n=None, dim=-1, norm=None):
    """The inverse of :func:`rfft`: a real signal of length ``n`` (default ``2 * (m - 1)``) from
    its one-sided spectrum of ``m`` entries (cropped or zero-padded to ``n // 2 + 1``).

    The imaginary parts of the zero-frequency entry (and of the Nyquist entry for even
    ``n``) are ignored, as a Hermitian signal has none.

    Returns:
        A real tensor: ``(..., m) -> (..., n)`` along ``dim``.

    Example:
        >>> cogtensor.fft.irfft(cogtensor.fft.rfft(cogtensor.tensor([1.0, 2.0, 3.0])), n=3)
        tensor([1., 2., 3.])
    """
    x = _tensor(input, "irfft")
    d, n = _one_dim(x, n, dim, "irfft")
    n = _points(2 * (x.shape[d] - 1) if n is None else n, "irfft")
    return _c2r(_complex(_resize(x, d, n // 2 + 1)), (d,), _norm(norm, "irfft"), n)


def _complex(x):
    """A real tensor as complex (what the real inverse transforms read); complex ones unchanged."""
    if x._data.dtype.kind == "c":
        return x
    out = x._wrap(x._data.astype(_COMPLEX_OF[x._data.dtype]))
    return attach(out, "ToComplexBackward", (x,), lambda g: g.real)


def fftn(input, s=None, dim=None, norm=None):
    """The n-dimensional transform over ``dim`` (default: the last ``len(s)`` dims, or all).

    Args:
        input: a real or complex tensor.
        s: signal sizes per transformed dim (``-1`` keeps the input's size); crops or zero-pads.
        dim: the dimensions to transform (int or sequence).
        norm: ``"backward"``, ``"ortho"`` or ``"forward"``, over the product of the sizes.

    Returns:
        A complex tensor of the input's shape with the sizes ``s`` in ``dim``.

    Example:
        >>> cogtensor.fft.fftn(cogtensor.ones(2, 2))
        tensor([[4.+0.j, 0.+0.j],
                [0.+0.j, 0.+0.j]])
    """
    return _n_dimensional(input, s, dim, norm, "fftn", True)


def ifftn(input, s=None, dim=None, norm=None):
    """The inverse of :func:`fftn`; same arguments and shapes."""
    return _n_dimensional(input, s, dim, norm, "ifftn", False)


def _n_dimensional(input, s, dim, norm, op: str, forward: bool):
    x = _tensor(input, op)
    dims, sizes = _dims_and_sizes(x, s, dim, op)
    return _c2c(_resize_all(x, dims, sizes, op), dims, _norm(norm, op), forward)


def rfftn(input, s=None, dim=None, norm=None):
    """The n-dimensional transform of a real tensor; the last of ``dim`` keeps ``s[-1] // 2 + 1`` entries.

    Example:
        >>> cogtensor.fft.rfftn(cogtensor.ones(2, 4)).shape
        cogtensor.Size([2, 3])
    """
    x = _real_tensor(input, "rfftn")
    dims, sizes = _dims_and_sizes(x, s, dim, "rfftn")
    if not dims:
        raise FFTShapeError("rfftn must transform at least one axis")
    return _r2c(_resize_all(x, dims, sizes, "rfftn"), dims, _norm(norm, "rfftn"))


def irfftn(input, s=None, dim=None, norm=None):
    """The inverse of :func:`rfftn`: a real tensor whose last transformed dim has ``s[-1]``
    entries (default ``2 * (m - 1)`` from the ``m`` given).

    Example:
        >>> x = cogtensor.rand(3, 5, dtype=cogtensor.float64)
        >>> bool((cogtensor.fft.irfftn(cogtensor.fft.rfftn(x), s=x.shape) - x).abs().max() < 1e-12)
        True
    """
    x = _tensor(input, "irfftn")
    dims, sizes = _dims_and_sizes(x, s, dim, "irfftn")
    if not dims:
        raise FFTShapeError("irfftn must transform at least one axis")
    last = sizes[-1] if s is not None and _last_given(s) else 2 * (x.shape[dims[-1]] - 1)
    n = _points(last, "irfftn")
    x = _resize_all(x, dims, sizes[:-1] + [n // 2 + 1], "irfftn")
    return _c2r(_complex(x), dims, _norm(norm, "irfftn"), n)


def _last_given(s) -> bool:
    last = s if isinstance(s, (int, np.integer)) else list(s)[-1]
    return last != -1


def fft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`fftn` over the last two dims (or ``dim``)."""
    return fftn(input, s, dim, norm)


def ifft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`ifftn` over the last two dims (or ``dim``)."""
    return ifftn(input, s, dim, norm)


def rfft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`rfftn` over the last two dims (or ``dim``)."""
    return rfftn(input, s, dim, norm)


def irfft2(input, s=None, dim=(-2, -1), norm=None):
    """:func:`irfftn` over the last two dims (or ``dim``)."""
    return irfftn(input, s, dim, norm)


# ------------------------------------------------------- frequencies, shifts
def fftfreq(n, d=1.0, *, dtype=None, requires_grad=False):
    """The sample frequencies of an ``n``-point transform with sample spacing ``d``:
    ``[0, 1, ..., (n - 1) // 2, -(n // 2), ..., -1] / (n * d)``.

    Example:
        >>> cogtensor.fft.fftfreq(4)
        tensor([ 0.0000,  0.2500, -0.5000, -0.2500])
    """
    n = _length(n, "fftfreq", "n")
    steps = np.concatenate([np.arange((n + 1) // 2), np.arange(-(n // 2), 0)]) if n > 0 else np.arange(n)
    return _frequencies(steps, n, d, dtype, requires_grad, "fftfreq")


def rfftfreq(n, d=1.0, *, dtype=None, requires_grad=False):
    """The non-negative sample frequencies of :func:`rfft`: ``[0, 1, ..., n // 2] / (n * d)``.

    Example:
        >>> cogtensor.fft.rfftfreq(4)
        tensor([0.0000, 0.2500, 0.5000])
    """
    n = _length(n, "rfftfreq", "n")
    return _frequencies(np.arange(n // 2 + 1 if n >= 0 else n), n, d, dtype, requires_grad, "rfftfreq")


def _frequencies(steps, n: int, d, dtype, requires_grad: bool, op: str):
    if n < 0:
        raise ValueError(f"{op}: Trying to create tensor with negative dimension {n}: [{n}]")
    target = dtype or dtypes.get_default_dtype()
    if not isinstance(target, dtypes.dtype) or not target.is_floating_point:
        raise DTypeError(f"{op} requires a floating point dtype, got {target}")
    compute = np.float32 if target.itemsize < 8 else np.float64  # torch's opmath: float32 below float64
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scale = compute(np.float64(1.0) / (np.float64(n) * np.float64(d)))  # d == 0 gives inf, as torch
        out = Tensor((steps.astype(compute) * scale).astype(target.numpy))
    return out.requires_grad_() if requires_grad else out


def fftshift(input, dim=None):
    """Move the zero frequency to the centre: roll each of ``dim`` (default: all) by ``size // 2``.

    Example:
        >>> cogtensor.fft.fftshift(cogtensor.fft.fftfreq(5))
        tensor([-0.4000, -0.2000,  0.0000,  0.2000,  0.4000])
    """
    return _shift(input, dim, "fftshift", lambda n: n // 2)


def ifftshift(input, dim=None):
    """The inverse of :func:`fftshift`: roll each of ``dim`` (default: all) by ``(size + 1) // 2``."""
    return _shift(input, dim, "ifftshift", lambda n: (n + 1) // 2)


def _shift(input, dim, op: str, amount):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected a tensor as input, got {type(input).__name__}")
    if dim is None:
        dims = tuple(range(input.ndim))
    else:
        dims = tuple(normalize_dim(d, input.ndim, op) for d in ((dim,) if isinstance(dim, int) else dim))
    if not dims:
        raise FFTShapeError(f"{op}: no dimension to shift (a 0-d tensor, or dim=())")
    out = input
    for d in dims:
        size = out.shape[d]
        k = amount(size) % size if size else 0
        out = cat([out.narrow(d, size - k, k), out.narrow(d, 0, size - k)], d)
    return out
