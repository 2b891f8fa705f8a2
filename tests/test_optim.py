"""cogtensor.optim against torch.optim 2.13: same initial parameters and the same gradients give
the same parameters after every step, the same state dicts, and torch's state dicts load here."""

import copy
import math

import numpy as np
import pytest
import torch
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
from cogtensor import optim

SHAPES = [(5, 3), (4,), (), (0, 2)]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12),
       np.complex64: dict(rtol=1e-5, atol=1e-6)}

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.02, betas=(0.3, 0.5), eps=1e-3, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True, maximize=True, eps=1e-4)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, initial_accumulator_value=0.2, weight_decay=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-4, maximize=True)),
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.2, 0.9), weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
]


def case_id(case):
    name, kwargs = case
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def random_arrays(rng, dtype, shapes=SHAPES):
    if np.dtype(dtype).kind == "c":
        return [(rng.standard_normal(s) + 1j * rng.standard_normal(s)).astype(dtype) for s in shapes]
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def twins(arrays):
    """The same leaves in both libraries."""
    ours = [ct.from_numpy(a.copy()).requires_grad_() for a in arrays]
    theirs = [torch.from_numpy(a.copy()).requires_grad_() for a in arrays]
    return ours, theirs


def set_grads(ours, theirs, grads):
    for p, tp, g in zip(ours, theirs, grads):
        p.grad = None if g is None else ct.from_numpy(g.copy())
        tp.grad = None if g is None else torch.from_numpy(g.copy())


def gradient_sequence(rng, arrays, steps):
    """Gradients per step; a parameter now and then has none (the step must skip it)."""
    sequence = []
    for step in range(steps):
        grads = random_arrays(rng, arrays[0].dtype, [a.shape for a in arrays])
        if step == 1 and len(grads) > 1:
            grads[1] = None
        sequence.append(grads)
    return sequence


def assert_params_match(ours, theirs, dtype):
    for p, tp in zip(ours, theirs):
        assert p.dtype.name == str(tp.dtype).removeprefix("torch.")
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **TOL[dtype])


def run_both(opt, topt, ours, theirs, grads_per_step, dtype):
    for grads in grads_per_step:
        set_grads(ours, theirs, grads)
        opt.step()
        topt.step()
        assert_params_match(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_steps_match_torch(case, dtype):
    name, kwargs = case
    rng = np.random.default_rng(0)
    arrays = random_arrays(rng, dtype)
    ours, theirs = twins(arrays)
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    run_both(opt, topt, ours, theirs, gradient_sequence(rng, arrays, 5), dtype)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in ("SGD", "Adam", "RMSprop", "Adagrad", "NAdam")][::2],
                         ids=case_id)
def test_complex_parameters_match_torch(case):
    name, kwargs = case
    rng = np.random.default_rng(1)
    arrays = random_arrays(rng, np.complex64, [(3, 2), (4,)])
    ours, theirs = twins(arrays)
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    run_both(opt, topt, ours, theirs, gradient_sequence(rng, arrays, 4), np.complex64)


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_non_contiguous_parameters_and_gradients(name):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((4, 6)).astype(np.float32)
    ours = [ct.from_numpy(base.copy().T).requires_grad_()]  # a transposed leaf
    theirs = [torch.from_numpy(base.copy().T).requires_grad_()]
    opt, topt = getattr(optim, name)(ours, lr=0.05), getattr(torch.optim, name)(theirs, lr=0.05)
    for _ in range(3):
        g = rng.standard_normal((6, 8)).astype(np.float32)[:, ::2]  # a strided gradient
        ours[0].grad, theirs[0].grad = ct.from_numpy(g), torch.from_numpy(g.copy())
        opt.step()
        topt.step()
    assert_params_match(ours, theirs, np.float32)


def test_param_groups_with_their_own_options_and_add_param_group():
    rng = np.random.default_rng(3)
    arrays = random_arrays(rng, np.float64, [(3,), (2, 2), (5,)])
    ours, theirs = twins(arrays)
    opt = optim.Adam([{"params": ours[:1]}, {"params": ours[1], "lr": 0.1, "amsgrad": True}], lr=0.01)
    topt = torch.optim.Adam([{"params": theirs[:1]}, {"params": theirs[1], "lr": 0.1, "amsgrad": True}], lr=0.01)
    opt.add_param_group({"params": [ours[2]], "betas": (0.5, 0.9)})
    topt.add_param_group({"params": [theirs[2]], "betas": (0.5, 0.9)})
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.1, 0.01]
    run_both(opt, topt, ours, theirs, gradient_sequence(rng, arrays, 4), np.float64)
    assert_state_dicts_equal(opt.state_dict(), topt.state_dict())


