"""Weight files and training checkpoints in the safetensors format (no pickle anywhere).

- :func:`save_file` / :func:`load_file`: a flat ``{name: Tensor}`` dict <-> a ``.safetensors``
  file. PyTorch's ``safetensors.torch.load_file`` reads what :func:`save_file` writes, and
  :func:`load_file` reads what ``safetensors.torch.save_file`` writes (bfloat16 included).
- :func:`save` / :func:`load`: nested training state (a model's and an optimizer's
  ``state_dict()``, numbers, strings, lists, tuples, dicts with int keys, ...) in one
  safetensors file: every tensor is an entry of the file, named by its path
  (``optimizer/state/0/exp_avg``), and the structure is JSON in the header metadata
  (``cogtensor.structure``), with a CRC-32 of every tensor (``cogtensor.crc32``) so that
  damaged bytes are detected on load.
- :class:`Checkpoint`: a directory of step checkpoints that keeps the last N and the best.

Every file is written atomically: into a temporary file in the same directory, flushed to
disk (fsync), then renamed over the target (``os.replace``), so a crash mid-write leaves the
previous file intact. A truncated or corrupt file raises ValueError naming the file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import tempfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import safetensors
import safetensors.numpy

from cogtensor import dtypes, random
from cogtensor.tensor import Tensor

__all__ = ["save_file", "load_file", "load_metadata", "save", "load", "Checkpoint"]

_LAYOUT_KEY, _LAYOUT = "cogtensor.layout", "state/1"
_STRUCTURE_KEY, _CRC_KEY = "cogtensor.structure", "cogtensor.crc32"
_STEP_KEY, _METRIC_KEY = "cogtensor.step", "cogtensor.metric"


# ------------------------------------------------------------------ flat files
def save_file(tensors: dict, filename, metadata: dict | None = None) -> None:
    """Write a ``{name: Tensor}`` dict as a safetensors file (``safetensors.torch.save_file``).

    Non-contiguous tensors are written in row-major order; numpy arrays are accepted too.

    Args:
        tensors: names (str) to tensors of any dtype but complex128 (the format has none).
        filename: the file to write (replaced atomically if it exists).
        metadata: optional ``{str: str}`` stored in the header.

    Raises:
        TypeError: a name that is not a str, a value that is not a tensor, a complex128
            tensor, or metadata that is not ``{str: str}``.

    Example:
        >>> save_file({"weight": cogtensor.ones(2, 3)}, "model.safetensors")
        >>> load_file("model.safetensors")["weight"].shape
        cogtensor.Size([2, 3])
    """
    if not isinstance(tensors, dict):
        raise TypeError(f"save_file: expected a dict of tensors, got {type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_file: tensor names must be str, got {type(name).__name__} {name!r}")
        if not isinstance(value, (Tensor, np.ndarray)):
            raise TypeError(f"save_file: {name!r} is a {type(value).__name__}, expected a Tensor")
        arrays[name] = _storable(value, name, "save_file")
    _check_metadata(metadata)
    _atomic_write(Path(filename), lambda tmp: _write_safetensors(arrays, tmp, metadata))


def load_file(filename) -> dict:
    """Read a safetensors file into a ``{name: Tensor}`` dict (``safetensors.torch.load_file``).

    Each tensor owns its memory (writable, independent of the file).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or not in the safetensors format.
        TypeError: it holds a dtype tensors do not (uint16, uint32, uint64, float8).

    Example:
        >>> weights = load_file("model.safetensors")
    """
    _, arrays = _read(filename, "load_file")
    return {name: _tensor_of(array, name, filename, "load_file") for name, array in arrays.items()}


def load_metadata(filename) -> dict:
    """The ``{str: str}`` metadata in a safetensors file's header (an empty dict if none)."""
    path = _existing(filename, "load_metadata")
    try:
        with safetensors.safe_open(str(path), framework="np") as f:
            return dict(f.metadata() or {})
    except safetensors.SafetensorError as e:
        raise _corrupt(path, "load_metadata", e) from None


