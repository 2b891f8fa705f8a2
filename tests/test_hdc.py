"""cogtensor.hdc against numpy references, on every ISA and thread count."""

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cogtensor import _kernels, cogrecord, hdc

WIDTHS = [1, 7, 8, 33, 2048, 8192, 8193]
ROWS = [0, 1, 37]

rng = np.random.default_rng(1234)


def rand_rows(n, w):
    return rng.integers(0, 256, (n, w), dtype=np.uint8)


def bits(x):
    return np.unpackbits(x, axis=-1, bitorder="little")


def ref_hamming(a, b):
    return np.bitwise_count(a ^ b).sum(-1, dtype=np.int64)


def ref_majority(rows, weights=None):
    w = np.ones(len(rows), np.int64) if weights is None else np.asarray(weights, np.int64)
    votes = (2 * bits(rows).astype(np.int64) - 1).T @ w  # > 0: majority of ones
    tie = bits(np.full(rows.shape[1], 0x55, np.uint8))
    return np.packbits(np.where(votes > 0, 1, np.where(votes == 0, tie, 0)).astype(np.uint8), bitorder="little")


def ref_topk(q, base, k):
    d = ref_hamming(q, base)
    order = np.lexsort((np.arange(len(base)), d))[:k]
    return d[order], order


@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("n", ROWS)
def test_rowwise_kernels_match_numpy(isa, threads, n, w):
    a, b = rand_rows(n, w), rand_rows(n, w)
    np.testing.assert_array_equal(hdc.popcount(a), np.bitwise_count(a).sum(1))
    np.testing.assert_array_equal(hdc.hamming(a, b), ref_hamming(a, b))
    np.testing.assert_array_equal(hdc.bind(a, b), a ^ b)
    np.testing.assert_allclose(hdc.similarity(a, b), 1 - ref_hamming(a, b) / (8 * w))
    if n:
        np.testing.assert_array_equal(hdc.hamming(a[0], b), ref_hamming(a[0], b))  # one vs many
        np.testing.assert_array_equal(hdc.bind(b, a[0]), b ^ a[0])


@pytest.mark.parametrize("w", WIDTHS)
def test_hamming_matrix(isa, threads, w):
    a, b = rand_rows(5, w), rand_rows(40, w)
    np.testing.assert_array_equal(hdc.hamming_matrix(a, b), ref_hamming(a[:, None, :], b[None]))
    assert hdc.hamming_matrix(a[:0], b).shape == (0, 40)


@pytest.mark.parametrize("w", WIDTHS)
@pytest.mark.parametrize("n", [1, 2, 15, 16, 17, 33, 100])
def test_bundle_is_bitwise_majority(isa, threads, n, w):
    rows = rand_rows(n, w)
    np.testing.assert_array_equal(hdc.bundle(rows), ref_majority(rows))


@pytest.mark.parametrize("n", [31, 32, 255, 256, 257, 1000])
def test_bundle_counter_widths(isa, threads, n):
    rows = rand_rows(n, 100)
    np.testing.assert_array_equal(hdc.bundle(rows), ref_majority(rows))
    # the per-bit counts behind SQL's mergeable bundle state
    np.testing.assert_array_equal(_kernels.bit_counts(rows, None), bits(rows).sum(0))
    np.testing.assert_array_equal(_kernels.bit_counts(rows[:, :33], None), bits(rows[:, :33]).sum(0))


@pytest.mark.parametrize("w", [1, 33, 2048])
def test_weighted_bundle(isa, threads, w):
    rows = rand_rows(20, w)
    weights = rng.integers(-5, 6, 20)
    np.testing.assert_array_equal(hdc.bundle(rows, weights), ref_majority(rows, weights))
    np.testing.assert_array_equal(hdc.bundle(rows, np.ones(20, int)), hdc.bundle(rows))
    # all-zero weights: every bit ties
    np.testing.assert_array_equal(hdc.bundle(rows, np.zeros(20, int)), np.full(w, 0x55, np.uint8))


def test_bundle_tie_rule_is_even_bits_one(isa):
    a = np.array([[0b11110000]], np.uint8)
    b = np.array([[0b11001100]], np.uint8)
    # bits agree where both are 1 (bits 6,7) or both 0 (bits 0,1); ties elsewhere take 0x55's bits
    out = hdc.bundle(np.concatenate([a, b]))[0]
    agree_ones, agree = 0b11000000, 0b11000011
    assert out == (agree_ones | (0x55 & ~agree & 0xFF))


