"""What every activation in :mod:`cogtensor.nn.functional` runs on: dtype checks, the
compute dtype (float32 for float16/bfloat16, rounded once at the end, as torch on CPU),
recording the backward, and the in-place form.

Backward formulas are written with tensor ops, so ``create_graph=True`` differentiates
them again. Piecewise-linear activations pass the gradient through a constant mask
(:func:`masked`), itself a recorded op of the gradient: their second derivative is 0,
as in torch.
"""

from __future__ import annotations

import numpy as np

from cogtensor import dtypes
from cogtensor.errors import DTypeError, NotImplementedForDType, ValueRangeError
from cogtensor.graph import attach, requires_grad
from cogtensor.ops.autograd_methods import commit_in_place, snapshot
from cogtensor.ops.elementwise_core import _restore, _silence

_HALF = (dtypes.float16.numpy, dtypes.bfloat16.numpy)


def floating(x, op: str) -> np.ndarray:
    """x's values in the compute dtype (float32 for float16/bfloat16); NotImplementedForDType unless floating."""
    require_tensor(x, op)
    if not x.dtype.is_floating_point:
        raise NotImplementedForDType(f"{op}: not implemented for {x.dtype}; expected a floating point tensor "
                                     "(float16, bfloat16, float32 or float64)")
    return x._data.astype(np.float32) if x._data.dtype in _HALF else x._data


def numeric(x, op: str) -> np.ndarray:
    """Floating or integer values (bool refused, as torch's relu/hardtanh)."""
    require_tensor(x, op)
    if x.dtype is dtypes.bool:
        raise DTypeError(f"{op}: Boolean inputs not supported for {op}")
    return x._data.astype(np.float32) if x._data.dtype in _HALF else x._data


def require_tensor(x, op: str) -> None:
    if not hasattr(x, "_data"):
        raise TypeError(f"{op}: expected a Tensor as input, got {type(x).__name__}")


def ieee():
    """Overflow gives inf and inf * 0 gives NaN, as in torch, without numpy's warnings."""
    return np.errstate(over="ignore", invalid="ignore", divide="ignore")


def rounded(values, np_dtype) -> np.ndarray:
    """Values rounded to the result dtype (overflow gives inf)."""
    with ieee():
        return np.asarray(values).astype(np_dtype, copy=False)


def activation(op: str, input, values, inplace: bool = False, backward=None, node: str = "",
               check=floating, from_output: bool = False):
    """Run an element-wise activation and record its backward.

    Args:
        op: the function's name, for errors (``"relu"``; in place ``"relu_"``).
        input: the tensor.
        values: ``values(x)``: the results as a numpy array, from ``x``, the input's values
            in the compute dtype (floating-point warnings are off).
        inplace: write the result into ``input`` (see :func:`in_place`) and return it.
        backward: ``backward(g, x)``, the input's gradient from the output's, with tensor
            ops; ``x`` is the input tensor, or the output when ``from_output``.
        node: the graph node's name (torch's, e.g. ``"ReluBackward0"``).
        check: ``check(input, op)`` -> the input's values in the compute dtype, or raises.

    Returns:
        A new tensor of the input's shape and dtype (``input`` itself when ``inplace``).
    """
    if inplace:
        return in_place(op, input, lambda t: activation(op, t, values, False, backward, node, check, from_output))
    x = check(input, op)
    token = _silence()  # numpy's warnings off, cheaper than np.errstate on this hot path
    try:
        out = input._wrap(np.asarray(values(x)).astype(input._data.dtype, copy=False))
    finally:
        _restore(token)
    if input._node is None or backward is None:
        return out
    if from_output:
        return attach(out, node, (input,), backward, with_output=True)
    return attach(out, node, (input,), lambda g: backward(g, input), saved=(input,))


def in_place(op: str, input, compute):
    """Write ``compute(input)`` into ``input``'s memory and return ``input``.

    While recording, the result is computed from a snapshot of ``input``, so the
    backward never reads the memory it overwrites; ``input`` then takes the result's
    place in the graph (a leaf that requires grad raises RuntimeError, as in torch).
    """
    require_tensor(input, op)
    source = snapshot(input) if requires_grad(input) else input
    result = compute(source)
    if not input._data.flags.writeable:
        raise ValueRangeError(f"{op}_: the tensor's memory is read-only (an expanded view or a read-only buffer); "
                              "clone() it before writing in place, or pass inplace=False")
    commit_in_place(op + "_", input, result)
    return input


def masked(g, keep: np.ndarray, node: str = "ThresholdBackwardBackward0"):
    """``g`` where ``keep`` (a bool array of g's shape) holds, +0 elsewhere, even where ``g``
    is inf or NaN (as torch's threshold_backward). Recorded as a function of ``g``.

    A bitwise and with an all-ones/all-zeros word: several times faster than ``np.where``,
    whose branches mispredict on a random mask."""
    data = g._data
    bits = np.dtype(f"u{data.itemsize}")
    word = np.asarray(keep).astype(bits)
    np.negative(word, out=word)  # True -> all ones
    np.bitwise_and(data.view(bits), word, out=word)
    return attach(g._wrap(word.view(data.dtype)), node, (g,), lambda gg: masked(gg, keep, node))


def scaled(g, factor: np.ndarray):
    """``g * factor`` for a constant array ``factor`` (recorded as a function of ``g``)."""
    return g * g._wrap(factor.astype(g._data.dtype, copy=False))