# -------------------------------------------------------------- nested state
def save(obj, f) -> None:
    """Save nested training state (``torch.save`` without pickle) to the path ``f``.

    ``obj`` may nest dicts (any hashable storable keys, e.g. the int keys of an optimizer's
    ``state``), OrderedDicts, lists and tuples of tensors, numpy arrays, Python numbers
    (inf and nan too), strings, None, dtypes and :class:`cogtensor.Generator` states.
    A tensor that appears several times (tied weights) is stored once and comes back as
    one tensor. numpy scalars come back as Python numbers.

    Raises:
        TypeError: a value of another type (a function, an arbitrary object), named by
            its path in ``obj``.

    Example:
        >>> save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "run.safetensors")
        >>> state = load("run.safetensors")
    """
    _save_state(obj, f, {})


def _save_state(obj, f, header: dict) -> None:
    """:func:`save` with extra ``{str: str}`` header entries (what Checkpoint reads without loading)."""
    arrays, names = {}, {}
    structure = _encode(obj, "obj", [], arrays, names)
    metadata = {
        _LAYOUT_KEY: _LAYOUT,
        _STRUCTURE_KEY: json.dumps(structure, allow_nan=False, separators=(",", ":")),
        _CRC_KEY: json.dumps({name: _crc(a) for name, a in arrays.items()}, separators=(",", ":")),
        **header,
    }
    _atomic_write(Path(f), lambda tmp: _write_safetensors(arrays, tmp, metadata))


def load(f, map_location=None, *, weights_only: bool = True):
    """Load what :func:`save` wrote (a plain safetensors file gives a ``{name: Tensor}`` dict).

    Args:
        f: the file's path.
        map_location: None or ``"cpu"`` (tensors live on the CPU), accepted for ``torch.load`` ports.
        weights_only: accepted for ``torch.load`` ports; loading never runs code either way.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or corrupt (a tensor's CRC-32 does not match,
            the structure is damaged), naming the file.

    Example:
        >>> state = load("run.safetensors")
        >>> model.load_state_dict(state["model"])
    """
    if map_location not in (None, "cpu"):
        raise ValueError(f"load: tensors live on the CPU; map_location must be None or 'cpu', got {map_location!r}")
    metadata, arrays = _read(f, "load")
    if _LAYOUT_KEY not in metadata:
        return {name: _tensor_of(array, name, f, "load") for name, array in arrays.items()}
    if metadata[_LAYOUT_KEY] != _LAYOUT:
        raise ValueError(f"load: {f} uses layout {metadata[_LAYOUT_KEY]!r}; this version reads {_LAYOUT!r}")
    try:
        structure, crcs = json.loads(metadata[_STRUCTURE_KEY]), json.loads(metadata[_CRC_KEY])
    except (KeyError, ValueError) as e:
        raise ValueError(f"load: {f} has a damaged structure header ({e})") from None
    for name, array in arrays.items():
        if crcs.get(name) != _crc(array):
            raise ValueError(f"load: {f} is corrupt: the bytes of tensor {name!r} do not match their CRC-32")
    try:
        return _decode(structure, arrays, {}, f)
    except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
        raise ValueError(f"load: {f} has a damaged structure header ({type(e).__name__}: {e})") from None


