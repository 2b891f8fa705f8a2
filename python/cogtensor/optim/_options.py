"""Hyper-parameter checks shared by the optimizers, with torch's messages and exception types."""

from __future__ import annotations

import math
import numbers

from cogtensor.tensor import Tensor


def check_lr(lr, nan_is_invalid: bool = True) -> None:
    """A learning rate: a non-negative number or a 1-element tensor (SGD lets NaN through, as torch)."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")
    check_nonnegative("learning rate", lr, nan_is_invalid)


def check_nonnegative(what: str, value, nan_is_invalid: bool = True) -> None:
    """``value >= 0`` or ValueError("Invalid <what>: <value>"); NaN fails unless ``nan_is_invalid`` is False."""
    number = value.item() if isinstance(value, Tensor) else value
    if not isinstance(number, numbers.Real):
        raise TypeError(f"Invalid {what}: expected a real number, got {type(value).__name__}")
    bad = not 0.0 <= number if nan_is_invalid else number < 0.0
    if bad:
        raise ValueError(f"Invalid {what}: {value}")


def check_betas(betas, both_floats: bool = False) -> tuple:
    """(beta1, beta2), each in [0, 1); with ``both_floats`` (Adam) both floats or both 1-element tensors."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if isinstance(beta, Tensor) and beta.numel() != 1:
            raise ValueError(f"Tensor betas[{i}] must be 1-element")
        number = beta.item() if isinstance(beta, Tensor) else beta
        if not isinstance(number, numbers.Real) or math.isnan(number) or not 0.0 <= number < 1.0:
            raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
    if both_floats and not (all(isinstance(b, float) for b in betas) or all(isinstance(b, Tensor) for b in betas)):
        raise ValueError("betas must be either both floats or both Tensors")
    return tuple(b.reshape(()) if isinstance(b, Tensor) else b for b in betas)


def check_flags(name: str, differentiable: bool, foreach=None, fused=None, capturable: bool = False) -> None:
    """torch's implementation switches: accepted, except the combinations torch refuses and the
    two that need what an in-place numpy update cannot give (autograd through the step, device graphs)."""
    if fused and differentiable:
        raise RuntimeError("`fused` does not support `differentiable`")
    if fused and foreach:
        raise RuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise NotImplementedError(f"{name}: differentiable=True is not supported: the update runs in place on the "
                                  "parameters' memory, outside the autograd graph")
    if capturable:
        raise NotImplementedError(f"{name}: capturable=True is for graph capture on an accelerator; cogtensor "
                                  "tensors live on the CPU, use capturable=False")
