// Hyperdimensional-computing kernels over binary records of any width.
//
// All functions take rows as (pointer, rows, width in bytes, row stride) views,
// never own memory, and assume the caller validated shapes: widths agree, output
// buffers hold the documented number of elements, and two-operand row-wise
// functions get a.n == b.n (a stride of 0 broadcasts one row).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "cogtensor/rows.h"

namespace cogtensor {

// A search result: Hamming distance and row index, ordered by (dist, idx).
struct Hit {
  uint32_t dist;
  int64_t idx;
  bool operator<(const Hit& o) const { return dist != o.dist ? dist < o.dist : idx < o.idx; }
  bool operator==(const Hit& o) const { return dist == o.dist && idx == o.idx; }
};

// Cascade stages: stage 1 reads the first width / stage1_div bytes, stage 2 the
// first width / stage2_div bytes, stage 3 the full width.
struct CascadeStages {
  size_t stage1_div = 16;
  size_t stage2_div = 4;
};

void popcount(ByteRows a, uint32_t* out);                     // (n,)
void hamming(ByteRows a, ByteRows b, uint32_t* out);          // (n,) row i of a vs row i of b
void hamming_matrix(ByteRows a, ByteRows b, uint32_t* out);   // (a.n, b.n), cache-blocked
void bind(ByteRows a, ByteRows b, uint8_t* out);              // (n, width) XOR

// Cyclic rotation of each row's width*8-bit vector: out bit (i + k) mod bits =
// in bit i (LSB-first). shifts[r * shift_step] is row r's k (any sign).
void permute(ByteRows a, const int64_t* shifts, size_t shift_step, uint8_t* out);

// Bitwise majority of a.n >= 1 rows into one width-byte record (ties: kTieByte).
void bundle(ByteRows a, uint8_t* out);
// counts[j] += sum_r weights[r] * bit j of row r (weights == nullptr: all 1);
// counts has width * 8 entries. Partial counts from several calls add up.
void bit_counts(ByteRows a, const int32_t* weights, int64_t* counts);
// out bit j = 1 if 2 * counts[j] > total, the tie bit if equal, else 0, where
// total is the summed weight. nbits is a multiple of 8.
void majority_from_counts(const int64_t* counts, size_t nbits, int64_t total, uint8_t* out);

// For each query, the k nearest base rows by (distance, index); dist and idx are
// (queries.n, k). Requires k <= base.n.
void topk(ByteRows queries, ByteRows base, size_t k, uint32_t* dist, int64_t* idx);

// Approximate top-k: stage thresholds are set `sigmas` standard deviations above
// the sampled distance a true neighbour would show (see cascade.cpp).
void cascade_topk(ByteRows queries, ByteRows base, size_t k, CascadeStages stages, double sigmas,
                  uint32_t* dist, int64_t* idx);
// Exact range search for one query: every base row with distance <= threshold,
// ordered by (dist, idx). Stages abandon a row once its partial distance (a lower
// bound on the full one) exceeds the threshold.
std::vector<Hit> cascade_range(const uint8_t* query, ByteRows base, uint64_t threshold,
                               CascadeStages stages);

// Row r of random(n, seed) uses seed row_seed(seed, r); row_seed(seed, 0) == seed.
uint64_t row_seed(uint64_t seed, uint64_t r);
// Fills n rows of `width` bytes, row r from seeds[r] (splitmix64 stream).
void random_records(const uint64_t* seeds, size_t n, size_t width, uint8_t* out);

}  // namespace cogtensor
