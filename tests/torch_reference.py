"""Shared helpers for differential tests against PyTorch: convert, run both sides, compare."""

import warnings

import ml_dtypes
import numpy as np
import pytest
import torch

import cogtensor as ct

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.fixture(autouse=True, scope="module")
def torch_single_thread():
    """torch's thread pool costs milliseconds per tiny op on a busy machine; one thread keeps tests fast.
    (Autouse in every module that imports it.)"""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def torch_of(a: np.ndarray) -> torch.Tensor:
    """A torch tensor with a numpy array's values (bfloat16 through float32, which is exact)."""
    if a.dtype == BF16:
        return torch.from_numpy(np.array(a, dtype=np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.array(a))


def assert_matches(ours, theirs, tol):
    """Same type of result, dtype, shape and values (NaN where torch has NaN).

    ``tol`` is ``(rtol, atol)`` or a dict of them by torch dtype (exact when absent).
    """
    if isinstance(theirs, tuple):  # torch.return_types.max / min
        assert type(ours).__name__ == type(theirs).__name__ and ours._fields == ("values", "indices")
        assert_matches(ours.values, theirs.values, tol)
        assert_matches(ours.indices, theirs.indices, tol)
        return
    assert isinstance(ours, ct.Tensor), type(ours)
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    assert tuple(ours.shape) == tuple(theirs.shape), (ours.shape, theirs.shape)
    rtol, atol = tol if isinstance(tol, tuple) else tol.get(theirs.dtype, (0, 0))
    torch.testing.assert_close(torch_of(ours.numpy()), theirs, rtol=rtol, atol=atol, equal_nan=True)


def outcome(fn, *args):
    """fn(*args) -> (result or the exception raised, the warnings it gave)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = fn(*args)
        except Exception as e:  # noqa: BLE001 - compared with torch's by the caller
            out = e
    return out, [str(w.message)[:80] for w in caught]


def differential(fn, ours_module, torch_module, array: np.ndarray, tol):
    """fn(module, tensor) on cogtensor and on torch: the same result, or the same kind of error, and
    a warning from both or neither."""
    theirs, torch_warned = outcome(fn, torch_module, torch_of(array))
    ours, we_warned = outcome(fn, ours_module, ct.from_numpy(array))
    context = f"{getattr(fn, '__name__', fn)} on {array.dtype}{list(array.shape)}"
    if isinstance(theirs, Exception):
        assert isinstance(ours, type(theirs)), f"{context}: torch raised {theirs!r}, we gave {ours!r}"
        return
    assert not isinstance(ours, Exception), f"{context}: torch gave a result, we raised {ours!r}"
    assert bool(we_warned) == bool(torch_warned), f"{context}: torch warned {torch_warned}, we warned {we_warned}"
    assert_matches(ours, theirs, tol)