def test_tensor_learning_rate():
    rng = np.random.default_rng(4)
    arrays = random_arrays(rng, np.float32, [(3,)])
    ours, theirs = twins(arrays)
    opt, topt = optim.SGD(ours, lr=ct.tensor(0.1), momentum=0.5), torch.optim.SGD(theirs, lr=torch.tensor(0.1),
                                                                                     momentum=0.5)
    run_both(opt, topt, ours, theirs, gradient_sequence(rng, arrays, 3), np.float32)


# ------------------------------------------------------------------ state dicts
def assert_state_dicts_equal(ours, theirs):
    assert set(ours) == set(theirs) == {"state", "param_groups"}
    assert list(ours["state"]) == list(theirs["state"])
    for index, state in theirs["state"].items():
        assert list(ours["state"][index]) == list(state), index
        for key, value in state.items():
            mine = ours["state"][index][key]
            if isinstance(value, torch.Tensor):
                assert isinstance(mine, ct.Tensor) and mine.dtype.name == str(value.dtype).removeprefix("torch.")
                assert tuple(mine.shape) == tuple(value.shape), key
                np.testing.assert_allclose(mine.numpy(), value.numpy(), rtol=1e-5, atol=1e-7)
            else:
                assert mine == value
    assert len(ours["param_groups"]) == len(theirs["param_groups"])
    for mine, group in zip(ours["param_groups"], theirs["param_groups"]):
        assert mine == group


@pytest.mark.parametrize("case", CASES[1::2], ids=case_id)
def test_state_dict_layout_matches_torch(case):
    name, kwargs = case
    rng = np.random.default_rng(5)
    arrays = random_arrays(rng, np.float32)
    ours, theirs = twins(arrays)
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    assert_state_dicts_equal(opt.state_dict(), topt.state_dict())  # before any step (Adagrad's eager state)
    run_both(opt, topt, ours, theirs, gradient_sequence(rng, arrays, 3), np.float32)
    assert_state_dicts_equal(opt.state_dict(), topt.state_dict())


def converted(state_dict):
    """A torch state dict with its tensors turned into cogtensor tensors."""
    def convert(value):
        if isinstance(value, torch.Tensor):
            return ct.from_numpy(value.detach().numpy().copy())
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value
    return {"state": convert(state_dict["state"]), "param_groups": copy.deepcopy(state_dict["param_groups"])}


@pytest.mark.parametrize("as_torch", [False, True], ids=["converted", "torch-tensors"])
@pytest.mark.parametrize("case", CASES[::2], ids=case_id)
def test_torch_state_dict_loads_and_continues(case, as_torch):
    name, kwargs = case
    rng = np.random.default_rng(6)
    arrays = random_arrays(rng, np.float64)
    _, theirs = twins(arrays)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for grads in gradient_sequence(rng, arrays, 3):
        for tp, g in zip(theirs, grads):
            tp.grad = None if g is None else torch.from_numpy(g.copy())
        topt.step()
    ours = [ct.from_numpy(tp.detach().numpy().copy()).requires_grad_() for tp in theirs]
    loaded = [tp.detach().clone().requires_grad_() for tp in theirs]
    opt = getattr(optim, name)(ours, lr=123.0)  # everything else comes from the loaded groups
    tload = getattr(torch.optim, name)(loaded, lr=123.0)
    saved = topt.state_dict()
    opt.load_state_dict(saved if as_torch else converted(saved))
    tload.load_state_dict(saved)  # (torch casts state to the parameters' dtype on loading too)
    assert_state_dicts_equal(opt.state_dict(), tload.state_dict())
    run_both(opt, tload, ours, loaded, gradient_sequence(rng, arrays, 3), np.float64)


