"""nn.Module and nn.Parameter against torch.nn: registration, traversal order, state_dict keys,
shapes and metadata, load_state_dict from torch's state dict (outputs then match), error
messages, hooks, modes, zero_grad, to(dtype), apply, requires_grad_, repr, copy and pickle.

The same architecture is written twice from one factory: once over cogtensor.nn with
Linear-like and BatchNorm-like modules defined here, once over torch.nn with its real Linear,
BatchNorm1d and ReLU, so keys, order and messages are compared with torch's own layers."""

import copy
import math
import pickle
from collections import OrderedDict

import numpy as np
import pytest
import torch

import cogtensor as ct
from cogtensor import nn
from cogtensor.nn import functional as F
from torch_reference import torch_single_thread  # noqa: F401 - autouse fixture


class Affine(nn.Module):
    """Linear-like: weight (out, in), optional bias."""

    def __init__(self, n_in, n_out, bias=True):
        super().__init__()
        self.in_features, self.out_features = n_in, n_out
        self.weight = nn.Parameter(ct.randn(n_out, n_in) * 0.3)
        if bias:
            self.bias = nn.Parameter(ct.randn(n_out) * 0.1)
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Norm(nn.Module):
    """BatchNorm1d-like in eval mode: affine parameters and running statistics as buffers."""

    _version = 2  # as torch's BatchNorm

    def __init__(self, n):
        super().__init__()
        self.weight = nn.Parameter(ct.ones(n))
        self.bias = nn.Parameter(ct.zeros(n))
        self.register_buffer("running_mean", ct.zeros(n))
        self.register_buffer("running_var", ct.ones(n))
        self.register_buffer("num_batches_tracked", ct.tensor(0))

    def forward(self, x):
        return (x - self.running_mean) / (self.running_var + 1e-5).sqrt() * self.weight + self.bias


class ReLU(nn.Module):
    def forward(self, x):
        return F.relu(x)


def make_net(lib, affine, norm, relu):
    """The same architecture over cogtensor.nn or torch.nn."""
    mod = lib.nn

    class Block(mod.Module):
        def __init__(self, n):
            super().__init__()
            self.fc = affine(n, n)
            self.norm = norm(n)
            self.act = relu()

        def forward(self, x):
            return self.act(self.norm(self.fc(x)))

    class Net(mod.Module):
        def __init__(self):
            super().__init__()
            self.embed = affine(4, 8)
            self.blocks = mod.ModuleList([Block(8) for _ in range(2)])
            self.heads = mod.ModuleDict({"cls": affine(8, 3), "reg": affine(8, 1, bias=False)})
            self.tail = mod.Sequential(OrderedDict([("proj", affine(8, 8)), ("act", relu()), ("out", affine(8, 2))]))
            self.register_buffer("scale", lib.ones(1) * 2)
            self.register_buffer("mask", lib.ones(2), persistent=False)
            self.shared = self.embed  # the same module twice: traversals list it once

        def forward(self, x):
            x = self.embed(x)
            for block in self.blocks:
                x = block(x)
            return self.tail(x) * self.scale + self.heads["cls"](x).sum(-1, keepdim=True)

    return Net()


def ours_net():
    return make_net(ct, Affine, Norm, ReLU)


def torch_net():
    torch.manual_seed(0)
    net = make_net(torch, torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU)
    with torch.no_grad():  # non-trivial running statistics
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.num_batches_tracked.fill_(7)
    return net.eval()


def to_ours(state):
    return OrderedDict((k, ct.tensor(v.detach().numpy())) for k, v in state.items())