@pytest.mark.parametrize("w", WIDTHS)
def test_permute_matches_roll(isa, threads, w):
    x = rand_rows(9, w)
    for k in [0, 1, 7, 8, 9, -1, -13, 8 * w, 8 * w + 3, -(8 * w) * 5 - 2, 2**40 + 5]:
        expect = np.packbits(np.roll(bits(x), k, axis=1), axis=1, bitorder="little")
        np.testing.assert_array_equal(hdc.permute(x, k), expect)
    ks = rng.integers(-100, 100, 9)
    expect = np.stack([np.packbits(np.roll(bits(r), k), bitorder="little") for r, k in zip(x, ks)])
    np.testing.assert_array_equal(hdc.permute(x, ks), expect)


@pytest.mark.parametrize("w", WIDTHS)
def test_topk_matches_sorted_distances(isa, threads, w):
    base = rand_rows(300, w)
    base[7] = base[3]  # duplicate rows tie: lower index first
    queries = np.concatenate([base[3:4], rand_rows(4, w)])
    for k in [0, 1, 10, 300]:
        res = hdc.topk(queries, base, k)
        assert res.distances.shape == res.indices.shape == (5, k)
        for qi, q in enumerate(queries):
            d, i = ref_topk(q, base, k)
            np.testing.assert_array_equal(res.distances[qi], d)
            np.testing.assert_array_equal(res.indices[qi], i)
    single = hdc.topk(queries[0], base, 3)
    assert single.indices[:2].tolist() == [3, 7] and single.distances.shape == (3,)


def test_many_narrow_rows_split_over_threads(isa, threads):
    base = rand_rows(40_000, 33)
    q = rand_rows(3, 33)
    np.testing.assert_array_equal(hdc.hamming(q[0], base), ref_hamming(q[0], base))
    res = hdc.topk(q, base, 25)
    for qi in range(3):
        np.testing.assert_array_equal(res.indices[qi], ref_topk(q[qi], base, 25)[1])


def test_kernels_release_the_gil_and_run_concurrently():
    from concurrent.futures import ThreadPoolExecutor

    base = rand_rows(2000, 512)
    queries = rand_rows(8, 512)
    serial = [hdc.topk(q, base, 5).indices for q in queries]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda q: hdc.topk(q, base, 5).indices, queries))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def test_topk_on_tiny_width_has_many_ties(isa, threads):
    base = rand_rows(1000, 1)
    d, i = ref_topk(base[0], base, 50)
    res = hdc.topk(base[0], base, 50)
    np.testing.assert_array_equal(res.indices, i)
    np.testing.assert_array_equal(res.distances, d)


def clustered(n_clusters, per, w, seed):
    r = np.random.default_rng(seed)
    centers = hdc.random(n_clusters, w, seed=seed)
    members = np.repeat(centers, per, axis=0)
    p = r.uniform(0.05, 0.3, len(members))[:, None]
    flips = np.packbits(r.random((len(members), 8 * w)) < p, axis=1, bitorder="little")
    return centers, members ^ flips


@pytest.mark.parametrize("w", [64, 1024])
def test_cascade_topk_recall_on_clustered_data(isa, threads, w):
    centers, base = clustered(40, 50, w, seed=5)
    queries = hdc.bind(centers[:10], hdc.random(10, w, seed=9) & hdc.random(10, w, seed=10) & hdc.random(10, w, seed=11))
    exact = hdc.topk(queries, base, 10)
    fast = hdc.cascade_search(queries, base, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact.indices, fast.indices)])
    assert recall >= 0.99
    # every returned distance is the true full distance of that row
    for q, d, i in zip(queries, fast.distances, fast.indices):
        np.testing.assert_array_equal(d, ref_hamming(q, base[i]))
        assert np.all(np.diff(d.astype(np.int64)) >= 0)


@pytest.mark.parametrize("w", WIDTHS)
def test_cascade_without_pruning_is_exact(isa, w):
    base = rand_rows(200, w)
    q = rand_rows(2, w)
    exact = hdc.topk(q, base, 200)
    res = hdc.cascade_search(q, base, 200, sigmas=1e9)
    np.testing.assert_array_equal(res.indices, exact.indices)
    np.testing.assert_array_equal(res.distances, exact.distances)


@pytest.mark.parametrize("w", WIDTHS)
def test_cascade_range_is_exact(isa, threads, w):
    base = rand_rows(500, w)
    q = base[11]
    d = ref_hamming(q, base)
    for t in [0, int(np.percentile(d, 5)), int(np.median(d)), 8 * w]:
        res = hdc.cascade_search(q, base, threshold=t)
        hit = np.flatnonzero(d <= t)
        order = hit[np.lexsort((hit, d[hit]))]
        np.testing.assert_array_equal(res.indices, order)
        np.testing.assert_array_equal(res.distances, d[order])


