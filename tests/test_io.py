"""cogtensor.io: safetensors files (round trips, PyTorch interop both ways), nested state,
damaged files, atomic writes, and the Checkpoint manager (retention, bit-exact resume)."""

import json
import os
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.torch
import torch
from torch_reference import BF16, torch_of

import cogtensor as ct
from cogtensor import io
from cogtensor.data import DataLoader, TensorDataset

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "bfloat16", "float32", "float64",
          "complex64"]
SHAPES = [(), (1,), (0,), (0, 3), (3, 0, 2), (2, 3), (4, 1, 5)]


def random_array(shape, name, rng):
    return np.asarray(_random_values(shape, name, rng))


def _random_values(shape, name, rng):
    dtype = getattr(ct, name).numpy
    if name == "bool":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return (rng.standard_normal(shape) * 100).astype(dtype)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", DTYPES)
def test_save_file_round_trip_every_dtype_and_shape(tmp_path, name):
    rng = np.random.default_rng(DTYPES.index(name))
    tensors = {f"t{i}": ct.Tensor(random_array(s, name, rng)) for i, s in enumerate(SHAPES)}
    io.save_file(tensors, tmp_path / "w.safetensors")
    back = io.load_file(tmp_path / "w.safetensors")
    assert sorted(back) == sorted(tensors)
    for key, t in tensors.items():
        assert isinstance(back[key], ct.Tensor) and back[key].dtype is t.dtype
        assert same_bits(back[key].numpy(), t.numpy()), key


def test_non_contiguous_tensors_are_written_in_logical_order(tmp_path):
    base = ct.tensor(np.arange(60, dtype=np.float32).reshape(3, 4, 5))
    views = {"transposed": base.transpose(0, 2), "strided": base[:, ::2, 1::2], "expanded": ct.ones(1, 3).expand(4, 3)}
    io.save_file(views, tmp_path / "v.safetensors")
    back = io.load_file(tmp_path / "v.safetensors")
    theirs = safetensors.torch.load_file(tmp_path / "v.safetensors")
    for key, t in views.items():
        np.testing.assert_array_equal(back[key].numpy(), t.numpy())
        np.testing.assert_array_equal(theirs[key].numpy(), t.numpy())
        assert back[key].is_contiguous() and back[key].numpy().flags.writeable


@pytest.mark.parametrize("name", DTYPES)
def test_torch_reads_what_we_write(tmp_path, name):
    rng = np.random.default_rng(1)
    arrays = {"a": random_array((3, 4), name, rng), "empty": random_array((0, 2), name, rng),
              "scalar": random_array((), name, rng)}
    io.save_file({k: ct.Tensor(a) for k, a in arrays.items()}, tmp_path / "ours.safetensors", metadata={"k": "v"})
    theirs = safetensors.torch.load_file(tmp_path / "ours.safetensors")
    for key, a in arrays.items():
        assert theirs[key].dtype == getattr(torch, name)
        torch.testing.assert_close(theirs[key], torch_of(a), rtol=0, atol=0)
    with safetensors.safe_open(tmp_path / "ours.safetensors", framework="pt") as f:
        assert f.metadata() == {"k": "v"}


@pytest.mark.parametrize("name", DTYPES)
def test_we_read_what_torch_writes(tmp_path, name):
    gen = torch.Generator().manual_seed(2)
    if name == "bool":
        tensors = {"a": torch.rand(5, 3, generator=gen) < 0.5}
    elif name in ("uint8", "int8", "int16", "int32", "int64"):
        low = 0 if name == "uint8" else -100
        tensors = {"a": torch.randint(low, 100, (5, 3), generator=gen, dtype=getattr(torch, name))}
    else:
        tensors = {"a": torch.randn(5, 3, generator=gen, dtype=getattr(torch, name))}
    tensors["transposed_copy"] = tensors["a"].t().contiguous()
    tensors["empty"] = tensors["a"][:0]
    safetensors.torch.save_file(tensors, tmp_path / "theirs.safetensors", metadata={"format": "pt"})
    ours = io.load_file(tmp_path / "theirs.safetensors")
    for key, t in tensors.items():
        assert ours[key].dtype.name == name and tuple(ours[key].shape) == tuple(t.shape)
        torch.testing.assert_close(torch_of(ours[key].numpy()), t, rtol=0, atol=0)
    assert io.load_metadata(tmp_path / "theirs.safetensors") == {"format": "pt"}
    assert io.load(tmp_path / "theirs.safetensors").keys() == ours.keys()  # a plain file loads flat