# ------------------------------------------------------------ traversal order
def test_names_and_order_match_torch():
    ours, theirs = ours_net(), torch_net()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert [n for n, _ in ours.named_modules(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_modules(remove_duplicate=False)]
    assert [n for n, _ in ours.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in theirs.named_parameters(remove_duplicate=False)]
    assert [n for n, _ in ours.named_parameters(prefix="m", recurse=False)] == []
    assert [n for n, _ in ours.blocks[0].named_parameters(prefix="b", recurse=False)] == []
    assert [n for n, _ in ours.embed.named_parameters(prefix="e")] == ["e.weight", "e.bias"]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert len(list(ours.children())) == len(list(theirs.children()))


def test_shared_parameter_listed_once():
    a = Affine(3, 3)
    seq = nn.Sequential(a, Affine(3, 3))
    seq[1].weight = a.weight
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "1.bias"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]  # state_dict keeps both


# ------------------------------------------------------------------ state dict
def test_state_dict_keys_shapes_and_metadata_match_torch():
    ours, theirs = ours_net().state_dict(), torch_net().state_dict()
    assert list(ours) == list(theirs)
    assert "mask" not in ours  # non-persistent buffer
    for key in theirs:
        assert tuple(ours[key].shape) == tuple(theirs[key].shape), key
        assert ours[key].dtype.name == str(theirs[key].dtype).removeprefix("torch."), key
        assert not ours[key].requires_grad
    assert dict(ours._metadata) == dict(theirs._metadata)


def test_state_dict_shares_memory_prefix_and_keep_vars():
    net = ours_net()
    sd = net.state_dict()
    sd["embed.weight"][0, 0] = 42.0  # detached, same memory, as torch
    assert net.embed.weight[0, 0].item() == 42.0
    kept = net.state_dict(keep_vars=True)
    assert kept["embed.weight"] is net.embed.weight and kept["embed.weight"].requires_grad
    prefixed = net.embed.state_dict(prefix="model.embed.")
    assert list(prefixed) == ["model.embed.weight", "model.embed.bias"]
    dest = OrderedDict()
    assert net.embed.state_dict(destination=dest) is dest and list(dest) == ["weight", "bias"]
    with pytest.warns(FutureWarning, match="Positional args"):
        net.embed.state_dict(None, "p.")