def test_cascade_accepts_integers_beyond_64_bits():
    base = rand_rows(50, 16)
    everything = hdc.topk(base[0], base, 50)
    res = hdc.cascade_search(base[0], base, threshold=2**64)  # every record is within range
    np.testing.assert_array_equal(res.indices, everything.indices)
    res = hdc.cascade_search(base[0], base, 5, stages=(2**70, 2**65), sigmas=float("inf"))  # 1-byte prefixes
    np.testing.assert_array_equal(res.distances, everything.distances[:5])


def test_strided_container_views(isa, threads):
    recs = rand_rows(64, cogrecord.RECORD_BYTES)
    for c in range(4):
        view = cogrecord.container(recs, c)
        copy = np.ascontiguousarray(view)
        np.testing.assert_array_equal(hdc.hamming(view[0], view), ref_hamming(copy[0], copy))
        np.testing.assert_array_equal(hdc.bundle(view), ref_majority(copy))
        np.testing.assert_array_equal(hdc.topk(view[5], view, 4).indices, ref_topk(copy[5], copy, 4)[1])
        np.testing.assert_array_equal(hdc.permute(view, 3), hdc.permute(copy, 3))
    reversed_rows = recs[::-1]
    np.testing.assert_array_equal(hdc.popcount(reversed_rows), np.bitwise_count(recs[::-1]).sum(1))


def test_arrow_inputs():
    x = rand_rows(10, 16)
    fsb = pa.Array.from_buffers(pa.binary(16), 10, [None, pa.py_buffer(x)])
    np.testing.assert_array_equal(hdc.hamming(fsb, x[0]), ref_hamming(x, x[0]))
    np.testing.assert_array_equal(hdc.popcount(fsb.slice(2, 5)), np.bitwise_count(x[2:7]).sum(1))
    chunked = pa.chunked_array([fsb.slice(0, 4), fsb.slice(4)])
    np.testing.assert_array_equal(hdc.bundle(chunked), ref_majority(x))
    binary = pa.array([bytes(r) for r in x], pa.binary())
    np.testing.assert_array_equal(hdc.bind(binary, pa.scalar(bytes(x[1]), pa.binary(16))), x ^ x[1])
    assert int(hdc.hamming(bytes(x[0]), bytearray(x[1]))) == ref_hamming(x[0], x[1])


def test_arrow_scalars_are_single_records():
    a = rng.integers(-128, 128, (6, 8), dtype=np.int8)
    fsb = pa.Array.from_buffers(pa.binary(8), 6, [None, pa.py_buffer(a)])
    lists = pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), 8)
    ref = (a.astype(np.int64) * a[2]).sum(1)
    np.testing.assert_array_equal(hdc.int8_dot(fsb[2], a), ref)  # FixedSizeBinary bytes read as int8
    np.testing.assert_array_equal(hdc.int8_dot(lists[2], lists), ref)
    np.testing.assert_allclose(hdc.int8_cosine(lists[2], fsb), hdc.int8_cosine(a[2], a))
    x = a.view(np.uint8)
    as_uint8_list = pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 8)
    np.testing.assert_array_equal(hdc.hamming(as_uint8_list[1], x), ref_hamming(x[1], x))


def test_permute_by_integers_beyond_64_bits(isa):
    x = rand_rows(3, 5)
    for k in [2**64 + 5, -(2**70) - 3, 2**200, np.uint64(2**64 - 1)]:
        expect = np.packbits(np.roll(bits(x), int(k) % 40, axis=1), axis=1, bitorder="little")
        np.testing.assert_array_equal(hdc.permute(x, k), expect)


def test_int8_dot_and_cosine(isa, threads):
    for d in [1, 7, 31, 32, 33, 1024, 1031]:
        a = rng.integers(-128, 128, (50, d), dtype=np.int8)
        b = rng.integers(-128, 128, (50, d), dtype=np.int8)
        ref = (a.astype(np.int64) * b).sum(1)
        np.testing.assert_array_equal(hdc.int8_dot(a, b), ref)
        np.testing.assert_array_equal(hdc.int8_dot(a[0], b), (a[0].astype(np.int64) * b).sum(1))
        np.testing.assert_array_equal(hdc.int8_dot_matrix(a[:5], b), a[:5].astype(np.int64) @ b.T.astype(np.int64))
        norms = np.sqrt((a.astype(np.float64) ** 2).sum(1) * (b.astype(np.float64) ** 2).sum(1))
        expect = np.divide(ref, norms, out=np.zeros(len(ref)), where=norms > 0)  # 0 for an all-zero vector
        np.testing.assert_allclose(hdc.int8_cosine(a, b), expect, rtol=1e-12)