def test_bfloat16_bits_survive_both_ways(tmp_path):
    bits = np.arange(0, 1 << 16, 7, dtype=np.uint16)  # every 7th bfloat16 pattern, NaNs and infs included
    ours = ct.Tensor(bits.view(BF16))
    io.save_file({"b": ours}, tmp_path / "b.safetensors")
    theirs = safetensors.torch.load_file(tmp_path / "b.safetensors")["b"]
    assert theirs.dtype == torch.bfloat16
    np.testing.assert_array_equal(theirs.view(torch.int16).numpy().view(np.uint16), bits)
    safetensors.torch.save_file({"b": theirs}, tmp_path / "b2.safetensors")
    np.testing.assert_array_equal(io.load_file(tmp_path / "b2.safetensors")["b"].numpy().view(np.uint16), bits)


def test_save_file_errors(tmp_path):
    with pytest.raises(TypeError, match="complex128"):
        io.save_file({"c": ct.zeros(2, dtype=ct.complex128)}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="names must be str"):
        io.save_file({1: ct.zeros(2)}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="expected a Tensor"):
        io.save_file({"x": [1, 2]}, tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="dict of tensors"):
        io.save_file([ct.zeros(2)], tmp_path / "c.safetensors")
    with pytest.raises(TypeError, match="metadata"):
        io.save_file({"x": ct.zeros(2)}, tmp_path / "c.safetensors", metadata={"n": 1})
    assert os.listdir(tmp_path) == []  # nothing half-written left behind


def test_uint16_file_is_a_clear_type_error(tmp_path):
    safetensors.torch.save_file({"u": torch.zeros(3, dtype=torch.uint16)}, tmp_path / "u.safetensors")
    with pytest.raises(TypeError, match="'u'.*uint16"):
        io.load_file(tmp_path / "u.safetensors")


# ---------------------------------------------------------------- damaged files
def written(tmp_path):
    path = tmp_path / "state.safetensors"
    io.save({"w": ct.randn(16, 16), "b": ct.zeros(16), "step": 3}, path)
    return path, path.read_bytes()


@pytest.mark.parametrize("keep", [0, 5, 8, 20, 100, -1])
def test_truncated_files_raise_value_error_naming_the_file(tmp_path, keep):
    path, raw = written(tmp_path)
    path.write_bytes(raw[:keep] if keep >= 0 else raw[:-1])
    for load in (io.load, io.load_file, io.load_metadata):
        with pytest.raises(ValueError, match="state.safetensors.*(truncated or corrupt)"):
            load(path)


def test_garbage_and_damaged_headers_raise_value_error(tmp_path):
    path, raw = written(tmp_path)
    path.write_bytes(b"\x00" * 64 + b"not a safetensors file")
    with pytest.raises(ValueError, match="state.safetensors"):
        io.load(path)
    header_len = int.from_bytes(raw[:8], "little")
    damaged = bytearray(raw)
    damaged[8 + header_len // 2] = ord("}")  # breaks the header's JSON
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="state.safetensors"):
        io.load(path)


def test_flipped_data_bytes_fail_the_checksum(tmp_path):
    path, raw = written(tmp_path)
    damaged = bytearray(raw)
    damaged[-10] ^= 0xFF  # inside the tensor data, where the format itself checks nothing
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"state.safetensors is corrupt.*CRC-32"):
        io.load(path)


def test_damaged_structure_metadata_raises_value_error(tmp_path):
    path = tmp_path / "s.safetensors"
    metadata = {"cogtensor.layout": "state/1", "cogtensor.structure": json.dumps({"w": {"@tensor": "missing"}}),
                "cogtensor.crc32": json.dumps({"w": io._crc(np.zeros(2, np.float32))})}
    io.save_file({"w": ct.zeros(2)}, path, metadata=metadata)
    with pytest.raises(ValueError, match="s.safetensors has a damaged structure"):
        io.load(path)


def test_missing_file_and_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        io.load_file(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="not a file"):
        io.load(tmp_path)
    with pytest.raises(TypeError, match="file path"):
        io.load_file(3)
    with pytest.raises(ValueError, match="map_location"):
        io.load(tmp_path / "x", map_location="cuda")


