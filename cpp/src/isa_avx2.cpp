// AVX2 kernels (compiled with -mavx2 -mfma -mpopcnt; run only when the CPU has AVX2).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "cogtensor/isa.h"

namespace cogtensor::avx2 {

struct Vec {
  using T = __m256i;
  static constexpr size_t size = 32;
  static T load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const T*>(p)); }
  static void store(uint8_t* p, T x) { _mm256_storeu_si256(reinterpret_cast<T*>(p), x); }
  static T zero() { return _mm256_setzero_si256(); }
  static T ones() { return _mm256_set1_epi8(-1); }
  static T tie() { return _mm256_set1_epi8(static_cast<char>(kTieByte)); }
  static T xor_(T a, T b) { return _mm256_xor_si256(a, b); }
  static T and_(T a, T b) { return _mm256_and_si256(a, b); }
  static T or_(T a, T b) { return _mm256_or_si256(a, b); }
  static T andnot(T a, T b) { return _mm256_andnot_si256(a, b); }
};

#include "isa_common.h"

// Per-byte popcount by nibble lookup (Mula), summed into 64-bit lanes.
inline __m256i popcount_bytes(__m256i x) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0F);
  __m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(x, low));
  __m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(x, 4), low));
  return _mm256_add_epi8(lo, hi);
}

inline uint64_t hsum_u64(__m256i v) {
  __m128i s = _mm_add_epi64(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return uint64_t(_mm_cvtsi128_si64(s)) + uint64_t(_mm_extract_epi64(s, 1));
}

// Popcount of a[i] (b == nullptr) or a[i] ^ b[i]: 4 vectors per step, byte
// counts (<= 32 each) summed with SAD before they can overflow.
template <bool kXor>
uint64_t count_bits(const uint8_t* a, const uint8_t* b, size_t n) {
  auto ld = [&](size_t i) {
    __m256i x = Vec::load(a + i);
    return kXor ? _mm256_xor_si256(x, Vec::load(b + i)) : x;
  };
  __m256i acc = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    __m256i c = _mm256_add_epi8(_mm256_add_epi8(popcount_bytes(ld(i)), popcount_bytes(ld(i + 32))),
                                _mm256_add_epi8(popcount_bytes(ld(i + 64)), popcount_bytes(ld(i + 96))));
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(c, _mm256_setzero_si256()));
  }
  for (; i + 32 <= n; i += 32)
    acc = _mm256_add_epi64(acc, _mm256_sad_epu8(popcount_bytes(ld(i)), _mm256_setzero_si256()));
  uint64_t c = hsum_u64(acc);
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y = 0;
    std::memcpy(&x, a + i, 8);
    if (kXor) std::memcpy(&y, b + i, 8);
    c += _mm_popcnt_u64(x ^ y);
  }
  for (; i < n; ++i) c += _mm_popcnt_u32(kXor ? a[i] ^ b[i] : a[i]);
  return c;
}

uint64_t popcount(const uint8_t* a, size_t n) { return count_bits<false>(a, nullptr, n); }
uint64_t hamming(const uint8_t* a, const uint8_t* b, size_t n) { return count_bits<true>(a, b, n); }

// int8 dot: sign-extend to int16 and multiply-add pairs into int32 (exact; no
// vpmaddubsw saturation).
int32_t dot_i8(const int8_t* a, const int8_t* b, size_t n) {
  auto widen = [](const int8_t* p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); };
  __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(widen(a + i), widen(b + i)));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(widen(a + i + 16), widen(b + i + 16)));
  }
  __m256i acc = _mm256_add_epi32(acc0, acc1);
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s) + dot_i8_serial(a + i, b + i, n - i);
}

inline __m256 abs_ps(__m256 x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }

// Lanes where x is NaN or infinite: |x| > FLT_MAX or unordered.
inline __m256 nonfinite_ps(__m256 x) {
  return _mm256_cmp_ps(abs_ps(x), _mm256_set1_ps(3.40282347e+38f), _CMP_NLE_UQ);
}

bool absmax_f32(const float* x, size_t n, float* acc) {
  __m256 m = _mm256_set1_ps(*acc), bad = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    bad = _mm256_or_ps(bad, nonfinite_ps(v));
    m = _mm256_max_ps(m, abs_ps(v));
  }
  float lanes[8];
  _mm256_storeu_ps(lanes, m);
  float r = *acc;
  for (float l : lanes) r = l > r ? l : r;
  *acc = r;
  bool finite = absmax_serial(x + i, n - i, acc);
  return finite && _mm256_movemask_ps(bad) == 0;
}

