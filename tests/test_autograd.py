"""The autograd engine and its API: accumulation, grad modes, hooks, retain_grad,
in-place safety, autograd.grad, Function, checkpoint, deep graphs and memory."""

import gc
import threading
import tracemalloc
import weakref

import numpy as np
import pytest
import torch
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
from cogtensor.autograd import Function, GradcheckError, grad, gradcheck, gradgradcheck
from cogtensor.utils.checkpoint import checkpoint, checkpoint_sequential

RNG = np.random.default_rng(11)


def leaf(*shape, dtype=ct.float64):
    return ct.tensor(RNG.standard_normal(shape)).to(dtype).requires_grad_()


# -------------------------------------------------------------- basics
def test_leaf_and_non_leaf_state():
    x = leaf(3)
    y = x * 2
    assert x.is_leaf and x.requires_grad and x.grad_fn is None
    assert not y.is_leaf and y.requires_grad and y.grad_fn.name == "MulBackward0"
    assert y.grad_fn.next_functions[0][0].name == "AccumulateGrad"
    z = ct.tensor([1.0, 2.0])
    assert not z.requires_grad and z.is_leaf and (z * 2).grad_fn is None


def test_gradients_accumulate_across_backward_calls():
    x = leaf(4)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + 2 * x.detach().numpy())


def test_backward_twice_needs_retain_graph():
    x = leaf(3)
    y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*ExpBackward0|SumBackward1"):
        y.backward()


def test_non_scalar_backward_needs_a_gradient():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(ct.tensor([1.0, 2.0, 3.0], dtype=ct.float64))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_tensor_that_does_not_require_grad_refuses_backward():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ct.tensor([1.0]).sum().backward()


def test_only_floating_tensors_can_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        ct.tensor([1, 2]).requires_grad_()
    with pytest.raises(RuntimeError, match="leaf variables"):
        (leaf(2) * 2).requires_grad_(False)


def test_broadcast_gradients_are_summed_and_cast_to_the_input_dtype():
    a = leaf(3, 1, dtype=ct.float32)
    b = leaf(4, dtype=ct.float64)
    (a * b).sum().backward()
    assert a.grad.dtype is ct.float32 and a.grad.shape == (3, 1)
    np.testing.assert_allclose(a.grad.numpy()[:, 0], np.full(3, b.detach().numpy().sum()), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), np.full(4, a.detach().numpy().astype(np.float64).sum()), rtol=1e-6)


def test_a_gradient_shared_by_two_leaves_is_not_aliased():
    a, b = leaf(3), leaf(3)
    (a + b).sum().backward()
    a.grad.mul_(10)
    np.testing.assert_allclose(b.grad.numpy(), np.ones(3))


def test_deep_graph_needs_no_recursion():
    x = leaf(1)
    y = x
    for _ in range(20000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 20000], rtol=1e-9)


def test_diamond_graph_matches_torch():
    def f(lib, x):
        a = x.sin()
        b = a * a
        c = a.exp() + b
        return (c * b).sum()

    x = RNG.standard_normal(5)
    ours, theirs = ct.tensor(x).requires_grad_(), torch.tensor(x, requires_grad=True)
    f(ct, ours).backward()
    f(torch, theirs).backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


# ------------------------------------------------------------ grad modes
def test_grad_modes():
    x = leaf(2)
    with ct.no_grad():
        assert not (x * 2).requires_grad and not ct.is_grad_enabled()
        with ct.enable_grad():
            assert (x * 2).requires_grad
    with ct.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert ct.is_grad_enabled()
    ct.set_grad_enabled(False)
    assert not ct.is_grad_enabled()
    ct.set_grad_enabled(True)
    with ct.inference_mode():
        assert ct.is_inference_mode_enabled() and not (x * 2).requires_grad
    assert not ct.is_inference_mode_enabled()


def test_grad_mode_decorator_and_threads():
    @ct.no_grad()
    def f(t):
        return t * 2

    x = leaf(2)
    assert not f(x).requires_grad
    seen = []
    with ct.no_grad():  # thread-local: a new thread starts with recording on
        thread = threading.Thread(target=lambda: seen.append(ct.is_grad_enabled()))
        thread.start()
        thread.join()
    assert seen == [True]


