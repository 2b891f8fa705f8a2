"""Time cogtensor's int8 and ternary matrix kernels against numpy and torch on the same data.

Cases: int8 GEMM 1024 x 1024 x 1024, batch-1 int8 GEMV 4096 x 4096, and batch-1 ternary
GEMV 4096 x 4096 from 2-bit packed weights. Peers: numpy float32 matmul (BLAS), numpy int32
matmul, torch float32 matmul and torch's int8 ``torch._int_mm``, all with the same thread
count. Integer results are checked against numpy's exact int64 product. Prints ms, the
weight memory of each form, and ``peer_ms / our_ms`` (> 1: we are faster).

    python benches/bench_quant.py              # full sizes, 2 threads
    python benches/bench_quant.py --quick      # smoke run at 1/4 size
    python benches/bench_quant.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def _threads_from_argv(default: int = 2) -> int:
    """The thread count, read before numpy loads its BLAS (which sizes its pool at import)."""
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
    return default


THREADS = _threads_from_argv()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(THREADS)
# Idle BLAS / OpenMP worker threads sleep at once instead of spinning on the cores that
# the next timed call (ours or a peer's) needs: the cases take turns (interleaved()).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402 - after the BLAS thread settings
import torch  # noqa: E402

import cogtensor  # noqa: E402
from cogtensor import quant  # noqa: E402
from common import best_ms, fmt, machine  # noqa: E402 - benches/common.py

MIB = 1 << 20


def row(impl, ms=None, weight_bytes=None, check=""):
    return {"impl": impl, "ms": ms, "weight_bytes": weight_bytes, "check": check}


def exact(ours, a, b) -> str:
    ref = a.astype(np.int64) @ b.astype(np.int64)
    return "ok" if np.array_equal(np.asarray(ours, np.int64), ref) else "MISMATCH"


def interleaved(cases, repeats):
    """Best ms of each ``(name, fn, weight_bytes, check)`` case over ``repeats`` rounds, the
    cases taking turns within each round, so a busy moment on a shared machine slows all
    of them alike. ``check(result)`` returns the check column. Returns rows in order."""
    results = [fn() for _, fn, _, _ in cases]  # warm-up, and the results to check
    best = [float("inf")] * len(cases)
    for _ in range(repeats):
        for i, (_, fn, _, _) in enumerate(cases):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return [row(name, ms * 1e3, nbytes, check(res) if check else "")
            for (name, _, nbytes, check), ms, res in zip(cases, best, results)]


def int8_peers(x, w, repeats, slow):
    """Rows for ``x @ w.T`` (x (m, k) int8, w (n, k) int8): cogtensor, then each peer."""
    b = np.ascontiguousarray(w.T)  # (k, n): numpy's layout, transposed into the fast one per call
    xf, wf = x.astype(np.float32), w.astype(np.float32)
    xt, wt = torch.from_numpy(xf), torch.from_numpy(wf)
    ours = quant.int8_matmul(x, w.T)
    same_as_ours = lambda out: "ok" if np.array_equal(out, ours) else "differs"  # noqa: E731
    x_sym = np.maximum(x, -127)  # the range of symmetric quantizers (no -128: no fix-up pass)
    rows = interleaved([
        ("cogtensor int8_matmul(x, w.T)", lambda: quant.int8_matmul(x, w.T), w.nbytes, lambda o: exact(o, x, w.T)),
        ("cogtensor int8_matmul(x, w.T), x in [-127, 127]", lambda: quant.int8_matmul(x_sym, w.T), w.nbytes,
         lambda o: exact(o, x_sym, w.T)),
        ("cogtensor int8_matmul(x, b), b (k, n) C-contiguous", lambda: quant.int8_matmul(x, b), w.nbytes,
         lambda o: exact(o, x, w.T)),
        ("numpy float32 matmul (BLAS)", lambda: xf @ wf.T, wf.nbytes, same_as_ours),
        ("torch float32 matmul", lambda: xt @ wt.T, wf.nbytes, lambda o: same_as_ours(o.numpy())),
    ], repeats)
    xi, wi = x.astype(np.int32), np.ascontiguousarray(w.T.astype(np.int32))
    ms, out = best_ms(lambda: xi @ wi, slow)
    rows.append(row("numpy int32 matmul", ms, wi.nbytes, exact(out, x, w.T)))
    x8, w8 = torch.from_numpy(x), torch.from_numpy(b)
    ms, out = best_ms(lambda: torch._int_mm(x8, w8), slow)
    rows.append(row("torch._int_mm (int8 -> int32)", ms, w.nbytes, exact(out.numpy(), x, w.T)))
    return rows


def bench_gemm(rng, size, repeats, slow):
    x = rng.integers(-128, 128, (size, size), dtype=np.int8)
    w = rng.integers(-128, 128, (size, size), dtype=np.int8)
    return int8_peers(x, w, repeats, slow)


def bench_gemv(rng, size, repeats, slow):
    x = rng.integers(-128, 128, (1, size), dtype=np.int8)
    w = rng.integers(-128, 128, (size, size), dtype=np.int8)
    return int8_peers(x, w, repeats, slow)


def bench_ternary(rng, size, repeats):
    """Batch-1 GEMV with BitNet b1.58 weights: ternary from 2-bit packed bytes vs float32."""
    w_float = rng.standard_normal((size, size)).astype(np.float32)
    x = rng.standard_normal((1, size)).astype(np.float32)
    packed, w_scale = quant.quantize_ternary(w_float)
    w_q = quant.unpack_ternary(packed, size)
    x_q, _ = quant.absmax_quantize(x)
    w_deq = w_q.astype(np.float32) * w_scale  # the float32 layer the ternary kernel replaces
    w_t = torch.from_numpy(w_deq)

    def end_to_end():
        q, s = quant.absmax_quantize(x)
        return quant.ternary_matmul(q, packed, x_scale=s, w_scale=w_scale)

    rows = interleaved([
        ("cogtensor ternary_matmul(x_q, packed) -> int32", lambda: quant.ternary_matmul(x_q, packed), packed.nbytes,
         lambda o: exact(o, x_q, w_q.T)),
        ("cogtensor absmax_quantize + ternary_matmul -> float32", end_to_end, packed.nbytes, None),
        ("numpy float32 GEMV (BLAS)", lambda: x @ w_deq.T, w_deq.nbytes, None),
        ("torch float32 GEMV", lambda: torch.from_numpy(x) @ w_t.T, w_deq.nbytes, None),
        ("cogtensor int8_matmul, ternary values as int8", lambda: quant.int8_matmul(x_q, w_q.T), w_q.nbytes,
         lambda o: exact(o, x_q, w_q.T)),
    ], repeats)
    rows.insert(2, row("(storage only) base-3 packing, 5 weights/byte", None, quant.pack_ternary_base3(w_q).nbytes))
    return rows


def print_table(title, rows):
    ours = rows[0]["ms"]
    print(f"\n## {title}")
    print(f"{'implementation':58s} {'ms':>9s} {'weights MiB':>12s} {'peer/ours':>10s} {'check':>6s}")
    for r in rows:
        ratio = None if r["ms"] is None else r["ms"] / ours
        mib = None if r["weight_bytes"] is None else r["weight_bytes"] / MIB
        print(f"{r['impl']:58s} {fmt(r['ms'], '9.3f', '-'):>9s} {fmt(mib, '12.2f'):>12s} "
              f"{fmt(ratio, '10.2f', '-'):>10s} {r['check']:>6s}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--quick", action="store_true", help="1/4 of the sizes, fewer repeats")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args()
    cogtensor.set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    scale = 4 if args.quick else 1
    repeats = args.repeats or (3 if args.quick else 10)
    rng = np.random.default_rng(0)
    print("# cogtensor quantized kernels:", machine(args.threads), f"torch {torch.__version__}")
    print_table(f"int8 GEMM {1024 // scale}^3 (x @ w.T)", bench_gemm(rng, 1024 // scale, repeats, 1))
    print_table(f"int8 GEMV 1 x {4096 // scale} x {4096 // scale}", bench_gemv(rng, 4096 // scale, repeats * 5, 2))
    print_table(f"ternary GEMV 1 x {4096 // scale} x {4096 // scale}", bench_ternary(rng, 4096 // scale, repeats * 5))


if __name__ == "__main__":
    main()
