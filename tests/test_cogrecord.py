"""cogtensor.cogrecord: the 4-container layout, checked byte by byte against numpy references."""

import numpy as np
import pyarrow as pa
import pytest

from cogtensor.arrow import records_from_numpy
from cogtensor.cogrecord import (
    container,
    dequantize_embedding,
    pack,
    payload,
    quantize_embedding,
    unpack,
)


def addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def random_records(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8192), dtype=np.uint8)


def embeddings(n, seed=0, dtype=np.float32):
    e = np.random.default_rng(seed).standard_normal((n, 1024)) * np.logspace(-3, 3, n)[:, None]
    e = e.astype(dtype)
    if n > 2:
        e[1] = 0  # an all-zero row: scale 0
    return e


def quant_reference(e):
    """Symmetric int8 per row in float32, as the layout documents it."""
    x = np.asarray(e, np.float32)
    scale = np.abs(x).max(axis=1) / np.float32(127)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.clip(np.rint(x / scale[:, None]), -127, 127)
    q = np.where(scale[:, None] == 0, 0, q).astype(np.int8)
    norm = np.linalg.norm(np.asarray(e, np.float64), axis=1).astype(np.float32)
    return q, scale, norm


def read(rec, start, fmt):
    return np.frombuffer(rec[start : start + 4].tobytes(), fmt)[0]


# --- container views ---------------------------------------------------------------------


@pytest.mark.parametrize("i", [0, 1, 2, 3, np.int64(2)])
def test_container_is_a_strided_view(i):
    recs = random_records(5)
    view = container(recs, i)
    assert view.shape == (5, 2048) and view.strides == (8192, 1)
    assert view.base is recs and np.shares_memory(view, recs)
    assert addr(view) == recs.ctypes.data + 2048 * int(i)
    for r in range(5):
        assert view[r].tobytes() == recs[r].tobytes()[2048 * int(i) : 2048 * (int(i) + 1)]
    view[3, 10] ^= 0xFF  # writes go through to the records
    assert recs[3, 2048 * int(i) + 10] == view[3, 10]


def test_container_of_one_record_and_of_arrow():
    recs = random_records(3, seed=1)
    one = container(recs[1], 2)
    assert one.shape == (2048,) and np.shares_memory(one, recs)
    assert one.tobytes() == recs[1].tobytes()[4096:6144]
    arr = records_from_numpy(recs)
    c3 = container(arr, 3)
    assert not c3.flags.writeable and np.shares_memory(c3, recs)
    assert [bytes(r) for r in c3] == [v[6144:] for v in arr.to_pylist()]
    assert container(arr.slice(1, 2), 0).tobytes() == b"".join(v[:2048] for v in arr.to_pylist()[1:])


@pytest.mark.parametrize("bad", [-1, 4, 1.0, True, "1", None])
def test_container_bad_index(bad):
    with pytest.raises(ValueError, match="index must be 0, 1, 2 or 3"):
        container(random_records(1), bad)


def test_payload_view():
    recs = random_records(4, seed=2)
    p = payload(recs)
    assert p.shape == (4, 4096) and np.shares_memory(p, recs)
    assert addr(p) == recs.ctypes.data + 2048
    assert [r.tobytes() for r in p] == [r.tobytes()[2048:6144] for r in recs]
    assert payload(recs[2]).tobytes() == recs[2].tobytes()[2048:6144]
    assert payload(records_from_numpy(recs)).tobytes() == p.tobytes()


