"""cogtensor: hyperdimensional computing on CogRecords in SQL, and tensors on Arrow data."""

import builtins as _builtins
from numpy import broadcast_shapes as _np_broadcast_shapes
import operator as _operator

from cogtensor import _kernels, arrow, autograd, cogrecord, hdc, nn, quant, utils
from cogtensor.creation import (
    arange, as_tensor, empty, empty_like, eye, full, full_like, linspace, ones, ones_like, rand, rand_like,
    normal, randint, randint_like, randn, randn_like, randperm, tensor, tril_indices, triu_indices, zeros, zeros_like,
)
from cogtensor.dtypes import (  # noqa: A004 - torch's names (cogtensor.bool, .int, .float)
    bfloat16, bool, cdouble, cfloat, complex64, complex128, double, dtype, float, float16, float32, float64,
    get_default_dtype, half, int, int8, int16, int32, int64, long, promote_types, result_type, set_default_dtype,
    short, uint8,
)
from cogtensor.errors import DTypeError, LinAlgError, NotImplementedForDType, ShapeError, ValueRangeError
from cogtensor.graph import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled,
)
from cogtensor.ops.activation import log_softmax, relu, relu_, softmax
from cogtensor.ops.einsum import einsum
from cogtensor.ops.elementwise import *  # noqa: F403 - function forms (add, exp, where, ...)
from cogtensor.ops.indexing import *  # noqa: F403
from cogtensor.ops.products import *  # noqa: F403
from cogtensor.ops.reduction import *  # noqa: F403
from cogtensor.ops.views import cat, stack
from cogtensor.ops.fused import *  # noqa: F403
from cogtensor.ops.sampling import *  # noqa: F403
from cogtensor.ops.shaping import *  # noqa: F403
from cogtensor.ops.sorting import *  # noqa: F403
from cogtensor.ops.special import *  # noqa: F403
from cogtensor.ops.statistics import *  # noqa: F403
from cogtensor.random import Generator, initial_seed, manual_seed, seed
from cogtensor.tensor import Size, Tensor, from_dlpack, from_numpy

from cogtensor import data, fft, io, linalg, optim  # noqa: E402 - build on the tensor
from cogtensor.io import load, save  # noqa: E402 - torch.save / torch.load, without pickle
from cogtensor.nn.quantized import (  # noqa: E402 - torch.quantize_per_tensor, torch.qint8, ...
    dequantize, fake_quantize_per_tensor_affine, per_channel_affine, per_channel_symmetric, per_tensor_affine,
    per_tensor_symmetric, qint8, qscheme, quantize_per_channel, quantize_per_tensor, quint8,
)
from cogtensor.ops.complex import *  # noqa: F403, E402 - real, imag, conj, angle, view_as_real, complex, ...

__version__ = "0.1.0"

# function forms of the view methods: cogtensor.transpose(x, 0, 1) == x.transpose(0, 1)
reshape, transpose, swapaxes, permute = Tensor.reshape, Tensor.transpose, Tensor.swapaxes, Tensor.permute
squeeze, unsqueeze, flatten, unflatten = Tensor.squeeze, Tensor.unsqueeze, Tensor.flatten, Tensor.unflatten
narrow, split, chunk, unbind = Tensor.narrow, Tensor.split, Tensor.chunk, Tensor.unbind
broadcast_to, clone, numel = Tensor.broadcast_to, Tensor.clone, Tensor.numel
concat = concatenate = cat


def broadcast_shapes(*shapes) -> Size:
    """The shape tensors of ``shapes`` broadcast to (``torch.broadcast_shapes``)."""
    try:
        return Size(_np_broadcast_shapes(*(tuple(s) if not isinstance(s, _builtins.int) else (s,) for s in shapes)))
    except ValueError as e:
        raise RuntimeError(f"broadcast_shapes: shape mismatch: {e}") from None


def kernels_info() -> dict:
    """Describe the kernel build in use.

    Returns:
        dict with ``isa`` (the instruction set the kernels run on, chosen at import
        from the CPU or ``COGTENSOR_ISA``), ``available`` (every ISA this CPU can
        run, best first) and ``num_threads`` (threads a large kernel call uses).

    Example:
        >>> info = cogtensor.kernels_info()
        >>> info["isa"] in info["available"]
        True
    """
    return {
        "isa": _kernels.isa(),
        "available": list(_kernels.available_isas()),
        "num_threads": _kernels.num_threads(),
    }


def get_num_threads() -> "_builtins.int":
    """Threads a large kernel call splits over (``COGTENSOR_NUM_THREADS`` or the core count)."""
    return _kernels.num_threads()


def set_num_threads(n) -> None:
    """Set the kernel thread count (as ``torch.set_num_threads``): an integer in [1, 65536]."""
    try:
        count = _operator.index(n)
    except TypeError:
        count = None
    if isinstance(n, _builtins.bool) or count is None or not 1 <= count <= 65536:
        raise ValueError(f"set_num_threads: expected a positive integer (at most 65536), got {n!r}")
    _kernels.set_num_threads(count)
