"""Helpers for differential tests of layers against torch.nn: build twin modules with the same
weights (torch's state_dict loaded into ours), run both on the same inputs, and compare the
outputs, the input gradients and every parameter gradient; float64 gradchecks of functional forms."""

import numpy as np
import torch

import cogtensor as ct
from cogtensor import autograd

# (rtol, atol as a fraction of the reference's largest magnitude)
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
CT_DTYPE = {np.dtype(np.float32): ct.float32, np.dtype(np.float64): ct.float64}


def close(ours, theirs, what="", rtol=None):
    """Same shape and values: |ours - theirs| <= rtol * (|theirs| + max|theirs|)."""
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = ours.detach().numpy() if hasattr(ours, "detach") else np.asarray(ours)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    assert ours.dtype == theirs.dtype, (what, ours.dtype, theirs.dtype)
    rtol = TOL.get(theirs.dtype, 1e-5) if rtol is None else rtol
    finite = theirs[np.isfinite(theirs)]
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=what)


def load_torch_state(ours, theirs):
    """Load the torch module's state_dict into ours (strict: keys and shapes must match)."""
    state = {k: ct.from_numpy(v.detach().numpy().copy()) for k, v in theirs.state_dict().items()}
    result = ours.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys, result
    return ours


def twins(ours_cls, torch_cls, *args, dtype=np.float64, **kwargs):
    """(ours, theirs): the same layer built in both libraries, in ``dtype``, with torch's weights."""
    theirs = torch_cls(*args, **kwargs).to(TORCH_DTYPE[np.dtype(dtype)])
    ours = ours_cls(*args, **kwargs).to(CT_DTYPE[np.dtype(dtype)])
    assert list(ours.state_dict()) == list(theirs.state_dict()), (list(ours.state_dict()), list(theirs.state_dict()))
    for (name, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert tuple(a.shape) == tuple(b.shape), (name, a.shape, b.shape)
    return load_torch_state(ours, theirs), theirs


def leaves(arrays):
    """(our tensors, torch tensors) over copies of ``arrays``; floating ones require grad."""
    ours, theirs = [], []
    for a in arrays:
        if a is None:
            ours.append(None)
            theirs.append(None)
            continue
        a = np.asarray(a)
        x, t = ct.from_numpy(a.copy()), torch.from_numpy(a.copy())
        if a.dtype.kind == "f":
            x.requires_grad_()
            t.requires_grad_()
        ours.append(x)
        theirs.append(t)
    return ours, theirs


def _outputs(out):
    return [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]


def run_both(ours, theirs, *arrays, call=None, seed=0, rtol=None, **kwargs):
    """Call both modules on the same inputs; compare outputs, then backward from one random
    upstream gradient per floating output and compare input and parameter gradients.

    Returns (our outputs, torch outputs, our inputs, torch inputs)."""
    call = call or (lambda module, *xs: module(*xs, **kwargs))
    xs, ts = leaves(arrays)
    out, want = _outputs(call(ours, *xs)), _outputs(call(theirs, *ts))
    assert len(out) == len(want)
    for i, (o, w) in enumerate(zip(out, want)):
        close(o, w, f"output {i}", rtol)
    rng = np.random.default_rng(seed)
    pairs = [(o, w) for o, w in zip(out, want) if w.requires_grad]
    if pairs:
        ups = [rng.standard_normal(tuple(w.shape)).astype(w.detach().numpy().dtype) for _, w in pairs]
        ct.autograd.backward([o for o, _ in pairs], [ct.from_numpy(u) for u in ups])
        torch.autograd.backward([w for _, w in pairs], [torch.from_numpy(u) for u in ups])
        for i, (x, t) in enumerate(zip(xs, ts)):
            if t is not None and t.requires_grad and t.grad is None:  # unused by torch's graph
                assert x.grad is None or not np.any(x.grad.numpy()), f"gradient of input {i}"
            elif t is not None and t.requires_grad:
                close(x.grad, t.grad, f"gradient of input {i}", rtol)
        compare_parameter_grads(ours, theirs, rtol)
    return out, want, xs, ts


def compare_parameter_grads(ours, theirs, rtol=None):
    mine = dict(ours.named_parameters())
    for name, p in theirs.named_parameters():
        if p.grad is None:
            assert mine[name].grad is None or not np.any(mine[name].grad.numpy()), name
        else:
            close(mine[name].grad, p.grad, f"gradient of {name}", rtol)


def compare_state(ours, theirs):
    """Same state_dict keys and values (parameters and buffers, e.g. running statistics)."""
    mine = ours.state_dict()
    want = theirs.state_dict()
    assert list(mine) == list(want)
    for name in want:
        close(mine[name], want[name], name)


def gradcheck(fn, *arrays, **kwargs):
    """cogtensor.autograd.gradcheck of ``fn`` on float64 copies of ``arrays`` (all require grad)."""
    xs = tuple(ct.from_numpy(np.array(a, dtype=np.float64)).requires_grad_() for a in arrays)
    assert autograd.gradcheck(fn, xs, **kwargs)


def gradgradcheck(fn, *arrays, **kwargs):
    xs = tuple(ct.from_numpy(np.array(a, dtype=np.float64)).requires_grad_() for a in arrays)
    assert autograd.gradgradcheck(fn, xs, **kwargs)