bool absmax_each_f32(const float* x, size_t n, float* acc) {
  __m256 bad = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_loadu_ps(x + i);
    bad = _mm256_or_ps(bad, nonfinite_ps(v));
    _mm256_storeu_ps(acc + i, _mm256_max_ps(_mm256_loadu_ps(acc + i), abs_ps(v)));
  }
  bool finite = absmax_each_serial(x + i, n - i, acc + i);
  return finite && _mm256_movemask_ps(bad) == 0;
}

// x / divisor rounded half-to-even and packed to int8, 32 values per step.
// |x| <= max|x| = 127 * divisor up to rounding (more only when the scale is
// subnormal): packing saturates the top at 127, a max clamps the bottom at -127.
void quantize_f32(const float* x, const float* divisor, size_t step, size_t n, int8_t* q) {
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i floor = _mm256_set1_epi8(-127);
  auto one = [&](size_t i) {
    __m256 d = step ? _mm256_loadu_ps(divisor + i) : _mm256_set1_ps(*divisor);
    __m256 r = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(x + i), d), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_cvtps_epi32(r);
  };
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i ab = _mm256_packs_epi32(one(i), one(i + 8));        // int16, lanes interleaved
    __m256i cd = _mm256_packs_epi32(one(i + 16), one(i + 24));
    __m256i p = _mm256_max_epi8(_mm256_packs_epi16(ab, cd), floor);  // int8, 4 x 32-bit groups permuted
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + i), _mm256_permutevar8x32_epi32(p, order));
  }
  quantize_serial(x + i, step ? divisor + i : divisor, step, n - i, q + i);
}

inline int32_t hsum_i32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

inline __m256i load_i8(const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// a . b for 32 int8 pairs, added into 8 int32 lanes of acc. a . b = |b| . (sign(b) * a):
// vpmaddubsw takes |b| in [0, 128] as unsigned and sign(b) * a in [-127, 127] (A is
// clamped to [-127, 127] by the caller, so vpsignb never has to negate -128); a pair sum
// lies in [-32512, 32512], so its int16 result never saturates, and vpmaddwd widens it exactly.
__attribute__((always_inline)) inline __m256i madd_i8(__m256i acc, __m256i a, __m256i b, __m256i b_abs) {
  const __m256i pairs = _mm256_maddubs_epi16(b_abs, _mm256_sign_epi8(a, b));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

// MR x NR (at most 4 x 2) register tile. The accumulators are named variables, not an
// array: GCC keeps an array of vectors mirrored on the stack inside the loop.
struct GemmI8 {
  static constexpr int kRows = 4, kCols = 2;

  template <int MR, int NR>
  static void tile(const int8_t* a, size_t lda, const int8_t* b, size_t ldb, size_t k, int32_t* out, size_t ldo,
                   bool accumulate) {
    static_assert(MR >= 1 && MR <= kRows && NR >= 1 && NR <= kCols);
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00,
            c31 = c00;
    for (size_t p = 0; p < k; p += 32) {  // k is a multiple of kGemmAlign
      const __m256i b0 = load_i8(b + p), b1 = NR > 1 ? load_i8(b + ldb + p) : b0;
      const __m256i u0 = _mm256_abs_epi8(b0), u1 = _mm256_abs_epi8(b1);
      auto row = [&](int i, __m256i& x0, __m256i& x1) {
        const __m256i av = load_i8(a + i * lda + p);
        x0 = madd_i8(x0, av, b0, u0);
        if (NR > 1) x1 = madd_i8(x1, av, b1, u1);
      };
      row(0, c00, c01);
      if (MR > 1) row(1, c10, c11);
      if (MR > 2) row(2, c20, c21);
      if (MR > 3) row(3, c30, c31);
    }
    const __m256i acc[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
    for (int i = 0; i < MR; ++i)
      for (int j = 0; j < NR; ++j) {
        const int32_t s = hsum_i32(acc[i][j]);
        out[i * ldo + j] = accumulate ? out[i * ldo + j] + s : s;
      }
  }
};

// The 32 bytes (128 weights) of block `blk` of a ternary row, codes past weight k cleared.
inline __m256i ternary_bytes(const uint8_t* w, size_t blk, size_t k) {
  if (kTernaryBlock * (blk + 1) <= k) return load_i8(w + 32 * blk);
  alignas(32) uint8_t tail[32] = {};
  const size_t first = kTernaryBlock * blk, used = k - first;  // weights of this block below k
  std::memcpy(tail, w + 32 * blk, (used + 3) / 4);
  if (used % 4) tail[used / 4] &= static_cast<uint8_t>((1u << (2 * (used % 4))) - 1);
  return load_i8(tail);
}

// MR activation rows against one ternary weight row. xu = x + 128 is unsigned, so
// vpmaddubsw(xu, w) with w in {-1, 0, +1} adds, subtracts or skips each activation;
// x . w = xu . w - 128 * sum(w). int16 partial sums hold 16 blocks (16 * 4 * 510 < 2^15)
// before they are widened to int32.
template <int MR>
void ternary_tile(const uint8_t* xu, size_t ldx, const uint8_t* w, size_t k, int32_t* out, size_t ldo,
                  __m256i& bad) {
  const __m256i lut = _mm256_setr_epi8(0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                       0, 1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i three = _mm256_set1_epi8(3), ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  const __m256i even_bits = _mm256_set1_epi8(0x55);
  __m256i acc[MR], wsum = _mm256_setzero_si256();
  for (auto& c : acc) c = _mm256_setzero_si256();
  const size_t blocks = (k + kTernaryBlock - 1) / kTernaryBlock;
  for (size_t blk = 0; blk < blocks;) {
    __m256i part[MR], wpart = _mm256_setzero_si256();
    for (auto& c : part) c = _mm256_setzero_si256();
    for (const size_t end = std::min(blocks, blk + 16); blk < end; ++blk) {
      const __m256i bytes = ternary_bytes(w, blk, k);
      bad = _mm256_or_si256(bad, _mm256_and_si256(bytes, _mm256_and_si256(_mm256_srli_epi16(bytes, 1), even_bits)));
      const __m256i w0 = _mm256_shuffle_epi8(lut, _mm256_and_si256(bytes, three));
      const __m256i w1 = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(bytes, 2), three));
      const __m256i w2 = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(bytes, 4), three));
      const __m256i w3 = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(bytes, 6), three));
      const __m256i wsum8 = _mm256_add_epi8(_mm256_add_epi8(w0, w1), _mm256_add_epi8(w2, w3));
      wpart = _mm256_add_epi16(wpart, _mm256_maddubs_epi16(ones8, wsum8));
      for (int i = 0; i < MR; ++i) {
        const uint8_t* x = xu + i * ldx + kTernaryBlock * blk;
        const __m256i s01 = _mm256_add_epi16(_mm256_maddubs_epi16(load_i8(x), w0), _mm256_maddubs_epi16(load_i8(x + 32), w1));
        const __m256i s23 = _mm256_add_epi16(_mm256_maddubs_epi16(load_i8(x + 64), w2), _mm256_maddubs_epi16(load_i8(x + 96), w3));
        part[i] = _mm256_add_epi16(part[i], _mm256_add_epi16(s01, s23));
      }
    }
    for (int i = 0; i < MR; ++i) acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(part[i], ones16));
    wsum = _mm256_add_epi32(wsum, _mm256_madd_epi16(wpart, ones16));
  }
  const uint32_t correction = 128u * static_cast<uint32_t>(hsum_i32(wsum));
  for (int i = 0; i < MR; ++i)  // modulo 2^32: exact whenever the result fits in int32
    out[i * ldo] = static_cast<int32_t>(static_cast<uint32_t>(hsum_i32(acc[i])) - correction);
}

