// int8 vector kernels: dot products with int32 accumulation and float32 -> int8
// symmetric quantization. Same conventions as hdc.h (caller-validated shapes,
// row stride 0 broadcasts).
#pragma once
#include <cstddef>
#include <cstdint>

#include "cogtensor/rows.h"

namespace cogtensor {

constexpr size_t kMaxInt8Dim = 65536;  // int32 accumulation is exact up to here

void int8_dot(Int8Rows a, Int8Rows b, int32_t* out);          // (n,) row-wise
void int8_dot_matrix(Int8Rows a, Int8Rows b, int32_t* out);   // (a.n, b.n)
// Row-wise cosine similarity; 0 when either row is all zeros (as torch's eps rule).
void int8_cosine(Int8Rows a, Int8Rows b, double* out);

// Per-row symmetric quantization: scales[r] = max|x_r| / 127, q = round_half_even(x / scale)
// clamped to [-127, 127] (a zero row has scale 0 and q = 0). Returns false if x
// holds NaN or infinity (q and scales are then unspecified).
bool quantize_rows(FloatRows x, int8_t* q, float* scales);
// Per-column (per-channel) variant: scales[j] = max_r |x[r, j]| / 127.
bool quantize_columns(FloatRows x, int8_t* q, float* scales);
// out = q * scale, with scales indexed per row (per_column == false) or per column.
void dequantize(Int8Rows q, const float* scales, bool per_column, float* out);

}  // namespace cogtensor