def test_detach_shares_memory_and_stops_gradients():
    x = leaf(3)
    d = x.detach()
    assert not d.requires_grad and np.shares_memory(d.numpy(), x.numpy())
    (x * d).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), d.numpy())


# ---------------------------------------------------------- hooks, retain
def test_tensor_hooks_can_replace_the_gradient_and_be_removed():
    x = leaf(3)
    y = x * 2
    seen = []
    handle = y.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 10)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 20.0))
    assert len(seen) == 1
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.0))


def test_leaf_hook_runs_before_accumulation():
    x = leaf(2)
    x.register_hook(lambda g: g * 0.5)
    (x * 4).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_retain_grad_keeps_non_leaf_gradients():
    x = leaf(3)
    y = x.exp()
    y.retain_grad()
    z = y * y
    z.sum().backward()
    assert y.retains_grad
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.detach().numpy())
    assert (x * 2).grad is None


# ------------------------------------------------------------- in place
def test_in_place_on_a_leaf_that_requires_grad_raises():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="add_: a leaf Variable that requires grad"):
        x.add_(1)
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        x[:2].mul_(2)
    with ct.no_grad():
        x.add_(1)  # optimizer updates


def test_modifying_a_saved_tensor_raises_naming_the_op():
    x = leaf(3)
    y = x * 2
    z = y.sin()
    y.add_(1)
    with pytest.raises(RuntimeError, match="SinBackward0 needs, is at version 1; expected version 0"):
        z.sum().backward()


def test_version_counter_is_shared_with_views():
    x = ct.zeros(4)
    v = x[1:3]
    v.add_(1)
    assert x._version == v._version == 1
    x[0] = 5.0
    assert v._version == 2


# ---------------------------------------------------------------- grad()
def test_grad_returns_gradients_without_touching_dot_grad():
    x, y = leaf(3), leaf(3)
    gx, gy = grad((x * y).sum(), (x, y))
    np.testing.assert_allclose(gx.numpy(), y.detach().numpy())
    assert x.grad is None and y.grad is None


def test_grad_allow_unused_and_materialize():
    x, y = leaf(2), leaf(2)
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        grad((x * 2).sum(), (x, y))
    assert grad((x * 2).sum(), (x, y), allow_unused=True)[1] is None
    assert grad((x * 2).sum(), (x, y), materialize_grads=True)[1].tolist() == [0.0, 0.0]


def test_hessian_vector_product_matches_torch():
    a, v = RNG.standard_normal(4), RNG.standard_normal(4)

    def f(lib, x):
        return (x.sin() * x.exp()).sum() + (x * x).sum() * x.tanh().sum()

    x = ct.tensor(a).requires_grad_()
    (g,) = grad(f(ct, x), x, create_graph=True)
    (h,) = grad((g * ct.tensor(v)).sum(), x)
    tx = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(f(torch, tx), tx, create_graph=True)
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tx)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-10)


def test_backward_inputs_limits_accumulation():
    x, y = leaf(2), leaf(2)
    (x * y).sum().backward(inputs=[x])
    assert x.grad is not None and y.grad is None


# -------------------------------------------------------------- Function
class Cube(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * x * scale

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x * ctx.scale, None


def test_custom_function_gradcheck_and_double_backward():
    x = leaf(5)
    assert gradcheck(lambda t: Cube.apply(t, 2.0), (x,))
    assert gradgradcheck(lambda t: Cube.apply(t, 2.0), (x,))
    assert Cube.apply(x, 1.0).grad_fn.name == "CubeBackward"


def test_custom_function_needs_input_grad_and_non_differentiable_outputs():
    flags = []

    class SortPair(Function):
        @staticmethod
        def forward(ctx, x, y):
            flags.append(ctx.needs_input_grad)
            idx = ct.tensor(np.argsort(x.numpy()))
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            return g * 2, None

    x = leaf(3)
    out, idx = SortPair.apply(x, ct.tensor([1.0]))
    assert flags == [(True, False)] and not idx.requires_grad
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0] * 3)


