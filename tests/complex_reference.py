"""Helpers for tests of complex tensors and their gradients.

torch's convention for a real loss ``L`` of a complex ``z``: the gradient is ``dL/dRe(z) + i dL/dIm(z)``.
For ``L = Re(sum(conj(w) * y))`` the gradient reaching ``y`` is exactly ``w``, so ``y.backward(w)``
gives every input's gradient of that ``L``, which :func:`compare_with_torch` compares with torch's.
"""

import numpy as np
import torch

import cogtensor as ct

from cogtensor.autograd import gradcheck, gradgradcheck


def random_array(rng, shape, kind="c", dtype=None):
    """Standard normal values: complex (``kind="c"``) or real, float64/complex128 unless ``dtype``."""
    a = rng.standard_normal(shape)
    if kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return np.asarray(a if dtype is None else a.astype(dtype))


def numpy_of(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().resolve_conj().numpy(force=True)  # force: torch's ZeroTensor gradients
    return t.numpy()


def assert_same(ours, theirs, rtol=1e-9, atol=1e-10, what=""):
    """Same dtype, shape and values (NaN where torch has NaN)."""
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (what, ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape), (what, ours.shape, theirs.shape)
    np.testing.assert_allclose(numpy_of(ours), numpy_of(theirs), rtol=rtol, atol=atol, equal_nan=True, err_msg=what)


def leaves(arrays):
    """(cogtensor tensors, torch tensors) over copies of ``arrays``; inexact ones require grad."""
    ours, theirs = [], []
    for a in arrays:
        a = np.asarray(a)
        x, t = ct.from_numpy(a.copy()), torch.from_numpy(a.copy())
        if a.dtype.kind in "fc":
            x.requires_grad_(), t.requires_grad_()
        ours.append(x)
        theirs.append(t)
    return ours, theirs


def upstream(rng, want: torch.Tensor) -> np.ndarray:
    """A random gradient for an output like ``want`` (complex for a complex output)."""
    w = random_array(rng, tuple(want.shape), "c" if want.is_complex() else "f")
    return w.astype(numpy_of(want).dtype)


def compare_with_torch(ours_fn, torch_fn, *arrays, seed=0, rtol=1e-9, atol=1e-10, prepare=None):
    """Run both functions on the same arrays: the same output, and the same gradient for every
    inexact input after backward from one random (complex where the output is) upstream gradient.

    ``prepare(tensor)`` (e.g. a transpose) turns each leaf into the function's input, to test
    non-contiguous inputs while the gradients still land on the leaves."""
    ours, theirs = leaves(arrays)
    prep = prepare or (lambda t: t)
    out, want = ours_fn(*map(prep, ours)), torch_fn(*map(prep, theirs))
    assert_same(out, want, rtol, atol, "forward")
    if not want.requires_grad:
        return
    w = upstream(np.random.default_rng(seed), want)
    out.backward(ct.from_numpy(w))
    want.backward(torch.from_numpy(w))
    for i, (x, t) in enumerate(zip(ours, theirs)):
        if t.requires_grad:
            assert x.grad is not None, f"input {i}: torch has a gradient, we have none"
            assert_same(x.grad, t.grad, rtol, atol, f"gradient of input {i}")


def hvp_with_torch(ours_fn, torch_fn, *arrays, seed=0, rtol=1e-9, atol=1e-10):
    """Hessian-vector products of the real loss ``Re(sum(conj(w) * f(x)))`` (double backward)
    against torch's, for random ``w`` and ``v`` (complex where the tensors are)."""
    rng = np.random.default_rng(seed)
    ours, theirs = leaves(arrays)
    out, want = ours_fn(*ours), torch_fn(*theirs)
    w = upstream(rng, want)
    their_grads = torch.autograd.grad(want, theirs, torch.from_numpy(w), create_graph=True)
    for x in ours:
        x.grad = None
    out.backward(ct.from_numpy(w), create_graph=True)
    our_grads = [x.grad for x in ours]
    vs = [upstream(rng, t) for t in theirs]
    their_dot = sum(((h * torch.from_numpy(v).conj()).real if h.is_complex() else h * torch.from_numpy(v)).sum()
                    for h, v in zip(their_grads, vs))
    our_dot = None
    for g, v in zip(our_grads, vs):
        term = g * ct.from_numpy(v).conj()
        term = (term.real if term.dtype.is_complex else term).sum()
        our_dot = term if our_dot is None else our_dot + term
    their_hv = torch.autograd.grad(their_dot, theirs)
    for x in ours:
        x.grad = None
    our_dot.backward()
    for i, (x, h) in enumerate(zip(ours, their_hv)):
        assert_same(x.grad, h, rtol, atol, f"Hessian-vector product for input {i}")


def numerical_gradcheck(fn, *arrays, eps=1e-6, rtol=1e-5, atol=1e-7):
    """``cogtensor.autograd.gradcheck`` at float64/complex128 copies of ``arrays`` (it perturbs real
    and imaginary parts apart, and counts complex outputs as both parts)."""
    inputs = [ct.from_numpy(np.array(a)).requires_grad_() for a in arrays]
    assert gradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)


def numerical_gradgradcheck(fn, *arrays, eps=1e-6, rtol=1e-5, atol=1e-7):
    """``cogtensor.autograd.gradgradcheck``: second derivatives against finite differences."""
    inputs = [ct.from_numpy(np.array(a)).requires_grad_() for a in arrays]
    assert gradgradcheck(fn, inputs, eps=eps, atol=atol, rtol=rtol)