def _encode(value, path: str, key_path: list, arrays: dict, names: dict):
    """A JSON tree for ``value``; tensors go to ``arrays`` under a name made from their path."""
    if isinstance(value, (Tensor, np.ndarray)):
        tag = "@tensor" if isinstance(value, Tensor) else "@ndarray"
        if id(value) not in names:
            name = _unique_name("/".join(key_path) or "tensor", arrays)
            arrays[name] = _storable(value, path, "save")
            names[id(value)] = (name, value)  # the value is held so its id stays unique
        return {tag: names[id(value)][0]}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else {"@float": repr(float(value))}
    if isinstance(value, (complex, np.complexfloating)):
        return {"@complex": [_encode(value.real, path, key_path, arrays, names),
                             _encode(value.imag, path, key_path, arrays, names)]}
    if isinstance(value, dtypes.dtype):
        return {"@dtype": value.name}
    if isinstance(value, random.Generator):
        return {"@generator": {"seed": value.initial_seed(), "state": _encode(value.get_state(), path, [], {}, {})}}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, f"{path}[{i}]", [*key_path, str(i)], arrays, names) for i, v in enumerate(value)]
        return items if isinstance(value, list) else {"@tuple": items}
    if isinstance(value, dict):
        return _encode_dict(value, path, key_path, arrays, names)
    raise TypeError(f"save: can't store {type(value).__name__} at {path}; storable values are tensors, numpy "
                    "arrays, numbers, strings, None, dtypes, Generators, lists, tuples and dicts of these")


def _encode_dict(value: dict, path: str, key_path: list, arrays: dict, names: dict):
    def item(k, v):
        return _encode(v, f"{path}[{k!r}]", [*key_path, str(k)], arrays, names)

    plain = type(value) is dict and all(isinstance(k, str) and not k.startswith("@") for k in value)
    if plain:
        return {k: item(k, v) for k, v in value.items()}
    pairs = [[_encode(k, f"a key of {path}", [], {}, {}), item(k, v)] for k, v in value.items()]
    return {"@odict" if isinstance(value, OrderedDict) else "@dict": pairs}


def _decode(node, arrays: dict, tensors: dict, filename):
    if isinstance(node, list):
        return [_decode(v, arrays, tensors, filename) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (tag, body), = node.items()
        if tag in ("@tensor", "@ndarray"):
            if body not in tensors:
                array = arrays[body]
                tensors[body] = _tensor_of(array, body, filename, "load") if tag == "@tensor" else array
            return tensors[body]
        if tag == "@float":
            return float(body)
        if tag == "@complex":
            return complex(*(_decode(v, arrays, tensors, filename) for v in body))
        if tag == "@dtype":
            found = getattr(dtypes, body, None)
            if not isinstance(found, dtypes.dtype):
                raise TypeError(f"unknown dtype {body!r}")
            return found
        if tag == "@generator":
            return random.Generator().manual_seed(body["seed"]).set_state(_decode(body["state"], {}, {}, filename))
        if tag == "@tuple":
            return tuple(_decode(v, arrays, tensors, filename) for v in body)
        if tag in ("@dict", "@odict"):
            pairs = [(_hashable(_decode(k, arrays, tensors, filename)), _decode(v, arrays, tensors, filename))
                     for k, v in body]
            return OrderedDict(pairs) if tag == "@odict" else dict(pairs)
    if any(k.startswith("@") for k in node):
        raise TypeError(f"unknown tag in {sorted(node)}")
    return {k: _decode(v, arrays, tensors, filename) for k, v in node.items()}


def _hashable(key):
    """Tuples stored as keys come back as tuples (lists inside them as tuples too)."""
    return tuple(_hashable(k) for k in key) if isinstance(key, (list, tuple)) else key


def _unique_name(name: str, taken: dict) -> str:
    found, n = name, 1
    while found in taken:  # a key with '/' in it can collide with a nested path
        found, n = f"{name}#{n}", n + 1
    return found


# ---------------------------------------------------------------- file access
def _storable(value, where: str, op: str) -> np.ndarray:
    """A C-contiguous array of a dtype safetensors writes."""
    array = value.numpy() if isinstance(value, Tensor) else value
    if array.dtype == np.complex128:
        raise TypeError(f"{op}: {where} is complex128, which the safetensors format has no type for; store "
                        "cogtensor.view_as_real(t) (float64 pairs) instead")
    try:
        dtypes.from_numpy_dtype(array.dtype)
    except TypeError:
        raise TypeError(f"{op}: {where} has dtype {array.dtype}, which cogtensor tensors do not hold") from None
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array if array.flags.c_contiguous else array.copy(order="C")


def _tensor_of(array: np.ndarray, name: str, filename, op: str) -> Tensor:
    try:
        return Tensor(array)
    except TypeError:
        raise TypeError(f"{op}: tensor {name!r} in {filename} has dtype {array.dtype}, which cogtensor tensors "
                        "do not hold (they hold bool, uint8, int8-64, float16, bfloat16, float32/64, complex64)") \
            from None


def _check_metadata(metadata) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                 for k, v in metadata.items()):
        raise TypeError(f"save_file: metadata must be a dict of str to str, got {metadata!r}")


