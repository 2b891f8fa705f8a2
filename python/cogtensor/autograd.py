"""Reverse-mode automatic differentiation: the public API.

``backward`` and ``grad`` run the engine in :mod:`cogtensor.graph`; :class:`Function`
defines new differentiable ops; :func:`gradcheck` and :func:`gradgradcheck` compare
analytical gradients with float64 finite differences. Grad modes (``no_grad``,
``enable_grad``, ``set_grad_enabled``, ``inference_mode``) are re-exported here.
"""

from __future__ import annotations

import numpy as np

from cogtensor import graph
from cogtensor.graph import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad, set_grad_enabled,
)
from cogtensor.ops.autograd_methods import backward_into, default_gradient
from cogtensor.tensor import Tensor

__all__ = [
    "backward", "grad", "Function", "FunctionCtx", "gradcheck", "gradgradcheck", "GradcheckError",
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled", "is_inference_mode_enabled",
]


def _as_tuple(x) -> tuple:
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None) -> None:
    """Accumulate the gradients of ``tensors`` into the leaves' ``.grad`` (``torch.autograd.backward``).

    Args:
        tensors: a tensor or a sequence of them.
        grad_tensors: one gradient per tensor (None for one-element tensors).
        retain_graph: keep the graph for another backward (default: ``create_graph``).
        create_graph: record the backward pass (for higher-order gradients).
        inputs: accumulate only into these tensors.
    """
    tensors = _as_tuple(tensors)
    grads = (None,) * len(tensors) if grad_tensors is None else _as_tuple(grad_tensors)
    if len(grads) != len(tensors):
        raise RuntimeError(f"backward: got {len(grads)} gradients for {len(tensors)} tensors")
    backward_into(tensors, grads, retain_graph, create_graph, inputs)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=None,
         materialize_grads=False):
    """The gradients of ``outputs`` with respect to ``inputs``, without touching ``.grad``.

    Returns:
        A tuple with one gradient per input (None for an input the outputs do not
        depend on, when ``allow_unused``; zeros with ``materialize_grads``).

    Example:
        >>> x = cogtensor.tensor([3.0], requires_grad=True)
        >>> cogtensor.autograd.grad((x * x).sum(), x)
        (tensor([6.]),)
    """
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"grad: inputs[{i}] is a {type(x).__name__}, expected a Tensor")
    grads = (None,) * len(outputs) if grad_outputs is None else _as_tuple(grad_outputs)
    if len(grads) != len(outputs):
        raise RuntimeError(f"grad: got {len(grads)} grad_outputs for {len(outputs)} outputs")
    pairs = [(o, default_gradient(o, g)) for o, g in zip(outputs, grads)]
    if retain_graph is None:
        retain_graph = create_graph
    allow = bool(allow_unused) or materialize_grads
    found = graph.run_backward([o for o, _ in pairs], [g for _, g in pairs], retain_graph, create_graph,
                               inputs=inputs, allow_unused=allow)
    if materialize_grads:
        found = tuple(g if g is not None else x._wrap(np.zeros_like(x._data)) for x, g in zip(inputs, found))
    return found


