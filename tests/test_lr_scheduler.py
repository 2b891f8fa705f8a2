"""cogtensor.optim.lr_scheduler against torch.optim.lr_scheduler 2.13: the same learning-rate (and
momentum) sequences exactly, the same state dicts, torch's state dicts loading here, and the same errors."""

import copy
import math

import pytest
import torch
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture

import cogtensor as ct
from cogtensor import optim
from cogtensor.optim import lr_scheduler

LIBS = {"ours": (ct, optim, lr_scheduler), "torch": (torch, torch.optim, torch.optim.lr_scheduler)}


def make_optimizer(lib_name, opt_name="SGD", lrs=(0.1, 0.05), **kwargs):
    lib, opt_module, _ = LIBS[lib_name]
    groups = [{"params": [lib.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(opt_module, opt_name)(groups, **kwargs)


def group_options(opt):
    return [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]


def trace(opt, sched, steps, metrics=None):
    """The lrs (and every group option) after construction and after each optimizer + scheduler step."""
    record = [(sched.get_last_lr(), group_options(opt))]
    for i in range(steps):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        record.append((sched.get_last_lr(), group_options(opt)))
    return record


def both(build, steps, opt_name="SGD", opt_kwargs=None, metrics=None, lrs=(0.1, 0.05)):
    """Run the same schedule with both libraries; return both traces and schedulers."""
    out = {}
    for name in LIBS:
        opt = make_optimizer(name, opt_name, lrs, **(opt_kwargs or {}))
        sched = build(LIBS[name][2], opt)
        out[name] = (trace(opt, sched, steps, metrics), sched, opt)
    return out


SCHEDULES = [
    ("StepLR", lambda s, o: s.StepLR(o, step_size=3, gamma=0.5)),
    ("MultiStepLR", lambda s, o: s.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", lambda s, o: s.ExponentialLR(o, gamma=0.9)),
    ("CosineAnnealingLR", lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=1e-3)),
    ("CosineAnnealingWarmRestarts", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3)),
    ("CosineAnnealingWarmRestarts-1", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=4)),
    ("LinearLR-warmup", lambda s, o: s.LinearLR(o, start_factor=0.1, total_iters=6)),
    ("LinearLR-decay", lambda s, o: s.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=5)),
    ("LambdaLR", lambda s, o: s.LambdaLR(o, lambda e: 1.0 / (1 + e))),
    ("LambdaLR-per-group", lambda s, o: s.LambdaLR(o, [lambda e: 0.9 ** e, lambda e: e % 3 + 1])),
    ("MultiplicativeLR", lambda s, o: s.MultiplicativeLR(o, lambda e: 0.95)),
    ("ConstantLR", lambda s, o: s.ConstantLR(o, factor=0.25, total_iters=4)),
    ("PolynomialLR", lambda s, o: s.PolynomialLR(o, total_iters=8, power=2.0)),
    ("OneCycleLR-cos", lambda s, o: s.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=25)),
    ("OneCycleLR-linear", lambda s, o: s.OneCycleLR(o, max_lr=0.8, epochs=5, steps_per_epoch=5,
                                                    anneal_strategy="linear", pct_start=0.4)),
    ("OneCycleLR-three-phase", lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=25, three_phase=True,
                                                         base_momentum=0.8, max_momentum=[0.9, 0.99])),
    ("OneCycleLR-no-momentum", lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=25, cycle_momentum=False,
                                                         div_factor=10.0, final_div_factor=100.0)),
    ("SequentialLR-warmup-cosine", lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=5), s.CosineAnnealingLR(o, T_max=15, eta_min=1e-4)],
        milestones=[5])),
    ("SequentialLR-three", lambda s, o: s.SequentialLR(
        o, [s.ConstantLR(o, factor=0.5, total_iters=3), s.ExponentialLR(o, gamma=0.8), s.StepLR(o, 2, 0.5)],
        milestones=[3, 10])),
    ("ChainedScheduler", lambda s, o: s.ChainedScheduler([s.ExponentialLR(o, gamma=0.9),
                                                          s.LinearLR(o, start_factor=0.5, total_iters=4)])),
]


@pytest.mark.parametrize("build", [b for _, b in SCHEDULES], ids=[n for n, _ in SCHEDULES])
@pytest.mark.parametrize("opt_name,opt_kwargs", [("SGD", {"momentum": 0.9}), ("Adam", {})], ids=["SGD", "Adam"])
def test_lr_sequences_equal_torch(build, opt_name, opt_kwargs):
    out = both(build, 25, opt_name, opt_kwargs)
    assert out["ours"][0] == out["torch"][0]  # exact: lrs, and momentum / betas for OneCycleLR


