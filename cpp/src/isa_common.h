// Kernel bodies shared by every ISA, written over a vector-traits type V.
//
// Each isa_*.cpp defines `struct Vec` (its register type and bitwise ops) and then
// includes this file *inside its own namespace*, so every instantiation is compiled
// with that file's flags and gets distinct symbols (no ODR merging of an AVX-512
// copy into the scalar path). This file therefore includes nothing and calls no
// out-of-line library code.

// One byte as a "vector": handles tails of any width.
struct ByteVec {
  using T = uint8_t;
  static constexpr size_t size = 1;
  static T load(const uint8_t* p) { return *p; }
  static void store(uint8_t* p, T x) { *p = x; }
  static T zero() { return 0; }
  static T ones() { return 0xFF; }
  static T tie() { return kTieByte; }
  static T xor_(T a, T b) { return a ^ b; }
  static T and_(T a, T b) { return a & b; }
  static T or_(T a, T b) { return a | b; }
  static T andnot(T a, T b) { return static_cast<T>(~a & b); }  // ~a & b
};

constexpr size_t kStripVectors = 8;  // vectors per column strip in majority
constexpr size_t kMaxPlanes = 34;    // counter bits: enough for 2^33 - 1 rows

inline size_t bit_length(uint64_t x) {
  size_t n = 0;
  while (x) { ++n; x >>= 1; }
  return n;
}

// Full adder over bit lanes: a + b + c = 2 * hi + lo.
template <class V>
inline void csa(typename V::T& hi, typename V::T& lo, typename V::T a, typename V::T b,
                typename V::T c) {
  typename V::T u = V::xor_(a, b);
  hi = V::or_(V::and_(a, b), V::and_(u, c));
  lo = V::xor_(u, c);
}

// Adds a number given as nv bit-planes v[] into the vertical counter
// planes[0], planes[stride], ... (np planes, np >= nv), with ripple carry.
template <class V>
inline void add_planes(typename V::T* planes, size_t stride, size_t np,
                       const typename V::T* v, size_t nv) {
  typename V::T carry = V::zero();
  for (size_t p = 0; p < np; ++p) {
    typename V::T& c = planes[p * stride];
    if (p < nv) {
      typename V::T hi, lo;
      csa<V>(hi, lo, c, v[p], carry);
      c = lo;
      carry = hi;
    } else {
      typename V::T s = V::xor_(c, carry);
      carry = V::and_(c, carry);
      c = s;
    }
  }
}

// Per-bit count of 16 rows (r .. r+15) at byte offset off, as 5 bit-planes
// (Harley-Seal carry-save tree: 15 full adders for 16 inputs).
template <class V>
inline void count16(const ByteRows& a, size_t r, size_t off, typename V::T out[5]) {
  using T = typename V::T;
  auto ld = [&](size_t i) { return V::load(a.row(r + i) + off); };
  T ones = V::zero(), twos = V::zero(), fours = V::zero(), eights = V::zero();
  T twos_a, twos_b, fours_a, fours_b, eights_a, eights_b, sixteens;
  csa<V>(twos_a, ones, ones, ld(0), ld(1));
  csa<V>(twos_b, ones, ones, ld(2), ld(3));
  csa<V>(fours_a, twos, twos, twos_a, twos_b);
  csa<V>(twos_a, ones, ones, ld(4), ld(5));
  csa<V>(twos_b, ones, ones, ld(6), ld(7));
  csa<V>(fours_b, twos, twos, twos_a, twos_b);
  csa<V>(eights_a, fours, fours, fours_a, fours_b);
  csa<V>(twos_a, ones, ones, ld(8), ld(9));
  csa<V>(twos_b, ones, ones, ld(10), ld(11));
  csa<V>(fours_a, twos, twos, twos_a, twos_b);
  csa<V>(twos_a, ones, ones, ld(12), ld(13));
  csa<V>(twos_b, ones, ones, ld(14), ld(15));
  csa<V>(fours_b, twos, twos, twos_a, twos_b);
  csa<V>(eights_b, fours, fours, fours_a, fours_b);
  csa<V>(sixteens, eights, eights, eights_a, eights_b);
  out[0] = ones;
  out[1] = twos;
  out[2] = fours;
  out[3] = eights;
  out[4] = sixteens;
}

