// Per-ISA primitive table, CPU detection and thread settings.
//
// Each ISA source file (isa_scalar.cpp, isa_avx2.cpp, isa_avx512.cpp) is
// compiled with its own flags and fills a KernelTable. The active table is
// chosen once at import (best ISA the CPU has, or COGTENSOR_ISA) and can be
// switched for tests with set_isa().
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cogtensor/rows.h"

namespace cogtensor {

// Bundle ties (an equal vote for 0 and 1) resolve to this byte pattern: bit i of
// the result is 1 when i is even. Deterministic, input-independent, density 1/2.
constexpr uint8_t kTieByte = 0x55;

struct KernelTable {
  const char* name;
  // Set bits in n bytes.
  uint64_t (*popcount)(const uint8_t* a, size_t n);
  // Differing bits between two n-byte strings.
  uint64_t (*hamming)(const uint8_t* a, const uint8_t* b, size_t n);
  // out[i] = a[i] ^ b[i] for n bytes.
  void (*xor_bytes)(const uint8_t* a, const uint8_t* b, uint8_t* out, size_t n);
  // Bitwise majority of all rows over bytes [begin, end) of the width, written
  // to out[begin, end); ties (even row count) take kTieByte's bits.
  void (*majority)(ByteRows rows, size_t begin, size_t end, uint8_t* out);
  // counts[8 * j + b] += number of rows with bit b of byte j set, for bytes
  // [begin, end) of the width (counts indexed from byte 0).
  void (*bit_counts)(ByteRows rows, size_t begin, size_t end, int64_t* counts);
  // counts[8 * i + b] += weight * bit b of row[i], for n bytes.
  void (*add_bit_counts)(const uint8_t* row, size_t n, int64_t weight, int64_t* counts);
  // sum a[i] * b[i]; exact in int32 for n <= 65536.
  int32_t (*dot_i8)(const int8_t* a, const int8_t* b, size_t n);
  // acc = max(acc, max_i |x[i]|); returns false if any x[i] is NaN or infinite.
  bool (*absmax_f32)(const float* x, size_t n, float* acc);
  // acc[i] = max(acc[i], |x[i]|); returns false if any x[i] is NaN or infinite.
  bool (*absmax_each_f32)(const float* x, size_t n, float* acc);
  // q[i] = round_half_even(x[i] / divisor[i * step]) for |x[i]| <= 127 * divisor
  // (divisor > 0: a zero scale is passed as divisor 1, its x being all zero).
  void (*quantize_f32)(const float* x, const float* divisor, size_t step, size_t n, int8_t* q);
  // out[i * ldo + j] = (out[i * ldo + j] if accumulate, else 0) + sum_{p < k} a[i * lda + p] * b[j * ldb + p]
  // for i < m, j < n, with k a multiple of kGemmAlign and a's values in [-127, 127].
  void (*gemm_i8)(const int8_t* a, size_t lda, size_t m, const int8_t* b, size_t ldb, size_t n, size_t k,
                  int32_t* out, size_t ldo, bool accumulate);
  // out[i * ldo + j] = sum_{p < k} x[i, p] * w_j[p] for 2-bit ternary weight rows w_j = w + j * ldw
  // (cogtensor/gemm.h). x comes as xu = x + 128 (uint8) in the ternary block order, rows readable
  // up to round_up(k, kTernaryBlock) with xu = 128 (x = 0) past k. Returns false if a code within
  // the first k weights is 0b11.
  bool (*ternary_gemm)(const uint8_t* xu, size_t ldx, size_t m, const uint8_t* w, size_t ldw, size_t n, size_t k,
                       int32_t* out, size_t ldo);
};

// gemm_i8 takes depths in multiples of this many values (the caller zero-pads the tail).
constexpr size_t kGemmAlign = 64;
// Ternary kernels read weights in blocks of 32 bytes = 128 weights; within a block,
// weight 4 * l + t (byte l, bits 2t) pairs with activation 32 * t + l of the block.
constexpr size_t kTernaryBlock = 128;

// Where the activation of weight p sits in the ternary block order.
inline size_t ternary_position(size_t p) {
  const size_t r = p % kTernaryBlock;
  return p - r + 32 * (r % 4) + r / 4;
}

void fill_table_scalar(KernelTable& t);
void fill_table_avx2(KernelTable& t);    // only on x86-64 builds
void fill_table_avx512(KernelTable& t);  // overlays AVX-512 entries on an AVX2 table

// The table in use. Thread-safe to read; set_isa is meant for start-up and tests.
const KernelTable& active();
std::vector<std::string> available_isas();
// Throws std::invalid_argument for an unknown name or one the CPU lacks.
void set_isa(const std::string& name);

size_t num_threads();
void set_num_threads(size_t n);  // 0 restores the default (hardware cores)

}  // namespace cogtensor