def test_load_torch_state_dict_reproduces_outputs():
    theirs = torch_net()
    ours = ours_net().eval()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = theirs(torch.from_numpy(x)).detach().numpy()
    result = ours.load_state_dict(to_ours(theirs.state_dict()))
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == repr(theirs.load_state_dict(theirs.state_dict())) == "<All keys matched successfully>"
    np.testing.assert_allclose(ours(ct.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    assert ours.blocks[0].norm.num_batches_tracked.item() == 7
    # torch tensors and numpy arrays are taken directly too
    fresh = ours_net()
    fresh.load_state_dict(theirs.state_dict())
    np.testing.assert_allclose(fresh(ct.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    fresh.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(fresh(ct.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_load_copies_into_existing_tensors():
    net, other = ours_net(), ours_net()
    weight = net.embed.weight
    held = list(net.parameters())  # what an optimizer holds
    before = weight._version
    net.load_state_dict(other.state_dict())
    assert net.embed.weight is weight and weight.requires_grad and weight.grad_fn is None
    assert weight._version > before or weight._vc is None
    for p, q in zip(held, other.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    # float64 values are cast into float32 parameters, as torch's copy_
    net.load_state_dict({k: v.double() for k, v in other.state_dict().items()})
    assert net.embed.weight.dtype is ct.float32
    # assign=True takes the tensors themselves, as Parameters keeping requires_grad
    values = other.state_dict()
    net.load_state_dict(values, assign=True)
    assert isinstance(net.embed.weight, nn.Parameter) and net.embed.weight.requires_grad
    assert np.shares_memory(net.embed.weight.numpy(), values["embed.weight"].numpy())


def _messages(ours_model, theirs_model, ours_state, theirs_state, **kw):
    with pytest.raises(RuntimeError) as theirs_error:
        theirs_model.load_state_dict(theirs_state, **kw)
    with pytest.raises(RuntimeError) as ours_error:
        ours_model.load_state_dict(ours_state, **kw)
    return str(ours_error.value), str(theirs_error.value).replace("torch.Size", "cogtensor.Size")


def test_strict_errors_match_torch_messages():
    ours, theirs = ours_net(), torch_net()
    state = theirs.state_dict()
    del state["blocks.1.fc.bias"], state["scale"]
    state["blocks.0.extra"] = torch.zeros(2)
    state["nothere.weight"] = torch.zeros(2)
    state["tail.out.weight"] = torch.zeros(3, 3)
    ours_msg, theirs_msg = _messages(ours, theirs, to_ours(state), state)
    assert ours_msg == theirs_msg
    assert 'Missing key(s) in state_dict: "scale", "blocks.1.fc.bias"' in ours_msg
    assert "size mismatch for tail.out.weight" in ours_msg
    # strict=False: missing/unexpected reported, not raised, but shape mismatches still raise
    del state["tail.out.weight"]
    ours_keys = ours.load_state_dict(to_ours(state), strict=False)
    theirs_keys = theirs.load_state_dict(state, strict=False)
    assert ours_keys == theirs_keys and ours_keys._fields == ("missing_keys", "unexpected_keys")
    assert repr(ours_keys) == repr(theirs_keys)
    bad = to_ours(theirs.state_dict())
    bad["embed.bias"] = ct.zeros(5)
    ours_msg, theirs_msg = _messages(ours, theirs, bad, {**theirs.state_dict(), "embed.bias": torch.zeros(5)},
                                     strict=False)
    assert ours_msg == theirs_msg


def test_load_state_dict_rejects_non_mappings_and_non_tensors():
    net = ours_net()
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like"):
        net.load_state_dict([1, 2])
    state = net.state_dict()
    state["embed.bias"] = "oops"
    with pytest.raises(RuntimeError, match='While copying the parameter named "embed.bias", expected'):
        net.load_state_dict(state)


def test_zero_dim_parameter_accepts_one_element_checkpoint():
    m = nn.Module()
    m.t = nn.Parameter(ct.tensor(1.0))
    m.load_state_dict({"t": ct.tensor([3.0])})
    assert m.t.item() == 3.0


def test_extra_state_round_trip():
    class WithExtra(nn.Module):
        def __init__(self):
            super().__init__()
            self.note = "a"

        def get_extra_state(self):
            return {"note": self.note}

        def set_extra_state(self, state):
            self.note = state["note"]

    src, dst = WithExtra(), WithExtra()
    src.note = "b"
    assert list(src.state_dict()) == ["_extra_state"]
    dst.load_state_dict(src.state_dict())
    assert dst.note == "b"
    with pytest.raises(RuntimeError, match='Missing key.*"_extra_state"'):
        dst.load_state_dict({})
    with pytest.raises(RuntimeError, match='Unexpected key.*"_extra_state"'):
        nn.Module().load_state_dict({"_extra_state": 1})


# --------------------------------------------------------------- registration
def test_registration_and_reassignment():
    m = nn.Module()
    m.w = nn.Parameter(ct.ones(2))
    m.register_buffer("b", ct.zeros(2))
    m.child = Affine(2, 2)
    m.plain = 3
    assert list(m._parameters) == ["w"] and list(m._buffers) == ["b"] and list(m._modules) == ["child"]
    assert "plain" in m.__dict__ and {"w", "b", "child", "plain"} <= set(dir(m))
    m.b = ct.ones(2)  # a tensor assigned to a buffer name replaces the buffer
    assert m._buffers["b"].sum().item() == 2
    m.w = None  # a parameter slot may hold None
    assert m.w is None and "w" in m._parameters and list(m.state_dict()) == ["b", "child.weight", "child.bias"]
    m.b = nn.Parameter(ct.ones(1))  # a parameter replaces a buffer of the same name
    assert "b" in m._parameters and "b" not in m._buffers
    del m.child, m.b, m.plain
    assert not m._modules and "b" not in m._parameters and not hasattr(m, "plain")


def test_registration_errors_match_torch():
    cases = [
        (lambda lib, m: setattr(m, "w", lib.ones(2)), "w"),  # plain tensor over a parameter
        (lambda lib, m: setattr(m, "sub", 3), "sub"),  # int over a child module
        (lambda lib, m: setattr(m, "buf", "x"), "buf"),
        (lambda lib, m: m.register_parameter("a.b", None), None),
        (lambda lib, m: m.register_parameter("", None), None),
        (lambda lib, m: m.register_parameter("train", None), None),
        (lambda lib, m: m.register_parameter("p", lib.ones(1)), None),
        (lambda lib, m: m.register_parameter(3, None), None),
        (lambda lib, m: m.register_buffer("a.b", None), None),
        (lambda lib, m: m.register_buffer("x", 3), None),
        (lambda lib, m: m.register_buffer("w", lib.ones(1)), None),
        (lambda lib, m: m.add_module("a.b", None), None),
        (lambda lib, m: m.add_module("x", 3), None),
        (lambda lib, m: m.add_module("", None), None),
        (lambda lib, m: m.register_parameter("q", lib.nn.Parameter(lib.ones(2)) * 2), None),
        (lambda lib, m: m.nothere, None),
        (lambda lib, m: m.train(1), None),
    ]

    def build(lib):
        m = lib.nn.Module()
        m.w = lib.nn.Parameter(lib.ones(2))
        m.sub = lib.nn.Module()
        m.register_buffer("buf", lib.zeros(1))
        return m

    for action, _ in cases:
        with pytest.raises(Exception) as theirs:
            action(torch, build(torch))
        with pytest.raises(type(theirs.value)) as ours:
            action(ct, build(ct))
        # same message, up to the library's names
        expected = str(theirs.value).replace("torch.nn.", "cogtensor.nn.").replace("torch.FloatTensor",
                                                                                 "cogtensor.Tensor")
        expected = expected.replace("torch Tensor", "cogtensor Tensor").replace("torch.Tensor", "cogtensor.Tensor")
        assert str(ours.value) == expected


def test_assignment_before_init_raises():
    class Broken(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ct.ones(1))

    class BrokenChild(nn.Module):
        def __init__(self):
            self.c = nn.Module()

    with pytest.raises(AttributeError, match="cannot assign parameters before Module.__init__"):
        Broken()
    with pytest.raises(AttributeError, match="cannot assign module before Module.__init__"):
        BrokenChild()
    with pytest.raises(TypeError, match="unexpected keyword argument 'x'"):
        nn.Module(x=1)
    with pytest.raises(NotImplementedError, match=r'Module \[Module\] is missing the required "forward"'):
        nn.Module()(1)


def test_get_submodule_parameter_buffer():
    net = ours_net()
    assert net.get_submodule("blocks.1.norm") is net.blocks[1].norm
    assert net.get_submodule("") is net
    assert net.get_parameter("heads.cls.weight") is net.heads["cls"].weight
    assert net.get_buffer("blocks.0.norm.running_var") is net.blocks[0].norm.running_var
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        net.get_submodule("blocks.nope")
    with pytest.raises(AttributeError, match="is not an nn.Parameter"):
        net.get_parameter("scale")
    with pytest.raises(AttributeError, match="is not a buffer"):
        net.get_buffer("embed.weight")


# ---------------------------------------------------------------------- hooks
def test_forward_hooks():
    m, calls = Affine(3, 2), []
    x = ct.randn(4, 3)
    h1 = m.register_forward_pre_hook(lambda mod, args: (calls.append("pre1"), (args[0] * 2,))[1])
    h2 = m.register_forward_pre_hook(lambda mod, args: calls.append("pre0"), prepend=True)
    h3 = m.register_forward_hook(lambda mod, args, out: (calls.append("post"), out + 1)[1])
    h4 = m.register_forward_hook(lambda mod, args, kwargs, out: calls.append(("kw", sorted(kwargs))),
                                 with_kwargs=True)
    out = m(x)
    assert calls == ["pre0", "pre1", "post", ("kw", [])]
    np.testing.assert_allclose(out.numpy(), (F.linear(x * 2, m.weight, m.bias) + 1).detach().numpy(), rtol=1e-6)
    for h in (h1, h2, h3, h4):
        h.remove()
    h1.remove()  # twice is harmless
    calls.clear()
    np.testing.assert_allclose(m(x).detach().numpy(), F.linear(x, m.weight, m.bias).detach().numpy(), rtol=1e-6)
    assert calls == [] and not m._forward_hooks_with_kwargs


def test_forward_pre_hook_with_kwargs_and_bad_return():
    class Scaled(nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    m = Scaled()
    m.register_forward_pre_hook(lambda mod, args, kwargs: (args, {"scale": 3.0}), with_kwargs=True)
    assert m(ct.ones(2)).tolist() == [3.0, 3.0]
    m2 = Scaled()
    m2.register_forward_pre_hook(lambda mod, args, kwargs: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
        m2(ct.ones(2))


def test_always_call_hook_runs_when_forward_raises():
    class Fails(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    m, seen = Fails(), []
    m.register_forward_hook(lambda mod, args, out: seen.append("always"), always_call=True)
    m.register_forward_hook(lambda mod, args, out: seen.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(ct.ones(1))
    assert seen == ["always"]
    with m.register_forward_hook(lambda mod, args, out: seen.append("ctx")):
        Affine(1, 1)(ct.ones(1, 1))
    assert "ctx" not in seen


def test_state_dict_and_load_hooks():
    m, seen = Affine(2, 2), []
    m.register_state_dict_pre_hook(lambda mod, prefix, keep_vars: seen.append(("pre", prefix)))
    m.register_state_dict_post_hook(lambda mod, sd, prefix, meta: seen.append(("post", list(sd))))
    m.register_load_state_dict_post_hook(lambda mod, keys: keys.missing_keys.clear())
    sd = m.state_dict(prefix="x.")
    assert seen == [("pre", "x."), ("post", ["x.weight", "x.bias"])]
    m.load_state_dict({"weight": ct.zeros(2, 2)})  # the post hook forgives the missing bias
    assert m.weight.abs().sum().item() == 0 and len(sd) == 2


# -------------------------------------------------------------- modes, grads
def test_train_eval_and_requires_grad():
    net = ours_net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    assert net.requires_grad_(False) is net and not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        net.train("yes")


def test_zero_grad_and_gradients_match_torch():
    theirs, ours = torch_net(), ours_net().eval()
    ours.load_state_dict(to_ours(theirs.state_dict()))
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    theirs(torch.from_numpy(x)).square().sum().backward()
    ours(ct.tensor(x)).square().sum().backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert (p.grad is None) == (q.grad is None), name  # heads.reg is unused: no gradient
        if q.grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)
    grads = [p.grad for p in ours.parameters()]
    ours.zero_grad(set_to_none=False)
    assert all(p.grad is g and (g is None or not g.numpy().any()) for p, g in zip(ours.parameters(), grads))
    ours.zero_grad()
    assert all(p.grad is None for p in ours.parameters())


def test_to_dtype_keeps_parameter_identity():
    net = ours_net()
    net(ct.randn(2, 4)).sum().backward()
    weight = net.embed.weight
    assert net.to(ct.float64) is net
    assert net.embed.weight is weight and weight.dtype is ct.float64 and weight.grad.dtype is ct.float64
    assert weight.requires_grad and isinstance(weight, nn.Parameter)
    assert net.scale.dtype is ct.float64 and net.mask.dtype is ct.float64
    assert net.blocks[0].norm.num_batches_tracked.dtype is ct.int64  # integers keep their dtype
    net.float()
    assert weight.dtype is ct.float32
    net.to("cpu", dtype=ct.float64)
    assert weight.dtype is ct.float64
    net.to(ct.zeros(1, dtype=ct.float32))
    assert weight.dtype is ct.float32
    net.half()
    assert weight.dtype is ct.float16
    assert net.cpu() is net and net.to("cpu") is net
    with pytest.raises(TypeError, match="only accepts floating point or complex dtypes"):
        net.to(ct.int64)
    with pytest.raises(RuntimeError, match="CPU only"):
        net.to("cuda")


def test_apply_order_matches_torch():
    ours, theirs = ours_net(), torch_net()
    ours_names = {id(m): n for n, m in ours.named_modules()}
    theirs_names = {id(m): n for n, m in theirs.named_modules()}
    ours_order, theirs_order = [], []
    assert ours.apply(lambda m: ours_order.append(ours_names[id(m)])) is ours
    theirs.apply(lambda m: theirs_order.append(theirs_names[id(m)]))
    assert ours_order == theirs_order


# ------------------------------------------------------------ repr and copies
def test_repr_matches_torch():
    ours = make_net(ct, Affine, Norm, ReLU)
    def stand_in(name, extra=None):  # parameterless torch modules: only names and extra_repr matter
        def init(self, *args, **kwargs):
            torch.nn.Module.__init__(self)
            self.args = args + tuple(kwargs.values())

        return type(name, (torch.nn.Module,), {"__init__": init, "extra_repr": extra or (lambda self: "")})

    torch_affine = stand_in("Affine", lambda self: "in_features={}, out_features={}, bias={}".format(
        *(self.args + (True,))[:3]))
    torch_norm, torch_relu = stand_in("Norm"), stand_in("ReLU")
    theirs = make_net(torch, torch_affine, torch_norm, torch_relu)
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList()) == "ModuleList()"
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())


def test_parameter_basics():
    p = nn.Parameter(ct.tensor([1.0, 2.0]))
    q = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    assert repr(p) == repr(q)
    assert p.requires_grad and p.is_leaf and isinstance(p, ct.Tensor)
    assert type(p * 2) is ct.Tensor and type(p.detach()) is ct.Tensor
    assert nn.Parameter().shape == (0,) and nn.Parameter().dtype is ct.float32
    assert not nn.Parameter(ct.ones(2), requires_grad=False).requires_grad
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(ct.tensor([1, 2]))
    with pytest.raises(TypeError, match="cogtensor.Tensor"):
        nn.Parameter(np.ones(2))
    shared = ct.zeros(2)
    nn.Parameter(shared).data[0] = 5.0
    assert shared[0].item() == 5.0  # no copy, as torch


def test_deepcopy_and_pickle():
    net = ours_net()
    net(ct.randn(2, 4)).sum().backward()
    twin = copy.deepcopy(net)
    assert twin.shared is twin.embed  # sharing is preserved
    for (n, p), (_, q) in zip(net.named_parameters(), twin.named_parameters()):
        assert p is not q and q.requires_grad and np.array_equal(p.numpy(), q.numpy()), n
    twin.zero_grad()
    twin(ct.randn(2, 4)).sum().backward()
    assert twin.embed.weight.grad is not None
    assert not np.array_equal(twin.embed.weight.grad.numpy(), net.embed.weight.grad.numpy())
    model = nn.Sequential(Affine(4, 3), Norm(3), ReLU())  # classes pickle by name: module level
    restored = pickle.loads(pickle.dumps(model))
    x = ct.randn(3, 4)
    np.testing.assert_array_equal(restored(x).detach().numpy(), model(x).detach().numpy())
    assert isinstance(restored[0].weight, nn.Parameter) and restored[0].weight.requires_grad
    assert list(restored.state_dict()) == list(model.state_dict())


def test_call_without_hooks_is_forward():
    m = Affine(3, 3)
    x = ct.randn(2, 3)
    np.testing.assert_array_equal(m(x).detach().numpy(), m.forward(x).detach().numpy())
    assert math.isclose(m(x).sum().item(), F.linear(x, m.weight, m.bias).sum().item(), rel_tol=1e-6)


# ----------------------------------------------------------------- containers
class Tag(nn.Module):
    def __init__(self, label):
        super().__init__()
        self.label = label

    def forward(self, x):
        return x + [self.label]


def torch_tag(label):
    m = torch.nn.Module()
    m.label = label
    m.forward = lambda x: x + [label]
    return m


def layout(container):
    return [(k, m.label) for k, m in container._modules.items()]


SEQUENTIAL_OPS = [
    lambda S, t: S(t(0), t(1), t(2)),
    lambda S, t: S(OrderedDict([("a", t(0)), ("b", t(1)), ("c", t(2))])),
    lambda S, t: S(t(0), t(1), t(2), t(3))[1:3],
    lambda S, t: S(t(0), t(1), t(2), t(3))[::-2],
    lambda S, t: S(OrderedDict([("a", t(0)), ("b", t(1))]))[1:],
    lambda S, t: S(t(0)).append(t(1)).append(t(2)),
    lambda S, t: S(t(0), t(1)).insert(1, t(2)).insert(-1, t(3)).insert(4, t(4)),
    lambda S, t: S(t(0)).extend([t(1), t(2)]),
    lambda S, t: S(t(0), t(1)) + S(t(2)),
    lambda S, t: S(t(0), t(1)) * 3,
    lambda S, t: 2 * S(t(0)),
]


@pytest.mark.parametrize("op", range(len(SEQUENTIAL_OPS)))
def test_sequential_layout_matches_torch(op):
    ours = SEQUENTIAL_OPS[op](nn.Sequential, Tag)
    theirs = SEQUENTIAL_OPS[op](torch.nn.Sequential, torch_tag)
    assert layout(ours) == layout(theirs)
    assert ours([]) == theirs([])  # forward runs the modules in order
    assert len(ours) == len(theirs) and [m.label for m in ours] == [m.label for m in theirs]


def test_sequential_indexing_deletion_and_errors_match_torch():
    def build(S, t):
        return S(OrderedDict([("a", t(0)), ("b", t(1)), ("c", t(2)), ("d", t(3))]))

    pairs = [build(nn.Sequential, Tag), build(torch.nn.Sequential, torch_tag)]
    for seq in pairs:
        assert seq[-1].label == 3 and seq[1].label == 1
    for seq in pairs:
        del seq[1]
        seq.pop(0)
        seq[0] = Tag(9) if isinstance(seq, nn.Module) else torch_tag(9)
    assert layout(pairs[0]) == layout(pairs[1])
    iadd = [pairs[0].__iadd__(nn.Sequential(Tag(5))), pairs[1].__iadd__(torch.nn.Sequential(torch_tag(5)))]
    imul = [iadd[0].__imul__(2), iadd[1].__imul__(2)]
    assert layout(imul[0]) == layout(imul[1])
    for seq in (nn.Sequential(Tag(0)), torch.nn.Sequential(torch_tag(0))):
        with pytest.raises(IndexError, match="index 5 is out of range"):
            seq[5]
        with pytest.raises(ValueError, match="add operator supports only objects of Sequential class"):
            seq + [1]
        with pytest.raises(ValueError, match="Non-positive multiplication factor"):
            seq * 0
        with pytest.raises(TypeError, match="unsupported operand"):
            seq * 1.5
        with pytest.raises(IndexError, match="Index out of range: 3"):
            seq.insert(3, Tag(1) if isinstance(seq, nn.Module) else torch_tag(1))
    assert "0" not in dir(nn.Sequential(Tag(0)))


MODULELIST_OPS = [
    lambda L, t: L([t(0), t(1), t(2)]),
    lambda L, t: L([t(0), t(1), t(2), t(3)])[1:],
    lambda L, t: L([t(0)]).append(t(1)).extend([t(2), t(3)]),
    lambda L, t: L([t(0)]) + L([t(1)]),
    lambda L, t: L([t(0), t(1)]).__iadd__([t(2)]),
    lambda L, t: (lambda m: (m.insert(1, t(9)), m)[1])(L([t(0), t(1)])),
    lambda L, t: (lambda m: (m.__delitem__(slice(0, 3, 2)), m)[1])(L([t(0), t(1), t(2), t(3)])),
    lambda L, t: (lambda m: (m.pop(-2), m)[1])(L([t(0), t(1), t(2)])),
    lambda L, t: (lambda m: (m.__setitem__(-1, t(7)), m)[1])(L([t(0), t(1)])),
]


@pytest.mark.parametrize("op", range(len(MODULELIST_OPS)))
def test_module_list_layout_matches_torch(op):
    ours = MODULELIST_OPS[op](nn.ModuleList, Tag)
    theirs = MODULELIST_OPS[op](torch.nn.ModuleList, torch_tag)
    assert layout(ours) == layout(theirs)
    assert [m.label for m in ours] == [m.label for m in theirs] and len(ours) == len(theirs)


def test_module_list_errors_match_torch():
    for lst in (nn.ModuleList([Tag(0)]), torch.nn.ModuleList([torch_tag(0)])):
        with pytest.raises(IndexError, match="index -2 is out of range"):
            lst[-2]
        with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable, but got int"):
            lst.extend(3)
    with pytest.raises(NotImplementedError, match="missing the required \"forward\""):
        nn.ModuleList([Tag(0)])(1)


def test_module_dict_matches_torch():
    def build(D, t):
        d = D({"b": t(1), "a": t(0)})
        d.update([("c", t(2)), ("b", t(5))])
        d["z"] = t(3)
        del d["a"]
        popped = d.pop("c")
        return d, popped

    (ours, p1), (theirs, p2) = build(nn.ModuleDict, Tag), build(torch.nn.ModuleDict, torch_tag)
    assert layout(ours) == layout(theirs) and p1.label == p2.label
    assert list(ours) == list(theirs) and list(ours.keys()) == list(theirs.keys())
    assert [m.label for m in ours.values()] == [m.label for m in theirs.values()]
    assert [(k, m.label) for k, m in ours.items()] == [(k, m.label) for k, m in theirs.items()]
    assert ("z" in ours) and ("a" not in ours) and len(ours) == len(theirs)
    for d in (nn.ModuleDict(), torch.nn.ModuleDict()):
        with pytest.raises(TypeError, match="should be called with an iterable of key/value pairs"):
            d.update(3)
        with pytest.raises(ValueError, match="has length 3; 2 is required"):
            d.update([("a", 1, 2)])
        with pytest.raises(TypeError, match="should be Iterable"):
            d.update([3])
    ours.clear()
    assert len(ours) == 0


def test_containers_register_parameters():
    model = nn.Sequential(Affine(2, 3), nn.ModuleList([Affine(3, 3)]), nn.ModuleDict({"h": Affine(3, 1)}))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.0.weight", "1.0.bias",
                                                        "2.h.weight", "2.h.bias"]


def test_buffer_assignment_registers_like_torch():
    for lib in (ct, torch):
        m = lib.nn.Module()
        m.kept = lib.nn.Buffer(lib.ones(2))
        m.hidden = lib.nn.Buffer(lib.zeros(1), persistent=False)
        assert [n for n, _ in m.named_buffers()] == ["kept", "hidden"]
        assert list(m.state_dict()) == ["kept"]
        m.hidden = lib.ones(1)  # stays non-persistent
        assert list(m.state_dict()) == ["kept"]