# ------------------------------------------------------------------ nested state
def test_nested_state_round_trip(tmp_path):
    w = ct.randn(3, 2)
    state = {
        "model": OrderedDict([("fc.weight", w), ("fc.bias", ct.zeros(2, dtype=ct.bfloat16)), ("tied", w)]),
        "optimizer": {"state": {0: {"step": ct.tensor(3.0), "exp_avg": ct.ones(3, 2)}, 1: {}},
                      "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "amsgrad": False,
                                        "foreach": None, "params": [0, 1], "initial_lr": float("inf")}]},
        "numbers": [1, -2**70, 2.5, float("nan"), float("-inf"), complex(1, -2), True, None, "text"],
        "keys": {(1, "a"): "tuple key", 2.5: "float key", "@tag": "at-key", None: 0},
        "array": np.arange(4, dtype=np.int16), "dtype": ct.bfloat16, "generator": ct.Generator().manual_seed(7),
        "np_scalars": [np.float32(1.5), np.int64(3), np.bool_(True)],
    }
    io.save(state, tmp_path / "s.safetensors")
    back = io.load(tmp_path / "s.safetensors")
    assert isinstance(back["model"], OrderedDict) and list(back["model"]) == ["fc.weight", "fc.bias", "tied"]
    assert back["model"]["tied"] is back["model"]["fc.weight"]
    np.testing.assert_array_equal(back["model"]["fc.weight"].numpy(), w.numpy())
    assert back["model"]["fc.bias"].dtype is ct.bfloat16
    opt = back["optimizer"]
    assert list(opt["state"]) == [0, 1] and opt["state"][1] == {}
    assert opt["state"][0]["step"].item() == 3.0 and opt["state"][0]["step"].shape == ()
    assert opt["param_groups"][0] == {**state["optimizer"]["param_groups"][0]}
    nums = back["numbers"]
    assert nums[:3] == [1, -2**70, 2.5] and np.isnan(nums[3]) and nums[4] == float("-inf")
    assert nums[5] == complex(1, -2) and nums[6:] == [True, None, "text"] and isinstance(nums[6], bool)
    assert back["keys"] == state["keys"]
    assert isinstance(back["array"], np.ndarray) and back["array"].dtype == np.int16
    assert back["dtype"] is ct.bfloat16
    assert back["generator"].get_state() == state["generator"].get_state()
    assert back["np_scalars"] == [1.5, 3, True]
    # the weights are also readable by torch's loader, named by their path
    theirs = safetensors.torch.load_file(tmp_path / "s.safetensors")
    assert {"model/fc.weight", "model/fc.bias", "optimizer/state/0/exp_avg"} <= set(theirs)


def test_loaded_tensors_are_writable_and_independent(tmp_path):
    io.save({"m": ct.zeros(3)}, tmp_path / "s.safetensors")
    first = io.load(tmp_path / "s.safetensors")["m"]
    first.add_(1.0)  # optimizer state is updated in place after a resume
    np.testing.assert_array_equal(io.load(tmp_path / "s.safetensors")["m"].numpy(), np.zeros(3))


def test_save_rejects_unstorable_values_naming_their_path(tmp_path):
    with pytest.raises(TypeError, match=r"function at obj\['scheduler'\]\['lr_lambdas'\]\[0\]"):
        io.save({"scheduler": {"lr_lambdas": [lambda e: e]}}, tmp_path / "s.safetensors")
    with pytest.raises(TypeError, match="complex128"):
        io.save({"z": ct.zeros(1, dtype=ct.complex128)}, tmp_path / "s.safetensors")
    assert os.listdir(tmp_path) == []


def test_colliding_tensor_names_are_kept_apart(tmp_path):
    state = {"a/b": ct.ones(1), "a": {"b": ct.zeros(1)}}
    io.save(state, tmp_path / "s.safetensors")
    back = io.load(tmp_path / "s.safetensors")
    assert back["a/b"].item() == 1 and back["a"]["b"].item() == 0


# --------------------------------------------------------------- atomic writes
def crash_midway(real):
    """A write that puts half the bytes on disk, then dies (a full disk, a kill)."""
    def write(arrays, path, metadata):
        real(arrays, path, metadata)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
        raise OSError("simulated crash mid-write")
    return write


