// int8 dot products and quantization: threading around the per-ISA primitives.
#include "cogtensor/int8.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "cogtensor/isa.h"
#include "parallel.h"

namespace cogtensor {
namespace {

// A zero scale means the values are all zero (or underflowed): divide by 1 instead.
float nonzero(float scale) { return scale == 0.0f ? 1.0f : scale; }

}  // namespace

void int8_dot(Int8Rows a, Int8Rows b, int32_t* out) {
  const auto& t = active();
  parallel_for(a.n, chunk_count(a.n, grain_rows(a.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      if (i + 4 < hi) prefetch_span(b.row(i + 4), b.width);
      out[i] = t.dot_i8(a.row(i), b.row(i), a.width);
    }
  });
}

void int8_dot_matrix(Int8Rows a, Int8Rows b, int32_t* out) {
  // 16 a-rows against every b-row per task: b streams once per task, a stays in L1/L2.
  const auto& t = active();
  const size_t tile = 16, tiles = (a.n + tile - 1) / tile;
  const size_t grain = std::max<size_t>(1, kGrainBytes / std::max<size_t>(1, tile * b.n * a.width));
  parallel_for(tiles, chunk_count(tiles, grain), [&](size_t, size_t lo, size_t hi) {
    for (size_t ti = lo; ti < hi; ++ti) {
      const size_t i0 = ti * tile, i1 = std::min(a.n, i0 + tile);
      for (size_t j = 0; j < b.n; ++j)
        for (size_t i = i0; i < i1; ++i) out[i * b.n + j] = t.dot_i8(a.row(i), b.row(j), a.width);
    }
  });
}

void int8_cosine(Int8Rows a, Int8Rows b, double* out) {
  const auto& t = active();
  // A broadcast row (stride 0) has its norm computed once.
  const double a_sq0 = a.stride == 0 && a.n ? t.dot_i8(a.data, a.data, a.width) : 0.0;
  const double b_sq0 = b.stride == 0 && b.n ? t.dot_i8(b.data, b.data, b.width) : 0.0;
  parallel_for(a.n, chunk_count(a.n, grain_rows(3 * a.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      const int8_t *x = a.row(i), *y = b.row(i);
      const double xx = a.stride == 0 ? a_sq0 : t.dot_i8(x, x, a.width);
      const double yy = b.stride == 0 ? b_sq0 : t.dot_i8(y, y, a.width);
      const double denom = std::sqrt(xx * yy);
      out[i] = denom > 0 ? t.dot_i8(x, y, a.width) / denom : 0.0;
    }
  });
}

bool quantize_rows(FloatRows x, int8_t* q, float* scales) {
  const auto& t = active();
  std::vector<char> finite(x.n ? chunk_count(x.n, grain_rows(4 * x.width)) : 1, 1);
  parallel_for(x.n, finite.size(), [&](size_t c, size_t lo, size_t hi) {
    for (size_t r = lo; r < hi; ++r) {
      float m = 0.0f;
      if (!t.absmax_f32(x.row(r), x.width, &m)) finite[c] = 0;
      scales[r] = m / 127.0f;
      const float divisor = nonzero(scales[r]);
      t.quantize_f32(x.row(r), &divisor, 0, x.width, q + r * x.width);
    }
  });
  return std::all_of(finite.begin(), finite.end(), [](char f) { return f; });
}

bool quantize_columns(FloatRows x, int8_t* q, float* scales) {
  const auto& t = active();
  std::fill(scales, scales + x.width, 0.0f);
  bool finite = true;
  for (size_t r = 0; r < x.n; ++r) finite &= t.absmax_each_f32(x.row(r), x.width, scales);
  std::vector<float> divisors(x.width);
  for (size_t j = 0; j < x.width; ++j) {
    scales[j] /= 127.0f;
    divisors[j] = nonzero(scales[j]);
  }
  parallel_for(x.n, chunk_count(x.n, grain_rows(4 * x.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t r = lo; r < hi; ++r) t.quantize_f32(x.row(r), divisors.data(), 1, x.width, q + r * x.width);
  });
  return finite;
}

void dequantize(Int8Rows q, const float* scales, bool per_column, float* out) {
  parallel_for(q.n, chunk_count(q.n, grain_rows(5 * q.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t r = lo; r < hi; ++r) {
      const int8_t* row = q.row(r);
      float* o = out + r * q.width;
      if (per_column) {
        for (size_t j = 0; j < q.width; ++j) o[j] = float(row[j]) * scales[j];
      } else {
        for (size_t j = 0; j < q.width; ++j) o[j] = float(row[j]) * scales[r];
      }
    }
  });
}

}  // namespace cogtensor