METRICS = [1.0, 0.9, 0.95, 0.93, 0.96, 0.97, 0.85, 0.86, 0.86, 0.87, 0.9, 0.91, 0.92, 0.5, 0.6, 0.7, 0.8, 0.9,
           0.95, 0.99, 1.0, 1.1, 1.2, 1.3, 1.4]
PLATEAUS = [
    dict(),
    dict(patience=1, factor=0.5),
    dict(mode="max", patience=2, factor=0.3, threshold=0.05, threshold_mode="abs"),
    dict(mode="max", patience=0, threshold_mode="rel", cooldown=2, min_lr=[0.02, 0.001]),
    dict(mode="min", patience=1, threshold=0.01, threshold_mode="abs", cooldown=1, min_lr=0.01, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(k) for k in PLATEAUS])
def test_reduce_lr_on_plateau_equals_torch(kwargs):
    out = both(lambda s, o: s.ReduceLROnPlateau(o, **kwargs), len(METRICS), metrics=METRICS)
    assert out["ours"][0] == out["torch"][0]
    ours, theirs = out["ours"][1], out["torch"][1]
    assert ours.state_dict() == {k: v for k, v in theirs.state_dict().items()}


def test_reduce_lr_on_plateau_takes_tensor_metrics():
    opt = make_optimizer("ours")
    sched = lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    for loss in (1.0, 2.0):
        opt.step()
        sched.step(ct.tensor(loss))
    assert sched.get_last_lr() == [0.1 * 0.1, 0.05 * 0.1]


# ------------------------------------------------------------------ state dicts
def comparable(state):
    """A scheduler state dict with the parts that cannot compare across libraries made plain."""
    state = dict(state)
    if "_schedulers" in state:
        state["_schedulers"] = [comparable(s) for s in state["_schedulers"]]
    return state


@pytest.mark.parametrize("build", [b for _, b in SCHEDULES], ids=[n for n, _ in SCHEDULES])
def test_state_dicts_equal_torch_and_load_from_torch(build):
    out = both(build, 6, "SGD", {"momentum": 0.9})
    ours, theirs = out["ours"][1], out["torch"][1]
    assert comparable(ours.state_dict()) == comparable(theirs.state_dict())
    # resume: a fresh scheduler over a fresh optimizer, both loaded from torch's state dicts
    opt = make_optimizer("ours", momentum=0.9)
    resumed = build(lr_scheduler, opt)
    resumed.load_state_dict(copy.deepcopy(theirs.state_dict()))
    opt.load_state_dict(copy.deepcopy(out["torch"][2].state_dict()))
    assert trace(opt, resumed, 10)[1:] == trace(out["torch"][2], theirs, 10)[1:]


def test_closed_form_step_with_epoch_equals_torch():
    for build in (lambda s, o: s.StepLR(o, 3, 0.5), lambda s, o: s.MultiStepLR(o, [2, 4], 0.1),
                  lambda s, o: s.ExponentialLR(o, 0.7), lambda s, o: s.CosineAnnealingLR(o, 10),
                  lambda s, o: s.LinearLR(o, 0.2, 1.0, 6), lambda s, o: s.CosineAnnealingWarmRestarts(o, 3, 2)):
        lrs = {}
        for name in LIBS:
            opt = make_optimizer(name)
            sched = build(LIBS[name][2], opt)
            lrs[name] = []
            for epoch in (4, 7, 2, 9.5 if isinstance(sched, LIBS[name][2].CosineAnnealingWarmRestarts) else 9):
                opt.step()
                if isinstance(sched, LIBS[name][2].CosineAnnealingWarmRestarts):
                    sched.step(epoch)
                else:
                    with pytest.warns(UserWarning, match="epoch parameter"):
                        sched.step(epoch)
                lrs[name].append(sched.get_last_lr())
        assert lrs["ours"] == lrs["torch"]


def test_lambda_state_saves_callable_objects_only():
    class Halve:
        def __init__(self):
            self.factor = 0.5

        def __call__(self, epoch):
            return self.factor ** epoch

    opt = make_optimizer("ours")
    sched = lr_scheduler.LambdaLR(opt, [Halve(), lambda e: 1.0])
    assert sched.state_dict()["lr_lambdas"] == [{"factor": 0.5}, None]
    saved = sched.state_dict()
    saved["lr_lambdas"] = [{"factor": 0.25}, None]
    sched.load_state_dict(saved)
    assert sched.lr_lambdas[0].factor == 0.25


