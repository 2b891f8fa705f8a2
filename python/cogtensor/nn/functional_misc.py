"""Embeddings (``embedding``, ``embedding_bag``), dropout (``dropout``, ``dropout1d``,
``dropout2d``, ``dropout3d``) and ``bilinear``, with torch's arguments and errors.

``embedding`` gathers rows in one node; its weight gradient sums the output gradient's
rows by index (sorted once, then one ``reduceat``), itself a recorded op whose backward
gathers again, so double backward works. Dropout draws its keep-mask from cogtensor's
default generator (``cogtensor.manual_seed`` makes it repeatable) and multiplies by it
in the backward: the output and the gradient always use the same mask.
"""

from __future__ import annotations

import warnings

import numpy as np

from cogtensor import random
from cogtensor.errors import DTypeError, ShapeError
from cogtensor.graph import attach
from cogtensor.ops.activation_core import in_place
from cogtensor.nn.functional_utils import check_probability, floating_data, require_tensor, same_dtype, wants
from cogtensor.ops.products import matmul

__all__ = ["embedding", "embedding_bag", "dropout", "dropout1d", "dropout2d", "dropout3d", "bilinear"]


# ------------------------------------------------------------------ embedding
def _indices(input, op: str) -> np.ndarray:
    require_tensor(input, op)
    if input._data.dtype.kind not in "iu" or input._data.dtype.itemsize < 4:
        raise DTypeError(f"{op}: expected indices of dtype int64 or int32, got {input.dtype}; convert them with "
                         ".long()")
    return input._data


def _check_range(idx: np.ndarray, num: int, op: str) -> None:
    if idx.size and (idx.min() < 0 or idx.max() >= num):
        bad = idx[(idx < 0) | (idx >= num)].flat[0]
        raise IndexError(f"{op}: index out of range in self: index {bad} for an embedding of {num} rows "
                         f"(indices must be in [0, {num}))")


def _padding_index(padding_idx, num: int, op: str):
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"{op}: padding_idx must be an int or None, got {type(padding_idx).__name__}")
    if not -num <= padding_idx < num:
        raise ValueError(f"{op}: Padding_idx must be within num_embeddings, got padding_idx={padding_idx} for "
                         f"{num} embeddings")
    return int(padding_idx) % num


def _check_weight(weight, op: str) -> None:
    floating_data(weight, op, "weight")
    if weight.ndim != 2:
        raise ShapeError(f"{op}: 'weight' must be 2-D (num_embeddings, embedding_dim), got shape {list(weight.shape)}")


