"""The CogRecord layout: 8192 bytes = four 2048-byte containers.

=========  ===========  =========================================================
container  bytes        holds
=========  ===========  =========================================================
C0         0-2047       metadata: little-endian uint64 words W0-W255; W252-W253
                        mirror the C3 quantization meta (W0-W251 are the user's)
C1, C2     2048-6143    binary hypervector payload (32,768 bits)
C3         6144-8191    int8 embedding: 1024 values, then scale (f32),
                        zero_point (i32), norm (f32), rest zero
=========  ===========  =========================================================

Views returned here share memory with the records (no copy).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa

from cogtensor.arrow import to_numpy
from cogtensor.quant import quantize_int8

__all__ = [
    "RECORD_BYTES",
    "CONTAINER_BYTES",
    "EMBEDDING_DIM",
    "USER_META_WORDS",
    "Parts",
    "container",
    "payload",
    "pack",
    "unpack",
    "quantize_embedding",
    "dequantize_embedding",
]

RECORD_BYTES = 8192
CONTAINER_BYTES = 2048
EMBEDDING_DIM = 1024
USER_META_WORDS = 252  # W0-W251; W252-W253 hold the embedding meta copy, W254-W255 are zero

_META_COPY = slice(252 * 8, 254 * 8)  # bytes of W252-W253 in C0
_META_RESERVED = slice(252 * 8, CONTAINER_BYTES)  # W252-W255: the meta copy, then zero
_C3 = 3 * CONTAINER_BYTES
_EMB = slice(_C3, _C3 + EMBEDDING_DIM)
_QMETA = slice(_C3 + EMBEDDING_DIM, _C3 + EMBEDDING_DIM + 16)  # scale, zero_point, norm, 4 zero bytes
_C3_TAIL = slice(_QMETA.stop, RECORD_BYTES)  # rest of C3: zero
_QMETA_DTYPE = np.dtype([("scale", "<f4"), ("zero_point", "<i4"), ("norm", "<f4"), ("pad", "<u4")])


class Parts(NamedTuple):
    """A CogRecord batch taken apart (all views): ``meta`` (n, 256) uint64 words,
    ``payload`` (n, 4096) uint8, ``embedding`` (n, 1024) int8, and ``scale``,
    ``zero_point``, ``norm`` (n,) of the embedding quantization."""

    meta: np.ndarray
    payload: np.ndarray
    embedding: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    norm: np.ndarray


def _records(records, name: str) -> tuple[np.ndarray, bool]:
    if isinstance(records, (pa.Array, pa.ChunkedArray)):
        records = to_numpy(records)
    x = np.asarray(records)
    if x.dtype != np.uint8:
        raise TypeError(f"{name}: expected uint8 CogRecords, got {x.dtype}")
    if x.ndim not in (1, 2) or x.shape[-1] != RECORD_BYTES:
        raise ValueError(f"{name}: expected CogRecords of shape (n, {RECORD_BYTES}) or ({RECORD_BYTES},), got {x.shape}")
    single = x.ndim == 1
    return (x.reshape(1, -1) if single else x), single


def container(records, i: int) -> np.ndarray:
    """Container ``i`` (0-3) of each record: ``(n, 8192) -> (n, 2048)`` strided view, no copy.

    Example:
        >>> recs = np.zeros((5, 8192), np.uint8)
        >>> container(recs, 1).base is recs
        True
    """
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < 4:
        raise ValueError(f"container: index must be 0, 1, 2 or 3, got {i!r}")
    x, single = _records(records, "container")
    view = x[:, i * CONTAINER_BYTES : (i + 1) * CONTAINER_BYTES]
    return view[0] if single else view


def payload(records) -> np.ndarray:
    """The hypervector payload C1-C2: ``(n, 8192) -> (n, 4096)`` strided view, no copy."""
    x, single = _records(records, "payload")
    view = x[:, CONTAINER_BYTES : 3 * CONTAINER_BYTES]
    return view[0] if single else view


def _quant_meta(x: np.ndarray, where: slice) -> np.ndarray:
    return x[:, where].view(_QMETA_DTYPE)[:, 0]


def unpack(records) -> Parts:
    """Take CogRecords apart into views of their fields (see :class:`Parts`).

    The fields are views when each record's bytes are contiguous (any C-ordered
    array, Arrow data, row slices); other layouts (a Fortran-ordered array) are
    copied first, since the typed fields need contiguous bytes.
    """
    x, _ = _records(records, "unpack")
    if x.shape[0] and x.strides[1] != 1:
        x = np.ascontiguousarray(x)
    meta = _quant_meta(x, _QMETA)
    return Parts(
        meta=x[:, :CONTAINER_BYTES].view("<u8"),
        payload=payload(x),
        embedding=x[:, _EMB].view(np.int8),
        scale=meta["scale"],
        zero_point=meta["zero_point"],
        norm=meta["norm"],
    )


def pack(meta=None, payload=None, embedding=None, *, n: int | None = None) -> np.ndarray:
    """Build ``(n, 8192)`` CogRecords from their parts (missing parts are zero).

    Args:
        meta: ``(n, k)`` uint64 user metadata words, ``k <= 252`` (W0..W(k-1)).
        payload: ``(n, 4096)`` uint8 hypervector (C1-C2).
        embedding: ``(n, 1024)`` float embedding, quantized into C3 by
            :func:`quantize_embedding`.
        n: number of records when no part is given.

    Returns:
        ``(n, 8192)`` uint8, C-contiguous (ready for :func:`cogtensor.arrow.records_from_numpy`).

    Raises:
        ValueError: parts with different row counts (or none and no ``n``), or a
            part of the wrong shape. TypeError: meta not uint64, payload not uint8.
    """
    parts = {"meta": meta, "payload": payload, "embedding": embedding}
    given = {k: np.asarray(v) for k, v in parts.items() if v is not None}
    counts = {len(v) if v.ndim else None for v in given.values()} | ({n} if n is not None else set())
    if len(counts) != 1 or None in counts:
        raise ValueError(f"pack: parts must be 2-d with one row count, got shapes {[v.shape for v in given.values()]}, n={n}")
    rows = counts.pop()
    out = np.zeros((rows, RECORD_BYTES), dtype=np.uint8)
    if "meta" in given:
        m = given["meta"]
        if m.dtype.kind != "u" or m.dtype.itemsize != 8:  # uint64 of either byte order
            raise TypeError(f"pack: meta must be uint64 words, got {m.dtype}")
        if m.ndim != 2 or m.shape[1] > USER_META_WORDS:
            raise ValueError(f"pack: meta must be (n, k) uint64 with k <= {USER_META_WORDS}, got shape {m.shape}")
        out[:, : m.shape[1] * 8] = np.ascontiguousarray(m, dtype="<u8").view(np.uint8).reshape(rows, m.shape[1] * 8)
    if "payload" in given:
        p = given["payload"]
        if p.dtype != np.uint8:
            raise TypeError(f"pack: payload must be uint8, got {p.dtype}")
        if p.shape != (rows, 2 * CONTAINER_BYTES):
            raise ValueError(f"pack: payload must be ({rows}, 4096) uint8, got shape {p.shape}")
        out[:, CONTAINER_BYTES : 3 * CONTAINER_BYTES] = p
    if "embedding" in given:
        quantize_embedding(given["embedding"], out)
    return out


def quantize_embedding(embedding, records=None) -> np.ndarray:
    """Quantize 1024-d float embeddings into container C3 (symmetric int8, one scale per row).

    Writes the int8 values and meta {scale, zero_point=0, norm = L2 norm of the
    float vector} into C3 (the rest of C3 is zeroed) and mirrors the meta into C0
    words W252-W253 (W254-W255 are zeroed). Other bytes are left as they are.

    Args:
        embedding: ``(n, 1024)`` or ``(1024,)`` floats.
        records: writable ``(n, 8192)`` uint8 records to fill in place; new zeroed
            records when omitted.

    Returns:
        The records, ``(n, 8192)`` (``(8192,)`` for a single embedding).

    Raises:
        ValueError: a shape other than ``(n, 1024)``, row counts that differ,
            read-only records, NaN or infinity. TypeError: non-float embeddings or
            records that are not uint8.
    """
    e = np.asarray(embedding)
    single = e.ndim == 1
    e = e.reshape(1, -1) if single else e
    if e.ndim != 2 or e.shape[1] != EMBEDDING_DIM:
        raise ValueError(f"quantize_embedding: expected (n, {EMBEDDING_DIM}) embeddings, got shape {np.shape(embedding)}")
    if records is None:
        records = np.zeros((e.shape[0], RECORD_BYTES), dtype=np.uint8)
    x, _ = _records(records, "quantize_embedding")
    if x.shape[0] != e.shape[0]:
        raise ValueError(f"quantize_embedding: {e.shape[0]} embeddings for {x.shape[0]} records")
    if not x.flags.writeable:
        raise ValueError("quantize_embedding: records are read-only (an Arrow view?); pass a writable copy")
    q, scale = quantize_int8(e, axis=0)
    x[:, _EMB] = q.view(np.uint8)
    meta = np.zeros(e.shape[0], dtype=_QMETA_DTYPE)
    meta["scale"] = scale
    with np.errstate(over="ignore"):  # a norm beyond float32 range is stored as inf
        # float64 sums: squares of large float32 values would overflow in float32
        meta["norm"] = np.linalg.norm(e.astype(np.float64), axis=1)
    raw = meta.view(np.uint8).reshape(e.shape[0], 16)
    x[:, _QMETA] = raw
    x[:, _C3_TAIL] = 0
    x[:, _META_RESERVED] = 0
    x[:, _META_COPY] = raw
    return x[0] if single else x


def dequantize_embedding(records) -> np.ndarray:
    """The float32 embeddings stored in C3: ``(n, 8192) -> (n, 1024)``, ``(q - zero_point) * scale``."""
    x, single = _records(records, "dequantize_embedding")
    parts = unpack(x)
    out = (parts.embedding.astype(np.float32) - parts.zero_point[:, None].astype(np.float32)) * parts.scale[:, None]
    return out[0] if single else out
