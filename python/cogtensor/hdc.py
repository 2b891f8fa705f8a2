"""Hyperdimensional computing on binary records (CogRecords or any width).

Records are ``(n, W)`` uint8 arrays (one record: ``(W,)`` or ``bytes``), or Arrow
``FixedSizeBinary(W)`` / equal-length ``Binary`` arrays, viewed without copying.
Bit ``i`` of a record is bit ``i % 8`` (LSB first) of byte ``i // 8``. Every
function works for any width ``W >= 1``: whole 8192-byte CogRecords, single
2048-byte containers (strided views from :func:`cogtensor.cogrecord.container`),
or small test vectors.

Two-operand functions broadcast a single record against many, as numpy does
with a leading axis of length 1.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from cogtensor import _kernels
from cogtensor.arrow import to_numpy

__all__ = [
    "TopK",
    "random",
    "bind",
    "bundle",
    "permute",
    "popcount",
    "hamming",
    "hamming_matrix",
    "similarity",
    "topk",
    "cascade_search",
    "int8_dot",
    "int8_dot_matrix",
    "int8_cosine",
    "ItemMemory",
]

_U64 = 1 << 64


class TopK(NamedTuple):
    """Nearest records, ordered by (distance, index): ``distances`` uint32, ``indices`` int64."""

    distances: np.ndarray
    indices: np.ndarray


def _as_rows(x, name: str, dtype=np.uint8) -> tuple[np.ndarray, bool]:
    """(2-d view with contiguous rows, whether x was a single record)."""
    if isinstance(x, (bytes, bytearray, memoryview)):
        x = np.frombuffer(x, dtype=np.uint8)
    elif isinstance(x, pa.Scalar):
        x = _scalar_values(x, name)
    elif isinstance(x, (pa.Array, pa.ChunkedArray)):
        x = to_numpy(x)
    elif not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, bytes or an Arrow array, got {type(x).__name__}")
    if x.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"{name}: expected one record (W,) or records (n, W), got shape {x.shape}")
    single = x.ndim == 1
    rows = x.reshape(1, -1) if single else x
    if rows.shape[1] == 0:
        raise ValueError(f"{name}: records must be at least 1 byte wide, got width 0")
    if rows.shape[0] and rows.shape[1] > 1 and rows.strides[1] != rows.itemsize:
        rows = np.ascontiguousarray(rows)
    return rows, single


def _scalar_values(x: pa.Scalar, name: str) -> np.ndarray:
    """One Arrow value as a 1-d array: binary bytes (no copy) or a FixedSizeList's values."""
    if not x.is_valid:
        raise ValueError(f"{name}: got a null record")
    t = x.type
    if pa.types.is_fixed_size_binary(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t) \
            or pa.types.is_binary_view(t):
        return np.frombuffer(x.as_buffer(), dtype=np.uint8)
    try:
        return to_numpy(pa.repeat(x, 1))[0]
    except TypeError:
        raise TypeError(f"{name}: expected a binary or FixedSizeList scalar, got {t}") from None


def _as_int8_rows(x, name: str) -> tuple[np.ndarray, bool]:
    """Like _as_rows for int8 vectors; Arrow binary or list<int8> values are viewed as int8."""
    if isinstance(x, (pa.Array, pa.ChunkedArray, pa.Scalar)):
        x = _scalar_values(x, name) if isinstance(x, pa.Scalar) else to_numpy(x)
        x = x.view(np.int8) if x.dtype == np.uint8 else x
    elif isinstance(x, (bytes, bytearray, memoryview)):
        x = np.frombuffer(x, dtype=np.int8)
    return _as_rows(x, name, dtype=np.int8)


def _same_width(a, b, name: str, as_rows=_as_rows) -> tuple[np.ndarray, np.ndarray, bool, bool]:
    """Both operands as rows, checked to have one width; plus whether each was single."""
    ra, sa = as_rows(a, name)
    rb, sb = as_rows(b, name)
    if ra.shape[1] != rb.shape[1]:
        raise ValueError(f"{name}: record widths differ: {ra.shape[1]} vs {rb.shape[1]} bytes")
    return ra, rb, sa, sb


def _pair(a, b, name: str, as_rows=_as_rows) -> tuple[np.ndarray, np.ndarray, bool]:
    """Row-wise operands: equal widths, equal row counts or one single row (broadcast)."""
    ra, rb, sa, sb = _same_width(a, b, name, as_rows)
    if ra.shape[0] != rb.shape[0] and 1 not in (ra.shape[0], rb.shape[0]):
        raise ValueError(f"{name}: cannot broadcast {ra.shape[0]} records against {rb.shape[0]}")
    return ra, rb, sa and sb