def test_crash_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    io.save_file({"w": ct.ones(100)}, path)
    monkeypatch.setattr(io, "_write_safetensors", crash_midway(io._write_safetensors))
    with pytest.raises(OSError, match="simulated crash"):
        io.save_file({"w": ct.zeros(100)}, path)
    with pytest.raises(OSError, match="simulated crash"):
        io.save({"w": ct.zeros(100)}, path)
    assert os.listdir(tmp_path) == ["w.safetensors"]  # the temporary file is gone
    np.testing.assert_array_equal(io.load_file(path)["w"].numpy(), np.ones(100, np.float32))


def test_checkpoint_survives_a_crash_while_saving(tmp_path, monkeypatch):
    ckpt = io.Checkpoint(tmp_path, keep_last=1, keep_best=0)
    ckpt.save(1, extra_value=ct.ones(4))
    monkeypatch.setattr(io, "_write_safetensors", crash_midway(io._write_safetensors))
    with pytest.raises(OSError):
        ckpt.save(2, extra_value=ct.zeros(4))
    assert ckpt.steps == [1] and sorted(os.listdir(tmp_path)) == ["checkpoint-1.safetensors"]
    np.testing.assert_array_equal(ckpt.load_latest()["extra"]["extra_value"].numpy(), np.ones(4, np.float32))


def test_stale_temporary_files_of_a_killed_writer_are_ignored_and_removed(tmp_path):
    ckpt = io.Checkpoint(tmp_path)
    ckpt.save(1, value=1)
    stale = tmp_path / ".checkpoint-2.safetensors.abc123.tmp"
    stale.write_bytes((tmp_path / "checkpoint-1.safetensors").read_bytes()[:50])  # killed mid-write
    reopened = io.Checkpoint(tmp_path)
    assert reopened.steps == [1] and not stale.exists()
    assert reopened.load_latest()["extra"]["value"] == 1


# ----------------------------------------------------------------- retention
def test_keep_last_and_keep_best_min(tmp_path):
    ckpt = io.Checkpoint(tmp_path, keep_last=2, keep_best=1, mode="min")
    for step, loss in enumerate([5.0, 1.0, 3.0, float("nan"), 4.0, 2.0], start=1):
        ckpt.save(step, metric=loss)
    assert ckpt.steps == [2, 5, 6] and ckpt.best_step == 2 and ckpt.latest_step == 6
    assert sorted(os.listdir(tmp_path)) == [f"checkpoint-{s}.safetensors" for s in (2, 5, 6)]
    assert ckpt.load_best()["metric"] == 1.0 and ckpt.load_latest()["step"] == 6
    reopened = io.Checkpoint(tmp_path, keep_last=2, keep_best=1, mode="min")  # metrics come from the headers
    assert reopened.steps == [2, 5, 6] and reopened.best_step == 2


def test_keep_best_max_with_tensor_metrics_and_ties(tmp_path):
    ckpt = io.Checkpoint(tmp_path, keep_last=1, keep_best=2, mode="max", prefix="run")
    for step, acc in [(10, 0.5), (20, 0.9), (30, 0.9), (40, 0.1), (50, 0.2)]:
        ckpt.save(step, metric=ct.tensor(acc, dtype=ct.float64))
    assert ckpt.steps == [20, 30, 50] and ckpt.best_step == 20  # the earlier of two equal metrics
    assert (tmp_path / "run-20.safetensors").exists()


def test_keep_last_none_keeps_everything_and_same_step_replaces(tmp_path):
    ckpt = io.Checkpoint(tmp_path, keep_last=None, keep_best=0)
    for step in range(5):
        ckpt.save(step, value=step)
    ckpt.save(3, value="again")
    assert ckpt.steps == [0, 1, 2, 3, 4] and ckpt.load(3)["extra"]["value"] == "again"
    assert ckpt.best_step is None and ckpt.load_best() is None


def test_checkpoint_argument_errors(tmp_path):
    for kwargs in ({"keep_last": 0}, {"keep_best": -1}, {"mode": "best"}, {"prefix": "a/b"}, {"keep_last": 1.5}):
        with pytest.raises(ValueError):
            io.Checkpoint(tmp_path, **kwargs)
    ckpt = io.Checkpoint(tmp_path)
    with pytest.raises(ValueError, match="step"):
        ckpt.save(-1)
    with pytest.raises(TypeError, match="metric"):
        ckpt.save(1, metric="low")
    with pytest.raises(TypeError, match="state_dict"):
        ckpt.save(1, model=object())
    with pytest.raises(FileNotFoundError, match="step 7"):
        ckpt.load(7)
    assert ckpt.load_latest() is None and ckpt.resume() == 0


