"""Tensor overhead and throughput: cogtensor vs PyTorch (CPU) and NumPy, same data, one run.

Per-op overhead on tiny tensors (an add of two 4-element tensors, a 10-op chain)
and throughput on large ones (element-wise on 1e6 and 1e7 elements, a 1024 x 1024
matmul), each as the best of N timed loops after a warm-up. Prints ms (or us per
op), and ``peer/ours`` (> 1: cogtensor is faster).

    python benches/bench_tensor.py            # full
    python benches/bench_tensor.py --quick    # fewer repeats, smaller sizes
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import cogtensor as ct


def best_us(fn, loops: int, repeats: int) -> float:
    """Best per-call time in microseconds over `repeats` timed loops of `loops` calls."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter() - t0) / loops)
    return best * 1e6


def chain(m, x, y):
    """Ten element-wise ops through library module m (cogtensor, torch or numpy)."""
    z = x + y
    z = z * y
    z = z - x
    z = z / (y + 1)
    z = m.exp(z)
    z = z * 0.5
    z = z + x
    z = m.abs(z)
    z = m.sqrt(z)
    return z - 1


def cases(n_large: int, matmul_n: int):
    rng = np.random.default_rng(0)
    tiny = [rng.standard_normal(4).astype(np.float32) for _ in range(2)]
    large = [rng.standard_normal(n_large).astype(np.float32) for _ in range(2)]
    mats = [rng.standard_normal((matmul_n, matmul_n)).astype(np.float32) for _ in range(2)]
    libs = {"cogtensor": (ct, ct.from_numpy), "torch": (torch, torch.from_numpy), "numpy": (np, np.asarray)}
    out = []
    for name, fn, data, loops in [
        ("add, 4 elements (us/op)", lambda m, a, b: a + b, tiny, 20000),
        ("10-op chain, 4 elements (us/chain)", chain, tiny, 5000),
        (f"add, {n_large:.0e} elements (us)", lambda m, a, b: a + b, large, 20),
        (f"exp, {n_large:.0e} elements (us)", lambda m, a, b: m.exp(a), large, 20),
        (f"matmul {matmul_n}x{matmul_n} (us)", lambda m, a, b: a @ b, mats, 3),
    ]:
        row = {"case": name}
        for lib, (m, wrap) in libs.items():
            a, b = (wrap(x) for x in data)
            row[lib] = best_us(lambda: fn(m, a, b), loops, 5)
        out.append(row)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(ct.get_num_threads())
    print(f"# cogtensor tensor benchmark  (torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"numpy {np.__version__})")
    rows = cases(10**6 if args.quick else 10**7, 256 if args.quick else 1024)
    print(f"{'case':44s} {'cogtensor':>10s} {'torch':>10s} {'numpy':>10s} {'torch/ours':>11s} {'numpy/ours':>11s}")
    for r in rows:
        print(f"{r['case']:44s} {r['cogtensor']:10.2f} {r['torch']:10.2f} {r['numpy']:10.2f} "
              f"{r['torch'] / r['cogtensor']:11.2f} {r['numpy'] / r['cogtensor']:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
