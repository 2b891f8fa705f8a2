// Row-level HDC kernels: threading and bookkeeping around the per-ISA primitives.
#include "cogtensor/hdc.h"

#include <algorithm>
#include <cstring>

#include "cogtensor/isa.h"
#include "parallel.h"

namespace cogtensor {
namespace {

uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

}  // namespace

void popcount(ByteRows a, uint32_t* out) {
  const auto& t = active();
  parallel_for(a.n, chunk_count(a.n, grain_rows(a.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) out[i] = static_cast<uint32_t>(t.popcount(a.row(i), a.width));
  });
}

void hamming(ByteRows a, ByteRows b, uint32_t* out) {
  const auto& t = active();
  parallel_for(a.n, chunk_count(a.n, grain_rows(a.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i)
      out[i] = static_cast<uint32_t>(t.hamming(a.row(i), b.row(i), a.width));
  });
}

void hamming_matrix(ByteRows a, ByteRows b, uint32_t* out) {
  // Tiles of 16 a-rows x (256 KiB of b-rows) stay in L2 while every pair is scored.
  const auto& t = active();
  const size_t tile_a = 16, tile_b = std::max<size_t>(1, (256u << 10) / a.width);
  const size_t tiles_a = (a.n + tile_a - 1) / tile_a, tiles_b = (b.n + tile_b - 1) / tile_b;
  const size_t tiles = tiles_a * tiles_b;
  const size_t pairs_per_tile = tile_a * tile_b;
  const size_t grain = std::max<size_t>(1, kGrainBytes / std::max<size_t>(1, pairs_per_tile * a.width));
  parallel_for(tiles, chunk_count(tiles, grain), [&](size_t, size_t lo, size_t hi) {
    for (size_t tile = lo; tile < hi; ++tile) {
      const size_t i0 = (tile / tiles_b) * tile_a, j0 = (tile % tiles_b) * tile_b;
      const size_t i1 = std::min(a.n, i0 + tile_a), j1 = std::min(b.n, j0 + tile_b);
      for (size_t i = i0; i < i1; ++i)
        for (size_t j = j0; j < j1; ++j)
          out[i * b.n + j] = static_cast<uint32_t>(t.hamming(a.row(i), b.row(j), a.width));
    }
  });
}

void bind(ByteRows a, ByteRows b, uint8_t* out) {
  const auto& t = active();
  parallel_for(a.n, chunk_count(a.n, grain_rows(a.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) t.xor_bytes(a.row(i), b.row(i), out + i * a.width, a.width);
  });
}

namespace {

// Rotates one row by k bits in LSB-first order: out bit (i + k) mod bits = in bit i.
void rotate_row(const uint8_t* in, size_t w, int64_t k, uint8_t* out) {
  const int64_t bits = int64_t(w) * 8;
  const uint64_t s = uint64_t(((k % bits) + bits) % bits);
  const size_t bytes = s / 8;
  const unsigned r = s % 8;
  // Whole-byte rotation first, then shift every byte up by r bits, pulling the
  // top r bits of the byte below it (walking down so that byte is still unshifted).
  std::memcpy(out + bytes, in, w - bytes);
  std::memcpy(out, in + w - bytes, bytes);
  if (r == 0) return;
  const uint8_t top = out[w - 1];
  for (size_t j = w - 1; j > 0; --j) out[j] = static_cast<uint8_t>((out[j] << r) | (out[j - 1] >> (8 - r)));
  out[0] = static_cast<uint8_t>((out[0] << r) | (top >> (8 - r)));
}

}  // namespace

void permute(ByteRows a, const int64_t* shifts, size_t shift_step, uint8_t* out) {
  parallel_for(a.n, chunk_count(a.n, grain_rows(a.width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) rotate_row(a.row(i), a.width, shifts[i * shift_step], out + i * a.width);
  });
}

void bundle(ByteRows a, uint8_t* out) {
  // Threads take disjoint column ranges (multiples of 64 bytes) over all rows.
  const auto& t = active();
  const size_t blocks = (a.width + 63) / 64;
  const size_t grain = std::max<size_t>(1, kGrainBytes / std::max<size_t>(1, a.n * 64));
  parallel_for(blocks, chunk_count(blocks, grain), [&](size_t, size_t lo, size_t hi) {
    t.majority(a, lo * 64, std::min(a.width, hi * 64), out);
  });
}

void bit_counts(ByteRows a, const int32_t* weights, int64_t* counts) {
  const auto& t = active();
  const size_t blocks = (a.width + 63) / 64;
  const size_t grain = std::max<size_t>(1, kGrainBytes / std::max<size_t>(1, a.n * 64));
  parallel_for(blocks, chunk_count(blocks, grain), [&](size_t, size_t lo, size_t hi) {
    const size_t b0 = lo * 64, b1 = std::min(a.width, hi * 64);
    if (!weights) return t.bit_counts(a, b0, b1, counts);
    for (size_t r = 0; r < a.n; ++r) t.add_bit_counts(a.row(r) + b0, b1 - b0, weights[r], counts + 8 * b0);
  });
}

void majority_from_counts(const int64_t* counts, size_t nbits, int64_t total, uint8_t* out) {
  for (size_t j = 0; j < nbits / 8; ++j) {
    uint8_t byte = 0;
    for (unsigned b = 0; b < 8; ++b) {
      const int64_t c2 = 2 * counts[8 * j + b];
      const bool bit = c2 > total || (c2 == total && ((kTieByte >> b) & 1));
      byte |= static_cast<uint8_t>(bit) << b;
    }
    out[j] = byte;
  }
}

void topk(ByteRows queries, ByteRows base, size_t k, uint32_t* dist, int64_t* idx) {
  // Tasks are (query, base chunk) pairs: with few queries the base is split
  // across threads, with many each query is one task.
  const auto& t = active();
  const size_t m = queries.n;
  const size_t per_query = m >= num_threads() ? 1 : chunk_count(base.n, grain_rows(base.width));
  std::vector<std::vector<Hit>> found(m * per_query);
  parallel_for(m * per_query, std::min(num_threads(), m * per_query), [&](size_t, size_t lo, size_t hi) {
    for (size_t task = lo; task < hi; ++task) {
      const size_t q = task / per_query, c = task % per_query;
      const size_t step = (base.n + per_query - 1) / per_query;
      const size_t r0 = std::min(base.n, c * step), r1 = std::min(base.n, r0 + step);
      std::vector<Hit>& heap = found[task];  // max-heap by (dist, idx)
      heap.reserve(std::min(k, r1 - r0));
      for (size_t r = r0; r < r1 && k > 0; ++r) {
        const Hit h{static_cast<uint32_t>(t.hamming(queries.row(q), base.row(r), base.width)), int64_t(r)};
        if (heap.size() < k) {
          heap.push_back(h);
          std::push_heap(heap.begin(), heap.end());
        } else if (h.dist < heap.front().dist) {  // rows come in index order: equal dist never wins
          std::pop_heap(heap.begin(), heap.end());
          heap.back() = h;
          std::push_heap(heap.begin(), heap.end());
        }
      }
    }
  });
  for (size_t q = 0; q < m; ++q) {
    std::vector<Hit> all;
    for (size_t c = 0; c < per_query; ++c)
      all.insert(all.end(), found[q * per_query + c].begin(), found[q * per_query + c].end());
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    for (size_t i = 0; i < k; ++i) {
      dist[q * k + i] = all[i].dist;
      idx[q * k + i] = all[i].idx;
    }
  }
}

uint64_t row_seed(uint64_t seed, uint64_t r) { return seed ^ mix64(r * kGolden); }

void random_records(const uint64_t* seeds, size_t n, size_t width, uint8_t* out) {
  parallel_for(n, chunk_count(n, grain_rows(width)), [&](size_t, size_t lo, size_t hi) {
    for (size_t r = lo; r < hi; ++r) {
      const uint64_t start = mix64(seeds[r]);
      uint8_t* row = out + r * width;
      for (size_t j = 0; j * 8 < width; ++j) {
        const uint64_t word = mix64(start + (j + 1) * kGolden);
        uint8_t bytes[8];
        for (int b = 0; b < 8; ++b) bytes[b] = static_cast<uint8_t>(word >> (8 * b));  // little-endian
        std::memcpy(row + 8 * j, bytes, std::min<size_t>(8, width - 8 * j));
      }
    }
  });
}

}  // namespace cogtensor
