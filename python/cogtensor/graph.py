"""The autograd graph: grad modes, graph nodes, and the backward engine.

Ops record their backward with :func:`attach`; the graph lives in the nodes' edges
(``node.edges[i]`` is the ``(node, output_nr)`` that produced input ``i``), never in a
global registry. A leaf tensor that requires grad holds an :class:`AccumulateGrad` node
that writes ``.grad``. :func:`run_backward` sorts the reachable graph without recursion
(deep graphs are fine) and runs each node once all its consumers have passed it their
gradients.

Backward functions are written with tensor ops, so with ``create_graph=True`` they are
recorded too and gradients can be differentiated again. Gradients of broadcast inputs
are summed back to the input's shape and cast to its dtype here, once, not in every op.

This module knows tensors only by duck typing (``_data``, ``_node``, ``_vc``): it sits
below the ops, which import it.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

from cogtensor import dtypes

__all__ = [
    "no_grad", "enable_grad", "set_grad_enabled", "inference_mode", "is_grad_enabled",
    "is_inference_mode_enabled", "Node", "AccumulateGrad", "attach", "requires_grad", "run_backward",
]


# ---------------------------------------------------------------- grad modes
class _Modes(threading.local):
    enabled = True
    inference = False


_modes = _Modes()


def is_grad_enabled() -> bool:
    """Whether ops record the graph on this thread (``torch.is_grad_enabled``)."""
    return _modes.enabled


def is_inference_mode_enabled() -> bool:
    return _modes.inference


class _Mode:
    """A grad-mode switch usable as a context manager and as a decorator (as torch's)."""

    def __init__(self, enabled: bool, inference: bool | None = None):
        self._enabled, self._inference = enabled, inference

    def __enter__(self):
        self._prev = (_modes.enabled, _modes.inference)
        _modes.enabled = self._enabled
        if self._inference is not None:
            _modes.inference = self._inference
        return self

    def __exit__(self, *exc):
        _modes.enabled, _modes.inference = self._prev
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)(*self._args()):
                return fn(*args, **kwargs)
        return wrapper

    def _args(self):
        return (self._enabled, self._inference)


class no_grad(_Mode):  # noqa: N801 - torch's name
    """Ops inside record no graph: results do not require grad (``torch.no_grad``)."""

    def __init__(self):
        super().__init__(False)

    def _args(self):
        return ()


class enable_grad(_Mode):  # noqa: N801
    """Turn recording back on inside a ``no_grad`` block (``torch.enable_grad``)."""

    def __init__(self):
        super().__init__(True)

    def _args(self):
        return ()


class set_grad_enabled(_Mode):  # noqa: N801
    """Turn recording on or off (``torch.set_grad_enabled(mode)``); takes effect at once,
    as torch's, and is undone at the end of a ``with`` block."""

    def __init__(self, mode: bool):
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled: expected a bool, got {type(mode).__name__}")
        self._prev = (_modes.enabled, _modes.inference)
        super().__init__(mode)
        _modes.enabled = mode

    def __enter__(self):
        return self

    def _args(self):
        return (self._enabled,)


class inference_mode(_Mode):  # noqa: N801
    """``no_grad`` for inference (``torch.inference_mode(mode=True)``): nothing is recorded."""

    def __init__(self, mode: bool = True):
        super().__init__(not mode, mode)

    def _args(self):
        return (self._inference,)