# ------------------------------------------------------------- warnings, errors
def test_stepping_the_scheduler_before_the_optimizer_warns():
    for name in LIBS:
        opt = make_optimizer(name)
        sched = LIBS[name][2].StepLR(opt, 2)
        with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
            sched.step()
        with pytest.warns(UserWarning, match="get_last_lr"):
            sched.get_lr()


def test_resuming_without_initial_lr_raises_key_error():
    for name in LIBS:
        with pytest.raises(KeyError, match="initial_lr"):
            LIBS[name][2].StepLR(make_optimizer(name), 2, last_epoch=3)


def test_one_cycle_past_total_steps_raises():
    for name in LIBS:
        opt = make_optimizer(name)
        sched = LIBS[name][2].OneCycleLR(opt, max_lr=1.0, total_steps=3)
        for _ in range(3):
            opt.step()
            sched.step()
        with pytest.raises(ValueError, match="Tried to step 4 times"):
            opt.step()
            sched.step()


BAD = [
    ("LinearLR", lambda s, o: s.LinearLR(o, start_factor=0.0)),
    ("LinearLR", lambda s, o: s.LinearLR(o, end_factor=1.5)),
    ("ConstantLR", lambda s, o: s.ConstantLR(o, factor=2.0)),
    ("LambdaLR", lambda s, o: s.LambdaLR(o, [lambda e: 1.0])),
    ("MultiplicativeLR", lambda s, o: s.MultiplicativeLR(o, 0.5)),
    ("CAWR", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=0)),
    ("CAWR", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5)),
    ("CAWR", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=2, eta_min="0")),
    ("OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=1.0)),
    ("OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=-1)),
    ("OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=1.0, epochs=0, steps_per_epoch=3)),
    ("OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=9, pct_start=1.5)),
    ("OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=9, anneal_strategy="exp")),
    ("OneCycleLR", lambda s, o: s.OneCycleLR(o, max_lr=[1.0], total_steps=9)),
    ("Plateau", lambda s, o: s.ReduceLROnPlateau(o, factor=1.0)),
    ("Plateau", lambda s, o: s.ReduceLROnPlateau(o, mode="up")),
    ("Plateau", lambda s, o: s.ReduceLROnPlateau(o, threshold_mode="ratio")),
    ("Plateau", lambda s, o: s.ReduceLROnPlateau(o, min_lr=[0.1])),
    ("SequentialLR", lambda s, o: s.SequentialLR(o, [s.StepLR(o, 2)], milestones=[3])),
    ("SequentialLR", lambda s, o: s.SequentialLR(o, [], milestones=[])),
    ("SequentialLR", lambda s, o: s.SequentialLR(o, [s.StepLR(o, 2), s.ReduceLROnPlateau(o)], milestones=[3])),
    ("ChainedScheduler", lambda s, o: s.ChainedScheduler([])),
    ("not-an-optimizer", lambda s, o: s.StepLR(object(), 2)),
]


@pytest.mark.parametrize("build", [b for _, b in BAD], ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD)])
def test_invalid_arguments_raise_as_torch(build):
    with pytest.raises(Exception) as theirs:
        build(torch.optim.lr_scheduler, make_optimizer("torch"))
    with pytest.raises(type(theirs.value)) as ours:
        build(lr_scheduler, make_optimizer("ours"))
    assert str(ours.value) == str(theirs.value)


def test_one_cycle_needs_a_momentum_to_cycle():
    for name in LIBS:
        with pytest.raises(ValueError, match="momentum or beta1"):
            LIBS[name][2].OneCycleLR(make_optimizer(name, "Adagrad"), max_lr=1.0, total_steps=5)


def test_sequential_members_must_share_the_optimizer():
    for name in LIBS:
        s, a, b = LIBS[name][2], make_optimizer(name), make_optimizer(name)
        with pytest.raises(ValueError, match="same optimizer"):
            s.SequentialLR(a, [s.StepLR(a, 2), s.StepLR(b, 2)], milestones=[3])


def test_cosine_annealing_follows_torch_after_many_periods():
    out = both(lambda s, o: s.CosineAnnealingLR(o, T_max=3, eta_min=0.01), 40)
    assert out["ours"][0] == out["torch"][0]
    assert not any(math.isnan(lr) for lrs, _ in out["ours"][0] for lr in lrs)
