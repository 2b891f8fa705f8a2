"""Activation checkpointing: trade compute for memory (``torch.utils.checkpoint``).

``checkpoint(fn, *args)`` runs ``fn`` without recording its inner graph, keeping only
the inputs; backward runs ``fn`` again (with the random state it had) to rebuild the
graph and differentiate through it.
"""

from __future__ import annotations

from cogtensor import autograd, random
from cogtensor.graph import enable_grad
from cogtensor.tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Checkpoint(autograd.Function):
    @staticmethod
    def forward(ctx, run, preserve_rng_state, *args):
        ctx.run = run
        ctx.rng_state = random.default_generator.get_state() if preserve_rng_state else None
        ctx.args = args
        ctx.save_for_backward(*(a for a in args if isinstance(a, Tensor)))
        return run(*args)

    @staticmethod
    def backward(ctx, *grads):
        inputs = [a.detach().requires_grad_(a.requires_grad) if isinstance(a, Tensor) else a for a in ctx.args]
        if ctx.rng_state is not None:
            current = random.default_generator.get_state()
            random.default_generator.set_state(ctx.rng_state)
        try:
            with enable_grad():
                outputs = ctx.run(*inputs)
        finally:
            if ctx.rng_state is not None:
                random.default_generator.set_state(current)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        pairs = [(o, g) for o, g in zip(outputs, grads) if isinstance(o, Tensor) and o.requires_grad]
        if pairs:
            autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        return (None, None, *(x.grad if isinstance(x, Tensor) else None for x in inputs))


def checkpoint(function, *args, use_reentrant=None, preserve_rng_state=True, **kwargs):
    """``function(*args)``, its intermediate results recomputed in backward instead of kept.

    Parameters used inside ``function`` get their gradients as without checkpointing.
    ``use_reentrant`` is accepted for torch compatibility (both modes behave the same here).

    Example:
        >>> y = checkpoint(lambda x: x.sin().exp(), x)
    """
    if kwargs:
        raise ValueError(f"checkpoint: unexpected keyword arguments {sorted(kwargs)}")
    return _Checkpoint.apply(function, preserve_rng_state, *args)


def checkpoint_sequential(functions, segments: int, input, use_reentrant=None, preserve_rng_state=True):
    """Run ``functions`` (a list or a sequential container) in ``segments`` checkpointed chunks."""
    functions = list(functions.children()) if hasattr(functions, "children") else list(functions)
    if not 1 <= segments <= max(len(functions), 1):
        raise ValueError(f"checkpoint_sequential: segments must be in [1, {len(functions)}], got {segments}")
    size = -(-len(functions) // segments)

    def run(chunk):
        def forward(x):
            for f in chunk:
                x = f(x)
            return x
        return forward

    for start in range(0, len(functions), size):
        chunk = functions[start:start + size]
        input = checkpoint(run(chunk), input, preserve_rng_state=preserve_rng_state) \
            if start + size < len(functions) else run(chunk)(input)
    return input