# --------------------------------------------------------------------- nodes
class Node:
    """One recorded op: how to turn the gradient of its output(s) into gradients of its inputs.

    Attributes:
        edges: per input, the ``(node, output_nr)`` that produced it, or None when that
            input needs no gradient (torch's ``next_functions``).
        metas: per input, ``(shape, numpy dtype)``: gradients are summed to that shape
            and cast to that dtype.
        saved: ``(tensor, version box, version)`` for every tensor the backward reads;
            an in-place change since recording makes backward raise.
        output: the op's output (a tensor without a node) for backwards that read it.
        outputs: ``(shape, numpy dtype)`` per output (gradients of unused outputs are zeros).
    """

    __slots__ = ("name", "fn", "edges", "metas", "saved", "output", "outputs", "pre_hooks", "hooks", "__weakref__")

    def __init__(self, name, fn, edges, metas, saved=(), output=None, outputs=None):
        self.name, self.fn, self.edges, self.metas = name, fn, edges, metas
        self.saved, self.output, self.outputs = saved, output, outputs
        self.pre_hooks = self.hooks = None

    @property
    def next_functions(self):
        return tuple((e[0], e[1]) if e is not None else (None, 0) for e in self.edges)

    def register_hook(self, hook):
        """``hook(grad_inputs, grad_outputs)`` after this node runs (may return new grad_inputs)."""
        self.hooks = (self.hooks or []) + [hook]
        return _Handle(self, "hooks", hook)

    def register_prehook(self, hook):
        """``hook(grad_outputs)`` before this node runs (may return new grad_outputs)."""
        self.pre_hooks = (self.pre_hooks or []) + [(None, hook)]
        return _Handle(self, "pre_hooks", (None, hook))

    def __repr__(self):
        return f"<{self.name} object at {id(self):#x}>"

    def _check_saved(self):
        for t, box, version in self.saved:
            if box[0] != version:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an inplace "
                    f"operation: [{t.dtype.name} tensor of shape {list(t.shape)}], which {self.name} needs, is at "
                    f"version {box[0]}; expected version {version} instead. Hint: replace the in-place op "
                    "(add_, mul_, x[...] = ..., ...) that writes this tensor by its out-of-place form.")

    def _release(self):
        """Free what backward needed (retain_graph=False): the graph cannot run twice."""
        self.fn, self.saved, self.output = None, (), None


class AccumulateGrad(Node):
    """The node of a leaf that requires grad: adds incoming gradients into ``leaf.grad``."""

    __slots__ = ("variable",)

    def __init__(self, leaf):
        super().__init__("AccumulateGrad", None, (), ())
        self.variable = weakref.ref(leaf)  # the leaf owns this node, not the other way round

    def accumulate(self, grad, create_graph: bool, owned: bool) -> None:
        """Add ``grad`` into the leaf's ``.grad``; ``owned``: nothing else refers to ``grad``'s memory."""
        leaf = self.variable()
        if leaf is None:
            return
        current = leaf.grad
        if current is None:
            leaf.grad = grad if create_graph or owned else grad._wrap(np.array(grad._data, copy=True))
        elif create_graph or current._node is not None or not current._data.flags.writeable:
            leaf.grad = current + grad
        else:  # the usual case: add into .grad's own memory (numpy directly: this runs per parameter per step)
            np.add(current._data, grad._data, out=current._data)
            current._bump_version()

    def _release(self):
        pass


class _Handle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, owner, attr, hook):
        self._owner, self._attr, self._hook = weakref.ref(owner), attr, hook

    def remove(self) -> None:
        owner = self._owner()
        hooks = getattr(owner, self._attr, None) if owner is not None else None
        if hooks and self._hook in hooks:
            setattr(owner, self._attr, [h for h in hooks if h is not self._hook] or None)


# ----------------------------------------------------------------- recording
def requires_grad(*xs) -> bool:
    """Whether recording is on and any of ``xs`` is a tensor that requires grad."""
    if not _modes.enabled:
        return False
    return any(getattr(x, "_node", None) is not None for x in xs)


def attach(out, name: str, inputs, backward, saved=(), with_output=False):
    """Record ``out = op(*inputs)`` in the graph; returns ``out``.

    Args:
        out: the op's result, a fresh tensor (a tuple of tensors for a multi-output op).
        name: the node's name, as torch's (``"MulBackward0"``).
        inputs: the op's operands, tensors or not, in the order ``backward`` returns
            gradients for them.
        backward: ``backward(grad)`` (``backward(grad, out)`` with ``with_output``)
            returning one gradient (tensor or None) per input. A multi-output op gets a
            tuple of gradients, zeros for outputs that took no part.
        saved: tensors that ``backward`` reads; changing one in place before backward raises.
        with_output: keep the output for backward (e.g. ``exp``'s gradient is ``grad * out``);
            it is passed as a tensor that carries this node, so double backward sees it.

    Nothing is recorded when grad mode is off, no input requires grad, or the result is
    not floating point (integer and bool results have no gradient).
    """
    if not _modes.enabled:
        return out
    edges = []
    any_grad = False
    for x in inputs:
        node = getattr(x, "_node", None)
        if node is None:
            edges.append(None)
        else:
            any_grad = True
            edges.append((node, x._extra.output_nr if x._extra is not None else 0))
    if not any_grad:
        return out
    outs = out if isinstance(out, tuple) else (out,)
    if not all(_is_float(o) for o in outs):
        return out
    metas = tuple((x._data.shape, x._data.dtype) if e is not None else None for x, e in zip(inputs, edges))
    if with_output:  # detached: the output owns the node, so the node must not own the output
        detached = tuple(o.detach() for o in outs)
        saved = (*saved, *detached)
    keep = tuple((t, t._version_box(), t._version_box()[0]) for t in saved if getattr(t, "_data", None) is not None)
    node = Node(name, backward, tuple(edges), metas, keep)
    if with_output:
        node.output = detached if isinstance(out, tuple) else detached[0]
    if isinstance(out, tuple):
        node.outputs = tuple((o._data.shape, o._data.dtype) for o in outs)
        for i, o in enumerate(outs):
            o._node = node
            if i:
                o._meta().output_nr = i
    else:
        out._node = node
    return out