def test_int8_extremes_are_exact(isa):
    d = 65536
    lo = np.full((1, d), -128, np.int8)
    hi = np.full((1, d), 127, np.int8)
    assert hdc.int8_dot(lo, lo)[0] == 128 * 128 * d
    assert hdc.int8_dot(lo, hi)[0] == -128 * 127 * d
    zero = np.zeros(10, np.int8)
    assert hdc.int8_cosine(zero, np.ones(10, np.int8)) == 0.0
    assert hdc.int8_cosine(np.ones(10, np.int8), np.ones(10, np.int8)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="65536"):
        hdc.int8_dot(np.zeros(d + 1, np.int8), np.zeros(d + 1, np.int8))


def test_int8_from_arrow():
    a = rng.integers(-128, 128, (6, 8), dtype=np.int8)
    fsb = pa.Array.from_buffers(pa.binary(8), 6, [None, pa.py_buffer(a)])
    lists = pa.FixedSizeListArray.from_arrays(pa.array(a.ravel()), 8)
    ref = (a.astype(np.int64) * a[0]).sum(1)
    np.testing.assert_array_equal(hdc.int8_dot(fsb, a[0]), ref)
    np.testing.assert_array_equal(hdc.int8_dot(lists, a[0]), ref)


def test_random_is_deterministic_and_uniform():
    a = hdc.random(4, 8192, seed=42)
    np.testing.assert_array_equal(a, hdc.random(4, 8192, seed=42))
    np.testing.assert_array_equal(a[0], hdc.random(1, 8192, seed=42)[0])
    np.testing.assert_array_equal(hdc.random(3, 7, seed=42), a[:3, :7])  # a prefix of the same stream
    assert not np.array_equal(hdc.random(4, 8192, seed=43)[1:], a[:3])  # neighbouring seeds share no rows
    frac = bits(a).mean()
    assert abs(frac - 0.5) < 0.01
    d = ref_hamming(a[:, None], a[None])[np.triu_indices(4, 1)]
    assert np.all(np.abs(d / 65536 - 0.5) < 0.02)
    assert hdc.random(0, 16, seed=1).shape == (0, 16)
    assert not np.array_equal(hdc.random(1, 64), hdc.random(1, 64))  # no seed: fresh entropy
    np.testing.assert_array_equal(hdc.random(1, 8, seed=-1), hdc.random(1, 8, seed=2**64 - 1))


def test_item_memory_cleanup():
    mem = hdc.ItemMemory(["a", "b", "c"], width=512, seed=3)
    other = hdc.ItemMemory(["c"], width=512, seed=3)
    np.testing.assert_array_equal(mem["c"], other["c"])  # symbol records depend only on settings
    mem.add(["d", "a"])
    assert len(mem) == 4 and mem.symbols == ["a", "b", "c", "d"] and "d" in mem
    noisy = hdc.bind(mem["b"], hdc.random(1, 512, seed=0)[0] & hdc.random(1, 512, seed=1)[0])
    assert mem.cleanup(noisy) == "b"
    assert mem.cleanup(np.stack([mem["d"], noisy])) == ["d", "b"]
    with pytest.raises(KeyError):
        mem["zzz"]
    with pytest.raises(ValueError, match="empty"):
        hdc.ItemMemory(width=8).cleanup(np.zeros(8, np.uint8))


@settings(max_examples=40, deadline=None)
@given(w=st.integers(1, 80), n=st.integers(1, 20), k=st.integers(-10**6, 10**6), seed=st.integers(0, 2**32))
def test_properties(w, n, k, seed):
    x = hdc.random(n, w, seed=seed)
    y = hdc.random(n, w, seed=seed + 1)
    z = hdc.random(1, w, seed=seed + 2)[0]
    np.testing.assert_array_equal(hdc.bind(hdc.bind(x, y), y), x)  # bind is an involution
    np.testing.assert_array_equal(hdc.permute(hdc.permute(x, k), -k), x)  # permute inverts
    np.testing.assert_array_equal(hdc.bundle(np.repeat(x[:1], n, axis=0)), x[0])  # bundle of copies
    dxy, dyz, dxz = hdc.hamming(x, y), hdc.hamming(y, z), hdc.hamming(x, z)  # hamming is a metric
    assert np.all(dxz <= dxy + dyz)
    np.testing.assert_array_equal(dxy, hdc.hamming(y, x))
    assert np.all(hdc.hamming(x, x) == 0)
    np.testing.assert_array_equal(hdc.hamming(hdc.bind(x, z), hdc.bind(y, z)), dxy)  # binding preserves distance
    np.testing.assert_array_equal(hdc.hamming(hdc.permute(x, k), hdc.permute(y, k)), dxy)