// Per-bit counts of all rows over `nvec` vectors at byte offset `off`, kept as
// vertical (bit-sliced) counters: planes[p * kStripVectors + s] holds bit p of
// the counts for vector s. Returns the number of planes, bit_length(a.n).
template <class V>
size_t vertical_counts(const ByteRows& a, size_t off, size_t nvec, typename V::T* planes) {
  using T = typename V::T;
  constexpr size_t S = kStripVectors;
  const size_t np = bit_length(a.n);
  for (size_t i = 0; i < np * S; ++i) planes[i] = V::zero();
  size_t r = 0;
  for (; r + 16 <= a.n; r += 16) {
    for (size_t s = 0; s < nvec; ++s) {
      T v[5];
      count16<V>(a, r, off + s * V::size, v);
      add_planes<V>(planes + s, S, np, v, 5);
    }
  }
  for (; r < a.n; ++r) {
    for (size_t s = 0; s < nvec; ++s) {
      T v = V::load(a.row(r) + off + s * V::size);
      add_planes<V>(planes + s, S, np, &v, 1);
    }
  }
  return np;
}

// Majority over `nvec` vectors at `off`: count > n/2, or the tie bit when
// count == n/2 (n even), compared bitwise on the vertical counters.
template <class V>
void majority_strip(const ByteRows& a, size_t off, size_t nvec, uint8_t* out) {
  using T = typename V::T;
  constexpr size_t S = kStripVectors;
  T planes[kMaxPlanes * S];
  const size_t np = vertical_counts<V>(a, off, nvec, planes);
  const uint64_t half = a.n / 2;
  for (size_t s = 0; s < nvec; ++s) {
    T gt = V::zero(), eq = V::ones();
    for (size_t p = np; p-- > 0;) {
      T x = planes[p * S + s];
      if ((half >> p) & 1) {
        eq = V::and_(eq, x);
      } else {
        gt = V::or_(gt, V::and_(eq, x));
        eq = V::andnot(x, eq);
      }
    }
    if (a.n % 2 == 0) gt = V::or_(gt, V::and_(eq, V::tie()));
    V::store(out + off + s * V::size, gt);
  }
}

// Each byte value as 8 counts of 0 or 1 (LSB first), so adding a byte's bits to
// 8 counters is one vectorisable add.
struct BitTable {
  int64_t of[256][8];
  BitTable() {
    for (int v = 0; v < 256; ++v)
      for (int b = 0; b < 8; ++b) of[v][b] = (v >> b) & 1;
  }
};

// counts[8 * j + b] += number of rows with bit b of byte j set, for bytes j in
// [off, off + nvec * V::size).
template <class V>
void count_strip(const ByteRows& a, size_t off, size_t nvec, int64_t* counts) {
  using T = typename V::T;
  constexpr size_t S = kStripVectors;
  T planes[kMaxPlanes * S];
  const size_t np = vertical_counts<V>(a, off, nvec, planes);
  static const BitTable bits;
  for (size_t s = 0; s < nvec; ++s) {
    int64_t* c = counts + 8 * (off + s * V::size);
    for (size_t p = 0; p < np; ++p) {  // plane p adds 2^p to the counts of its set bits
      uint8_t bytes[V::size];
      V::store(bytes, planes[p * S + s]);
      for (size_t j = 0; j < V::size; ++j) {
        const int64_t* e = bits.of[bytes[j]];
        for (unsigned b = 0; b < 8; ++b) c[8 * j + b] += e[b] << p;
      }
    }
  }
}

// Applies strip(a, off, nvec, out) over bytes [begin, end): full strips of
// kStripVectors vectors, then single vectors, then single bytes.
template <class V, class Strip, class ByteStrip, class Out>
void over_strips(const ByteRows& a, size_t begin, size_t end, Out out, Strip strip, ByteStrip byte_strip) {
  constexpr size_t width = kStripVectors * V::size;
  size_t off = begin;
  for (; off + width <= end; off += width) strip(a, off, kStripVectors, out);
  for (; off + V::size <= end; off += V::size) strip(a, off, 1, out);
  for (; off < end; ++off) byte_strip(a, off, 1, out);
}

template <class V>
void majority_impl(ByteRows a, size_t begin, size_t end, uint8_t* out) {
  over_strips<V>(a, begin, end, out, majority_strip<V>, majority_strip<ByteVec>);
}

template <class V>
void bit_counts_impl(ByteRows a, size_t begin, size_t end, int64_t* counts) {
  over_strips<V>(a, begin, end, counts, count_strip<V>, count_strip<ByteVec>);
}

inline void xor_bytes_impl(const uint8_t* a, const uint8_t* b, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] ^ b[i];
}

inline void add_bit_counts_impl(const uint8_t* row, size_t n, int64_t weight, int64_t* counts) {
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = row[i];
    for (int b = 0; b < 8; ++b) counts[8 * i + b] += weight & -((x >> b) & 1);
  }
}

inline int32_t dot_i8_serial(const int8_t* a, const int8_t* b, size_t n) {
  int32_t s = 0;
  for (size_t i = 0; i < n; ++i) s += int32_t(a[i]) * int32_t(b[i]);
  return s;
}

inline bool is_finite_f32(float x) { return x - x == 0.0f; }  // false for NaN, +-inf

