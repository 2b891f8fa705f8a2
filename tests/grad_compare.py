"""Helpers for gradient tests: run one function on cogtensor and on torch from the same float64
arrays and compare values, first-order gradients and Hessian-vector products; float64
finite-difference checks through ``cogtensor.autograd.gradcheck`` / ``gradgradcheck``."""

import numpy as np
import torch

import cogtensor as ct
from cogtensor import autograd

TOL = {"rtol": 1e-9, "atol": 1e-10}


def leaves(arrays, grad=True):
    """(cogtensor leaves, torch leaves) over copies of ``arrays`` (floating arrays require grad)."""
    ours, theirs = [], []
    for a in arrays:
        a = np.asarray(a)
        x, t = ct.from_numpy(a.copy()), torch.from_numpy(a.copy())
        if grad and a.dtype.kind == "f":
            x.requires_grad_(), t.requires_grad_()
        ours.append(x)
        theirs.append(t)
    return ours, theirs


def numpy_of(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def assert_close(ours, theirs, what=""):
    if theirs is None:
        assert ours is None or not np.any(ours.numpy()), f"{what}: torch has no gradient, we gave {ours}"
        return
    assert ours is not None, f"{what}: torch has a gradient, we gave None"
    assert tuple(ours.shape) == tuple(theirs.shape), (what, ours.shape, theirs.shape)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (what, ours.dtype, theirs.dtype)
    np.testing.assert_allclose(numpy_of(ours), numpy_of(theirs), equal_nan=True, err_msg=what, **TOL)


def compare_grads(fn, *arrays, seed=0, grad=True):
    """``fn(module, *tensors)`` on both libraries: same output, and the same gradient for every
    floating input after backward from one random upstream gradient. Returns our leaves."""
    ours, theirs = leaves(arrays, grad)
    out, want = fn(ct, *ours), fn(torch, *theirs)
    assert_close(out, want, "forward")
    upstream = np.random.default_rng(seed).standard_normal(tuple(want.shape))
    out.backward(ct.from_numpy(upstream.astype(numpy_of(want).dtype)))
    want.backward(torch.from_numpy(upstream.astype(numpy_of(want).dtype)))
    for i, (x, t) in enumerate(zip(ours, theirs)):
        if t.requires_grad:
            assert_close(x.grad, t.grad, f"gradient of input {i}")
    return ours


def hvp_matches(fn, *arrays, seed=0):
    """The Hessian-vector product of ``sum(w * fn(x...))`` (double backward, ``create_graph=True``)
    against torch's, for random ``w`` and ``v``; the first-order gradients must match too."""
    rng = np.random.default_rng(seed)
    ours, theirs = leaves(arrays)
    out, want = fn(ct, *ours), fn(torch, *theirs)
    ours, theirs = [x for x in ours if x.requires_grad], [t for t in theirs if t.requires_grad]
    w = rng.standard_normal(tuple(want.shape))
    vs = [rng.standard_normal(tuple(t.shape)) for t in theirs]
    their_grads = torch.autograd.grad((want * torch.from_numpy(w)).sum(), theirs, create_graph=True,
                                      allow_unused=True)
    our_grads = grads_of((out * ct.from_numpy(w)).sum(), ours, create_graph=True)
    for i, (g, h) in enumerate(zip(our_grads, their_grads)):
        assert_close(g, h, f"gradient of input {i}")
    their_dot = sum((h * torch.from_numpy(v)).sum() for h, v in zip(their_grads, vs) if h is not None)
    our_dot = sum((g * ct.from_numpy(v)).sum() for g, v in zip(our_grads, vs) if g is not None)
    if not getattr(their_dot, "requires_grad", False):  # linear in the inputs: a zero Hessian
        if getattr(our_dot, "requires_grad", False):
            for g in grads_of(our_dot, ours, create_graph=False):
                assert g is None or not np.any(g.numpy()), "a nonzero Hessian where torch's is zero"
        return
    their_hv = torch.autograd.grad(their_dot, theirs, allow_unused=True)
    our_hv = grads_of(our_dot, ours, create_graph=False)
    for i, (g, h) in enumerate(zip(our_hv, their_hv)):
        assert_close(g, h, f"Hessian-vector product for input {i}")


def grads_of(y, xs, create_graph, retain_graph=None):
    """d y / d x for each leaf in ``xs`` (None where y does not depend on it)."""
    return autograd.grad(y, xs, retain_graph=retain_graph, create_graph=create_graph, allow_unused=True)


def gradcheck(fn, *arrays, eps=1e-6, atol=1e-5, rtol=1e-3, second_order=False):
    """Finite differences agree with backward (and, with ``second_order``, with double backward)
    for ``fn`` (cogtensor tensors in, one tensor out) at float64 ``arrays``."""
    inputs = tuple(ct.from_numpy(np.array(a, dtype=np.float64)).requires_grad_() for a in arrays)
    assert autograd.gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
    if second_order:
        assert autograd.gradgradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