def _shape_out(out: np.ndarray, single: bool):
    return out[0] if single else out


def random(n: int, width: int = 8192, seed: int | None = None) -> np.ndarray:
    """``n`` random records of ``width`` bytes (each bit 1 with probability 1/2).

    The same ``seed`` gives the same records on every machine; row 0 of
    ``random(n, w, seed)`` is the record SQL's ``hdc_random_<w>(seed)`` returns
    (``hdc_random(seed)`` for w = 8192).

    Returns:
        ``(n, width)`` uint8.

    Example:
        >>> random(2, 16, seed=7).shape
        (2, 16)
    """
    n, width = _count(n, "n"), _count(width, "width")
    if width < 1:
        raise ValueError(f"random: width must be >= 1, got {width}")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    seeds = _kernels.row_seeds(_seed64(seed), n)
    return _kernels.random_records(seeds, width)


def _count(v, name: str) -> int:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}")
    if v < 0:
        raise ValueError(f"{name} must be >= 0, got {v}")
    return int(v)


def _seed64(seed) -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    return int(seed) % _U64  # negative seeds wrap like a BIGINT reinterpreted as unsigned


def bind(a, b) -> np.ndarray:
    """Bind records by XOR (its own inverse: ``bind(bind(a, b), b) == a``).

    Args:
        a, b: ``(W,)`` or ``(n, W)`` records; one record broadcasts against many.

    Returns:
        ``(n, W)`` uint8, or ``(W,)`` when both inputs are single records.
    """
    ra, rb, single = _pair(a, b, "bind")
    return _shape_out(_kernels.bind(ra, rb), single)


def bundle(records, weights=None) -> np.ndarray:
    """Bitwise (weighted) majority of records: the record most similar to all of them.

    Bit ``i`` is 1 when ``sum(w_r * (2 * bit_r - 1)) > 0`` and 0 when it is
    ``< 0``. Ties (possible with an even count or with weights) are broken by a
    fixed pattern: the result bit is 1 at even bit positions and 0 at odd ones
    (bytes ``0x55``). So ties are deterministic, independent of the inputs, and
    keep the density at 1/2.

    Args:
        records: ``(n, W)`` records, ``n >= 1``.
        weights: optional ``(n,)`` integer weights (each within int32); negative
            weights vote against their record's bits.

    Returns:
        ``(W,)`` uint8.

    Example:
        >>> x = random(1, 64, seed=1)[0]
        >>> bool((bundle(np.stack([x, x, x])) == x).all())
        True
    """
    rows, _ = _as_rows(records, "bundle")
    if rows.shape[0] == 0:
        raise ValueError("bundle: needs at least one record, got 0")
    if weights is None:
        return _kernels.bundle(rows)
    w = np.asarray(weights)
    if w.shape != (rows.shape[0],):
        raise ValueError(f"bundle: expected {rows.shape[0]} weights, got shape {w.shape}")
    if w.dtype.kind not in "iub":
        raise TypeError(f"bundle: weights must be integers, got {w.dtype}")
    if w.size and (w.min() < -(2**31) or w.max() > 2**31 - 1):
        raise ValueError("bundle: weights must fit in int32")
    w = w.astype(np.int32)
    counts = _kernels.bit_counts(rows, w)
    return _kernels.majority_from_counts(counts, int(w.sum(dtype=np.int64)))


def permute(x, k=1) -> np.ndarray:
    """Rotate each record's ``W * 8`` bits cyclically by ``k`` positions.

    Bit ``i`` moves to position ``(i + k) mod (W * 8)`` (``np.roll`` over the
    LSB-first bits), so ``permute(permute(x, k), -k) == x`` for any integer ``k``.

    Args:
        x: ``(W,)`` or ``(n, W)`` records.
        k: an integer, or ``(n,)`` integers (one shift per record).

    Returns:
        uint8 of the same shape as ``x``.
    """
    rows, single = _as_rows(x, "permute")
    if isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_)):
        k = int(k) % (rows.shape[1] * 8)  # any Python int, even beyond 64 bits
    shifts = np.asarray(k)
    if shifts.dtype.kind not in "iu" or shifts.ndim > 1:
        raise TypeError(f"permute: k must be an integer or a 1-d integer array, got {shifts.dtype}{list(shifts.shape)}")
    if shifts.dtype == np.uint64 and shifts.size and shifts.max() > np.iinfo(np.int64).max:
        shifts = shifts % np.uint64(rows.shape[1] * 8)
    shifts = np.ascontiguousarray(shifts.reshape(-1).astype(np.int64))
    if shifts.size not in (1, rows.shape[0]):
        raise ValueError(f"permute: expected 1 or {rows.shape[0]} shifts, got {shifts.size}")
    return _shape_out(_kernels.permute(rows, shifts), single)