def _is_float(t) -> bool:
    kind = t._data.dtype.kind
    return kind in "fc" or t._data.dtype.name == "bfloat16"


# -------------------------------------------------------------------- engine
def run_backward(roots, grads, retain_graph: bool, create_graph: bool, inputs=None, allow_unused=False):
    """Propagate ``grads`` (one per root tensor) back through the graph.

    With ``inputs=None`` gradients accumulate into the ``.grad`` of the leaves (and of
    tensors that ``retain_grad()``); otherwise they are returned, one per input, and no
    ``.grad`` changes (``autograd.grad``).
    """
    with _Mode(create_graph):
        start = [(t._node, t._extra.output_nr if t._extra is not None else 0, g) for t, g in zip(roots, grads)]
        for (node, _, _), t in zip(start, roots):
            if node is None:
                raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        targets = None
        if inputs is not None:
            targets = {}
            for i, x in enumerate(inputs):
                if x._node is None:
                    raise RuntimeError(f"grad: input {i} does not require grad")
                targets.setdefault((x._node, x._extra.output_nr if x._extra is not None else 0), []).append(i)
        return _Engine(retain_graph, create_graph, targets, allow_unused, len(inputs or ())).run(start)


class _Engine:
    def __init__(self, retain_graph, create_graph, targets, allow_unused, n_inputs):
        self.retain, self.create, self.targets = retain_graph, create_graph, targets
        self.allow_unused, self.results = allow_unused, [None] * n_inputs
        # gradients that also live elsewhere (the caller's, or passed through a node unchanged), by id, kept
        # alive while the pass runs: a leaf's .grad is never one of them, so in-place changes to .grad stay local
        self.borrowed = {}

    def run(self, start):
        pending = _count_consumers([n for n, _, _ in start])
        buffers = {}
        for node, nr, g in start:
            _add(buffers, node, nr, self._borrow(g))
        ready = [n for n, _, _ in start if pending.get(n, 0) == 0]
        ready = list(dict.fromkeys(ready))
        while ready:
            node = ready.pop()
            for edge, grad in self._run_node(node, buffers.pop(node, {})) or ():
                child = edge[0]
                _add(buffers, child, edge[1], grad)
                pending[child] -= 1
                if pending[child] == 0:
                    ready.append(child)
        if self.targets is not None:
            if not self.allow_unused and any(r is None for r in self.results):
                raise RuntimeError("One of the differentiated Tensors appears to not have been used in the graph. "
                                   "Set allow_unused=True if this is the desired behavior.")
            return tuple(self.results)
        return None

    def _run_node(self, node, grads_by_nr):
        """Run one node; returns [(edge, gradient)] for the inputs that get one."""
        grads = [grads_by_nr.get(0)] if node.outputs is None else self._output_grads(node, grads_by_nr)
        if node.pre_hooks:
            grads = _run_pre_hooks(node, grads)
        if self.targets is not None:
            self._collect(node, grads)
            if type(node) is AccumulateGrad or not node.edges:
                return None
        if type(node) is AccumulateGrad:
            g = grads[0]
            if self.targets is None and g is not None:
                owned = id(g) not in self.borrowed and g._data.base is None and g._data.flags.owndata
                node.accumulate(g, self.create, owned)
            return None
        results = self._call(node, grads)
        passed = [id(g) for g in grads]  # alive during this call: ids are unique
        out = []
        for edge, meta, g in zip(node.edges, node.metas, results):
            if edge is None or g is None:
                continue
            data = g._data
            if data.shape != meta[0] or data.dtype != meta[1]:
                g = _fit(g, meta, node.name)
            if id(g) in passed:  # passed through unchanged, or to two inputs
                g = self._borrow(g)
            passed.append(id(g))
            out.append((edge, g))
        return out

    def _collect(self, node, grads) -> None:
        """autograd.grad: keep the gradients of the requested inputs."""
        for nr, g in enumerate(grads):
            for i in self.targets.get((node, nr), ()):
                self.results[i] = g

    def _call(self, node, grads) -> tuple:
        """The node's backward: one gradient (or None) per input edge."""
        if node.fn is None:
            raise RuntimeError(
                f"Trying to backward through the graph a second time (through {node.name}); the saved tensors "
                "were freed after the first backward. Specify retain_graph=True on the first backward "
                "(or autograd.grad) call if you need to backward twice.")
        if node.saved:
            node._check_saved()
        g = grads[0] if node.outputs is None else grads
        results = node.fn(g) if node.output is None else node.fn(g, _reattach(node, self.create))
        if type(results) is not tuple:
            results = (results,)
        if len(results) != len(node.edges):
            raise RuntimeError(f"{node.name}: backward returned {len(results)} gradients for "
                               f"{len(node.edges)} inputs")
        if node.hooks:
            for hook in node.hooks:
                new = hook(results, tuple(grads))
                if new is not None:
                    results = tuple(new)
        if not self.retain:
            node._release()
        return results

    def _borrow(self, g):
        """``g``, marked as not owned by the engine (held until the pass ends, so its id stays its own)."""
        if not self.create:
            self.borrowed[id(g)] = g
        return g

    def _output_grads(self, node, grads_by_nr):
        if node.outputs is None:
            return [grads_by_nr.get(0)]
        grads = []
        for nr, (shape, dtype) in enumerate(node.outputs):
            g = grads_by_nr.get(nr)
            grads.append(g if g is not None else _zeros_like_meta(grads_by_nr, shape, dtype))
        return grads