def test_corrupt_latest_checkpoint_raises_naming_it(tmp_path):
    ckpt = io.Checkpoint(tmp_path)
    ckpt.save(1, metric=1.0)
    ckpt.save(2, metric=0.5)
    path = tmp_path / "checkpoint-2.safetensors"
    path.write_bytes(path.read_bytes()[:-7])  # damaged outside our control (a bad copy)
    reopened = io.Checkpoint(tmp_path)
    with pytest.raises(ValueError, match="checkpoint-2.safetensors"):
        reopened.load_latest()
    assert reopened.best_step == 1  # an unreadable header never ranks as best


# ------------------------------------------------------------- bit-exact resume
class TinyModel:
    """Linear -> ReLU -> dropout -> Linear with a torch-style state_dict (dropout draws from the default generator)."""

    def __init__(self, seed):
        g = ct.Generator().manual_seed(seed)
        f64 = ct.float64
        self.params = OrderedDict([
            ("fc1.weight", ct.randn(6, 4, generator=g, dtype=f64)), ("fc1.bias", ct.zeros(6, dtype=f64)),
            ("fc2.weight", ct.randn(1, 6, generator=g, dtype=f64)), ("fc2.bias", ct.zeros(1, dtype=f64))])
        for p in self.params.values():
            p.requires_grad_()

    def __call__(self, x):
        h = (x @ self.params["fc1.weight"].mT + self.params["fc1.bias"]).clamp(min=0)
        keep = ct.rand(*h.shape, dtype=ct.float64) >= 0.25
        return (h * keep / 0.75) @ self.params["fc2.weight"].mT + self.params["fc2.bias"]

    def state_dict(self):
        return OrderedDict((k, p.detach()) for k, p in self.params.items())

    def load_state_dict(self, state):
        with ct.no_grad():
            for k, p in self.params.items():
                p.copy_(state[k])


class MomentumSGD:
    """SGD with momentum; state_dict laid out as torch.optim's."""

    def __init__(self, params, lr, momentum):
        self.params = list(params)
        self.param_groups = [{"lr": lr, "momentum": momentum, "params": list(range(len(self.params)))}]
        self.state = {}

    def step(self):
        group = self.param_groups[0]
        with ct.no_grad():
            for i, p in enumerate(self.params):
                buf = self.state.setdefault(i, {}).get("momentum_buffer")
                buf = p.grad.clone() if buf is None else buf.mul_(group["momentum"]).add_(p.grad)
                self.state[i]["momentum_buffer"] = buf
                p.sub_(buf * group["lr"])
                p.grad = None

    def state_dict(self):
        return {"state": {i: dict(s) for i, s in self.state.items()}, "param_groups": [dict(self.param_groups[0])]}

    def load_state_dict(self, state):
        self.state = {i: {k: v.clone() for k, v in s.items()} for i, s in state["state"].items()}
        self.param_groups = [dict(g) for g in state["param_groups"]]


class HalvingLR:
    def __init__(self, optimizer, every):
        self.optimizer, self.every, self.last_epoch = optimizer, every, 0

    def step(self):
        self.last_epoch += 1
        if self.last_epoch % self.every == 0:
            self.optimizer.param_groups[0]["lr"] *= 0.5

    def state_dict(self):
        return {"every": self.every, "last_epoch": self.last_epoch}

    def load_state_dict(self, state):
        self.every, self.last_epoch = state["every"], state["last_epoch"]


def training_run(epochs, ckpt=None, start_from=None):
    """Train from scratch (or resume from ``start_from``); returns the per-step losses and final weights."""
    ct.manual_seed(123)
    data = np.random.default_rng(0).standard_normal((40, 5))
    loader = DataLoader(TensorDataset(ct.tensor(data[:, :4]), ct.tensor(data[:, 4:])), batch_size=8, shuffle=True)
    model = TinyModel(seed=0 if start_from is None else 99)  # a resumed run starts from other weights
    opt = MomentumSGD(model.params.values(), lr=0.05, momentum=0.9)
    sched = HalvingLR(opt, every=2)
    start = 0
    if start_from is not None:
        ct.manual_seed(555)  # a new process: the default generator is elsewhere until resume restores it
        start = start_from.resume(model, opt, sched)
    losses = []
    for epoch in range(start, epochs):
        for x, y in loader:
            loss = ((model(x) - y) ** 2).mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        sched.step()
        if ckpt is not None:
            ckpt.save(epoch + 1, model=model, optimizer=opt, scheduler=sched, metric=losses[-1])
    return losses, {k: v.numpy().copy() for k, v in model.state_dict().items()}