def test_custom_function_wrong_gradient_count_is_a_clear_error():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="BadBackward returned an incorrect number of gradients"):
        Bad.apply(leaf(2), leaf(2)).sum().backward()


def test_gradcheck_catches_a_wrong_backward():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(Wrong.apply, (leaf(3),))
    assert gradcheck(Wrong.apply, (leaf(3),), raise_exception=False) is False


# ----------------------------------------------------------- checkpoint
def test_checkpoint_matches_plain_backward_and_reuses_the_random_state():
    x, w = leaf(4, 3), leaf(3)

    def block(t):
        noise = ct.rand(t.shape, dtype=ct.float64)
        return ((t * w).tanh() * noise).exp()

    ct.manual_seed(3)
    checkpoint(block, x).sum().backward()
    grads = x.grad.clone(), w.grad.clone()
    x.grad = w.grad = None
    ct.manual_seed(3)
    block(x).sum().backward()
    np.testing.assert_allclose(grads[0].numpy(), x.grad.numpy())
    np.testing.assert_allclose(grads[1].numpy(), w.grad.numpy())


def test_checkpoint_sequential():
    x = leaf(3)
    fns = [lambda t: t.sin(), lambda t: t * 3, lambda t: t.exp(), lambda t: t.sum()]
    checkpoint_sequential(fns, 2, x).backward()
    expected = 3 * np.cos(x.detach().numpy()) * np.exp(3 * np.sin(x.detach().numpy()))
    np.testing.assert_allclose(x.grad.numpy(), expected)


# --------------------------------------------------------------- memory
def _training_step(w, x):
    loss = ((x * w).tanh().sum(1) - 1.0).square().mean()
    loss.backward()
    with ct.no_grad():
        w.sub_(w.grad * 0.01)
    w.grad = None


def test_graph_is_freed_after_backward():
    w, x = leaf(64, 32), ct.tensor(RNG.standard_normal((64, 32)))
    out = (x * w).tanh()
    node = weakref.ref(out.grad_fn)
    saved = weakref.ref(out.grad_fn.saved[0][0]) if out.grad_fn.saved else None
    out.sum().backward()
    del out
    assert node() is None and (saved is None or saved() is None)


def test_two_hundred_training_steps_do_not_grow_memory():
    w, x = leaf(64, 32), ct.tensor(RNG.standard_normal((64, 32)))
    gc.collect()
    gc.disable()  # everything must be freed by reference counting alone: no cycles
    try:
        for _ in range(500):  # warm numpy's and Python's small-object caches first
            _training_step(w, x)
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(200):
            _training_step(w, x)
        grown = tracemalloc.get_traced_memory()[0] - start
        tracemalloc.stop()
    finally:
        gc.enable()
    assert grown < 64 * 32 * 8, grown  # less than one activation's worth


def test_factories_take_requires_grad_and_repr_shows_it():
    x = ct.zeros(2, 3, requires_grad=True, device="cpu")
    assert x.requires_grad and x.is_leaf
    assert repr(ct.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    assert repr(ct.ones(2, requires_grad=True) * 2) == "tensor([2., 2.], grad_fn=<MulBackward0>)"
    with pytest.raises(ValueError, match="only the 'cpu' device"):
        ct.zeros(2, device="cuda")


def test_gradients_flow_through_dtype_casts_clone_and_contiguous():
    x = leaf(3, 2, dtype=ct.float32)
    y = (x.double() * x.clone()).sum() + x.T.contiguous().sum()
    y.backward()
    assert x.grad.dtype is ct.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy() + 1, rtol=1e-6)


def test_deepcopy_and_pickle_of_leaves():
    import copy
    import pickle

    x = leaf(2)
    (x * 1).sum().backward()
    y = copy.deepcopy(x)
    (y * 2).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0] and y.grad.tolist() == [3.0, 3.0]
    z = pickle.loads(pickle.dumps(x))
    assert z.requires_grad and z.tolist() == x.tolist()
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(x * 2)