def _reattach(node, create_graph):
    """The saved output(s) for a backward; under create_graph they carry the node."""
    outs = node.output if isinstance(node.output, tuple) else (node.output,)
    if create_graph:
        for i, o in enumerate(outs):
            o._node = node
            if i:
                o._meta().output_nr = i
    return node.output


def _zeros_like_meta(grads_by_nr, shape, dtype):
    like = next(iter(grads_by_nr.values()))
    return like._wrap(np.zeros(shape, dtype))


def _run_pre_hooks(node, grads):
    grads = list(grads)
    for nr_filter, hook in node.pre_hooks:
        if nr_filter is None:
            new = hook(tuple(grads))
            if new is not None:
                grads = list(new)
        elif grads[nr_filter] is not None:
            new = hook(grads[nr_filter])
            if new is not None:
                grads[nr_filter] = new
    return grads


def _add(buffers, node, nr, grad):
    slot = buffers.setdefault(node, {})
    prev = slot.get(nr)
    slot[nr] = grad if prev is None else prev + grad


def _count_consumers(roots):
    """How many edges point at each node reachable from ``roots`` (iterative DFS)."""
    pending = {}
    seen = set()
    stack = list(dict.fromkeys(roots))
    for r in stack:
        seen.add(r)
    while stack:
        node = stack.pop()
        for edge in node.edges:
            if edge is None:
                continue
            child = edge[0]
            pending[child] = pending.get(child, 0) + 1
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return pending


def _fit(grad, meta, name):
    """Sum a gradient over the dimensions its input was broadcast along; cast to the input's dtype."""
    shape, dtype = meta
    gshape = grad._data.shape
    if gshape != shape:
        lead = len(gshape) - len(shape)
        if lead < 0:
            raise RuntimeError(f"{name}: gradient of shape {list(gshape)} for an input of shape {list(shape)}")
        dims = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1)
        if not _modes.enabled:  # plain numpy: this runs once per broadcast operand on every backward
            data = grad._data
            acc = np.float32 if data.dtype.itemsize < 4 and data.dtype.kind != "c" else data.dtype
            grad = grad._wrap(np.sum(data, axis=dims, dtype=acc).astype(data.dtype, copy=False).reshape(shape))
        else:
            if dims:
                grad = grad.sum(dim=dims, keepdim=True)
            if lead:
                grad = grad.reshape(shape)
        if grad._data.shape != shape:
            raise RuntimeError(f"{name}: gradient of shape {list(gshape)} for an input of shape {list(shape)}")
    if grad._data.dtype != dtype:
        if grad._data.dtype.kind == "c" and dtype.kind != "c":  # a real input takes the real part
            grad = grad.real
        if grad._data.dtype != dtype:
            grad = grad.to(dtypes.from_numpy_dtype(dtype))
    return grad