def test_resume_continues_bit_for_bit(tmp_path):
    full_losses, full_weights = training_run(6)
    ckpt = io.Checkpoint(tmp_path, keep_last=2)
    first_losses, _ = training_run(3, ckpt=ckpt)
    assert ckpt.latest_step == 3
    rest_losses, weights = training_run(6, start_from=io.Checkpoint(tmp_path))
    assert first_losses + rest_losses == full_losses  # exact equality: the same floats
    for k, w in full_weights.items():
        assert np.array_equal(weights[k], w), k


def test_resume_with_cogtensor_nn_and_optim(tmp_path):
    """The same with nn.Module parameters, F.dropout, optim.Adam and lr_scheduler.StepLR."""
    nn = pytest.importorskip("cogtensor.nn")
    optim = pytest.importorskip("cogtensor.optim")
    F = nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w1 = nn.Parameter(ct.randn(8, 4, dtype=ct.float64) * 0.5)
            self.b1 = nn.Parameter(ct.zeros(8, dtype=ct.float64))
            self.w2 = nn.Parameter(ct.randn(1, 8, dtype=ct.float64) * 0.5)

        def forward(self, x):
            return F.dropout(F.relu(x @ self.w1.mT + self.b1), 0.2, self.training) @ self.w2.mT

    def run(epochs, ckpt=None, resume_from=None):
        ct.manual_seed(0)
        model = Net()
        opt = optim.Adam(model.parameters(), lr=1e-2)
        sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        data = np.random.default_rng(1).standard_normal((32, 5))
        loader = DataLoader(TensorDataset(ct.tensor(data[:, :4]), ct.tensor(data[:, 4:])), batch_size=8,
                            shuffle=True)
        if resume_from is not None:
            ct.manual_seed(1)  # re-initialised weights and a moved generator: resume must restore all of it
            model = Net()
            opt = optim.Adam(model.parameters(), lr=1e-2)
            sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        start = resume_from.resume(model, opt, sched) if resume_from else 0
        losses = []
        for epoch in range(start, epochs):
            for x, y in loader:
                opt.zero_grad()
                loss = ((model(x) - y) ** 2).mean()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            sched.step()
            if ckpt is not None:
                ckpt.save(epoch + 1, model=model, optimizer=opt, scheduler=sched)
        return losses, [p.detach().numpy().copy() for p in model.parameters()], opt.param_groups[0]["lr"]

    full_losses, full_params, full_lr = run(5)
    first, _, _ = run(3, ckpt=io.Checkpoint(tmp_path))
    rest, params, lr = run(5, resume_from=io.Checkpoint(tmp_path))
    assert first + rest == full_losses and lr == full_lr
    assert all(np.array_equal(a, b) for a, b in zip(params, full_params, strict=True))


def test_resume_restores_named_extras_and_reports_missing_state(tmp_path):
    ckpt = io.Checkpoint(tmp_path)
    g = ct.Generator().manual_seed(5)
    ct.rand(3, generator=g)
    sched = HalvingLR(None, every=3)
    sched.last_epoch = 7
    ckpt.save(4, loader_generator=g, sched2=sched, note="hello")
    expected = ct.rand(4, generator=g).numpy()
    g2, sched_b = ct.Generator().manual_seed(0), HalvingLR(None, every=1)
    assert ckpt.resume(loader_generator=g2, sched2=sched_b) == 4
    np.testing.assert_array_equal(ct.rand(4, generator=g2).numpy(), expected)
    assert (sched_b.every, sched_b.last_epoch) == (3, 7) and ckpt.load_latest()["extra"]["note"] == "hello"
    with pytest.raises(ValueError, match="holds no state for 'model'"):
        ckpt.resume(model=TinyModel(0))
    with pytest.raises(ValueError, match="holds no state for 'other'"):
        ckpt.resume(other=g2)
