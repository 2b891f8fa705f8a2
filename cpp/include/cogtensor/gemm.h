// Integer matrix products: int8 x int8 -> int32 and int8 x packed ternary -> int32.
// Shapes are caller-validated (bindings.cpp); the functions allocate only scratch.
#pragma once
#include <cstddef>
#include <cstdint>

#include "cogtensor/rows.h"

namespace cogtensor {

// int32 accumulation of k products is exact while 128 * 128 * k < 2^31.
constexpr size_t kMaxInt8MatmulDepth = 131071;

// out (m, n) row-major = a (m, k) @ bt (n, k)^T: out[i, j] = sum_p a[i, p] * bt[j, p].
// Exact for every int8 value (k <= kMaxInt8MatmulDepth).
void int8_matmul(Int8Rows a, Int8Rows bt, int32_t* out);

// bt (n, k) row-major from b (k, n) with rows of b contiguous: a blocked transpose.
void transpose_i8(Int8Rows b, int8_t* bt);

// Ternary weights packed 2 bits each, 4 per byte, least significant pair first:
// weight p of a row is bits 2 * (p % 4) of byte p / 4; code 0b00 = 0, 0b01 = +1,
// 0b10 = -1, 0b11 is invalid. Each of the n weight rows holds ceil(k / 4) bytes;
// codes past the k-th weight are ignored.
constexpr size_t kTernaryPerByte = 4;
// int32 results are exact while 128 * k < 2^31.
constexpr size_t kMaxTernaryDepth = 16777215;

// out (m, n) = x (m, k) @ W^T with W (n, k) the ternary weights in `w` (rows of
// ceil(k / 4) bytes). Returns false (out unspecified) if a weight code is 0b11.
bool ternary_matmul(Int8Rows x, ByteRows w, int32_t* out);

}  // namespace cogtensor
