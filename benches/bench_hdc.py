"""Time cogtensor's HDC and int8 kernels against numpy, faiss and NumKong on the same data.

One run measures the machine's memory-read bandwidth, then each operation for cogtensor
and its peers, checks that all return the same answer, and prints ms, GB/s (input bytes /
time), the fraction of the measured bandwidth and ``peer_ms / our_ms`` (> 1: we are faster).
Timings are the best of N repeats after one warm-up. Peers that are not installed show n/a.

    python benches/bench_hdc.py                      # 100,000 records (about 2 GiB RAM)
    python benches/bench_hdc.py --quick              # smoke run: 5,000 records
    python benches/bench_hdc.py --n 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import cogtensor
from cogtensor import hdc, quant
from common import best_ms, chunked, fmt, machine  # benches/common.py

try:
    import faiss
except ImportError:
    faiss = None
try:
    import numkong as nk
except ImportError:
    nk = None

K = 10
WIDTH = 8192  # bytes per CogRecord
DIM = 1024  # int8 / float32 vector length




def row(impl, ms=None, nbytes=None, check=""):
    return {"impl": impl, "ms": ms, "nbytes": nbytes, "check": check}


def same(a, b) -> str:
    ok = np.array_equal(np.asarray(a).astype(np.int64), np.asarray(b).astype(np.int64))
    return "ok" if ok else "MISMATCH"




def topk_from(d, k):
    """(distances, indices) of the k smallest d, ordered by (distance, index)."""
    idx = np.argpartition(d, k - 1)[:k]
    idx = idx[np.lexsort((idx, d[idx]))]
    return d[idx], idx


def bench_bandwidth(ex, threads, mib, repeats):
    """Memory-read bandwidth in GB/s: sum of an int64 array split over ``threads`` threads."""
    a = np.ones(mib << 17, dtype=np.int64)
    parts = np.array_split(a, threads)
    ms, _ = best_ms(lambda: sum(ex.map(np.sum, parts)), repeats)
    return a.nbytes / ms / 1e6


def bench_topk(ex, threads, n, repeats, slow):
    """Top-10 Hamming search of one query over n random CogRecords."""
    base, q = hdc.random(n, WIDTH, seed=1), hdc.random(1, WIDTH, seed=2)[0]
    nbytes = base.nbytes
    ms, (ours_d, _) = best_ms(lambda: hdc.topk(q, base, K), repeats)
    rows = [row("cogtensor hdc.topk", ms, nbytes, "ref")]

    q64, b64 = q.view(np.uint64), base.view(np.uint64)

    def numpy_topk():
        part = lambda lo, hi: np.bitwise_count(b64[lo:hi] ^ q64).sum(1, dtype=np.uint32)
        return topk_from(np.concatenate(chunked(ex, part, n, 2000)), K)

    ms, (d, _) = best_ms(numpy_topk, slow)
    rows.append(row(f"numpy bitwise_count on u64, 2000-row chunks, {threads} thr", ms, nbytes, same(d, ours_d)))

    if faiss is None:
        rows.append(row("faiss IndexBinaryFlat"))
    else:
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexBinaryFlat(WIDTH * 8)
        index.add(base)  # a copy; not timed
        ms, (d, _) = best_ms(lambda: index.search(q[None], K), repeats)
        rows.append(row("faiss IndexBinaryFlat.search", ms, nbytes, same(np.sort(d[0]), ours_d)))
        del index

    if nk is None:
        rows += [row("numkong hammings_packed"), row("numkong cdist hamming")]
    else:
        packed = nk.hammings_pack(base, dtype="uint1")  # a copy in NumKong's layout; not timed
        fn = lambda: topk_from(np.asarray(nk.hammings_packed(q[None], packed))[0], K)
        ms, (d, _) = best_ms(fn, repeats)
        rows.append(row("numkong hammings_packed (1 thread)", ms, nbytes, same(d, ours_d)))
        del packed
        fn = lambda: topk_from(np.asarray(nk.cdist(q[None], base, "hamming", dtype="uint1", threads=threads))[0], K)
        ms, (d, _) = best_ms(fn, repeats)
        rows.append(row(f"numkong cdist hamming uint1 threads={threads}", ms, nbytes, same(d, ours_d)))
    return rows


def noise_bits(p64, width, seed):
    """(m, width) uint8 where row r has each bit set with probability p64[r] / 64.

    Compares a random 6-digit binary fraction U with p bit-parallel, least significant digit
    first: U < p is ``u | f`` where p's digit is 1 and ``u & f`` where it is 0.
    """
    f = np.zeros((len(p64), width), np.uint8)
    for j in range(6):
        u = hdc.random(len(p64), width, seed=seed * 6 + j)
        digit = (((p64 >> j) & 1) * 0xFF).astype(np.uint8)[:, None]
        f = (digit & (u | f)) | (~digit & u & f)
    return f


def clustered(n, clusters, queries, seed=3):
    """n records around ``clusters`` random centers, each with 3/64..19/64 (4.7%..30%) of bits
    flipped; queries are centers with 2/64 (3.1%) of bits flipped."""
    rng = np.random.default_rng(seed)
    centers = hdc.random(clusters, WIDTH, seed=seed)
    labels = rng.integers(0, clusters, n)
    p64 = rng.integers(3, 20, n)
    base = np.empty((n, WIDTH), np.uint8)
    for c, lo in enumerate(range(0, n, 8192)):
        hi = min(lo + 8192, n)
        base[lo:hi] = centers[labels[lo:hi]] ^ noise_bits(p64[lo:hi], WIDTH, seed + 1 + c)
    picked = rng.choice(clusters, queries, replace=False)
    qs = centers[picked] ^ noise_bits(np.full(queries, 2), WIDTH, seed + 10**6)
    return base, qs


def bench_cascade(n, queries, range_hits, repeats, slow):
    """Cascade top-10 and exact range search vs brute force on clustered records."""
    base, qs = clustered(n, max(1, n // 100), queries)
    m = len(qs)
    ms_brute, brute = best_ms(lambda: hdc.topk(qs, base, K), slow)
    ms_casc, casc = best_ms(lambda: hdc.cascade_search(qs, base, K), repeats)
    recall = np.mean([len(set(a) & set(b)) / K for a, b in zip(casc.indices, brute.indices)])
    top = [row(f"cogtensor cascade_search k={K} ({m} queries)", ms_casc, None, f"recall@10={recall:.4f}"),
           row(f"cogtensor topk k={K} ({m} queries, brute force)", ms_brute, None, "ref")]

    dists = np.stack([hdc.hamming(q, base) for q in qs])
    t = int(np.partition(dists.ravel(), range_hits - 1)[range_hits - 1])

    def brute_range():
        out = []
        for q in qs:
            d = hdc.hamming(q, base)
            idx = np.flatnonzero(d <= t)
            idx = idx[np.lexsort((idx, d[idx]))]
            out.append((d[idx], idx))
        return out

    ms_casc, got = best_ms(lambda: [hdc.cascade_search(q, base, threshold=t) for q in qs], repeats)
    ms_brute, want = best_ms(brute_range, slow)
    ok = all(np.array_equal(g.indices, w[1]) and np.array_equal(g.distances, w[0]) for g, w in zip(got, want))
    hits = sum(len(w[1]) for w in want)
    rng_rows = [row(f"cogtensor cascade_search threshold={t}", ms_casc, None, "ok" if ok else "MISMATCH"),
                row("hdc.hamming + flatnonzero(d <= T) + lexsort", ms_brute, None, f"{hits} hits")]
    note = f"{n} records, {max(1, n // 100)} clusters, {m} queries; peer/ours = speedup"
    note_r = f"T={t} bits ({t / (WIDTH * 8):.1%}): {hits} rows qualify over {m} queries, one call each"
    return {"note": note, "rows": top}, {"note": note_r, "rows": rng_rows}


def bench_bundle(ex, threads, repeats, slow, n=1001):
    """Majority bundle of n (odd, so no ties) CogRecords."""
    recs = hdc.random(n, WIDTH, seed=4)
    ms, ours = best_ms(lambda: hdc.bundle(recs), repeats)

    def numpy_bundle():
        def part(lo, hi):
            bits = np.unpackbits(recs[:, lo:hi], axis=1, bitorder="little")
            return np.packbits(bits.sum(0, dtype=np.uint16) > n // 2, bitorder="little")
        return np.concatenate(chunked(ex, part, WIDTH, 1024))

    ms_np, theirs = best_ms(numpy_bundle, slow)
    return [row("cogtensor hdc.bundle", ms, recs.nbytes, "ref"),
            row(f"numpy unpackbits.sum > n/2, packbits, {threads} thr", ms_np, recs.nbytes, same(theirs, ours))]


def bench_int8_dot(ex, threads, n, repeats, slow):
    """int8 dot products of one DIM-d query against n int8 vectors."""
    rng = np.random.default_rng(5)
    base = rng.integers(-128, 128, (n, DIM), dtype=np.int8)
    q = rng.integers(-128, 128, DIM, dtype=np.int8)
    ms, ours = best_ms(lambda: hdc.int8_dot(q, base), repeats)
    rows = [row("cogtensor hdc.int8_dot", ms, base.nbytes, "ref")]

    q32 = q.astype(np.int32)
    numpy_dot = lambda: np.concatenate(chunked(ex, lambda lo, hi: base[lo:hi].astype(np.int32) @ q32, n, 4096))
    ms, theirs = best_ms(numpy_dot, slow)
    rows.append(row(f"numpy astype(int32) @ q, 4096-row chunks, {threads} thr", ms, base.nbytes, same(theirs, ours)))

    if nk is None:
        rows += [row("numkong dots_packed"), row("numkong cdist dot")]
    else:
        packed = nk.dots_pack(base, dtype="int8")  # not timed
        ms, theirs = best_ms(lambda: np.asarray(nk.dots_packed(q[None], packed))[0], repeats)
        rows.append(row("numkong dots_packed int8 (1 thread)", ms, base.nbytes, same(theirs, ours)))
        del packed
        ms, theirs = best_ms(lambda: np.asarray(nk.cdist(q[None], base, "dot", threads=threads))[0], repeats)
        rows.append(row(f"numkong cdist dot int8 threads={threads}", ms, base.nbytes, same(theirs, ours)))
    return rows


def bench_quantize(ex, threads, n, repeats, slow):
    """Per-row symmetric int8 quantization of n DIM-d float32 vectors."""
    x = np.random.default_rng(6).standard_normal((n, DIM), dtype=np.float32)
    ms, (q_ours, s_ours) = best_ms(lambda: quant.quantize_int8(x), repeats)

    def numpy_quantize():
        q, s = np.empty(x.shape, np.int8), np.empty(n, np.float32)

        def part(lo, hi):
            blk = x[lo:hi]
            s[lo:hi] = np.abs(blk).max(1) / np.float32(127)
            q[lo:hi] = np.clip(np.rint(blk / s[lo:hi, None]), -127, 127).astype(np.int8)

        chunked(ex, part, n, 256)
        return q, s

    ms_np, (q_np, s_np) = best_ms(numpy_quantize, slow)
    ok = np.array_equal(q_np, q_ours) and np.array_equal(s_np, s_ours)
    return [row("cogtensor quant.quantize_int8", ms, x.nbytes, "ref"),
            row(f"numpy abs.max/127, rint, clip, astype, {threads} thr", ms_np, x.nbytes, "ok" if ok else "MISMATCH")]


def finish(section, bw):
    """Fill GB/s, fraction of bandwidth and peer_ms / our_ms (the first row is ours)."""
    rows = section["rows"]
    ours = rows[0]["ms"]
    for r in rows:
        have = r["ms"] is not None
        r["gbs"] = r["nbytes"] / r["ms"] / 1e6 if have and r["nbytes"] else None
        r["bw_fraction"] = r["gbs"] / bw if r["gbs"] else None
        r["ratio"] = r["ms"] / ours if have else None
    return section




def print_section(title, section):
    print(f"\n## {title}" + (f"  [{section['note']}]" if section.get("note") else ""))
    print(f"{'implementation':<56} {'ms':>9} {'GB/s':>7} {'of BW':>6} {'peer/ours':>9}  check")
    for r in section["rows"]:
        check = r["check"] if r["ms"] is not None else "not installed"
        print(f"{r['impl']:<56} {fmt(r['ms'], '9.2f'):>9} {fmt(r['gbs'], '.1f', ''):>7} "
              f"{fmt(r['bw_fraction'], '.0%', ''):>6} {fmt(r['ratio'], '9.2f'):>9}  {check}")


def environment(threads):
    caps = [c for c, on in nk.get_capabilities().items() if on] if nk else None
    return {
        **machine(threads),
        "faiss": faiss.__version__ if faiss else None,
        "numkong": getattr(nk, "__version__", "?") if nk else None, "numkong_capabilities": caps,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000, help="records / vectors per data set (default 100,000)")
    p.add_argument("--quick", action="store_true", help="smoke run: 5,000 records, small bandwidth array, 2 repeats")
    p.add_argument("--repeats", type=int, default=7, help="timed repeats for fast calls (slow numpy peers: fewer)")
    p.add_argument("--threads", type=int, default=2, help="threads for every implementation (default 2)")
    p.add_argument("--queries", type=int, default=20, help="queries for the cascade benchmark")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    n, repeats, bw_mib = args.n, args.repeats, 1024
    if args.quick:
        n, repeats, bw_mib = min(n, 5_000), 2, 256
    if n < 100 * args.queries:
        p.error(f"--n must be at least 100 x --queries ({100 * args.queries}): one cluster of 100 per query")
    slow = max(2, repeats // 2)
    cogtensor.set_num_threads(args.threads)

    env = environment(args.threads)
    print("# cogtensor HDC benchmark")
    for key, value in env.items():
        print(f"{key}: {value}")
    print(f"n={n} repeats={repeats} (numpy peers {slow})")

    sections = {}
    with ThreadPoolExecutor(args.threads) as ex:
        bw_start = bench_bandwidth(ex, args.threads, bw_mib, max(repeats, 3))
        sections[f"top-{K} Hamming, 1 query x {n} x {WIDTH} B"] = {
            "rows": bench_topk(ex, args.threads, n, repeats, slow)}
        top, rng = bench_cascade(n, args.queries, 300, repeats, slow)
        sections[f"cascade top-{K} vs brute force (clustered)"] = top
        sections["cascade exact range vs brute force (clustered)"] = rng
        sections[f"bundle 1001 x {WIDTH} B"] = {"rows": bench_bundle(ex, args.threads, repeats, slow)}
        sections[f"int8 dot, 1 query x {n} x {DIM}"] = {"rows": bench_int8_dot(ex, args.threads, n, repeats, slow)}
        sections[f"quantize_int8 {n} x {DIM} float32"] = {"rows": bench_quantize(ex, args.threads, n, repeats, slow)}
        bw_end = bench_bandwidth(ex, args.threads, bw_mib, max(repeats, 3))
    bw = max(bw_start, bw_end)
    print(f"memory read bandwidth: {bw:.1f} GB/s (sum of {bw_mib} MiB int64 over {args.threads} threads, "
          f"best of start {bw_start:.1f} and end {bw_end:.1f} of the run)")
    for title, section in sections.items():
        print_section(title, finish(section, bw))
    print("\npeer/ours = peer ms / our ms (> 1: cogtensor is faster); GB/s = input bytes / time; "
          "packing (faiss add, numkong *_pack) is not timed.")
    mismatch = any("MISMATCH" in r["check"] for s in sections.values() for r in s["rows"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "n": n, "repeats": repeats, "bandwidth_gbs": bw,
                       "bandwidth_start_end_gbs": [bw_start, bw_end],
                       "sections": sections}, f, indent=2, default=str)
    return 1 if mismatch else 0


if __name__ == "__main__":
    raise SystemExit(main())