def test_own_state_dict_round_trip_is_a_copy():
    rng = np.random.default_rng(7)
    arrays = random_arrays(rng, np.float32, [(4,)])
    ours, _ = twins(arrays)
    opt = optim.Adam(ours, lr=0.1)
    ours[0].grad = ct.from_numpy(np.ones(4, np.float32))
    opt.step()
    saved = opt.state_dict()
    assert saved["state"][0]["step"].dtype is ct.float32 and saved["state"][0]["step"].shape == ()
    twin = ct.from_numpy(ours[0].numpy().copy()).requires_grad_()
    other = optim.Adam([twin], lr=0.5)
    other.load_state_dict(saved)
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["params"][0] is twin
    assert other.state[twin]["exp_avg"] is not opt.state[ours[0]]["exp_avg"]
    twin.grad = ours[0].grad
    opt.step()
    other.step()
    np.testing.assert_array_equal(twin.numpy(), ours[0].numpy())


def test_state_dict_casts_loaded_state_to_the_parameter_dtype_but_keeps_step():
    p = ct.zeros(3, dtype=ct.float64, requires_grad=True)
    opt = optim.Adam([p])
    state = {0: {"step": ct.tensor(2.0), "exp_avg": ct.ones(3), "exp_avg_sq": ct.ones(3)}}
    opt.load_state_dict({"state": state, "param_groups": copy.deepcopy(opt.state_dict()["param_groups"])})
    assert opt.state[p]["exp_avg"].dtype is ct.float64 and opt.state[p]["step"].dtype is ct.float32


def test_step_dtype_follows_the_default_dtype():
    previous = ct.get_default_dtype()
    ct.set_default_dtype(ct.float64)
    try:
        p = ct.zeros(2, dtype=ct.float64, requires_grad=True)
        opt = optim.NAdam([p])
        p.grad = ct.ones(2, dtype=ct.float64)
        opt.step()
        assert opt.state[p]["step"].dtype is ct.float64 and opt.state[p]["mu_product"].dtype is ct.float64
    finally:
        ct.set_default_dtype(previous)


def test_named_parameters_are_recorded():
    a, b = ct.zeros(2, requires_grad=True), ct.zeros(3, requires_grad=True)
    opt = optim.SGD([("w", a), ("b", b)], lr=0.1)
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    ta, tb = torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)
    assert opt.state_dict()["param_groups"] == torch.optim.SGD([("w", ta), ("b", tb)], lr=0.1).state_dict()[
        "param_groups"]


# ------------------------------------------------------------- steps and grads
def test_zero_grad():
    p = ct.zeros(3, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = ct.ones(3)
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None
    opt.zero_grad()  # nothing to reset is fine


def test_closure_runs_with_gradients_and_its_loss_is_returned():
    p = ct.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with ct.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(p.numpy(), [0.8, 1.6], rtol=1e-6)


def test_step_bumps_the_version_so_stale_graphs_refuse_backward():
    p = ct.tensor([1.0, 2.0], requires_grad=True)
    loss = (p * p).sum()
    before = p._version
    opt = optim.Adam([p])
    p.grad = ct.ones(2)
    opt.step()
    assert p._version > before
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_parameters_without_grad_keep_no_state():
    p, q = ct.zeros(2, requires_grad=True), ct.zeros(2, requires_grad=True)
    opt = optim.Adam([p, q])
    p.grad = ct.ones(2)
    opt.step()
    assert q not in opt.state and q.tolist() == [0.0, 0.0]
    assert list(opt.state_dict()["state"]) == [0]


def test_sgd_without_momentum_keeps_no_state():
    p = ct.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = ct.ones(2)
    opt.step()
    assert opt.state_dict()["state"] == {}


def test_low_precision_parameters_keep_their_dtype():
    for dtype in (ct.float16, ct.bfloat16):
        p = ct.ones(4, dtype=dtype, requires_grad=True)
        opt = optim.Adam([p], lr=0.1, weight_decay=0.1)
        p.grad = ct.full((4,), 0.5, dtype=dtype)
        opt.step()
        assert p.dtype is dtype and opt.state[p]["exp_avg"].dtype is dtype
        np.testing.assert_allclose(p.numpy().astype(np.float32), 0.9, rtol=1e-2)


def test_repr_lists_the_groups_as_torch():
    p, tp = ct.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    assert repr(optim.RMSprop([p], lr=0.5)) == repr(torch.optim.RMSprop([tp], lr=0.5))


# ------------------------------------------------------------------------ errors
BAD_OPTIONS = [
    ("SGD", dict(lr=-0.1)), ("SGD", dict(momentum=-0.5)), ("SGD", dict(weight_decay=-1.0)),
    ("SGD", dict(nesterov=True)), ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1)),
    ("Adam", dict(lr=-1e-3)), ("Adam", dict(betas=(1.0, 0.999))), ("Adam", dict(betas=(0.9, -0.1))),
    ("Adam", dict(betas=(0, 0.9))), ("Adam", dict(eps=-1.0)), ("Adam", dict(weight_decay=-0.1)),
    ("Adam", dict(lr=math.nan)), ("AdamW", dict(betas=(0.9, 1.5))),
    ("RMSprop", dict(alpha=-0.1)), ("RMSprop", dict(momentum=-1.0)), ("RMSprop", dict(eps=-1e-8)),
    ("Adagrad", dict(lr_decay=-0.1)), ("Adagrad", dict(initial_accumulator_value=-1.0)),
    ("Adamax", dict(betas=(0.9, 1.0))), ("Adamax", dict(lr=-2.0)),
    ("NAdam", dict(momentum_decay=-0.1)), ("NAdam", dict(betas=(-0.1, 0.9))),
    ("SGD", dict(fused=True, foreach=True)),
]


