// Scalar reference kernels: portable C++, 64-bit words. Every SIMD path is
// tested against these.
#include <cstring>

#include "cogtensor/isa.h"

namespace cogtensor::scalar {

struct Vec {
  using T = uint64_t;
  static constexpr size_t size = 8;
  static T load(const uint8_t* p) { T x; std::memcpy(&x, p, 8); return x; }
  static void store(uint8_t* p, T x) { std::memcpy(p, &x, 8); }
  static T zero() { return 0; }
  static T ones() { return ~T{0}; }
  static T tie() { return 0x5555555555555555ull; }
  static T xor_(T a, T b) { return a ^ b; }
  static T and_(T a, T b) { return a & b; }
  static T or_(T a, T b) { return a | b; }
  static T andnot(T a, T b) { return ~a & b; }
};

#include "isa_common.h"

uint64_t popcount(const uint8_t* a, size_t n) {
  uint64_t c = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) c += __builtin_popcountll(Vec::load(a + i));
  for (; i < n; ++i) c += __builtin_popcount(a[i]);
  return c;
}

uint64_t hamming(const uint8_t* a, const uint8_t* b, size_t n) {
  uint64_t c = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) c += __builtin_popcountll(Vec::load(a + i) ^ Vec::load(b + i));
  for (; i < n; ++i) c += __builtin_popcount(a[i] ^ b[i]);
  return c;
}

}  // namespace cogtensor::scalar

namespace cogtensor {

void fill_table_scalar(KernelTable& t) {
  using namespace scalar;
  t.name = "scalar";
  t.popcount = popcount;
  t.hamming = hamming;
  t.xor_bytes = xor_bytes_impl;
  t.majority = majority_impl<Vec>;
  t.bit_counts = bit_counts_impl<Vec>;
  t.add_bit_counts = add_bit_counts_impl;
  t.dot_i8 = dot_i8_serial;
  t.absmax_f32 = absmax_serial;
  t.absmax_each_f32 = absmax_each_serial;
  t.quantize_f32 = quantize_serial;
  t.gemm_i8 = gemm_i8_serial;
  t.ternary_gemm = ternary_gemm_serial;
}

}  // namespace cogtensor