BAD_CALLS = [
    (lambda: hdc.hamming(np.zeros(8, np.uint8), np.zeros(9, np.uint8)), ValueError, "widths differ"),
    (lambda: hdc.hamming(np.zeros((2, 8), np.uint8), np.zeros((3, 8), np.uint8)), ValueError, "broadcast"),
    (lambda: hdc.bind(np.zeros(8, np.int16), np.zeros(8, np.uint8)), TypeError, "uint8"),
    (lambda: hdc.popcount(np.zeros((2, 2, 2), np.uint8)), ValueError, "shape"),
    (lambda: hdc.popcount(np.zeros((2, 0), np.uint8)), ValueError, "width 0"),
    (lambda: hdc.popcount([1, 2, 3]), TypeError, "list"),
    (lambda: hdc.bundle(np.zeros((0, 8), np.uint8)), ValueError, "at least one"),
    (lambda: hdc.bundle(np.zeros((2, 8), np.uint8), [1]), ValueError, "weights"),
    (lambda: hdc.bundle(np.zeros((2, 8), np.uint8), [1.5, 2.0]), TypeError, "integers"),
    (lambda: hdc.bundle(np.zeros((2, 8), np.uint8), [2**31, 1]), ValueError, "int32"),
    (lambda: hdc.permute(np.zeros((3, 8), np.uint8), [1, 2]), ValueError, "shifts"),
    (lambda: hdc.permute(np.zeros(8, np.uint8), 1.5), TypeError, "integer"),
    (lambda: hdc.topk(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8), 4), ValueError, "k=4"),
    (lambda: hdc.topk(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8), -1), ValueError, ">= 0"),
    (lambda: hdc.topk(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8), 1.0), TypeError, "integer"),
    (lambda: hdc.topk(np.zeros(9, np.uint8), np.zeros((3, 8), np.uint8), 1), ValueError, "width"),
    (lambda: hdc.cascade_search(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8)), ValueError, "exactly one"),
    (lambda: hdc.cascade_search(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8), 1, threshold=3), ValueError, "exactly one"),
    (lambda: hdc.cascade_search(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8), threshold=-1), ValueError, ">= 0"),
    (lambda: hdc.cascade_search(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8), 1, stages=(2, 4)), ValueError, "stages"),
    (lambda: hdc.cascade_search(np.zeros(8, np.uint8), np.zeros((3, 8), np.uint8), 1, sigmas=-1), ValueError, "sigmas"),
    (lambda: hdc.cascade_search(np.zeros((2, 8), np.uint8), np.zeros((3, 8), np.uint8), threshold=1), ValueError, "one query"),
    (lambda: hdc.random(-1), ValueError, ">= 0"),
    (lambda: hdc.random(1, 0), ValueError, "width"),
    (lambda: hdc.random(1, 8, seed=1.5), TypeError, "seed"),
    (lambda: hdc.int8_dot(np.zeros(4, np.uint8), np.zeros(4, np.int8)), TypeError, "int8"),
    (lambda: hdc.hamming(pa.array([b"ab", None], pa.binary(2)), b"ab"), ValueError, "null"),
    (lambda: hdc.hamming(pa.array([b"ab", b"abc"]), b"ab"), ValueError, "same length"),
    (lambda: hdc.hamming(pa.scalar(None, pa.binary(2)), b"ab"), ValueError, "null"),
    (lambda: hdc.hamming(pa.scalar(3), b"ab"), TypeError, "binary or FixedSizeList scalar, got int64"),
    (lambda: hdc.hamming(pa.scalar("ab"), b"ab"), TypeError, "got string"),
    (lambda: hdc.permute(np.zeros(8, np.uint8), True), TypeError, "integer"),
]


@pytest.mark.parametrize("call, exc, message", BAD_CALLS)
def test_bad_input_raises_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_unpickled_arrays_are_accepted():
    """Arrays that crossed a process boundary (Ray, multiprocessing) carry their own dtype object."""
    import pickle

    base = pickle.loads(pickle.dumps(hdc.random(3, 64, seed=1)))
    assert hdc.topk(base[1], base, 1).indices.tolist() == [1]
