"""Tensor methods of autograd: ``requires_grad``, ``grad``, ``grad_fn``, ``backward``,
``detach``, hooks, and the bookkeeping behind views and in-place ops.

Views share their base's version counter and remember the base and how to redo the
view from it (``replay``), so an in-place op on a view rewrites the base's history too
(torch's ``CopySlices``): ``y = x * 1; y[0].mul_(2)`` then differentiates correctly
through ``y``.
"""

from __future__ import annotations

import weakref

import numpy as np

from cogtensor import graph
from cogtensor.errors import ShapeError


class Extra:
    """Rarely used per-tensor autograd state (kept off the hot path)."""

    __slots__ = ("output_nr", "base", "replay", "retains_grad")

    def __init__(self):
        self.output_nr, self.base, self.replay, self.retains_grad = 0, None, None, False


class AutogradMethods:
    """``requires_grad``, ``grad``, ``backward`` and friends, as torch's."""

    __slots__ = ()

    # ---------------------------------------------------------------- state
    def _meta(self) -> Extra:
        if self._extra is None:
            self._extra = Extra()
        return self._extra

    def _version_box(self) -> list:
        """The version counter, shared by a tensor and its views (created on first use)."""
        if self._vc is None:
            self._vc = [0]
        return self._vc

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's memory has seen (torch's ``_version``)."""
        return 0 if self._vc is None else self._vc[0]

    def _bump_version(self) -> None:
        if self._vc is not None:
            self._vc[0] += 1

    @property
    def requires_grad(self) -> bool:
        """Whether gradients flow to this tensor: set on leaves, inherited by results of ops."""
        return self._node is not None

    @requires_grad.setter
    def requires_grad(self, flag) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True):
        """Make this leaf record gradients (or stop); returns self."""
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad_: expected a bool, got {type(requires_grad).__name__}")
        if not self.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want to use a "
                               "computed variable in a subgraph that doesn't require differentiation use "
                               "var_no_grad = var.detach().")
        if requires_grad and not graph._is_float(self):
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {self.dtype})")
        if requires_grad and self._node is None:
            self._node = graph.AccumulateGrad(self)
        elif not requires_grad:
            self._node = None
        return self

    @property
    def is_leaf(self) -> bool:
        """True for tensors no recorded op produced (user-made, or made under no_grad)."""
        return self._node is None or isinstance(self._node, graph.AccumulateGrad)

    @property
    def grad_fn(self):
        """The node that produced this tensor (None for leaves)."""
        return None if self.is_leaf else self._node

    @property
    def output_nr(self) -> int:
        return 0 if self._extra is None else self._extra.output_nr

    @property
    def grad(self):
        """The accumulated gradient (leaves, and tensors that ``retain_grad()``), or None."""
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None:
            if not isinstance(value, AutogradMethods):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got {type(value).__name__}")
            if value.shape != self.shape:
                raise ShapeError(f"assigned grad has data of shape {list(value.shape)} that does not match the "
                                 f"tensor's shape {list(self.shape)}")
            if value.dtype is not self.dtype:
                raise TypeError(f"assigned grad has dtype {value.dtype} that does not match the tensor's {self.dtype}")
        self._grad = value

    @property
    def retains_grad(self) -> bool:
        return self._extra is not None and self._extra.retains_grad

    # -------------------------------------------------------------- detach
    def detach(self):
        """A tensor over the same memory, out of the graph (shares the version counter)."""
        out = self._wrap(self._data)
        out._vc = self._version_box()
        return out

    def detach_(self):
        """Take this tensor out of the graph in place; returns self."""
        self._node = None
        if self._extra is not None:
            self._extra.output_nr = 0
        return self

    @property
    def data(self):
        """This tensor's memory as a tensor out of the graph (torch's ``.data``: no version sharing)."""
        return self._wrap(self._data)

    @data.setter
    def data(self, value) -> None:
        self._data = value._data

    def __deepcopy__(self, memo):
        """A copy of a leaf with its own memory, ``requires_grad`` and ``.grad`` (torch's rule:
        results of recorded ops cannot be deep-copied)."""
        if not self.is_leaf:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment. If you were attempting to deepcopy a module, this may be "
                               "because of a torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        out = type(self).__new__(type(self))
        out._data, out._node, out._vc, out._grad, out._extra = self._data.copy(), None, None, None, None
        memo[id(self)] = out
        if self._node is not None:
            out.requires_grad_()
        if self._grad is not None:
            out._grad = self._grad.__deepcopy__(memo)
        return out

    def __reduce__(self):
        """Pickle a leaf's values and ``requires_grad`` (the graph does not travel)."""
        if not self.is_leaf:
            raise RuntimeError("Can't pickle a tensor that is not a graph leaf; detach() it first")
        return _rebuild, (type(self), self._data, self._node is not None)

    # -------------------------------------------------------------- hooks
    def register_hook(self, hook):
        """``hook(grad)`` runs when this tensor's gradient is computed; it may return a
        replacement. Returns a handle with ``remove()``."""
        if self._node is None:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        node, entry = self._node, (self.output_nr, hook)
        node.pre_hooks = (node.pre_hooks or []) + [entry]
        return graph._Handle(node, "pre_hooks", entry)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after backward (leaves always keep it)."""
        if self._node is None:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.is_leaf or self.retains_grad:
            return
        self._meta().retains_grad = True
        ref = weakref.ref(self)

        def keep(grad):
            t = ref()
            if t is not None:
                g = grad if graph.is_grad_enabled() else grad.detach()
                t._grad = g.clone() if t._grad is None else t._grad + g
        self.register_hook(keep)

    # ------------------------------------------------------------ backward
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` (torch's ``Tensor.backward``).

        Args:
            gradient: d(loss)/d(self), self's shape; may be omitted for a one-element tensor.
            retain_graph: keep the graph for another backward (default: ``create_graph``).
            create_graph: record the backward pass so gradients can be differentiated again.
            inputs: accumulate only into these tensors' ``.grad``.
        """
        backward_into((self,), (gradient,), retain_graph, create_graph, inputs)


