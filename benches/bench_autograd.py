"""Autograd overhead and an MLP step: cogtensor vs PyTorch (CPU), same data, same threads, one run.

1. A chain of 100 small element-wise ops (16-element float32 tensors) recorded and
   differentiated: forward + backward time, and backward alone, per op.
2. A 3-layer MLP 256-256-256-10 (``functional.linear`` + ReLU) on a batch of 128,
   float32: forward, a mean-of-squares loss and backward, with the same initial weights.

Prints times and ``torch/ours`` (> 1: cogtensor is faster).

    python benches/bench_autograd.py            # full
    python benches/bench_autograd.py --quick    # fewer repeats
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from common import machine

import cogtensor as ct

THREADS = 2


def best(fn, loops: int, repeats: int) -> float:
    """Best mean seconds per call over ``repeats`` timed loops of ``loops`` calls, after a warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        times.append((time.perf_counter() - t0) / loops)
    return min(times)


def chain(x, w):
    """100 small ops: 25 rounds of mul, add, tanh, sub."""
    y = x
    for _ in range(25):
        y = (y * w + 0.5).tanh() - x
    return y.sum()


def mlp(x, layers, functional):
    """Linear layers (``functional.linear``, as nn.Linear runs them) with ReLU between."""
    for i, (w, b) in enumerate(layers):
        x = functional.linear(x, w, b)
        if i < len(layers) - 1:
            x = functional.relu(x)
    return (x * x).mean()


def timed_pair(make, loops, repeats):
    """(forward+backward seconds, backward-only seconds) of make() -> (loss, leaves)."""
    def full():
        loss, leaves = make()
        loss.backward()
        for t in leaves:
            t.grad = None

    def backward_only():
        loss, leaves = make()
        t0 = time.perf_counter()
        loss.backward()
        elapsed = time.perf_counter() - t0
        for t in leaves:
            t.grad = None
        return elapsed

    total = best(full, loops, repeats)
    backward_only()
    back = min(sum(backward_only() for _ in range(loops)) / loops for _ in range(repeats))
    return total, back


def bench_chain(repeats):
    rng = np.random.default_rng(0)
    xa, wa = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    cx, cw = ct.tensor(xa), ct.tensor(wa).requires_grad_()
    tx, tw = torch.tensor(xa), torch.tensor(wa, requires_grad=True)
    ours = timed_pair(lambda: (chain(cx, cw), [cw]), 50, repeats)
    theirs = timed_pair(lambda: (chain(tx, tw), [tw]), 50, repeats)
    print("\n100-op chain (16 float32 elements), per op, us")
    print(f"{'':22}{'cogtensor':>12}{'torch':>12}{'torch/ours':>12}")
    for label, i in (("forward + backward", 0), ("backward only", 1)):
        print(f"{label:22}{ours[i] * 1e4:12.2f}{theirs[i] * 1e4:12.2f}{theirs[i] / ours[i]:12.2f}")


def bench_mlp(repeats):
    rng = np.random.default_rng(1)
    sizes = [(256, 256), (256, 256), (10, 256)]
    weights = [((rng.standard_normal(s) / np.sqrt(s[1])).astype(np.float32), np.zeros(s[0], np.float32))
               for s in sizes]
    xa = rng.standard_normal((128, 256)).astype(np.float32)
    ours_layers = [(ct.tensor(w).requires_grad_(), ct.tensor(b).requires_grad_()) for w, b in weights]
    their_layers = [(torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)) for w, b in weights]
    leaves_ours = [t for pair in ours_layers for t in pair]
    leaves_theirs = [t for pair in their_layers for t in pair]
    cx, tx = ct.tensor(xa), torch.tensor(xa)
    ours = timed_pair(lambda: (mlp(cx, ours_layers, ct.nn.functional), leaves_ours), 20, repeats)
    theirs = timed_pair(lambda: (mlp(tx, their_layers, torch.nn.functional), leaves_theirs), 20, repeats)
    print("\nMLP 256-256-256-10, batch 128, float32, ms")
    print(f"{'':22}{'cogtensor':>12}{'torch':>12}{'torch/ours':>12}")
    for label, i in (("forward + backward", 0), ("backward only", 1)):
        print(f"{label:22}{ours[i] * 1e3:12.3f}{theirs[i] * 1e3:12.3f}{theirs[i] / ours[i]:12.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    ct.set_num_threads(THREADS)
    print(machine(THREADS) | {"torch": torch.__version__})
    repeats = 3 if args.quick else 10
    bench_chain(repeats)
    bench_mlp(repeats)


if __name__ == "__main__":
    main()