def popcount(x):
    """Number of set bits per record: ``(n,)`` uint32, or a uint32 scalar for one record."""
    rows, single = _as_rows(x, "popcount")
    return _shape_out(_kernels.popcount(rows), single)


def hamming(a, b):
    """Hamming distance (differing bits) between records, row by row.

    Args:
        a, b: ``(W,)`` or ``(n, W)``; one record broadcasts against many
            (one-vs-many search distances: ``hamming(query, base)``).

    Returns:
        ``(n,)`` uint32, or a uint32 scalar when both are single records.

    Example:
        >>> int(hamming(b"\\x0f", b"\\x01"))
        3
    """
    ra, rb, single = _pair(a, b, "hamming")
    return _shape_out(_kernels.hamming(ra, rb), single)


def hamming_matrix(a, b) -> np.ndarray:
    """All-pairs Hamming distances: ``(m, W), (n, W) -> (m, n)`` uint32 (cache-blocked)."""
    ra, rb, _, _ = _same_width(a, b, "hamming_matrix")
    return _kernels.hamming_matrix(ra, rb)


def similarity(a, b):
    """Hamming similarity ``1 - hamming(a, b) / (W * 8)`` in [0, 1], float64, row by row."""
    ra, rb, single = _pair(a, b, "similarity")
    return _shape_out(1.0 - _kernels.hamming(ra, rb) / (ra.shape[1] * 8.0), single)


def _search_args(query, base, k, name: str):
    rq, rb, single, _ = _same_width(query, base, name)
    k = _count(k, "k")
    if k > rb.shape[0]:
        raise ValueError(f"{name}: k={k} is larger than the number of base records ({rb.shape[0]})")
    return rq, rb, k, single


def topk(query, base, k: int) -> TopK:
    """The ``k`` base records nearest to each query by Hamming distance (exact).

    Ordered by (distance, index): equal distances keep the lower index first.

    Args:
        query: ``(W,)`` or ``(m, W)``.
        base: ``(n, W)`` records, ``0 <= k <= n``.

    Returns:
        TopK(distances uint32, indices int64), each ``(k,)`` or ``(m, k)``.

    Example:
        >>> base = random(100, 64, seed=0)
        >>> topk(base[42], base, 1).indices
        array([42])
    """
    rq, rb, k, single = _search_args(query, base, k, "topk")
    d, i = _kernels.topk(rq, rb, k)
    return TopK(_shape_out(d, single), _shape_out(i, single))


def cascade_search(query, base, k: int | None = None, *, threshold: int | None = None,
                   stages: tuple[int, int] = (16, 4), sigmas: float = 4.0):
    """Staged search: distances on the first ``W / 16`` bytes, then ``W / 4``, then all.

    Two modes (give exactly one of ``k`` and ``threshold``):

    - ``threshold``: exact range search. Returns every base record with distance
      ``<= threshold``, identical to brute force: a prefix distance is a lower
      bound on the full distance, so a record is dropped only once that bound
      already exceeds the threshold.
    - ``k``: approximate top-k. After each stage the ``k`` best candidates get
      their full distance, whose k-th value ``D`` bounds the true k-th nearest
      distance; records survive while their prefix distance is within ``sigmas``
      standard deviations of what a record at distance ``D`` would show on that
      prefix (a hypergeometric sample). Larger ``sigmas``: higher recall, less
      pruning. The prefix must be a fair sample of the bits, as in random
      hypervectors; search a CogRecord's payload container, not its metadata.

    Args:
        query: ``(W,)``, or ``(m, W)`` in top-k mode.
        base: ``(n, W)`` records.
        stages: divisors of the width for the two prefix stages.

    Returns:
        TopK(distances uint32, indices int64) ordered by (distance, index):
        ``(k,)`` / ``(m, k)`` in top-k mode, ``(hits,)`` in range mode.
    """
    if (k is None) == (threshold is None):
        raise ValueError("cascade_search: give exactly one of k (top-k mode) or threshold (range mode)")
    # beyond 64 bits nothing changes (a prefix is at least 1 byte; no distance reaches 2**64)
    s1, s2 = (min(_count(s, "stages"), _U64 - 1) for s in stages)
    if not s1 >= s2 >= 1:
        raise ValueError(f"cascade_search: stages must satisfy stages[0] >= stages[1] >= 1, got {stages}")
    if threshold is not None:
        rq, rb, single, _ = _same_width(query, base, "cascade_search")
        if not single:
            raise ValueError("cascade_search: range mode takes one query record (W,)")
        return TopK(*_kernels.cascade_range(rq, rb, min(_count(threshold, "threshold"), _U64 - 1), s1, s2))
    if not sigmas >= 0:
        raise ValueError(f"cascade_search: sigmas must be >= 0, got {sigmas}")
    rq, rb, k, single = _search_args(query, base, k, "cascade_search")
    d, i = _kernels.cascade_topk(rq, rb, k, s1, s2, float(sigmas))
    return TopK(_shape_out(d, single), _shape_out(i, single))