def _write_safetensors(arrays: dict, path: str, metadata: dict | None) -> None:
    safetensors.numpy.save_file(arrays, path, metadata=metadata)


def _read(filename, op: str) -> tuple[dict, dict]:
    path = _existing(filename, op)
    try:
        with safetensors.safe_open(str(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
            arrays = {name: f.get_tensor(name) for name in f.keys()}
    except safetensors.SafetensorError as e:
        raise _corrupt(path, op, e) from None
    return metadata, arrays


def _existing(filename, op: str) -> Path:
    if not isinstance(filename, (str, os.PathLike)):
        raise TypeError(f"{op}: expected a file path (str or os.PathLike), got {type(filename).__name__}")
    path = Path(filename)
    if not path.is_file():
        raise FileNotFoundError(f"{op}: no such file: {path}" if not path.exists() else f"{op}: not a file: {path}")
    return path


def _corrupt(path: Path, op: str, error: Exception) -> ValueError:
    return ValueError(f"{op}: {path} is not a valid safetensors file (truncated or corrupt?): {error}")


def _crc(array: np.ndarray) -> int:
    return zlib.crc32(array.reshape(-1).view(np.uint8))


def _atomic_write(path: Path, write) -> None:
    """Run ``write(tmp)`` on a temporary file beside ``path``, fsync it, then rename it over ``path``.

    Until the rename the old file is untouched; the rename itself is atomic on POSIX and Windows."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); directories cannot be opened this way on Windows."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------- checkpoints
class Checkpoint:
    """Step checkpoints of a training run in a directory, keeping the last N and the best.

    Each :meth:`save` writes ``<prefix>-<step>.safetensors`` atomically with the model's,
    optimizer's and scheduler's ``state_dict()``, the step, the metric, extra values and
    the state of ``cogtensor.random.default_generator`` (so shuffling and dropout continue
    where they stopped), then deletes checkpoints that are neither among the last
    ``keep_last`` nor the ``keep_best`` best by ``metric``. Temporary files left by a
    crashed write are removed when the manager opens the directory.

    Args:
        directory: where checkpoints live (created if missing).
        keep_last: how many of the most recent checkpoints to keep (None: all).
        keep_best: how many of the best checkpoints (by the ``metric`` given to
            :meth:`save`) to keep besides those.
        mode: ``"min"`` (lower metric is better, e.g. a loss) or ``"max"`` (e.g. accuracy).
        prefix: file name prefix.

    Example:
        >>> ckpt = Checkpoint("runs/a", keep_last=2, keep_best=1, mode="min")
        >>> start = ckpt.resume(model, optimizer, scheduler)  # 0 on a fresh run
        >>> for epoch in range(start, 10):
        ...     val_loss = train_one_epoch()
        ...     ckpt.save(epoch + 1, model=model, optimizer=optimizer, scheduler=scheduler, metric=val_loss)
    """

    def __init__(self, directory, keep_last: int | None = 3, keep_best: int = 1, mode: str = "min",
                 prefix: str = "checkpoint"):
        if keep_last is not None and (isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1):
            raise ValueError(f"Checkpoint: keep_last must be a positive int or None, got {keep_last!r}")
        if isinstance(keep_best, bool) or not isinstance(keep_best, int) or keep_best < 0:
            raise ValueError(f"Checkpoint: keep_best must be a non-negative int, got {keep_best!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"Checkpoint: mode must be 'min' or 'max', got {mode!r}")
        if not isinstance(prefix, str) or not prefix or os.sep in prefix or "/" in prefix:
            raise ValueError(f"Checkpoint: prefix must be a non-empty file name part, got {prefix!r}")
        self.directory, self.keep_last, self.keep_best, self.mode, self.prefix = \
            Path(directory), keep_last, keep_best, mode, prefix
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pattern = re.compile(rf"{re.escape(prefix)}-(\d+)\.safetensors")
        self._remove_stale_temporaries()
        self._metrics = {step: self._stored_metric(step) for step in self._scan()}

    def __repr__(self) -> str:
        return (f"Checkpoint({str(self.directory)!r}, keep_last={self.keep_last}, keep_best={self.keep_best}, "
                f"mode={self.mode!r}, steps={self.steps})")

    # ---------------------------------------------------------------- queries
    @property
    def steps(self) -> list:
        """Steps that have a checkpoint, ascending."""
        return sorted(self._metrics)

    @property
    def latest_step(self) -> int | None:
        return max(self._metrics) if self._metrics else None

    @property
    def best_step(self) -> int | None:
        """The step with the best metric (the earliest on ties); None if no checkpoint has one."""
        ranked = self._ranked()
        return ranked[0] if ranked else None

    def path(self, step: int) -> Path:
        """The file of the checkpoint at ``step``."""
        return self.directory / f"{self.prefix}-{_check_step(step)}.safetensors"

    # ------------------------------------------------------------ save / load
    def save(self, step: int, model=None, optimizer=None, scheduler=None, metric=None, **extra) -> Path:
        """Write the checkpoint of ``step`` (replacing one of the same step), then prune.

        Args:
            step: a non-negative int, usually the number of steps or epochs done.
            model, optimizer, scheduler: objects with ``state_dict()``, or None.
            metric: a number (or one-element tensor) ranking checkpoints for ``keep_best``;
                NaN never counts as best.
            **extra: more values to store: objects with ``state_dict()`` (stored as their
                state dict), :class:`cogtensor.Generator` objects (their state), or any
                value :func:`save` stores.

        Returns:
            the path written.
        """
        step = _check_step(step)
        state = {"step": step, "metric": _metric_value(metric)}
        for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
            if obj is not None:
                state[name] = _state_dict_of(obj, name)
        state["rng"] = random.default_generator
        state["extra"] = {name: _extra_state(value) for name, value in extra.items()}
        path = self.path(step)
        metric_text = "" if state["metric"] is None else repr(state["metric"])
        _save_state(state, path, {_STEP_KEY: str(step), _METRIC_KEY: metric_text})
        self._metrics[step] = state["metric"]
        self._prune()
        return path

    def load(self, step: int) -> dict:
        """The state saved at ``step``: a dict with ``step``, ``metric``, ``model``, ``optimizer``,
        ``scheduler`` (those given), ``rng`` (a Generator) and ``extra``."""
        if _check_step(step) not in self._metrics:
            raise FileNotFoundError(f"Checkpoint.load: no checkpoint for step {step} in {self.directory} "
                                    f"(steps: {self.steps})")
        return load(self.path(step))

    def load_latest(self) -> dict | None:
        """The most recent checkpoint's state, or None if there is none."""
        return None if self.latest_step is None else self.load(self.latest_step)

    def load_best(self) -> dict | None:
        """The best checkpoint's state (by metric), or None if no checkpoint has a metric."""
        return None if self.best_step is None else self.load(self.best_step)

    def resume(self, model=None, optimizer=None, scheduler=None, **objects) -> int:
        """Restore the latest checkpoint into the given objects; returns its step (0 if none).

        Calls ``load_state_dict`` on model, optimizer and scheduler, restores named extras
        (``load_state_dict`` or, for a Generator, its state) and the default generator's state.

        Raises:
            ValueError: the checkpoint holds no state for an object that was passed, or
                the file is corrupt.
        """
        state = self.load_latest()
        if state is None:
            return 0
        path = self.path(state["step"])
        for name, obj in (("model", model), ("optimizer", optimizer), ("scheduler", scheduler)):
            if obj is not None:
                _restore(obj, _stored(state, name, path), name)
        for name, obj in objects.items():
            _restore(obj, _stored(state.get("extra", {}), name, path), name)
        _restore(random.default_generator, state["rng"], "rng")
        return state["step"]

    # -------------------------------------------------------------- internals
    def _scan(self) -> list:
        found = (self._pattern.fullmatch(p.name) for p in self.directory.iterdir())
        return [int(m.group(1)) for m in found if m]

    def _stored_metric(self, step: int) -> float | None:
        """The metric recorded in a checkpoint's header; None if none or the header is unreadable
        (loading such a file raises, so it never silently ranks as best)."""
        try:
            text = load_metadata(self.path(step)).get(_METRIC_KEY, "")
        except (ValueError, OSError):
            return None
        return float(text) if text else None

    def _remove_stale_temporaries(self) -> None:
        for p in self.directory.glob(f".{self.prefix}-*.safetensors.*.tmp"):
            with contextlib.suppress(OSError):
                p.unlink()

    def _ranked(self) -> list:
        scored = [(m if self.mode == "min" else -m, s) for s, m in self._metrics.items()
                  if m is not None and not math.isnan(m)]
        return [s for _, s in sorted(scored)]

    def _prune(self) -> None:
        steps = self.steps
        keep = set(steps if self.keep_last is None else steps[-self.keep_last:])
        keep.update(self._ranked()[:self.keep_best])
        for step in steps:
            if step not in keep:
                with contextlib.suppress(FileNotFoundError):
                    self.path(step).unlink()
                del self._metrics[step]


def _check_step(step) -> int:
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
        raise ValueError(f"Checkpoint: step must be a non-negative int, got {step!r}")
    return int(step)


def _metric_value(metric) -> float | None:
    if metric is None:
        return None
    if isinstance(metric, Tensor):
        if metric.numel() != 1:
            raise ValueError(f"Checkpoint.save: metric must be a number, got a tensor of shape {tuple(metric.shape)}")
        metric = metric.item()
    if isinstance(metric, bool) or not isinstance(metric, (int, float, np.integer, np.floating)):
        raise TypeError(f"Checkpoint.save: metric must be a number, got {type(metric).__name__}")
    return float(metric)


def _state_dict_of(obj, name: str):
    if not callable(getattr(obj, "state_dict", None)):
        raise TypeError(f"Checkpoint.save: {name} must have a state_dict() method, got {type(obj).__name__}")
    return obj.state_dict()


def _extra_state(value):
    if isinstance(value, random.Generator):
        return value
    return value.state_dict() if callable(getattr(value, "state_dict", None)) else value


def _stored(state: dict, name: str, path: Path):
    if name not in state:
        raise ValueError(f"Checkpoint.resume: {path} holds no state for {name!r}")
    return state[name]


def _restore(obj, stored, name: str) -> None:
    if isinstance(obj, random.Generator):
        if not isinstance(stored, random.Generator):
            raise ValueError(f"Checkpoint.resume: {name!r} was not saved as a Generator")
        obj.manual_seed(stored.initial_seed()).set_state(stored.get_state())
    elif callable(getattr(obj, "load_state_dict", None)):
        obj.load_state_dict(stored)
    else:
        raise TypeError(f"Checkpoint.resume: {name} must have a load_state_dict() method or be a Generator, "
                        f"got {type(obj).__name__}")
