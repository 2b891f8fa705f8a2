"""cogtensor.sql against references: numpy, cogtensor.hdc, cogtensor.quant, cogtensor.cogrecord.

Tables are cut into batches of 37 rows (slices of one buffer, so Arrow offsets
that are not multiples of 8) over 3 partitions (batch_size=64, target_partitions=3):
every function sees several batches and the aggregates merge partial states.
Partitions are contiguous in id, so a scan in partition order is a scan in id order.
"""

from __future__ import annotations

import gc
import weakref
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cogtensor.sql as csql
from cogtensor import cogrecord, hdc, quant

N = 300
I64 = np.iinfo(np.int64)


def fsb(x: np.ndarray, valid=None) -> pa.Array:
    """``(n, W)`` uint8 as FixedSizeBinary(W), NULL where ``valid`` is False."""
    return pa.array([bytes(r) if valid is None or valid[i] else None for i, r in enumerate(x)], pa.binary(x.shape[1]))


def nullable(values: np.ndarray, valid, arrow_type) -> pa.Array:
    return pa.array(values, arrow_type, mask=~np.asarray(valid))


def register(ctx, name: str, table: pa.Table, parts: int = 3) -> None:
    batches = table.to_batches(max_chunksize=37)
    bounds = np.linspace(0, len(batches), parts + 1).astype(int)
    ctx.register_record_batches(name, [batches[lo:hi] for lo, hi in zip(bounds, bounds[1:])])


def query(ctx, sql: str, **kw) -> pa.Table:
    return ctx.sql(sql, **kw).to_arrow_table()


def column(ctx, sql: str, **kw) -> list:
    return query(ctx, sql, **kw).column(0).to_pylist()