inline float abs_f32(float x) { return x < 0.0f ? -x : x; }

inline bool absmax_serial(const float* x, size_t n, float* acc) {
  bool finite = true;
  float m = *acc;
  for (size_t i = 0; i < n; ++i) {
    finite &= is_finite_f32(x[i]);
    float v = abs_f32(x[i]);
    m = v > m ? v : m;
  }
  *acc = m;
  return finite;
}

inline bool absmax_each_serial(const float* x, size_t n, float* acc) {
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    finite &= is_finite_f32(x[i]);
    float v = abs_f32(x[i]);
    acc[i] = v > acc[i] ? v : acc[i];
  }
  return finite;
}

inline int8_t quantize_one(float x, float divisor) {
  float r = __builtin_rintf(x / divisor);  // round half to even (default FP mode)
  r = r > 127.0f ? 127.0f : (r < -127.0f ? -127.0f : r);
  return static_cast<int8_t>(r);
}

inline void quantize_serial(const float* x, const float* divisor, size_t step, size_t n, int8_t* q) {
  for (size_t i = 0; i < n; ++i) q[i] = quantize_one(x[i], divisor[i * step]);
}

// ---- integer matrix products (cogtensor/gemm.h) ----

inline void gemm_i8_serial(const int8_t* a, size_t lda, size_t m, const int8_t* b, size_t ldb, size_t n, size_t k,
                           int32_t* out, size_t ldo, bool accumulate) {
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) {
      const int32_t s = dot_i8_serial(a + i * lda, b + j * ldb, k);
      out[i * ldo + j] = accumulate ? out[i * ldo + j] + s : s;
    }
}

// Tile dispatch for a kernel type K with K::kRows x K::kCols register tiles and
// K::tile<MR, NR>(a, lda, b, ldb, k, out, ldo, accumulate): edge tiles get the
// smaller instantiation, so no tile reads or writes past m x n.
template <class K, int MR, int NR = K::kCols>
inline void gemm_tile_cols(size_t nr, const int8_t* a, size_t lda, const int8_t* b, size_t ldb, size_t k, int32_t* out,
                           size_t ldo, bool accumulate) {
  if constexpr (NR > 1) {
    if (nr < size_t(NR)) return gemm_tile_cols<K, MR, NR - 1>(nr, a, lda, b, ldb, k, out, ldo, accumulate);
  }
  K::template tile<MR, NR>(a, lda, b, ldb, k, out, ldo, accumulate);
}

template <class K, int MR = K::kRows>
inline void gemm_tile(size_t mr, size_t nr, const int8_t* a, size_t lda, const int8_t* b, size_t ldb, size_t k,
                      int32_t* out, size_t ldo, bool accumulate) {
  if constexpr (MR > 1) {
    if (mr < size_t(MR)) return gemm_tile<K, MR - 1>(mr, nr, a, lda, b, ldb, k, out, ldo, accumulate);
  }
  gemm_tile_cols<K, MR>(nr, a, lda, b, ldb, k, out, ldo, accumulate);
}

// Row tiles outside, column tiles inside: a tile of A rows stays in L1 while the
// (at most a cache block of) B rows pass under it.
template <class K>
void gemm_i8_tiled(const int8_t* a, size_t lda, size_t m, const int8_t* b, size_t ldb, size_t n, size_t k,
                   int32_t* out, size_t ldo, bool accumulate) {
  constexpr size_t R = K::kRows, C = K::kCols;
  for (size_t i = 0; i < m; i += R)
    for (size_t j = 0; j < n; j += C) {
      const size_t mr = m - i < R ? m - i : R, nr = n - j < C ? n - j : C;
      gemm_tile<K>(mr, nr, a + i * lda, lda, b + j * ldb, ldb, k, out + i * ldo + j, ldo, accumulate);
    }
}

// The reference: each weight adds, subtracts or skips its activation.
inline bool ternary_gemm_serial(const uint8_t* xu, size_t ldx, size_t m, const uint8_t* w, size_t ldw, size_t n,
                                size_t k, int32_t* out, size_t ldo) {
  bool valid = true;
  for (size_t j = 0; j < n; ++j)
    for (size_t i = 0; i < m; ++i) {
      const uint8_t *wj = w + j * ldw, *x = xu + i * ldx;
      int32_t acc = 0;
      for (size_t p = 0; p < k; ++p) {
        const unsigned code = (wj[p / 4] >> (2 * (p % 4))) & 3u;
        const int32_t v = int32_t(x[ternary_position(p)]) - 128;
        if (code == 1) acc += v;
        else if (code == 2) acc -= v;
        else if (code == 3) valid = false;
      }
      out[i * ldo + j] = acc;
    }
  return valid;
}