def _rebuild(cls, data, requires_grad):
    out = cls.__new__(cls)
    out._data, out._node, out._vc, out._grad, out._extra = data, None, None, None, None
    return out.requires_grad_() if requires_grad else out


def default_gradient(t, g):
    """The gradient to start from at ``t``: ``g`` checked, or ones for a one-element output."""
    if g is None:
        if t._data.size != 1:
            raise RuntimeError("grad can be implicitly created only for scalar outputs")
        if t._data.dtype.kind == "c":
            raise RuntimeError("grad can be implicitly created only for real scalar outputs")
        return t._wrap(np.ones(t._data.shape, t._data.dtype))
    if not isinstance(g, AutogradMethods):
        g = t._wrap(np.asarray(g, dtype=t._data.dtype))
    if g.shape != t.shape:
        raise ShapeError(f"backward: gradient of shape {list(g.shape)} for an output of shape {list(t.shape)}")
    return g


def backward_into(tensors, gradients, retain_graph, create_graph, inputs=None) -> None:
    """``autograd.backward``: run the engine, accumulating into ``.grad``."""
    grads = [default_gradient(t, g) for t, g in zip(tensors, gradients)]
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        graph.run_backward(tensors, grads, retain_graph, create_graph)
        return
    inputs = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,)
    if not inputs:
        raise RuntimeError("backward: 'inputs' argument to backward() cannot be empty")
    found = graph.run_backward(tensors, grads, retain_graph, create_graph, inputs=inputs, allow_unused=True)
    for x, g in zip(inputs, found):
        if g is not None:
            x._grad = (g if create_graph else g.detach().clone()) if x._grad is None else x._grad + g


# --------------------------------------------------------- views, in place
def view_result(base, array, name, backward, replay):
    """``array`` (a view of ``base``'s memory) as a tensor in the graph.

    ``backward(grad)`` maps the view's gradient to the base's; ``replay(t)`` redoes
    the view on any tensor of the base's shape (what an in-place op on the view needs).
    """
    out = base._wrap(array)
    if not np.may_share_memory(array, base._data):  # reshape of a non-contiguous tensor copied
        return graph.attach(out, name, (base,), backward)
    out._vc = base._version_box()
    extra = out._meta()
    if base._extra is not None and base._extra.base is not None:
        root, first = base._extra.base, base._extra.replay
        extra.base, extra.replay = root, lambda t: replay(first(t))
    else:
        extra.base, extra.replay = base, replay
    return graph.attach(out, name, (base,), backward)


def snapshot(t):
    """``t``'s values in fresh memory with ``t``'s place in the graph: what an in-place op
    computes from, so the backward of its result never reads the overwritten memory."""
    snap = graph_alias(t)
    snap._data = t._data.copy()
    return snap


def commit_in_place(op: str, t, result) -> None:
    """Make ``result`` (computed out of place) ``t``'s new value and new history.

    The memory is written here; ``t``'s version goes up, so any recorded backward that
    read the old values raises. Raises RuntimeError for an in-place op on a leaf that
    requires grad (while recording), as torch.
    """
    records = graph.is_grad_enabled() and (t._node is not None or result._node is not None)
    base = t._extra.base if t._extra is not None else None
    if records:
        if t._node is not None and t.is_leaf:
            raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place operation.")
        if base is not None and base._node is not None and base.is_leaf:
            raise RuntimeError(f"{op}: a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
    np.copyto(t._data, result._data, casting="unsafe")
    t._bump_version()
    if not records:
        return
    if base is None:
        _take_history(t, result)
        return
    replay = t._extra.replay
    new_base = graph.attach(base._wrap(base._data), "CopySlices", (graph_alias(base), result),
                            lambda g: (g * _outside(g, replay), replay(g)))
    base._node = new_base._node
    _take_history(t, replay(graph_alias(base)))


def graph_alias(t):
    """A tensor over ``t``'s memory standing for ``t``'s place in the graph."""
    alias = t._wrap(t._data)
    alias._node = t._node
    if t._extra is not None and t._extra.output_nr:
        alias._meta().output_nr = t._extra.output_nr
    return alias


def _take_history(t, result) -> None:
    t._node = result._node
    nr = result._extra.output_nr if result._extra is not None else 0
    if nr or t._extra is not None:
        t._meta().output_nr = nr


def _outside(g, replay):
    """A constant mask of ``g``'s shape: 0 where ``replay`` selects, 1 elsewhere."""
    mask = g._wrap(np.ones(g._data.shape, g._data.dtype))
    with graph.no_grad():
        replay(mask)._data[...] = 0
    return mask
