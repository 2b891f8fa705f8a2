"""Helpers shared by the benchmark scripts (timing, threading, table formatting)."""

from __future__ import annotations

import os
import platform
import time

import numpy as np

import cogtensor


def best_ms(fn, repeats):
    """(best wall time in ms over ``repeats`` calls after one warm-up call, the warm-up's result)."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3, result


def chunked(ex, fn, n, chunk):
    """fn(lo, hi) over blocks of ``chunk`` rows, run on the executor's threads, in order."""
    return list(ex.map(lambda lo: fn(lo, min(lo + chunk, n)), range(0, n, chunk)))


def fmt(v, spec, missing="n/a"):
    return missing if v is None else format(v, spec)


def machine(threads) -> dict:
    """What every benchmark prints about the software and machine it ran on."""
    return {
        "cogtensor": cogtensor.__version__, "kernels_info": cogtensor.kernels_info(), "numpy": np.__version__,
        "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
        "threads": threads,
    }
