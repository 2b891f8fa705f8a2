"""Where a cogtensor training step spends its time (used by ``bench_train.py --profile``).

- :func:`breakdown`: forward time per module class (self time: nested module calls taken
  out), backward time per graph node name (the node's backward function only), the
  engine's own time, and the optimizer step, in ms per step;
- :func:`cprofile_top`: the functions with the most own time under cProfile.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from collections import defaultdict

import numpy as np

from cogtensor import graph


class _ModuleTimer:
    """Forward pre-/post-hooks on every module, adding each call's self time to its class name."""

    def __init__(self, model):
        self.totals = defaultdict(float)
        self.stack = []  # [start, time spent in nested module calls]
        self.handles = []
        for module in model.modules():
            self.handles.append(module.register_forward_pre_hook(self._enter))
            self.handles.append(module.register_forward_hook(self._leave))

    def _enter(self, module, args):
        self.stack.append([time.perf_counter(), 0.0])

    def _leave(self, module, args, output):
        start, nested = self.stack.pop()
        elapsed = time.perf_counter() - start
        self.totals[type(module).__name__] += elapsed - nested
        if self.stack:
            self.stack[-1][1] += elapsed

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


class _NodeTimer:
    """Wraps the engine's per-node backward call, adding its time to the node's name."""

    def __init__(self):
        self.totals = defaultdict(float)
        self.original = graph._Engine._call
        original, totals = self.original, self.totals

        def timed_call(engine, node, grads):
            t0 = time.perf_counter()
            try:
                return original(engine, node, grads)
            finally:
                totals[node.name] += time.perf_counter() - t0

        graph._Engine._call = timed_call

    def remove(self) -> None:
        graph._Engine._call = self.original


def breakdown(name: str, side, steps: int) -> None:
    """Run ``steps`` training steps of ``side`` (a bench_train.Side) and print where the time went."""
    side.step()
    modules, nodes = _ModuleTimer(side.model), _NodeTimer()
    phases = np.zeros(3)
    try:
        for _ in range(steps):
            side.phase_step(phases)
    finally:
        modules.remove()
        nodes.remove()
    forward, backward, optimizer = phases * 1e3 / steps
    print(f"\nWhere our step goes (ms per step, {steps} steps): {name}")
    print(f"  forward + loss {forward:.2f} | backward {backward:.2f} | optimizer step {optimizer:.2f}")
    module_ms = {k: v * 1e3 / steps for k, v in modules.totals.items()}
    _table("forward, self time per module class", module_ms,
           ("outside modules (loss, glue)", forward - sum(module_ms.values())))
    node_ms = {k: v * 1e3 / steps for k, v in nodes.totals.items()}
    _table("backward, per graph node", node_ms, ("engine (graph walk, accumulation)", backward - sum(node_ms.values())))


def _table(title: str, rows: dict, rest: tuple) -> None:
    print(f"  {title}:")
    for key, ms in sorted(rows.items(), key=lambda kv: -kv[1]):
        print(f"    {key:40}{ms:9.3f}")
    print(f"    {rest[0]:40}{rest[1]:9.3f}")


def cprofile_top(name: str, step, steps: int, top: int) -> None:
    """cProfile ``steps`` calls of ``step``; print the ``top`` functions by own time."""
    step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        step()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    print(f"\ncProfile of {steps} cogtensor steps: {name}\n{out.getvalue()}")


def _fwd_bwd(fn, leaves):
    """A callable running ``fn()`` then backward of its sum, clearing the leaves' gradients."""
    def run():
        fn().sum().backward()
        for t in leaves:
            t.grad = None
    return run


def _inputs():
    """Random float32 inputs at the bench's transformer shapes (batch 32, sequence 64, d_model 128,
    4 heads of 32, feed-forward 512, vocab 96), and int64 targets."""
    rng = np.random.default_rng(0)
    shapes = {"x": (32, 64, 128), "w_qkv": (384, 128), "b_qkv": (384,), "w_ff": (512, 128), "h": (32, 64, 512),
              "q": (32, 4, 64, 32), "k": (32, 4, 64, 32), "v": (32, 4, 64, 32), "logits": (2048, 96)}
    arrays = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
    arrays["ln_w"], arrays["ln_b"] = np.ones(128, np.float32), np.zeros(128, np.float32)
    return arrays, rng.integers(0, 96, 2048)


def _ops(lib, arrays, targets) -> dict:
    """label -> (forward callable, its leaf tensors) in library ``lib`` (torch or cogtensor)."""
    F = lib.nn.functional
    t = {}
    for name, a in arrays.items():
        t[name] = lib.tensor(a)
        t[name].requires_grad_()
    y = lib.tensor(targets)
    mha = lib.nn.MultiheadAttention(128, 4, batch_first=True)
    mask = lib.tensor(np.triu(np.full((64, 64), -np.inf, np.float32), 1))
    x, h = t["x"], t["h"]
    return {
        "linear 2048x128 -> 384": (lambda: F.linear(x, t["w_qkv"], t["b_qkv"]), [x, t["w_qkv"], t["b_qkv"]]),
        "linear 2048x128 -> 512": (lambda: F.linear(x, t["w_ff"]), [x, t["w_ff"]]),
        "layer_norm 2048x128": (lambda: F.layer_norm(x, (128,), t["ln_w"], t["ln_b"]), [x, t["ln_w"], t["ln_b"]]),
        "relu 2048x512": (lambda: F.relu(h), [h]),
        "gelu (exact) 2048x512": (lambda: F.gelu(h), [h]),
        "sdpa causal 32x4x64x32": (lambda: F.scaled_dot_product_attention(t["q"], t["k"], t["v"], is_causal=True),
                                   [t["q"], t["k"], t["v"]]),
        "MultiheadAttention module": (lambda: mha(x, x, x, attn_mask=mask, need_weights=False, is_causal=True)[0],
                                      [x, *mha.parameters()]),
        "cross_entropy 2048x96": (lambda: F.cross_entropy(t["logits"], y), [t["logits"]]),
        "residual add 32x64x128": (lambda: x + x, [x]),
    }


def _mean_ms(fn, loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        fn()
    return (time.perf_counter() - t0) / loops * 1e3


def op_table(ct, torch, loops: int = 20, repeats: int = 5) -> None:
    """Forward and forward+backward ms of each operation, ours against torch (taking turns)."""
    arrays, targets = _inputs()
    ours, theirs = _ops(ct, arrays, targets), _ops(torch, arrays, targets)
    print(f"\nOperations of the transformer step, ms per call (best of {repeats} x {loops}), ours / torch:")
    print(f"  {'operation':28}{'fwd ours':>10}{'torch':>8}{'ratio':>7}{'f+b ours':>10}{'torch':>8}{'ratio':>7}")
    for label in ours:
        row = []
        for fns in ([ours[label][0], theirs[label][0]], [_fwd_bwd(*ours[label]), _fwd_bwd(*theirs[label])]):
            for fn in fns:
                fn()  # warm-up
            best = [_mean_ms(fn, loops) for fn in fns]
            for _ in range(repeats - 1):
                best = [min(b, _mean_ms(fn, loops)) for b, fn in zip(best, fns)]
            row += [best[0], best[1], best[0] / best[1]]
        print(f"  {label:28}{row[0]:10.3f}{row[1]:8.3f}{row[2]:7.2f}{row[3]:10.3f}{row[4]:8.3f}{row[5]:7.2f}")
