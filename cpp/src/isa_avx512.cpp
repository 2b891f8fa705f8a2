// AVX-512 kernels (F + BW + VPOPCNTDQ + VNNI; run only when the CPU has all four).
// Only the entries these instructions speed up are replaced; the rest of the
// table stays AVX2.
#include <immintrin.h>

#include "cogtensor/isa.h"

namespace cogtensor::avx512 {

struct Vec {
  using T = __m512i;
  static constexpr size_t size = 64;
  static T load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static void store(uint8_t* p, T x) { _mm512_storeu_si512(p, x); }
  static T zero() { return _mm512_setzero_si512(); }
  static T ones() { return _mm512_set1_epi8(-1); }
  static T tie() { return _mm512_set1_epi8(static_cast<char>(kTieByte)); }
  static T xor_(T a, T b) { return _mm512_xor_si512(a, b); }
  static T and_(T a, T b) { return _mm512_and_si512(a, b); }
  static T or_(T a, T b) { return _mm512_or_si512(a, b); }
  static T andnot(T a, T b) { return _mm512_andnot_si512(a, b); }
};

#include "isa_common.h"

// Mask of the first n (< 64) bytes.
inline __mmask64 first_bytes(size_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

template <bool kXor>
uint64_t count_bits(const uint8_t* a, const uint8_t* b, size_t n) {
  __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    __m512i x0 = _mm512_loadu_si512(a + i), x1 = _mm512_loadu_si512(a + i + 64);
    if (kXor) {
      x0 = _mm512_xor_si512(x0, _mm512_loadu_si512(b + i));
      x1 = _mm512_xor_si512(x1, _mm512_loadu_si512(b + i + 64));
    }
    acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(x0));
    acc1 = _mm512_add_epi64(acc1, _mm512_popcnt_epi64(x1));
  }
  for (; i < n; i += 64) {  // masked tail: bytes past n load as zero
    __mmask64 m = first_bytes(n - i);
    __m512i x = _mm512_maskz_loadu_epi8(m, a + i);
    if (kXor) x = _mm512_xor_si512(x, _mm512_maskz_loadu_epi8(m, b + i));
    acc0 = _mm512_add_epi64(acc0, _mm512_popcnt_epi64(x));
  }
  return uint64_t(_mm512_reduce_add_epi64(_mm512_add_epi64(acc0, acc1)));
}

uint64_t popcount(const uint8_t* a, size_t n) { return count_bits<false>(a, nullptr, n); }
uint64_t hamming(const uint8_t* a, const uint8_t* b, size_t n) { return count_bits<true>(a, b, n); }

// int8 dot: sign-extend to int16, VNNI multiply-add pairs into int32 (exact).
int32_t dot_i8(const int8_t* a, const int8_t* b, size_t n) {
  __m512i acc = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += 32) {
    __mmask32 m = static_cast<__mmask32>(first_bytes(n - i < 32 ? n - i : 32));
    __m512i x = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a + i));
    __m512i y = _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i));
    acc = _mm512_dpwssd_epi32(acc, x, y);
  }
  return _mm512_reduce_add_epi32(acc);
}

// int8 GEMM tile with VNNI: vpdpbusd multiplies unsigned by signed bytes and adds four
// products into int32 with no intermediate saturation. B is made unsigned by a flip of
// its sign bit (b + 128), so a . b = a . (b + 128) - 128 * sum(a).
struct GemmI8 {
  static constexpr int kRows = 4, kCols = 4;

  template <int MR, int NR>
  static void tile(const int8_t* a, size_t lda, const int8_t* b, size_t ldb, size_t k, int32_t* out, size_t ldo,
                   bool accumulate) {
    const __m512i flip = _mm512_set1_epi8(-128), ones = _mm512_set1_epi8(1);
    __m512i acc[MR][NR], rowsum[MR];
    for (int i = 0; i < MR; ++i) {
      rowsum[i] = _mm512_setzero_si512();
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_si512();
    }
    for (size_t p = 0; p < k; p += 64) {  // k is a multiple of kGemmAlign
      __m512i bu[NR];
      for (int j = 0; j < NR; ++j) bu[j] = _mm512_xor_si512(_mm512_loadu_si512(b + j * ldb + p), flip);
      for (int i = 0; i < MR; ++i) {
        const __m512i av = _mm512_loadu_si512(a + i * lda + p);
        rowsum[i] = _mm512_dpbusd_epi32(rowsum[i], ones, av);
        for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], bu[j], av);
      }
    }
    for (int i = 0; i < MR; ++i) {
      const uint32_t correction = 128u * static_cast<uint32_t>(_mm512_reduce_add_epi32(rowsum[i]));
      for (int j = 0; j < NR; ++j) {  // modulo 2^32: exact whenever the result fits in int32
        const uint32_t s = static_cast<uint32_t>(_mm512_reduce_add_epi32(acc[i][j])) - correction;
        out[i * ldo + j] = static_cast<int32_t>(accumulate ? static_cast<uint32_t>(out[i * ldo + j]) + s : s);
      }
    }
  }
};

}  // namespace cogtensor::avx512

namespace cogtensor {

void fill_table_avx512(KernelTable& t) {
  using namespace avx512;
  fill_table_avx2(t);
  t.name = "avx512";
  t.popcount = popcount;
  t.hamming = hamming;
  t.majority = majority_impl<Vec>;
  t.bit_counts = bit_counts_impl<Vec>;
  t.dot_i8 = dot_i8;
  t.gemm_i8 = gemm_i8_tiled<GemmI8>;
}

}  // namespace cogtensor