@pytest.mark.parametrize("case", BAD_OPTIONS, ids=case_id)
def test_invalid_options_raise_as_torch(case):
    name, kwargs = case
    with pytest.raises(Exception) as theirs:
        getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kwargs)
    with pytest.raises(type(theirs.value)) as ours:
        getattr(optim, name)([ct.zeros(1, requires_grad=True)], **kwargs)
    assert str(ours.value) == str(theirs.value)


def both_raise(build, kind, match):
    with pytest.raises(kind, match=match):
        build(torch, torch.optim)
    with pytest.raises(kind, match=match):
        build(ct, optim)


def test_invalid_params_raise_as_torch():
    both_raise(lambda lib, o: o.SGD([]), ValueError, "empty parameter list")
    both_raise(lambda lib, o: o.SGD(lib.zeros(2, requires_grad=True)), TypeError, "should be an iterable")
    both_raise(lambda lib, o: o.SGD([{"params": {lib.zeros(2, requires_grad=True)}}]), TypeError, "ordered collections")
    both_raise(lambda lib, o: o.SGD([1.0]), TypeError, "can only optimize Tensors")
    both_raise(lambda lib, o: o.SGD([lib.zeros(2, requires_grad=True) * 2]), ValueError, "non-leaf")
    both_raise(lambda lib, o: o.SGD([("a", lib.zeros(1, requires_grad=True)), lib.zeros(1, requires_grad=True)]),
               ValueError, "Some param names are missing")
    both_raise(lambda lib, o: o.SGD([{"params": []}, 3]), TypeError, "param_group must be a dict")


def test_a_parameter_in_two_groups_raises_and_twice_in_one_warns():
    for lib, o in ((torch, torch.optim), (ct, optim)):
        p = lib.zeros(2, requires_grad=True)
        with pytest.raises(ValueError, match="more than one parameter group"):
            o.Adam([{"params": [p]}, {"params": [p]}])
        with pytest.warns(UserWarning, match="duplicate parameters"):
            o.Adam([p, p])
        opt = o.Adam([p])
        with pytest.raises(ValueError, match="more than one parameter group"):
            opt.add_param_group({"params": p, "lr": 0.1})


def test_load_state_dict_of_another_shape_raises():
    a, b = ct.zeros(2, requires_grad=True), ct.zeros(2, requires_grad=True)
    saved = optim.SGD([a, b]).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([a]).load_state_dict(saved)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}]).load_state_dict(saved)


def test_unsupported_modes_are_refused():
    p = ct.zeros(1, requires_grad=True)
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.SGD([p], differentiable=True)
    with pytest.raises(NotImplementedError, match="capturable"):
        optim.Adam([p], capturable=True)
    with pytest.raises(NotImplementedError, match="step is not implemented"):
        optim.Optimizer([p], {}).step()
    with pytest.raises(ValueError, match="required optimization parameter lr"):
        optim.Optimizer([p], {"lr": optim.optimizer.required})


def test_read_only_parameter_memory_is_refused():
    frozen = np.zeros(3, np.float32)
    frozen.flags.writeable = False
    p = ct.from_numpy(frozen).requires_grad_()
    opt = optim.Adam([p])
    p.grad = ct.ones(3)
    with pytest.raises(ValueError, match="read-only memory"):
        opt.step()