@pytest.mark.parametrize("fn", [container, payload, unpack, dequantize_embedding])
def test_record_errors(fn):
    call = (lambda r: fn(r, 0)) if fn is container else fn
    with pytest.raises(ValueError, match=r"shape \(n, 8192\)"):
        call(np.zeros((2, 4096), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(n, 8192\)"):
        call(np.zeros((2, 2, 8192), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(n, 8192\)"):
        call(records_from_numpy(np.zeros((2, 16), np.uint8)))
    with pytest.raises(TypeError, match="expected uint8 CogRecords, got int8"):
        call(np.zeros((2, 8192), np.int8))


# --- pack / unpack ------------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 5, 252])
def test_pack_unpack_round_trip(isa, k):
    rng = np.random.default_rng(k)
    n = 4
    meta = rng.integers(0, 2**64, (n, k), dtype=np.uint64)
    pl = rng.integers(0, 256, (n, 4096), dtype=np.uint8)
    e = embeddings(n, seed=k)
    recs = pack(meta, pl, e)
    assert recs.shape == (n, 8192) and recs.dtype == np.uint8 and recs.flags.c_contiguous
    raw = [r.tobytes() for r in recs]
    for r in range(n):  # meta word j: little-endian at byte 8 * j
        assert [int.from_bytes(raw[r][8 * j : 8 * j + 8], "little") for j in range(k)] == meta[r].tolist()
        assert raw[r][8 * k : 2016] == bytes(2016 - 8 * k)
        assert raw[r][2048:6144] == pl[r].tobytes()
    q, scale, norm = quant_reference(e)
    parts = unpack(recs)
    np.testing.assert_array_equal(parts.meta[:, :k], meta)
    np.testing.assert_array_equal(parts.meta[:, k:252], 0)
    np.testing.assert_array_equal(parts.payload, pl)
    np.testing.assert_array_equal(parts.embedding, q)
    np.testing.assert_array_equal(parts.scale, scale)
    np.testing.assert_array_equal(parts.zero_point, 0)
    np.testing.assert_array_equal(parts.norm, norm)
    for field in parts:
        assert np.shares_memory(field, recs)


def test_unpack_views_and_layouts():
    recs = random_records(3, seed=3)
    parts = unpack(recs)
    assert parts.meta.shape == (3, 256) and parts.meta.dtype == np.dtype("<u8")
    assert parts.embedding.shape == (3, 1024) and parts.embedding.dtype == np.int8
    assert [read(r, 7168, "<f4") for r in recs] == parts.scale.tolist()
    assert [read(r, 7172, "<i4") for r in recs] == parts.zero_point.tolist()
    assert [read(r, 7176, "<f4") for r in recs] == parts.norm.tolist()
    assert parts.embedding.tobytes() == b"".join(r.tobytes()[6144:7168] for r in recs)
    parts.meta[1, 3] = 0x0102030405060708
    assert recs[1, 24:32].tobytes() == bytes(range(8, 0, -1))
    fortran = unpack(np.asfortranarray(recs))  # a copy, with the same values
    for a, b in zip(fortran, unpack(recs)):
        np.testing.assert_array_equal(a, b)
    arrow = unpack(records_from_numpy(recs).slice(1))
    np.testing.assert_array_equal(arrow.meta, parts.meta[1:])
    single = unpack(recs[2])
    assert single.meta.shape == (1, 256)


def test_pack_missing_parts_are_zero():
    assert not pack(n=3).any() and pack(n=3).shape == (3, 8192)
    pl = np.full((2, 4096), 7, np.uint8)
    recs = pack(payload=pl)
    assert not recs[:, :2048].any() and not recs[:, 6144:].any()
    assert (recs[:, 2048:6144] == 7).all()
    meta = np.array([[1], [2]], np.uint64)
    only_meta = pack(meta=meta)
    assert only_meta[:, 0].tolist() == [1, 2] and not only_meta[:, 1:].any()
    np.testing.assert_array_equal(pack(meta=meta.astype(">u8")), only_meta)  # big-endian words stored little-endian
    empty = pack(np.zeros((0, 4), np.uint64), np.zeros((0, 4096), np.uint8), np.zeros((0, 1024), np.float32))
    assert empty.shape == (0, 8192)


def test_pack_errors():
    with pytest.raises(ValueError, match="one row count"):
        pack(np.zeros((2, 1), np.uint64), np.zeros((3, 4096), np.uint8))
    with pytest.raises(ValueError, match="one row count"):
        pack(payload=np.zeros((2, 4096), np.uint8), n=3)
    with pytest.raises(ValueError, match="one row count"):
        pack()
    with pytest.raises(TypeError, match="meta must be uint64"):
        pack(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match="k <= 252"):
        pack(np.zeros((2, 253), np.uint64))
    with pytest.raises(TypeError, match="payload must be uint8"):
        pack(payload=np.zeros((2, 4096), np.float32))
    with pytest.raises(ValueError, match=r"payload must be \(2, 4096\)"):
        pack(payload=np.zeros((2, 2048), np.uint8))


# --- embedding quantization ---------------------------------------------------------------


def check_c3(rec, e_row):
    """One record's C3 and its C0 mirror against the float32 reference, from the raw bytes."""
    q, scale, norm = quant_reference(e_row[None])
    np.testing.assert_array_equal(np.frombuffer(rec[6144:7168].tobytes(), np.int8), q[0])
    assert read(rec, 7168, "<f4") == scale[0]
    assert read(rec, 7172, "<i4") == 0
    assert read(rec, 7176, "<f4") == norm[0]
    assert not rec[7180:8192].any()  # rest of C3 zero
    assert rec[2016:2028].tobytes() == rec[7168:7180].tobytes()  # W252-W253 mirror the meta
    assert not rec[2028:2048].any()  # rest of W252-W255 zero


def test_quantize_embedding_layout(isa):
    e = embeddings(6, seed=4)
    recs = quantize_embedding(e)
    assert recs.shape == (6, 8192)
    for r in range(6):
        check_c3(recs[r], e[r])
    assert not recs[:, :2016].any() and not recs[:, 2048:6144].any()  # nothing else written
    np.testing.assert_allclose(unpack(recs).norm, np.linalg.norm(e, axis=1), rtol=1e-6)
    assert unpack(recs).scale[1] == 0 and not unpack(recs).embedding[1].any()


def test_quantize_embedding_in_place(isa):
    recs = random_records(4, seed=5)
    before = recs.copy()
    e = embeddings(4, seed=5)
    out = quantize_embedding(e, recs)
    assert out is recs
    for r in range(4):
        check_c3(recs[r], e[r])
    np.testing.assert_array_equal(recs[:, :2016], before[:, :2016])  # user meta W0-W251 kept
    np.testing.assert_array_equal(recs[:, 2048:6144], before[:, 2048:6144])  # payload kept
    rows = random_records(6, seed=6)
    quantize_embedding(e[:3], rows[::2])  # strided rows are written in place
    for r in range(3):
        check_c3(rows[2 * r], e[r])


def test_quantize_embedding_single_and_other_dtypes(isa):
    e = embeddings(3, seed=7, dtype=np.float64)
    one = quantize_embedding(e[2])
    assert one.shape == (8192,)
    check_c3(one, e[2])
    rec = random_records(1, seed=8)[0]
    assert quantize_embedding(e[0], rec).shape == (8192,)
    check_c3(rec, e[0])
    half = e.astype(np.float16)
    for r, rec in enumerate(quantize_embedding(half)):
        check_c3(rec, half[r])


def test_quantize_embedding_large_values(isa):
    e = embeddings(2, seed=9) * np.float32(1e20)  # squares overflow float32, the norm does not
    recs = quantize_embedding(e)
    for r in range(2):
        check_c3(recs[r], e[r])
    assert np.isfinite(unpack(recs).norm).all()
    huge = quantize_embedding(np.full(1024, 3e38, np.float32))  # the norm itself is beyond float32
    assert read(huge, 7176, "<f4") == np.inf
    assert (np.frombuffer(huge[6144:7168].tobytes(), np.int8) == 127).all()


def test_dequantize_embedding(isa):
    e = embeddings(5, seed=10)
    recs = quantize_embedding(e)
    q, scale, _ = quant_reference(e)
    deq = dequantize_embedding(recs)
    assert deq.dtype == np.float32 and deq.shape == (5, 1024)
    np.testing.assert_array_equal(deq, q.astype(np.float32) * scale[:, None])
    err = np.abs(e.astype(np.float64) - deq)
    assert (err <= scale[:, None].astype(np.float64) / 2 * (1 + 1e-4)).all()
    np.testing.assert_array_equal(dequantize_embedding(recs[3]), deq[3])
    np.testing.assert_array_equal(dequantize_embedding(records_from_numpy(recs)), deq)
    np.testing.assert_array_equal(dequantize_embedding(pa.chunked_array([records_from_numpy(recs)])), deq)


def test_dequantize_embedding_uses_zero_point():
    recs = quantize_embedding(embeddings(2, seed=11))
    recs[:, 7172:7176] = np.frombuffer(np.array([3], "<i4").tobytes(), np.uint8)
    q, scale, _ = quant_reference(embeddings(2, seed=11))
    np.testing.assert_array_equal(dequantize_embedding(recs), (q.astype(np.float32) - 3) * scale[:, None])


def test_quantize_embedding_errors(isa):
    e = embeddings(2)
    with pytest.raises(ValueError, match=r"expected \(n, 1024\) embeddings"):
        quantize_embedding(np.zeros((2, 512), np.float32))
    with pytest.raises(ValueError, match=r"expected \(n, 1024\) embeddings"):
        quantize_embedding(np.zeros((2, 2, 1024), np.float32))
    with pytest.raises(TypeError, match="floating"):
        quantize_embedding(np.zeros((2, 1024), np.int32))
    with pytest.raises(ValueError, match="NaN or infinity"):
        quantize_embedding(np.where(np.arange(1024) == 700, np.nan, e))
    with pytest.raises(ValueError, match="2 embeddings for 3 records"):
        quantize_embedding(e, np.zeros((3, 8192), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(n, 8192\)"):
        quantize_embedding(e, np.zeros((2, 4096), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        quantize_embedding(e, np.zeros((2, 8192), np.int8))
    arrow = records_from_numpy(np.zeros((2, 8192), np.uint8))
    with pytest.raises(ValueError, match="read-only"):
        quantize_embedding(e, arrow)
    frozen = np.zeros((2, 8192), np.uint8)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        quantize_embedding(e, frozen)
    assert not frozen.any() and not np.frombuffer(arrow.buffers()[1], np.uint8).any()