bool ternary_gemm(const uint8_t* xu, size_t ldx, size_t m, const uint8_t* w, size_t ldw, size_t n, size_t k,
                  int32_t* out, size_t ldo) {
  __m256i bad = _mm256_setzero_si256();
  for (size_t i = 0; i < m; i += 4) {
    const uint8_t* x = xu + i * ldx;
    int32_t* o = out + i * ldo;
    for (size_t j = 0; j < n; ++j) {
      switch (std::min<size_t>(4, m - i)) {
        case 4: ternary_tile<4>(x, ldx, w + j * ldw, k, o + j, ldo, bad); break;
        case 3: ternary_tile<3>(x, ldx, w + j * ldw, k, o + j, ldo, bad); break;
        case 2: ternary_tile<2>(x, ldx, w + j * ldw, k, o + j, ldo, bad); break;
        default: ternary_tile<1>(x, ldx, w + j * ldw, k, o + j, ldo, bad); break;
      }
    }
  }
  return _mm256_testz_si256(bad, bad);
}

}  // namespace cogtensor::avx2

namespace cogtensor {

void fill_table_avx2(KernelTable& t) {
  using namespace avx2;
  t.name = "avx2";
  t.popcount = popcount;
  t.hamming = hamming;
  t.xor_bytes = xor_bytes_impl;
  t.majority = majority_impl<Vec>;
  t.bit_counts = bit_counts_impl<Vec>;
  t.add_bit_counts = add_bit_counts_impl;
  t.dot_i8 = dot_i8;
  t.absmax_f32 = absmax_f32;
  t.absmax_each_f32 = absmax_each_f32;
  t.quantize_f32 = quantize_f32;
  t.gemm_i8 = gemm_i8_tiled<GemmI8>;
  t.ternary_gemm = ternary_gemm;
}

}  // namespace cogtensor