def values(col, valid=None) -> np.ndarray:
    """Check ``col`` is NULL exactly where ``valid`` is False; its non-null values as numpy."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    valid = np.ones(len(col), bool) if valid is None else np.asarray(valid)
    np.testing.assert_array_equal(col.is_valid().to_numpy(zero_copy_only=False), valid)
    col = col.filter(pa.array(valid))
    if pa.types.is_fixed_size_binary(col.type) or pa.types.is_binary(col.type):
        return np.frombuffer(b"".join(col.to_pylist()), np.uint8).reshape(len(col), -1)
    if pa.types.is_fixed_size_list(col.type):
        return col.flatten().to_numpy().reshape(len(col), col.type.list_size)
    return col.to_numpy()


def bits(x: np.ndarray) -> np.ndarray:
    return np.unpackbits(x, axis=-1, bitorder="little")


def vec_table(rng, d: int) -> tuple[pa.Table, SimpleNamespace]:
    a8 = rng.integers(-128, 128, (N, d)).astype(np.int8)
    b8 = rng.integers(-128, 128, (N, d)).astype(np.int8)
    a8[1], b8[2], a8[3], b8[3] = 0, 0, -128, -128  # zero vectors (cosine 0), int8 extremes
    va, vb = rng.random(N) > 0.1, rng.random(N) > 0.1
    f = (rng.standard_normal((N, d)) * rng.uniform(1e-3, 1e3, (N, 1))).astype(np.float32)
    f[4] = 0  # scale 0
    vf = rng.random(N) > 0.1
    f[~vf] = np.nan  # NULL rows hold NaN: must not raise
    fl = pa.FixedSizeListArray.from_arrays(pa.array(f.ravel()), d, mask=pa.array(~vf))
    table = pa.table({
        "id": np.arange(N), "a8": fsb(a8.view(np.uint8), va), "b8": fsb(b8.view(np.uint8), vb),
        "al": pa.FixedSizeListArray.from_arrays(pa.array(a8.ravel()), d, mask=pa.array(~va)),
        "bl": pa.FixedSizeListArray.from_arrays(pa.array(b8.ravel()), d, mask=pa.array(~vb)), "f": fl,
    })
    return table, SimpleNamespace(a8=a8, b8=b8, va=va, vb=vb, f=f, vf=vf)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    # cogs: 8192-byte records; 200 duplicates 42, 100 and 250 are 5 bits from it (ties in the top 10)
    cogs = hdc.random(N, 8192, seed=11)
    cogs[200] = cogs[42]
    cogs[100], cogs[250] = cogs[42], cogs[42]
    cogs[100, 0] ^= 0x1F
    cogs[250, 9] ^= 0xF8
    # small: 64-byte records with NULLs, shifts, seeds, labels and weights
    a, b = hdc.random(N, 64, seed=1), hdc.random(N, 64, seed=2)
    va, vb = rng.random(N) > 0.1, rng.random(N) > 0.1
    k = rng.integers(-10**15, 10**15, N)
    k[:8] = [0, -1, 511, 512, -513, I64.max, I64.min, 10**18]
    vk = rng.random(N) > 0.1
    seed = rng.integers(I64.min, I64.max, N, endpoint=True)
    seed[:4] = [0, -1, I64.min, I64.max]
    vs = rng.random(N) > 0.1
    gap = (np.arange(N) >= 37) & (np.arange(N) < 74)  # one whole batch
    label = np.concatenate([[0], [1, 1], [2] * 4, [3] * 3, 5 + rng.integers(0, 10, N - 10), [4]])[rng.permutation(N)]
    va[np.isin(label, [0, 1, 2])], va[label == 3] = True, False  # group 3 is all NULL
    w = rng.integers(-5, 6, N)
    vw = rng.random(N) > 0.1
    # recs: CogRecords with every container filled
    n = 60
    recs = cogrecord.pack(meta=rng.integers(0, 2**63, (n, 252), dtype=np.uint64),
                          payload=hdc.random(n, 4096, seed=5), embedding=rng.standard_normal((n, 1024)))
    vr, idx, vi = rng.random(n) > 0.1, rng.integers(0, 4, n), rng.random(n) > 0.1
    vecs = {d: vec_table(rng, d) for d in (64, 1024)}
    return SimpleNamespace(
        cogs=cogs, a=a, b=b, va=va, vb=vb, gap=gap, k=k, vk=vk, seed=seed, vs=vs, label=label, w=w, vw=vw,
        recs=recs, vr=vr, idx=idx, vi=vi, vecs={d: v[1] for d, v in vecs.items()},
        tables={
            "cogs": pa.table({"id": np.arange(N), "label": np.arange(N) % 7, "rec": fsb(cogs)}),
            "small": pa.table({
                "id": np.arange(N), "a": fsb(a, va), "b": fsb(b, vb), "k": nullable(k, vk, pa.int64()),
                "seed": nullable(seed, vs, pa.int64()), "label": label, "w": nullable(w, vw, pa.int64()),
                "ab": fsb(a, va & ~gap).cast(pa.binary()),  # Binary copy of a, NULL over a whole batch
            }),
            "recs": pa.table({"id": np.arange(n), "rec": fsb(recs, vr), "i": nullable(idx, vi, pa.int64())}),
            **{f"vec{d}": v[0] for d, v in vecs.items()},
        },
    )


@pytest.fixture
def ctx(data):
    ctx = csql.context(widths=[8192, 2048, 64], dims=[1024, 64], batch_size=64, target_partitions=3)
    for name, table in data.tables.items():
        register(ctx, name, table)
    return ctx


def test_record_functions(ctx, data):
    got = query(ctx, "SELECT hamming_64(a, b) h, hamming_sim_64(a, b) s, popcount_64(a) p, bind_64(a, b) x, "
                     "permute_64(a, k) r, permute_64(a, -3) r3, permute_64(a, 123456789012345) rb "
                     "FROM small ORDER BY id")
    a, b, both, ak = data.a, data.b, data.va & data.vb, data.va & data.vk
    d = bits(a ^ b).sum(1)
    np.testing.assert_array_equal(values(got["h"], both), d[both])
    np.testing.assert_array_equal(values(got["s"], both), 1.0 - d[both] / 512.0)
    np.testing.assert_array_equal(values(got["p"], data.va), bits(a).sum(1)[data.va])
    np.testing.assert_array_equal(values(got["x"], both), (a ^ b)[both])
    rolled = [np.packbits(np.roll(bits(a[i]), int(data.k[i]) % 512), bitorder="little") for i in np.flatnonzero(ak)]
    np.testing.assert_array_equal(values(got["r"], ak), np.array(rolled))
    np.testing.assert_array_equal(values(got["r3"], data.va), hdc.permute(a, -3)[data.va])
    np.testing.assert_array_equal(values(got["rb"], data.va), hdc.permute(a, 123456789012345)[data.va])


def test_binary_variants(ctx, data):
    got = query(ctx, "SELECT hamming_binary(ab, arrow_cast(b, 'Binary')) h, popcount_binary(ab) p, "
                     "bind_binary(ab, ab) x, permute_binary(ab, k) r, hamming_sim_binary(ab, ab) s "
                     "FROM small ORDER BY id")
    va = data.va & ~data.gap
    both, ak = va & data.vb, va & data.vk
    np.testing.assert_array_equal(values(got["h"], both), hdc.hamming(data.a, data.b)[both])
    np.testing.assert_array_equal(values(got["p"], va), hdc.popcount(data.a)[va])
    np.testing.assert_array_equal(values(got["x"], va), np.zeros((va.sum(), 64), np.uint8))
    assert got["x"].type == pa.binary()
    np.testing.assert_array_equal(values(got["r"], ak), hdc.permute(data.a, np.where(data.vk, data.k, 0))[ak])
    np.testing.assert_array_equal(values(got["s"], va), np.ones(va.sum()))
    x, y = hdc.random(2, 5, seed=9)
    hx, hy = x.tobytes().hex(), y.tobytes().hex()
    assert column(ctx, "SELECT hamming_binary(X'0f', X'01')") == [3]
    assert column(ctx, f"SELECT bind_binary(X'{hx}', X'{hy}')") == [(x ^ y).tobytes()]
    assert column(ctx, f"SELECT permute_binary(X'{hx}', -9)") == [hdc.permute(x, -9).tobytes()]
    assert column(ctx, f"SELECT popcount_binary(X'{hx}')") == [int(hdc.popcount(x))]


@pytest.mark.parametrize("name,width", [("hdc_random", 8192), ("hdc_random_2048", 2048), ("hdc_random_64", 64)])
def test_hdc_random(ctx, data, name, width):
    got = values(query(ctx, f"SELECT {name}(seed) FROM small ORDER BY id").column(0), data.vs)
    np.testing.assert_array_equal(got, np.array([hdc.random(1, width, int(s))[0] for s in data.seed[data.vs]]))
    assert column(ctx, f"SELECT {name}(-7)") == [hdc.random(1, width, -7)[0].tobytes()]


@pytest.mark.parametrize("d", [64, 1024])
def test_vector_functions(ctx, data, d):
    v, s = data.vecs[d], "" if d == 1024 else f"_{d}"
    got = query(ctx, f"SELECT int8_dot{s}(a8, b8) dot, int8_cosine{s}(a8, b8) cos, int8_dot_list{s}(al, bl) dotl, "
                     f"int8_cosine_list{s}(al, bl) cosl, quantize{s}(f) q, quant_scale{s}(f) scale, "
                     f"dequantize{s}(quantize{s}(f), quant_scale{s}(f)) deq FROM vec{d} ORDER BY id")
    both = v.va & v.vb
    for dot, cos in [("dot", "cos"), ("dotl", "cosl")]:
        np.testing.assert_array_equal(values(got[dot], both), hdc.int8_dot(v.a8, v.b8)[both])
        np.testing.assert_array_equal(values(got[cos], both), hdc.int8_cosine(v.a8, v.b8)[both])
    assert set(got["cos"].to_pylist()[1:3]) <= {0.0, None}  # a zero vector: cosine 0
    q, scale = quant.quantize_int8(v.f[v.vf], axis=0)
    np.testing.assert_array_equal(values(got["q"], v.vf).view(np.int8), q)
    np.testing.assert_array_equal(values(got["scale"], v.vf), scale)
    np.testing.assert_array_equal(values(got["deq"], v.vf), quant.dequantize_int8(q, scale))


def test_cog_container_and_embedding(ctx, data):
    recs, vr = data.recs, data.vr
    got = query(ctx, "SELECT cog_container(rec, 0) c0, cog_container(rec, 1) c1, cog_container(rec, 2) c2, "
                     "cog_container(rec, 3) c3, cog_container(rec, i) ci, cog_embedding(rec) e, "
                     "cog_container(rec, CASE WHEN rec IS NULL THEN 9 ELSE 1 END) cn, "
                     "hamming_2048(cog_container(rec, 1), cog_container(rec, 2)) h FROM recs ORDER BY id")
    for i in range(4):
        np.testing.assert_array_equal(values(got[f"c{i}"], vr), cogrecord.container(recs, i)[vr])
        assert got[f"c{i}"].type == pa.binary(2048)
    both = vr & data.vi
    per_row = np.array([cogrecord.container(recs[j], int(data.idx[j])) for j in np.flatnonzero(both)])
    np.testing.assert_array_equal(values(got["ci"], both), per_row)
    np.testing.assert_array_equal(values(got["cn"], vr), cogrecord.container(recs, 1)[vr])  # bad index on NULL rows
    np.testing.assert_array_equal(values(got["e"], vr), cogrecord.dequantize_embedding(recs)[vr])
    ref = hdc.hamming(cogrecord.container(recs, 1), cogrecord.container(recs, 2))
    np.testing.assert_array_equal(values(got["h"], vr), ref[vr])


def test_function_names(data):
    names = csql.function_names(widths=[8192, 2048], dims=[1024, 64])
    record = ["hamming", "hamming_sim", "popcount", "bind", "permute"]
    vector = ["int8_dot", "int8_cosine", "int8_dot_list", "int8_cosine_list", "quantize", "quant_scale", "dequantize"]
    expected = ({f"{f}{s}" for f in record + ["hdc_random", "bundle", "bundle_weighted"] for s in ["", "_2048"]}
                | {f"{f}_binary" for f in record} | {f"{f}{s}" for f in vector for s in ["", "_64"]}
                | {"cog_container", "cog_embedding", "hamming_topk"})
    assert names == sorted(expected)
    ctx = csql.context(widths=[8192, 2048], dims=[1024, 64], **{"datafusion.catalog.information_schema": True})
    assert set(column(ctx, "SELECT DISTINCT routine_name FROM information_schema.routines")) >= expected


def test_bundle_group_by(ctx, data):
    plan = ctx.sql("SELECT label, bundle_64(a) FROM small GROUP BY label").execution_plan().display_indent()
    assert "mode=Partial" in plan and "mode=FinalPartitioned" in plan  # partial states are merged
    for agg, weighted in [("bundle_64(a)", False), ("bundle_weighted_64(a, w)", True)]:
        got = query(ctx, f"SELECT label, {agg} r FROM small GROUP BY label ORDER BY label")
        assert got["label"].to_pylist() == sorted(set(data.label))
        for label, r in zip(got["label"].to_pylist(), got["r"].to_pylist()):
            keep = (data.label == label) & data.va & (data.vw if weighted else True)
            if not keep.any():
                assert r is None, label
                continue
            ref = hdc.bundle(data.a[keep], data.w[keep] if weighted else None)
            assert r == ref.tobytes(), label
    # one row, ties (2 and 4 rows), an all-NULL group: all present above
    assert sorted(np.bincount(data.label)[:4]) == [1, 2, 3, 4]
    got = query(ctx, "SELECT label, bundle(rec) r FROM cogs GROUP BY label ORDER BY label")
    for label, r in zip(got["label"].to_pylist(), got["r"].to_pylist()):
        assert r == hdc.bundle(data.cogs[np.arange(N) % 7 == label]).tobytes()


def test_bundle_edge_cases(ctx, data):
    one = data.a[data.label == 0]  # the group of one row
    assert column(ctx, "SELECT bundle_weighted_64(a, -1) FROM small WHERE label = 0") == [(~one[0]).tobytes()]
    assert column(ctx, "SELECT bundle_weighted_64(a, 0) FROM small WHERE label = 0") == [bytes([0x55] * 64)]  # all ties
    assert column(ctx, "SELECT bundle_64(a) FROM small WHERE false") == [None]
    assert column(ctx, "SELECT bundle_weighted(rec, id) FROM cogs WHERE false") == [None]
    assert column(ctx, "SELECT bundle_64(a) FROM small WHERE label = 3") == [None]
    assert column(ctx, "SELECT bundle_weighted_64(a, arrow_cast(NULL, 'Int64')) FROM small") == [None]


NULL_CALLS = [
    "hamming(rec, NULL)", "hamming(NULL, rec)", "hamming_sim(NULL, rec)", "popcount(NULL)", "bind(rec, NULL)",
    "permute(rec, NULL)", "permute(NULL, 3)", "hdc_random(NULL)", "cog_container(rec, NULL)",
    "cog_container(NULL, 1)", "cog_embedding(NULL)", "hamming_binary(NULL, X'01')", "bind_binary(X'01', NULL)",
    "popcount_binary(NULL)", "permute_binary(X'01', NULL)", "hamming_sim_binary(NULL, NULL)",
    "int8_dot_64(a8, NULL)", "int8_cosine_64(NULL, a8)", "int8_dot_list_64(al, NULL)", "int8_cosine_list_64(NULL, al)",
    "quantize_64(NULL)", "quant_scale_64(NULL)", "dequantize_64(NULL, arrow_cast(1, 'Float32'))",
    "dequantize_64(a8, NULL)",
]


@pytest.mark.parametrize("call", NULL_CALLS)
def test_null_argument_gives_null(ctx, call):
    assert column(ctx, f"SELECT {call} FROM cogs JOIN vec64 USING (id)") == [None] * N


def test_query_vector_forms(ctx, data):
    q = data.cogs[42]
    expected = hdc.topk(q, data.cogs, 10)
    assert expected.indices[:4].tolist() == [42, 200, 100, 250]  # ties at distance 0 and 5
    ids = expected.indices.tolist()
    cast = f"arrow_cast(X'{q.tobytes().hex()}', 'FixedSizeBinary(8192)')"
    search = "SELECT id FROM cogs ORDER BY {}, id LIMIT 10"
    assert column(ctx, search.format(f"hamming(rec, {cast})")) == ids
    param = {"1": pa.scalar(q.tobytes(), pa.binary(8192))}
    assert column(ctx, search.format("hamming(rec, $1)"), param_values=param) == ids
    assert column(ctx, search.format("hamming(rec, (SELECT rec FROM cogs WHERE id = 42))")) == ids
    # PREPARE: a typed parameter cannot be FixedSizeBinary ("Unsupported SQL type FixedSizeBinary(8192)"),
    # so either leave $1 untyped and pass the cast literal, or type it BYTEA and cast inside.
    ctx.sql(f"PREPARE s1 AS {search.format('hamming(rec, $1)')}").collect()
    assert column(ctx, f"EXECUTE s1({cast})") == ids
    ctx.sql("PREPARE s2(BYTEA) AS " + search.format("hamming(rec, arrow_cast($1, 'FixedSizeBinary(8192)'))")).collect()
    assert column(ctx, f"EXECUTE s2(X'{q.tobytes().hex()}')") == ids
    csql.bind_query(ctx, "dist_q", q)
    assert column(ctx, search.format("dist_q(rec)")) == ids
    for arg in ["'dist_q'", f"X'{q.tobytes().hex()}'"]:
        got = query(ctx, f"SELECT * FROM hamming_topk('cogs', 'rec', {arg}, 10)")
        assert got["id"].to_pylist() == ids
        np.testing.assert_array_equal(got["distance"].to_numpy(), expected.distances)
        assert got.column_names == ["id", "label", "rec", "distance"]


def test_hamming_topk_edge_cases(ctx, data):
    q = data.a[5]
    csql.bind_query(ctx, "q64", q)
    valid_ids = np.flatnonzero(data.va)
    ref = hdc.topk(q, data.a[data.va], 7)
    got = query(ctx, "SELECT id, distance FROM hamming_topk('small', 'a', 'q64', 7)")  # NULL records skipped
    assert got["id"].to_pylist() == valid_ids[ref.indices].tolist()
    np.testing.assert_array_equal(got["distance"].to_numpy(), ref.distances)
    everything = hdc.topk(q, data.a[data.va], len(valid_ids))
    got = column(ctx, "SELECT id FROM hamming_topk('small', 'a', 'q64', 100000)")  # k > rows: all of them
    assert got == valid_ids[everything.indices].tolist()
    assert column(ctx, "SELECT id FROM hamming_topk('small', 'a', 'q64', 0)") == []
    ctx.sql("CREATE VIEW nothing AS SELECT * FROM small WHERE false").collect()
    assert query(ctx, "SELECT * FROM hamming_topk('nothing', 'a', 'q64', 5)").num_rows == 0
    ctx.sql("CREATE VIEW holes AS SELECT id, CASE WHEN ab IS NULL THEN NULL ELSE a END a FROM small").collect()
    keep = np.flatnonzero(data.va & ~data.gap)  # a batch of NULLs
    top = hdc.topk(q, data.a[keep], 9).indices
    assert column(ctx, "SELECT id FROM hamming_topk('holes', 'a', 'q64', 9)") == keep[top].tolist()
    ctx.sql("CREATE VIEW c1 AS SELECT id, cog_container(rec, 1) c FROM recs").collect()
    ok = np.flatnonzero(data.vr)
    c1 = cogrecord.container(data.recs, 1)
    top = hdc.topk(c1[3], c1[ok], 5).indices
    assert column(ctx, f"SELECT id FROM hamming_topk('c1', 'c', X'{c1[3].tobytes().hex()}', 5)") == ok[top].tolist()


def test_hamming_topk_finds_tables_by_exact_or_sql_name(ctx, data):
    csql.bind_query(ctx, "q64", data.a[5])
    expect = column(ctx, "SELECT id FROM hamming_topk('small', 'a', 'q64', 4)")
    register(ctx, "MixedCase", data.tables["small"])  # registered as mixedcase, as SQL folds it
    ctx.sql('CREATE VIEW "Quo""ted" AS SELECT * FROM small').collect()
    for name in ["MixedCase", "mixedcase", 'Quo"ted', "datafusion.public.small"]:
        assert column(ctx, f"SELECT id FROM hamming_topk('{name}', 'a', 'q64', 4)") == expect


def test_context_is_freed_with_its_bound_queries(data):
    ctx = csql.context(widths=[64])
    register(ctx, "small", data.tables["small"])
    j = int(np.flatnonzero(data.va)[0])
    csql.bind_query(ctx, "q", data.a[j])
    assert column(ctx, "SELECT id FROM hamming_topk('small', 'a', 'q', 1)") == [j]
    ref = weakref.ref(ctx)
    del ctx
    gc.collect()
    assert ref() is None  # hamming_topk must not keep its context (and its tables) alive
    ctx = csql.context(widths=[64])
    register(ctx, "small", data.tables["small"])
    with pytest.raises(Exception, match="no query bound as 'q'"):  # noqa: PT011
        ctx.sql("SELECT * FROM hamming_topk('small', 'a', 'q', 1)").collect()


@pytest.mark.parametrize("sql,words", [
    ("SELECT hamming(rec, cog_container(rec, 1)) FROM cogs",
     ["'hamming'", "FixedSizeBinary(8192), FixedSizeBinary(2048)"]),
    ("SELECT hamming(1, 2)", ["'hamming'", "hamming(Int64, Int64)", "(FixedSizeBinary(8192), FixedSizeBinary(8192))"]),
    ("SELECT bundle_64(rec) FROM cogs", ["'bundle_64'", "FixedSizeBinary(8192)", "FixedSizeBinary(64)"]),
    ("SELECT int8_dot_64(a8, rec) FROM vec64 JOIN cogs USING (id)", ["'int8_dot_64'", "FixedSizeBinary(8192)"]),
    ("SELECT dequantize_64(a8, 0.5) FROM vec64", ["'dequantize_64'", "Float64", "Float32"]),
    ("SELECT bind_binary(X'0102', X'01')", ["bind_binary:", "same width", "2 and 1 bytes"]),
    ("SELECT hamming_binary(X'0102', arrow_cast(X'01', 'Binary'))", ["hamming_binary:", "2 and 1 bytes"]),
    ("SELECT popcount_binary(x) FROM (VALUES (X'01'), (X'0102')) t(x)",
     ["popcount_binary:", "same length", "1 and 2 bytes"]),
    ("SELECT cog_container(rec, 4) FROM recs", ["cog_container:", "0, 1, 2 or 3", "got 4"]),
    ("SELECT cog_container(rec, id - 70) FROM recs", ["cog_container:", "0, 1, 2 or 3", "got -"]),
    ("SELECT quantize_64(arrow_cast(f, 'FixedSizeList(64, Float32)')) FROM (SELECT array_repeat("
     "arrow_cast('NaN', 'Float32'), 64) f) t", ["quantize_64:", "NaN"]),
    ("SELECT bundle_weighted_64(a, 3000000000) FROM small", ["bundle_weighted_64:", "32 bits"]),
    (f"SELECT * FROM hamming_topk('nope', 'a', X'{'00' * 64}', 3)", ["hamming_topk:", "no table named 'nope'"]),
    (f"SELECT * FROM hamming_topk(5, 'a', X'{'00' * 64}', 3)", ["hamming_topk:", "table must be a name", "got 5"]),
    (f"SELECT * FROM hamming_topk('small', NULL, X'{'00' * 64}', 3)", ["hamming_topk:", "column must be", "None"]),
    (f"SELECT * FROM hamming_topk('small', 'nope', X'{'00' * 64}', 3)", ["hamming_topk:", "no column 'nope'"]),
    ("SELECT * FROM hamming_topk('small', 'a', 'unbound', 3)", ["hamming_topk:", "no query bound as 'unbound'"]),
    ("SELECT * FROM hamming_topk('small', 'a', X'00', 3)",
     ["hamming_topk:", "fixed_size_binary[64]", "fixed_size_binary[1]"]),
    ("SELECT * FROM hamming_topk('small', 'a', NULL, 3)", ["hamming_topk:", "NULL"]),
    ("SELECT * FROM hamming_topk('small', 'a', X'00', -1)", ["hamming_topk:", "non-negative", "-1"]),
    ("SELECT * FROM hamming_topk('small', 'a', X'00', true)", ["hamming_topk:", "non-negative", "True"]),
    ("SELECT * FROM hamming_topk('small', 'a', X'00')", ["hamming_topk:", "4 arguments", "got 3"]),
    ("SELECT * FROM hamming_topk('small', 'a', X'00', id)", ["hamming_topk:", "k must be a literal"]),
])
def test_errors(ctx, sql, words):
    with pytest.raises(Exception) as info:  # noqa: PT011 - DataFusion raises bare Exception at execution
        ctx.sql(sql).collect()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_parquet_round_trip(ctx, data, tmp_path):
    path = tmp_path / "cogs.parquet"
    pq.write_table(data.tables["cogs"], path, row_group_size=40)
    assert pq.read_schema(path).field("rec").type == pa.binary(8192)
    ctx.register_parquet("cogs_pq", str(path))
    assert column(ctx, "SELECT arrow_typeof(rec) FROM cogs_pq LIMIT 1") == ["FixedSizeBinary(8192)"]
    csql.bind_query(ctx, "dist_q", data.cogs[42])
    for sql in ["SELECT id, hamming(rec, (SELECT rec FROM {t} WHERE id = 42)) d FROM {t} ORDER BY d, id LIMIT 10",
                "SELECT id, distance FROM hamming_topk('{t}', 'rec', 'dist_q', 10)",
                "SELECT label, bundle(rec) b FROM {t} GROUP BY label ORDER BY label",
                "SELECT id, rec FROM {t} ORDER BY id"]:
        assert query(ctx, sql.format(t="cogs_pq")) == query(ctx, sql.format(t="cogs")), sql


@settings(max_examples=25, deadline=None)
@given(width=st.integers(1, 300), n=st.integers(1, 40), seed=st.integers(0, 2**32), k=st.integers(I64.min, I64.max))
def test_any_width_matches_numpy(width, n, seed, k):
    ctx = csql.context(widths=[width], batch_size=7, target_partitions=2)
    s = "" if width == 8192 else f"_{width}"
    a, b = hdc.random(n, width, seed), hdc.random(n, width, seed + 1)
    table = pa.table({"id": np.arange(n), "a": fsb(a), "b": fsb(b)})
    ctx.register_record_batches("t", [table.to_batches(max_chunksize=5)])
    got = query(ctx, f"SELECT hamming{s}(a, b) h, bind{s}(a, b) x, popcount{s}(a) p, permute{s}(a, {k}) r "
                     "FROM t ORDER BY id")
    np.testing.assert_array_equal(values(got["h"]), bits(a ^ b).sum(1))
    np.testing.assert_array_equal(values(got["x"]), a ^ b)
    np.testing.assert_array_equal(values(got["p"]), bits(a).sum(1))
    rolled = np.packbits(np.roll(bits(a), k % (8 * width), axis=1), axis=1, bitorder="little")
    np.testing.assert_array_equal(values(got["r"]), rolled)
    assert column(ctx, f"SELECT bundle{s}(a) FROM t") == [hdc.bundle(a).tobytes()]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(I64.min, I64.max), width=st.sampled_from([64, 2048, 8192]))
def test_hdc_random_any_seed(seed, width):
    ctx = csql.context(widths=[width])
    s = "" if width == 8192 else f"_{width}"
    got = column(ctx, f"SELECT hdc_random{s}(arrow_cast({seed}, 'Int64'))")
    assert got == [hdc.random(1, width, seed)[0].tobytes()]
