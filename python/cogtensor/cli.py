"""The ``cogtensor`` command: ``cogtensor demo`` and ``cogtensor info``."""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from cogtensor import cogrecord, hdc, kernels_info


def _noisy(rows: np.ndarray, seed: int) -> np.ndarray:
    """Flip about a quarter of each row's bits (XOR with the AND of two random masks)."""
    a = hdc.random(len(rows), rows.shape[1], seed=seed)
    b = hdc.random(len(rows), rows.shape[1], seed=seed + 1)
    return hdc.bind(rows, a & b)


def demo(classes: int = 20, per_class: int = 400, train: int = 40, seed: int = 0) -> dict:
    """Classify noisy CogRecords by bundled prototypes, search them, decode a bound record.

    Returns the figures it prints, so tests can check them.
    """
    t0 = time.perf_counter()
    truth = hdc.random(classes, cogrecord.RECORD_BYTES, seed=seed)
    labels = np.repeat(np.arange(classes), per_class)
    records = _noisy(truth[labels], seed + 100)
    payload = cogrecord.payload(records)  # search the C1-C2 hypervector, a strided view
    made = time.perf_counter() - t0

    # 1. learn one prototype per class by bundling `train` members, classify the rest
    is_train = np.tile(np.arange(per_class) < train, classes)
    t0 = time.perf_counter()
    protos = np.stack([hdc.bundle(payload[is_train & (labels == c)]) for c in range(classes)])
    nearest = hdc.topk(payload[~is_train], protos, 1).indices[:, 0]
    accuracy = float((nearest == labels[~is_train]).mean())
    classify_s = time.perf_counter() - t0

    # 2. nearest neighbours of a fresh noisy query: brute force vs cascade
    query = _noisy(truth[3:4, cogrecord.CONTAINER_BYTES : 3 * cogrecord.CONTAINER_BYTES], seed + 200)[0]
    t0 = time.perf_counter()
    exact = hdc.topk(query, payload, 10)
    brute_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast = hdc.cascade_search(query, payload, 10)
    cascade_s = time.perf_counter() - t0
    recall = len(set(exact.indices) & set(fast.indices)) / 10

    # 3. a record that binds roles to fillers, decoded by unbinding and cleanup
    memory = hdc.ItemMemory(["name", "colour", "shape", "alice", "red", "circle"], width=cogrecord.RECORD_BYTES)
    pairs = {"name": "alice", "colour": "red", "shape": "circle"}
    bound = hdc.bundle(np.stack([hdc.bind(memory[r], memory[f]) for r, f in pairs.items()]))
    decoded = {role: memory.cleanup(hdc.bind(bound, memory[role])) for role in pairs}

    return {
        "records": len(records),
        "generate_s": made,
        "prototype_accuracy": accuracy,
        "classify_s": classify_s,
        "top10_labels": labels[exact.indices].tolist(),
        "top10_distances": exact.distances.tolist(),
        "brute_force_ms": brute_s * 1e3,
        "cascade_ms": cascade_s * 1e3,
        "cascade_recall_at_10": recall,
        "decoded": decoded,
        "decoded_ok": decoded == pairs,
        "kernels": kernels_info(),
    }


def _print_demo(r: dict) -> None:
    print(f"cogtensor demo  (kernels: {r['kernels']['isa']}, {r['kernels']['num_threads']} threads)")
    print(f"  {r['records']} noisy 8192-byte CogRecords in 20 classes, generated in {r['generate_s']:.2f} s")
    print(f"  bundled prototypes classify held-out records: accuracy {r['prototype_accuracy']:.3f} "
          f"({r['classify_s'] * 1e3:.0f} ms)")
    print(f"  top-10 for a class-3 query: labels {r['top10_labels']}")
    print(f"    distances {r['top10_distances']}")
    print(f"    brute force {r['brute_force_ms']:.1f} ms, cascade {r['cascade_ms']:.1f} ms, "
          f"recall@10 {r['cascade_recall_at_10']:.2f}")
    print(f"  role-filler record decoded by unbinding: {r['decoded']}  ({'ok' if r['decoded_ok'] else 'WRONG'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cogtensor", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run HDC kernels on generated CogRecords and print what they find")
    sub.add_parser("info", help="print the kernel ISA and thread count as JSON")
    args = parser.parse_args(argv)
    if args.command == "info":
        print(json.dumps(kernels_info()))
        return 0
    result = demo()
    _print_demo(result)
    return 0 if result["decoded_ok"] and result["prototype_accuracy"] > 0.9 else 1


if __name__ == "__main__":
    sys.exit(main())