def int8_dot(a, b):
    """Dot products of int8 vectors row by row, accumulated exactly in int32.

    Args:
        a, b: ``(d,)`` or ``(n, d)`` int8 (or Arrow FixedSizeBinary(d) /
            FixedSizeList<int8, d>), ``d <= 65536``; one vector broadcasts.

    Returns:
        ``(n,)`` int32, or an int32 scalar for two single vectors.
    """
    ra, rb, single = _pair(a, b, "int8_dot", _as_int8_rows)
    return _shape_out(_kernels.int8_dot(ra, rb), single)


def int8_dot_matrix(a, b) -> np.ndarray:
    """All-pairs int8 dot products: ``(m, d), (n, d) -> (m, n)`` int32."""
    ra, rb, _, _ = _same_width(a, b, "int8_dot_matrix", _as_int8_rows)
    return _kernels.int8_dot_matrix(ra, rb)


def int8_cosine(a, b):
    """Cosine similarity of int8 vectors row by row (float64; 0 if either is all zeros)."""
    ra, rb, single = _pair(a, b, "int8_cosine", _as_int8_rows)
    return _shape_out(_kernels.int8_cosine(ra, rb), single)


class ItemMemory:
    """A codebook: each symbol maps to a seeded random record; ``cleanup`` finds the nearest.

    A symbol's record depends only on the symbol, ``width`` and ``seed``, so two
    memories (or processes) built with the same settings agree.

    Example:
        >>> mem = ItemMemory(["red", "green", "blue"], width=1024)
        >>> noisy = mem["green"].copy()
        >>> noisy[:100] ^= 0xFF  # flip 800 of 8192 bits
        >>> mem.cleanup(noisy)
        'green'
    """

    def __init__(self, symbols=(), width: int = 8192, seed: int = 0):
        self.width = _count(width, "width")
        if self.width < 1:
            raise ValueError("ItemMemory: width must be >= 1")
        self.seed = _seed64(seed)
        self._symbols: list = []
        self._index: dict = {}
        self._records = np.empty((0, self.width), dtype=np.uint8)
        self.add(symbols)

    def _symbol_seed(self, symbol) -> int:
        digest = hashlib.blake2b(repr(symbol).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "little") ^ self.seed

    def add(self, symbols) -> None:
        """Add symbols (hashable; stable across runs when their ``repr`` is); known ones are skipped."""
        if isinstance(symbols, (str, bytes)):
            symbols = [symbols]
        new = [s for s in dict.fromkeys(symbols) if s not in self._index]
        if not new:
            return
        seeds = np.array([self._symbol_seed(s) for s in new], dtype=np.uint64)
        self._records = np.concatenate([self._records, _kernels.random_records(seeds, self.width)])
        for s in new:
            self._index[s] = len(self._symbols)
            self._symbols.append(s)

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, symbol) -> bool:
        return symbol in self._index

    def __getitem__(self, symbol) -> np.ndarray:
        """The ``(W,)`` record of a symbol (KeyError if unknown)."""
        return self._records[self._index[symbol]]

    @property
    def symbols(self) -> list:
        return list(self._symbols)

    @property
    def records(self) -> np.ndarray:
        """``(len(self), W)`` uint8: the records in insertion order (read-only view)."""
        view = self._records.view()
        view.flags.writeable = False
        return view

    def cleanup(self, x):
        """The stored symbol nearest to ``x`` (``(W,)`` -> symbol, ``(m, W)`` -> list of symbols)."""
        if not self._symbols:
            raise ValueError("ItemMemory.cleanup: the memory is empty")
        found = topk(x, self._records, 1).indices
        return self._symbols[int(found[0])] if found.ndim == 1 else [self._symbols[int(i)] for i in found[:, 0]]