def sum_rows_by_index(rows: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """(T, D) rows summed into (n, D) by their index (T,): one sort and one ``reduceat``."""
    out = np.zeros((n,) + rows.shape[1:], rows.dtype)
    if index.size == 0:
        return out
    if np.all(index[1:] >= index[:-1]):
        ordered, order = index, None
    else:
        order = np.argsort(index, kind="stable")
        ordered = index[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    out[ordered[starts]] = np.add.reduceat(rows if order is None else rows[order], starts, axis=0)
    return out


def _scatter_rows(g, flat, num: int, padding_idx, counts):
    """The weight gradient of an embedding lookup (recorded; its backward is :func:`_gather_rows`)."""
    dim = g._data.shape[-1]
    rows = g._data.reshape(-1, dim)
    if counts is not None:
        rows = rows / counts[flat][:, None].astype(rows.dtype)
    values = sum_rows_by_index(rows, flat, num)
    if padding_idx is not None:
        values[padding_idx] = 0
    shape = g._data.shape
    return attach(g._wrap(values), "EmbeddingDenseBackward0", (g,),
                  lambda gg: _gather_rows(gg, flat, shape, padding_idx, counts))


def _gather_rows(w, flat, shape, padding_idx, counts):
    """Rows of ``w`` at ``flat`` (zero for ``padding_idx``, divided by ``counts``): the adjoint of
    :func:`_scatter_rows`."""
    rows = np.take(w._data, flat, axis=0)
    if padding_idx is not None:
        rows[flat == padding_idx] = 0
    if counts is not None:
        rows = rows / counts[flat][:, None].astype(rows.dtype)
    num = w._data.shape[0]
    return attach(w._wrap(rows.reshape(shape)), "EmbeddingBackward0", (w,),
                  lambda gg: _scatter_rows(gg, flat, num, padding_idx, counts))


def _renorm(weight, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rescale, in place and without gradient, the looked-up rows whose norm exceeds ``max_norm``."""
    rows = np.unique(idx)
    data = weight._data
    norms = np.linalg.norm(data[rows].astype(np.float64), ord=norm_type, axis=1)
    over = norms > max_norm
    if np.any(over):
        scale = (max_norm / (norms[over] + 1e-7)).astype(data.dtype)
        data[rows[over]] *= scale[:, None]
        weight._bump_version()


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False):
    """Rows of ``weight`` (num_embeddings, embedding_dim) at integer ``input`` (*): -> (*, embedding_dim).

    Args:
        padding_idx: the row at this index gets no gradient (negative counts from the end).
        max_norm: rows looked up whose ``norm_type``-norm exceeds it are rescaled to it,
            in place, before the lookup (as torch).
        scale_grad_by_freq: divide each row's gradient by the number of times it was looked up.
        sparse: accepted for compatibility; the gradient is dense (same values).

    Raises:
        DTypeError: indices that are not int32/int64. IndexError: an index outside [0, num_embeddings).

    Example:
        >>> embedding(cogtensor.tensor([2, 0]), cogtensor.arange(6.).reshape(3, 2))
        tensor([[4., 5.],
                [0., 1.]])
    """
    op = "embedding"
    idx = _indices(input, op)
    _check_weight(weight, op)
    num = weight.shape[0]
    padding_idx = _padding_index(padding_idx, num, op)
    _check_range(idx, num, op)
    if max_norm is not None:
        _renorm(weight, idx, max_norm, norm_type)
    out = weight._wrap(np.take(weight._data, idx, axis=0))
    if not wants(weight):
        return out
    flat = idx.reshape(-1)
    counts = np.bincount(flat, minlength=num) if scale_grad_by_freq else None
    return attach(out, "EmbeddingBackward0", (weight,), lambda g: _scatter_rows(g, flat, num, padding_idx, counts))


# -------------------------------------------------------------- embedding bag
def _bags(idx: np.ndarray, offsets, include_last_offset: bool, op: str):
    """(flat indices, bag of each index, number of bags) for 2-D input or 1-D input + offsets."""
    if idx.ndim == 2:
        if offsets is not None:
            raise ValueError(f"{op}: if input is 2D, then offsets has to be None, as input is treated is a "
                             "mini-batch of fixed length sequences")
        n_bags, length = idx.shape
        return idx.reshape(-1), np.repeat(np.arange(n_bags), length), n_bags
    if idx.ndim != 1:
        raise ShapeError(f"{op}: input has to be 1D or 2D Tensor, but got Tensor of dimension {idx.ndim}")
    if offsets is None:
        raise ValueError(f"{op}: offsets has to be a 1D Tensor but got None")
    off = _indices(offsets, op).reshape(-1) if getattr(offsets, "ndim", 1) == 1 else None
    if off is None:
        raise ShapeError(f"{op}: offsets has to be a 1D Tensor, got shape {list(offsets.shape)}")
    if off.size and off[0] != 0:
        raise ValueError(f"{op}: offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                         f"from position 0. However, got {off[0]}")
    if off.size and (np.any(np.diff(off) < 0) or off[-1] > idx.size):
        raise ValueError(f"{op}: offsets must be non-decreasing and at most len(input)={idx.size}, got "
                         f"{off.tolist()}")
    starts = off[:-1] if include_last_offset else off
    if starts.size == 0:
        return idx[:0], starts[:0], 0
    ends = np.append(starts[1:], idx.size)  # the last bag runs to the end of input, as torch's
    return idx, np.repeat(np.arange(len(starts)), ends - starts), len(starts)


def _segment_sum(rows, bag, n_bags: int):
    """(T, D) rows summed per bag (sorted bag ids) -> (n_bags, D); recorded, its backward gathers."""
    out = rows._wrap(sum_rows_by_index(rows._data, bag, n_bags))
    bag_t = rows._wrap(bag)
    return attach(out, "EmbeddingBagBackward0", (rows,), lambda g: g.index_select(0, bag_t))


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type: float = 2, scale_grad_by_freq: bool = False,
                  mode: str = "mean", sparse: bool = False, per_sample_weights=None, include_last_offset: bool = False,
                  padding_idx=None):
    """Sums, means or maxima of bags of embeddings, without building the (bags, length, dim) tensor.

    Bags are the rows of a 2-D ``input`` (B, N), or slices of a 1-D ``input`` starting at
    ``offsets`` (B,) (B + 1 with ``include_last_offset``). Entries equal to ``padding_idx``
    are left out (and not counted by the mean); an empty bag gives zeros.
    ``per_sample_weights`` (input's shape) scales each entry (``mode='sum'`` only).

    Returns:
        (B, embedding_dim).

    Example:
        >>> w = cogtensor.arange(6.).reshape(3, 2)
        >>> embedding_bag(cogtensor.tensor([0, 2, 1]), w, cogtensor.tensor([0, 2]), mode="sum")
        tensor([[4., 6.],
                [2., 3.]])
    """
    op = "embedding_bag"
    idx = _indices(input, op)
    _check_weight(weight, op)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                      f"supported for mode='sum' (got mode='{mode}'). Please open a feature request "
                                      "on GitHub.")
        same_dtype(op, weight, ("per_sample_weights", per_sample_weights))
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ShapeError(f"{op}: embedding_bag: If per_sample_weights ({list(per_sample_weights.shape)}) is not "
                             f"None, then it must have the same shape as the input ({list(input.shape)})")
    num, dim = weight.shape
    padding_idx = _padding_index(padding_idx, num, op)
    flat, bag, n_bags = _bags(idx, offsets, include_last_offset, op)
    _check_range(flat, num, op)
    if max_norm is not None:
        _renorm(weight, flat, max_norm, norm_type)
    keep = np.ones(flat.shape, bool) if padding_idx is None else flat != padding_idx
    if mode == "max":
        return _bag_max(weight, flat[keep], bag[keep], n_bags)
    rows = embedding(input._wrap(flat), weight, scale_grad_by_freq=scale_grad_by_freq)
    scale = weight._wrap(keep.astype(weight._data.dtype)[:, None])
    if per_sample_weights is not None:
        scale = scale * per_sample_weights.reshape(-1).narrow(0, 0, flat.size).unsqueeze(1)
    out = _segment_sum(rows * scale, bag, n_bags)
    if mode == "mean":  # sum, then divide by the bag's size, as torch
        counts = np.maximum(np.bincount(bag[keep], minlength=n_bags), 1)
        out = out / weight._wrap(counts.astype(weight._data.dtype)[:, None])
    return out


def _bag_max(weight, flat: np.ndarray, bag: np.ndarray, n_bags: int):
    """Per-bag, per-feature maxima: a gather of the maximal entries (empty bags give 0)."""
    data = weight._data
    dim = data.shape[1]
    counts = np.bincount(bag, minlength=n_bags)
    longest = int(counts.max()) if counts.size else 0
    position = np.arange(flat.size) - np.repeat(np.cumsum(counts) - counts, counts)
    table = np.full((n_bags, longest), -1, np.int64)
    table[bag, position] = flat
    values = np.where((table >= 0)[..., None], data[np.maximum(table, 0)], -np.inf)
    best = np.take_along_axis(table, np.argmax(values, axis=1), axis=1) if longest else np.zeros((n_bags, dim), int)
    empty = counts == 0
    best[empty] = 0
    picked = weight.take(weight._wrap(best * dim + np.arange(dim)))
    if np.any(empty):
        picked = picked * weight._wrap((~empty).astype(data.dtype)[:, None])
    return picked


# -------------------------------------------------------------------- dropout
def keep_scale(shape, p: float, np_dtype, generator=None) -> np.ndarray:
    """A Bernoulli(1 - p) keep-mask times 1 / (1 - p) (zeros for p = 1), drawn from ``generator``
    (a numpy Generator; cogtensor's default generator when None)."""
    np_dtype = np.dtype(np_dtype)
    if p == 1.0:
        return np.zeros(shape, np_dtype)
    draw = np.float64 if np_dtype == np.float64 else np.float32
    keep = (generator or random.rng(None)).random(shape, dtype=draw) >= p
    return np.multiply(keep, np_dtype.type(1.0 / (1.0 - p)), dtype=np_dtype)


def _masked(input, scale: np.ndarray, inplace: bool, op: str):
    """input * scale (broadcast), recorded; in place when asked (as torch's ``dropout_``)."""
    if inplace:
        return in_place(op, input, lambda t: _masked(t, scale, False, op))
    out = input._wrap((input._data * scale).astype(input._data.dtype, copy=False))
    return attach(out, "NativeDropoutBackward0" if scale.shape == input._data.shape else "MulBackward0",
                  (input,), lambda g: g * g._wrap(scale))


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) (training only;
    otherwise ``input`` itself is returned).

    Example:
        >>> dropout(cogtensor.ones(4), 0.5, training=False)
        tensor([1., 1., 1., 1.])
    """
    p = check_probability(p, "dropout")
    floating_data(input, "dropout")
    if not training or p == 0.0:
        return input
    return _masked(input, keep_scale(input._data.shape, p, input._data.dtype), inplace, "dropout")


def _feature_dropout(input, p, training, inplace, op):
    """Zero whole channels: one draw per (sample, channel) of an (N, C, *) input."""
    if not training or p == 0.0:
        return input
    shape = input._data.shape[:2] + (1,) * (input.ndim - 2)
    return _masked(input, keep_scale(shape, p, input._data.dtype), inplace, op)


def _unbatched_feature_dropout(input, p, training, inplace, op):
    """Feature dropout of an input without batch dimension: one draw per channel (dimension 0)."""
    if not training or p == 0.0:
        return input
    shape = input._data.shape[:1] + (1,) * (input.ndim - 1)
    return _masked(input, keep_scale(shape, p, input._data.dtype), inplace, op)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) or (C, L) with probability ``p``, scaling the rest by 1 / (1 - p)."""
    p = check_probability(p, "dropout1d")
    floating_data(input, "dropout1d")
    if input.ndim not in (2, 3):
        raise ShapeError(f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
                         "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                         "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    if input.ndim == 2:
        return _unbatched_feature_dropout(input, p, training, inplace, "dropout1d")
    return _feature_dropout(input, p, training, inplace, "dropout1d")


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, H, W) with probability ``p``, scaling the rest by 1 / (1 - p).

    A 3-D input is taken as (N, C, L), with torch's warning."""
    p = check_probability(p, "dropout2d")
    floating_data(input, "dropout2d")
    if input.ndim not in (3, 4):
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on "
                      "inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 3D or 4D inputs).", UserWarning, stacklevel=2)
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a "
                      "batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, "
                      "please switch to using dropout1d instead.", UserWarning, stacklevel=2)
    if input.ndim < 2:
        return _unbatched_feature_dropout(input, p, training, inplace, "dropout2d")
    return _feature_dropout(input, p, training, inplace, "dropout2d")


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability ``p``."""
    p = check_probability(p, "dropout3d")
    floating_data(input, "dropout3d")
    if input.ndim not in (4, 5):
        warnings.warn(f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and will "
                      "result in an error in a future release. To retain the behavior and silence this warning, "
                      "please use dropout instead. Note that dropout3d exists to provide channel-wise dropout on "
                      "inputs with 3 spatial dimensions, a channel dimension, and an optional batch dimension "
                      "(i.e. 4D or 5D inputs).", UserWarning, stacklevel=2)
    if input.ndim == 4:
        return _unbatched_feature_dropout(input, p, training, inplace, "dropout3d")
    return _feature_dropout(input, p, training, inplace, "dropout3d")


# ------------------------------------------------------------------- bilinear
def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``:
    (*, in1), (*, in2), (out, in1, in2), (out,) -> (*, out).

    Raises:
        ShapeError: shapes that do not fit.
    """
    op = "bilinear"
    for name, t in (("input1", input1), ("input2", input2), ("weight", weight)):
        floating_data(t, op, name)
    same_dtype(op, input1, ("input2", input2), ("weight", weight), ("bias", bias))
    if weight.ndim != 3:
        raise ShapeError(f"{op}: weight must be 3-D (out_features, in1_features, in2_features), got "
                         f"{list(weight.shape)}")
    out_f, in1, in2 = weight.shape
    if input1.ndim == 0 or tuple(input1.shape[:-1]) != tuple(input2.shape[:-1]):
        raise ShapeError(f"{op}: input1 {list(input1.shape)} and input2 {list(input2.shape)} must have the same "
                         "leading dimensions")
    if input1.shape[-1] != in1 or input2.shape[-1] != in2:
        raise ShapeError(f"{op}: input1's last dimension ({input1.shape[-1]}) must be {in1} and input2's "
                         f"({input2.shape[-1]}) must be {in2} for weight of shape {list(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (out_f,):
        raise ShapeError(f"{op}: bias must have shape [{out_f}], got {list(bias.shape)}")
    lead = tuple(input1.shape[:-1])
    x1, x2 = input1.reshape(-1, in1), input2.reshape(-1, in2)
    mixed = matmul(x1, weight.permute(1, 0, 2).reshape(in1, out_f * in2)).reshape(-1, out_f, in2)
    out = (mixed * x2.unsqueeze(1)).sum(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*lead, out_f)