# ------------------------------------------------------------------ Function
class FunctionCtx:
    """What ``forward`` leaves for ``backward``: saved tensors and flags (torch's ``ctx``)."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self.to_save = ()
        self.non_differentiable = set()
        self.materialize_grads = True

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors for backward; changing one in place before backward raises."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save tensors (or None), got {type(t).__name__}")
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        return self.to_save

    def mark_non_differentiable(self, *tensors) -> None:
        """Outputs that get no gradient (indices, masks)."""
        self.non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """With False, backward gets None (not zeros) for outputs that received no gradient."""
        self.materialize_grads = value


class Function:
    """A user-defined differentiable op (``torch.autograd.Function``).

    Subclass it with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``
    (one gradient, or None, per forward argument) and call ``MyOp.apply(*args)``.

    Example:
        >>> class Cube(Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.save_for_backward(x)
        ...         return x * x * x
        ...     @staticmethod
        ...     def backward(ctx, g):
        ...         (x,) = ctx.saved_tensors
        ...         return 3 * x * x * g
    """

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function subclass must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function subclass must define backward(ctx, ...) to be differentiated")

    @classmethod
    def apply(cls, *args):
        ctx = FunctionCtx(tuple(getattr(a, "_node", None) is not None for a in args))
        with no_grad():
            result = cls.forward(ctx, *args)
        single = not isinstance(result, tuple)
        outputs = [_fresh_output(o, args) for o in ((result,) if single else result)]
        if any(ctx.needs_input_grad):
            _record(cls, ctx, args, outputs)
        return outputs[0] if single else tuple(outputs)


def _fresh_output(o, args):
    """An output that is one of the inputs becomes a new tensor over the same memory (the
    input keeps its own place in the graph)."""
    if isinstance(o, Tensor) and any(o is a for a in args):
        alias = o._wrap(o._data)
        alias._vc = o._version_box()
        return alias
    return o


def _record(cls, ctx, args, outputs) -> None:
    positions = [i for i, o in enumerate(outputs)
                 if isinstance(o, Tensor) and graph._is_float(o) and id(o) not in ctx.non_differentiable]
    if not positions:
        return
    tensors = [outputs[i] for i in positions]

    def backward_fn(grads):
        grads = grads if len(positions) > 1 else (grads,)
        full = [None] * len(outputs)
        for i, g in zip(positions, grads):
            full[i] = g
        if ctx.materialize_grads:
            full = [g if g is not None or not isinstance(o, Tensor) else o._wrap(np.zeros_like(o._data))
                    for o, g in zip(outputs, full)]
        result = cls.backward(ctx, *full)
        result = result if isinstance(result, tuple) else (result,)
        if len(result) > len(args) and all(r is None for r in result[len(args):]):
            result = result[: len(args)]
        if len(result) != len(args):
            raise RuntimeError(f"function {cls.__name__}Backward returned an incorrect number of gradients "
                               f"(expected {len(args)}, got {len(result)})")
        return result

    out = tensors[0] if len(tensors) == 1 else tuple(tensors)
    graph.attach(out, f"{cls.__name__}Backward", args, backward_fn,
                 saved=tuple(t for t in ctx.to_save if t is not None))


# ---------------------------------------------------------------- gradcheck
class GradcheckError(RuntimeError):
    """Analytical and numerical gradients disagree."""


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True) -> bool:
    """Compare ``func``'s analytical Jacobian with central finite differences.

    ``inputs`` is a tensor or a tuple (non-tensors pass through). Every input that
    requires grad is perturbed by ``eps`` (real and imaginary parts for complex ones);
    use float64. Complex outputs count as their real and imaginary parts.

    Returns:
        True when every entry agrees within ``atol + rtol * |numerical|``.

    Raises:
        GradcheckError: on a mismatch (unless ``raise_exception=False``: returns False).
    """
    inputs = _as_tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradcheck expects at least one input tensor to require gradient")
    outputs = _outputs(func, inputs)
    numerical = _numerical_jacobian(func, inputs, wrt, eps)
    analytical = _analytical_jacobian(outputs, [inputs[i] for i in wrt])
    for k, (a, n) in enumerate(zip(analytical, numerical)):
        if not np.allclose(a, n, rtol=rtol, atol=atol, equal_nan=True):
            worst = np.unravel_index(np.argmax(np.abs(a - n)), a.shape) if a.size else ()
            msg = (f"Jacobian mismatch for input {wrt[k]}: largest difference at (input element, output element) "
                   f"{tuple(int(i) for i in worst)}:\nnumerical:\n{n}\nanalytical:\n{a}")
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True) -> bool:
    """:func:`gradcheck` of the gradient: checks second derivatives (``create_graph=True``).

    ``grad_outputs`` defaults to random float64 tensors (seeded) shaped like the outputs.
    """
    inputs = _as_tuple(inputs)
    wrt = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not wrt:
        raise ValueError("gradgradcheck expects at least one input tensor to require gradient")
    outputs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(Tensor(rng.standard_normal(o.shape).astype(o._data.dtype)).requires_grad_()
                             for o in outputs)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)

    def first_derivatives(*args):
        xs, gs = args[:n], args[n:]
        outs = [o for o in _outputs(func, xs)]
        found = grad(outs, [xs[i] for i in wrt], gs, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else xs[i]._wrap(np.zeros_like(xs[i]._data)) for g, i in zip(found, wrt))

    return gradcheck(first_derivatives, (*inputs, *grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


def _outputs(func, inputs) -> tuple:
    out = _as_tuple(func(*inputs))
    for i, o in enumerate(out):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: output {i} of the function is a {type(o).__name__}, expected a Tensor")
    return out


def _as_real(values: np.ndarray) -> np.ndarray:
    """A flat real vector: complex values count as (real parts, imaginary parts)."""
    flat = np.asarray(values, dtype=np.complex128 if np.iscomplexobj(values) else np.float64).reshape(-1)
    return np.concatenate([flat.real, flat.imag]) if np.iscomplexobj(flat) else flat


def _numerical_jacobian(func, inputs, wrt, eps) -> list[np.ndarray]:
    """Per input: (input parts, output parts) central differences."""
    jacobians = []
    for i in wrt:
        data = inputs[i]._data
        steps = (eps, eps * 1j) if np.iscomplexobj(data) else (eps,)
        rows = []
        for step in steps:
            for index in np.ndindex(data.shape):
                old = data[index]
                data[index] = old + step
                plus = np.concatenate([_as_real(o._data) for o in _outputs(func, inputs)])
                data[index] = old - step
                minus = np.concatenate([_as_real(o._data) for o in _outputs(func, inputs)])
                data[index] = old
                rows.append((plus - minus) / (2 * eps))
        jacobians.append(np.array(rows).reshape(len(rows), -1))
    return jacobians


def _analytical_jacobian(outputs, wrt) -> list[np.ndarray]:
    """Per input: (input parts, output parts) from one backward per output part."""
    columns = [[] for _ in wrt]
    for k, out in enumerate(outputs):
        directions = (1.0, 1j) if np.iscomplexobj(out._data) else (1.0,)
        for direction in directions:
            for index in np.ndindex(out._data.shape):
                grads_out = [o._wrap(np.zeros_like(o._data)) for o in outputs]
                grads_out[k]._data[index] = direction
                found = grad(outputs, wrt, grads_out, retain_graph=True, allow_unused=True) \
                    if out.requires_grad else (None,) * len(wrt)
                for c, (x, g) in enumerate(zip(wrt, found)):
                    values = np.zeros_like(x._data) if g is None else g._data
                    columns[c].append(_as_real(values))
    return [np.array(col).T.reshape(-1, len(col)) if col else np.zeros((_as_real(x._data).size, 0))
            for x, col in zip(wrt, columns)]
