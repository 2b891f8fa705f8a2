"""Gradient and parameter utilities (``torch.nn.utils``): gradient clipping by norm or value,
and flattening parameters into one vector and back."""

from __future__ import annotations

import math

import numpy as np

from cogtensor import dtypes
from cogtensor.graph import no_grad
from cogtensor.ops.views import cat
from cogtensor.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
           "parameters_to_vector", "vector_to_parameters"]


def _tensor_list(op: str, tensors) -> list:
    """A tensor or an iterable of tensors (generators are consumed once) as a list."""
    if isinstance(tensors, Tensor):
        return [tensors]
    try:
        found = list(tensors)
    except TypeError:
        raise TypeError(f"{op}: expected a tensor or an iterable of tensors, got {type(tensors).__name__}") from None
    for t in found:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected tensors, got an element of type {type(t).__name__}")
    return found


def _vector_norm(values: np.ndarray, norm_type: float) -> np.ndarray:
    """torch.linalg.vector_norm over all elements, accumulated in float64 (float16/bfloat16 too)."""
    a = np.abs(values.astype(np.float64, copy=False).ravel())
    if abs(norm_type) == math.inf:
        if not a.size:  # max / min of nothing has no value
            raise RuntimeError(f"linalg.vector_norm cannot compute the {norm_type} norm on an empty tensor because "
                               "the operation does not have an identity")
        return a.max() if norm_type > 0 else a.min()
    if norm_type == 0:
        return np.float64(np.count_nonzero(a))
    if norm_type == 1:
        return a.sum()
    if norm_type == 2:
        return np.sqrt(np.dot(a, a))
    with np.errstate(divide="ignore", over="ignore"):
        return np.sum(a**norm_type) ** (1.0 / norm_type)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector.

    Returns a 0-d tensor of the tensors' promoted dtype (float32 zero when there are none).
    ``foreach`` is accepted for torch compatibility (there is one implementation).

    Raises:
        RuntimeError: when ``error_if_nonfinite`` and the norm is NaN or infinite.
    """
    tensors = _tensor_list("get_total_norm", tensors)
    norm_type = float(norm_type)
    if not tensors:
        return Tensor(np.array(0.0, dtypes.get_default_dtype().numpy))
    result = tensors[0].dtype
    for t in tensors[1:]:
        result = dtypes.promote_types(result, t.dtype)
    if not result.is_floating_point:
        raise RuntimeError(f"get_total_norm: expected floating point tensors, got {result}")
    norms = np.array([_vector_norm(t._data, norm_type) for t in tensors])
    total = _vector_norm(norms.astype(result.numpy).astype(np.float64), norm_type)
    total = Tensor(np.asarray(total).astype(result.numpy))
    if error_if_nonfinite and not np.isfinite(total._data):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters, max_norm: float, total_norm: Tensor, foreach=None) -> None:
    """Scale every gradient by ``min(1, max_norm / (total_norm + 1e-6))``, in place."""
    parameters = _tensor_list("clip_grads_with_norm_", parameters)
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    total = total_norm._data if isinstance(total_norm, Tensor) else np.asarray(total_norm, np.float64)
    dtype = total.dtype.type
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        coef = np.minimum(dtype(float(max_norm)) / (total + dtype(1e-6)), dtype(1.0))  # in the norm's precision
    with no_grad():
        for g in grads:
            g.mul_(float(coef))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Rescale the gradients of ``parameters`` in place so their total norm is at most ``max_norm``.

    The norm is over all gradients together (``norm_type`` may be ``inf``); gradients are
    multiplied by ``min(1, max_norm / (total_norm + 1e-6))``. Parameters without a gradient
    are skipped.

    Args:
        parameters: a tensor or an iterable of tensors (e.g. ``model.parameters()``).
        max_norm: the largest total norm allowed.
        norm_type: the p of the p-norm (``inf`` for the largest absolute value).
        error_if_nonfinite: raise RuntimeError instead of scaling by a NaN or infinite norm.

    Returns:
        The total norm before clipping, a 0-d tensor.

    Example:
        >>> loss.backward()
        >>> clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    parameters = _tensor_list("clip_grad_norm_", parameters)
    total = get_total_norm([p.grad for p in parameters if p.grad is not None], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient of ``parameters`` into [-clip_value, clip_value], in place."""
    parameters = _tensor_list("clip_grad_value_", parameters)
    clip_value = float(clip_value)
    with no_grad():
        for p in parameters:
            if p.grad is not None:
                p.grad.clamp_(min=-clip_value, max=clip_value)


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one 1-D tensor (differentiable).

    Example:
        >>> parameters_to_vector(model.parameters()).shape   # (total number of weights,)
    """
    parameters = _tensor_list("parameters_to_vector", parameters)
    if not parameters:
        raise RuntimeError("parameters_to_vector: expected at least one parameter, got none")
    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Make each parameter's values the next slice of ``vec`` (its memory, as torch: the
    parameters become views of ``vec``).

    Raises:
        TypeError: ``vec`` is not a tensor.
        ValueError: ``vec`` is not 1-D or holds fewer elements than the parameters.
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected cogtensor.Tensor, but got: {type(vec).__name__}")
    parameters = _tensor_list("vector_to_parameters", parameters)
    needed = sum(p.numel() for p in parameters)
    if vec.ndim != 1 or vec.numel() < needed:
        raise ValueError(f"vector_to_parameters: expected a 1-D tensor of at least {needed} elements, got shape "
                         f"{list(vec.shape)}")
    pointer = 0
    for param in parameters:
        n = param.numel()
        param.data = vec[pointer: pointer + n].detach().reshape(param.shape)
        pointer += n
