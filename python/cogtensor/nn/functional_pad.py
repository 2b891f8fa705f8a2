"""``pad`` (``torch.nn.functional.pad``): constant, reflect, replicate and circular padding of
the last dimensions, with torch's argument layout (last dimension first) and errors.

Constant padding is one node whose backward is the opposite padding of the gradient (a
negative pad crops), so it is differentiable to any order. The other modes gather each
padded dimension through a fixed index map with ``index_select`` (its backward scatters
the gradient back, summing where one input value was copied to several places).
"""

from __future__ import annotations

import numpy as np

from cogtensor.errors import ShapeError, ValueRangeError
from cogtensor.graph import attach
from cogtensor.nn.functional_utils import require_tensor

__all__ = ["pad"]

_MODES = ("constant", "reflect", "replicate", "circular")


def pad(input, pad, mode: str = "constant", value=None):
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right)`` for the last one,
    then ``(top, bottom)`` for the one before, and so on.

    Args:
        mode: ``'constant'`` (fill with ``value``, default 0; negative pads crop),
            ``'reflect'`` (mirror without repeating the edge; pads < size), ``'replicate'``
            (repeat the edge) or ``'circular'`` (wrap around; |pads| <= size).
            The last three pad 1 to 3 dimensions of a batched or unbatched input.

    Raises:
        ShapeError / ValueRangeError / ValueError: a pad list of odd length or longer than
            twice the input's dimensions; pads too large for the mode; an unknown mode.

    Example:
        >>> pad(cogtensor.tensor([[1., 2., 3.]]), (1, 2), mode="reflect")
        tensor([[2., 1., 2., 3., 2., 1.]])
    """
    require_tensor(input, "pad")
    pads = _pad_list(pad, input.ndim)
    if mode not in _MODES:
        raise ValueError(f"pad: unrecognised padding mode {mode!r}, expected one of {list(_MODES)}")
    if mode == "constant":
        return _constant(input, pads, 0 if value is None else value)
    if value is not None and value != 0:
        raise ValueError(f'Padding mode "{mode}" doesn\'t take in value argument')
    dims = len(pads)
    if not dims + 1 <= input.ndim <= dims + 2:
        raise NotImplementedError(f"pad: padding size {2 * dims} is not supported for {input.ndim}D input tensor "
                                  f"in mode {mode!r}: pad 1, 2 or 3 dimensions of a (batch,) channel, *spatial input")
    out = input
    for i, (before, after) in enumerate(pads):
        dim = input.ndim - 1 - i
        index = _index_map(mode, input.shape[dim], before, after, dim, input.shape)
        out = out.index_select(dim, input._wrap(index))
    return out


def _pad_list(pad, ndim: int) -> list[tuple[int, int]]:
    """[(before, after)] per dimension, the last dimension first."""
    if not isinstance(pad, (list, tuple)) or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad: pad must be a tuple of ints, got {pad!r}")
    if len(pad) % 2:
        raise ShapeError("pad: Padding length must be divisible by 2")
    if len(pad) // 2 > ndim:
        raise ShapeError(f"pad: Padding length should be less than or equal to two times the input dimension but "
                         f"got padding length {len(pad)} and input of dimension {ndim}")
    return [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]


def _constant(input, pads, value):
    """Constant padding (negative pads crop) as one node; its gradient is the opposite padding."""
    data = input._data
    shape = list(data.shape)
    src, dst = [slice(None)] * data.ndim, [slice(None)] * data.ndim
    for i, (before, after) in enumerate(pads):
        dim = data.ndim - 1 - i
        size = shape[dim] + before + after
        if size < 0:
            raise ShapeError(f"pad: the input size {shape[dim]} in dimension {dim}, plus negative padding "
                             f"{before} and {after}, resulted in a negative output size {size}")
        src[dim] = slice(max(-before, 0), shape[dim] - max(-after, 0))
        dst[dim] = slice(max(before, 0), size - max(after, 0))
        shape[dim] = size
    values = np.full(shape, value, dtype=data.dtype)
    values[tuple(dst)] = data[tuple(src)]
    flat = [p for pair in pads for p in pair]
    return attach(input._wrap(values), "ConstantPadNdBackward0", (input,),
                  lambda g: _constant(g, [(-a, -b) for a, b in pads], 0) if flat else g)


def _index_map(mode: str, n: int, before: int, after: int, dim: int, shape) -> np.ndarray:
    """For each output position along a padded dimension, the input position it copies."""
    if mode == "circular":  # negative pads crop first; positive ones wrap around what is left
        start, kept = max(-before, 0), n - max(-before, 0) - max(-after, 0)
        if kept < 1 or max(before, after) > kept:
            raise ValueRangeError(f"pad: Padding value causes wrapping around more than once (padding ({before}, "
                                  f"{after}) at dimension {dim} of input {list(shape)})")
        return start + np.arange(-max(before, 0), kept + max(after, 0)) % kept
    if before < 0 or after < 0:
        raise ValueRangeError(f"pad: negative padding is not supported in mode {mode!r}, got ({before}, {after})")
    positions = np.arange(-before, n + after)
    if mode == "replicate":
        if n == 0:
            raise ShapeError(f"pad: cannot replicate-pad an empty dimension {dim} of input {list(shape)}")
        return np.clip(positions, 0, n - 1)
    if before >= n or after >= n:
        raise ValueRangeError(f"pad: Padding size should be less than the corresponding input dimension, but got: "
                              f"padding ({before}, {after}) at dimension {dim} of input {list(shape)}")
    positions = np.abs(positions)
    return np.where(positions > n - 1, 2 * (n - 1) - positions, positions)
