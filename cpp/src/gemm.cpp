// Integer matrix products: operand preparation, cache blocking and threads around
// the per-ISA tile kernels (KernelTable::gemm_i8, ::ternary_gemm).
#include "cogtensor/gemm.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <vector>

#include "cogtensor/isa.h"
#include "parallel.h"

namespace cogtensor {
namespace {

constexpr size_t kDepthBlock = 1024;      // depths per pass: 16 B rows of it (16 KB) stay in L1
constexpr size_t kColBlock = 16;          // B rows (output columns) per cache block
constexpr size_t kRowBlock = 64;          // A rows per cache block: 64 x kDepthBlock (64 KB) stay in L2
constexpr size_t kFewRows = 16;           // up to here a product is a few GEMVs: B streams once
constexpr size_t kUnit = 64;              // output columns (or rows) handed to a thread at a time
constexpr size_t kWorkGrain = size_t(1) << 21;  // multiply-adds that make a thread worth starting

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Calls f(i0, i1, j0, j1) on units of an (m, n) output (kUnit columns each when there
// are at least as many column units as row units, as for a GEMV; kUnit rows otherwise).
// Threads take the next unit as they finish one, so a thread on a core that another
// process keeps busy does less of the work instead of holding the others up.
template <class F>
void parallel_units(size_t m, size_t n, size_t k, F&& f) {
  const size_t col_units = (n + kUnit - 1) / kUnit, row_units = (m + kUnit - 1) / kUnit;
  const bool by_cols = col_units >= row_units;
  const size_t units = by_cols ? col_units : row_units;
  const size_t unit_work = (by_cols ? m : n) * kUnit * std::max<size_t>(k, 1);
  const size_t threads = chunk_count(units, std::max<size_t>(1, kWorkGrain / unit_work));
  std::atomic<size_t> next{0};
  parallel_for(threads, threads, [&](size_t, size_t, size_t) {
    for (size_t u; (u = next.fetch_add(1)) < units;) {
      if (by_cols) f(size_t{0}, m, u * kUnit, std::min(n, (u + 1) * kUnit));
      else f(u * kUnit, std::min(m, (u + 1) * kUnit), size_t{0}, n);
    }
  });
}

// Where A held -128, as compressed rows: positions p of row i are pos[start[i] .. start[i + 1]).
struct MinPositions {
  std::vector<size_t> start{0};
  std::vector<size_t> pos;
};

// out[i, j] -= bt[j, p] for each -128 of A's rows [i0, i1) at depths [p0, p1), for the
// columns [j, j + nj): A was clamped to -127 there, and a . b = clamp(a) . b - b at a -128.
// Runs right after the kernel pass over the same B rows, which are still in cache.
void subtract_min_columns(const MinPositions& mins, size_t i0, size_t i1, size_t p0, size_t p1, Int8Rows bt,
                          size_t j, size_t nj, int32_t* out) {
  for (size_t i = i0; i < i1; ++i) {
    const auto first = mins.pos.begin() + std::ptrdiff_t(mins.start[i]);
    const auto last = mins.pos.begin() + std::ptrdiff_t(mins.start[i + 1]);
    for (auto q = std::lower_bound(first, last, p0); q != last && *q < p1; ++q)
      for (size_t c = 0; c < nj; ++c) out[i * bt.n + j + c] -= bt.row(j + c)[*q];
  }
}

// out (m, n) = a @ bt^T, a with rows of stride lda, values in [-127, 127], zero-padded
// to round_up(k, kGemmAlign); then the -128 fixes of `mins` (if given). The kernels take
// whole kGemmAlign blocks: depths past the last whole block run once more against a
// zero-padded copy of B's last columns.
void gemm_blocked(const int8_t* a, size_t lda, size_t m, Int8Rows bt, int32_t* out, const MinPositions* mins) {
  const auto& t = active();
  const size_t n = bt.n, k = bt.width, ldb = size_t(bt.stride);
  const size_t k_main = k / kGemmAlign * kGemmAlign, k_tail = k - k_main;
  std::vector<int8_t> b_tail(k_tail ? n * kGemmAlign : 0, 0);
  for (size_t j = 0; k_tail && j < n; ++j) std::copy(bt.row(j) + k_main, bt.row(j) + k, b_tail.data() + j * kGemmAlign);
  // Few rows of A (GEMV): no depth blocks, so each B row streams once, front to back.
  const size_t depth_block = m <= 2 * kFewRows ? k_main : kDepthBlock;
  // Per unit: depth blocks, then row blocks (in L2), then column blocks (in L1).
  auto pass = [&](size_t i0, size_t i1, size_t j0, size_t j1, const int8_t* b, size_t ldb_, size_t p, size_t kc) {
    for (size_t i = i0; i < i1; i += kRowBlock) {
      const size_t i_end = std::min(i1, i + kRowBlock);
      for (size_t j = j0; j < j1; j += kColBlock) {
        const size_t nj = std::min(kColBlock, j1 - j);
        t.gemm_i8(a + i * lda + p, lda, i_end - i, b + j * ldb_, ldb_, nj, round_up(kc, kGemmAlign), out + i * n + j,
                  n, p > 0);
        if (mins) subtract_min_columns(*mins, i, i_end, p, p + kc, bt, j, nj, out);
      }
    }
  };
  parallel_units(m, n, k, [&](size_t i0, size_t i1, size_t j0, size_t j1) {
    for (size_t p = 0; p < k_main; p += depth_block)
      pass(i0, i1, j0, j1, bt.data + p, ldb, p, std::min(depth_block, k_main - p));
    if (k_tail) pass(i0, i1, j0, j1, b_tail.data(), kGemmAlign, k_main, k_tail);
  });
}

bool ternary_codes_valid(ByteRows w, size_t k) {
  for (size_t j = 0; j < w.n; ++j)
    for (size_t p = 0; p < k; ++p)
      if (((w.row(j)[p / 4] >> (2 * (p % 4))) & 3u) == 3u) return false;
  return true;
}

// dst[c * ld + r] = b[p0 + r][j0 + c] for a 16 x 16 block. With SSE2 (every x86-64):
// four rounds of interleaving rows r and r + 8 transpose 16 x 16 bytes.
void transpose_16x16(Int8Rows b, size_t p0, size_t j0, int8_t* dst, size_t ld) {
#if defined(__SSE2__)
  __m128i r[16], t[16];
  for (size_t i = 0; i < 16; ++i) r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b.row(p0 + i) + j0));
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm_unpacklo_epi8(r[i], r[i + 8]);
      t[2 * i + 1] = _mm_unpackhi_epi8(r[i], r[i + 8]);
    }
    std::copy(t, t + 16, r);
  }
  for (size_t c = 0; c < 16; ++c) _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + c * ld), r[c]);
#else
  for (size_t c = 0; c < 16; ++c)
    for (size_t i = 0; i < 16; ++i) dst[c * ld + i] = b.row(p0 + i)[j0 + c];
#endif
}

}  // namespace

void int8_matmul(Int8Rows a, Int8Rows bt, int32_t* out) {
  const size_t m = a.n, n = bt.n, k = a.width, lda = round_up(k, kGemmAlign);
  if (m == 0 || n == 0) return;
  // a = clamp(a, -127, 127) + e, e = -1 where a is -128: the tile kernels need the
  // clamped form (isa.h), and e @ bt^T is added afterwards.
  std::vector<int8_t> clamped(m * lda, 0);
  MinPositions mins;
  std::vector<size_t> rows_with_min;
  for (size_t i = 0; i < m; ++i) {
    const int8_t* src = a.row(i);
    int8_t* dst = clamped.data() + i * lda;
    for (size_t p = 0; p < k; ++p) {
      if (src[p] == -128) mins.pos.push_back(p);
      dst[p] = std::max<int8_t>(src[p], -127);
    }
    if (mins.pos.size() > mins.start.back()) rows_with_min.push_back(i);
    mins.start.push_back(mins.pos.size());
  }
  const size_t r = rows_with_min.size();
  if (r == 0) return gemm_blocked(clamped.data(), lda, m, bt, out, nullptr);
  // Many rows (a compute-bound product) with few -128s (under 1 in 32 values of the rows
  // that have one): subtract B's values at them tile by tile.
  if (m > kFewRows && mins.pos.size() * 32 < r * k) return gemm_blocked(clamped.data(), lda, m, bt, out, &mins);
  // Otherwise e's rows join A's (a GEMV reads B once for both), or run as a second product.
  const bool stacked = m <= kFewRows;
  std::vector<int8_t> e(r * lda, 0);
  for (size_t q = 0; q < r; ++q) {
    const size_t i = rows_with_min[q];
    for (size_t at = mins.start[i]; at < mins.start[i + 1]; ++at) e[q * lda + mins.pos[at]] = -1;
  }
  std::vector<int32_t> extra(stacked ? (m + r) * n : r * n);
  if (stacked) {
    clamped.insert(clamped.end(), e.begin(), e.end());
    gemm_blocked(clamped.data(), lda, m + r, bt, extra.data(), nullptr);
    std::copy(extra.begin(), extra.begin() + std::ptrdiff_t(m * n), out);
  } else {
    gemm_blocked(clamped.data(), lda, m, bt, out, nullptr);
    gemm_blocked(e.data(), lda, r, bt, extra.data(), nullptr);
  }
  const int32_t* e_out = extra.data() + (stacked ? m * n : 0);
  for (size_t q = 0; q < r; ++q)
    for (size_t j = 0; j < n; ++j) out[rows_with_min[q] * n + j] += e_out[q * n + j];
}

void transpose_i8(Int8Rows b, int8_t* bt) {
  // 64 columns (one cache line of each b row) per block, so every line of b is read once.
  const size_t k = b.n, n = b.width, tile = 16, block = 64;
  const size_t blocks = (n + block - 1) / block;
  parallel_for(blocks, chunk_count(blocks, std::max<size_t>(1, kGrainBytes / std::max<size_t>(1, block * k))),
               [&](size_t, size_t lo, size_t hi) {
                 for (size_t jb = lo * block; jb < std::min(n, hi * block); jb += block)
                   for (size_t p0 = 0; p0 < k; p0 += tile)
                     for (size_t j0 = jb; j0 < std::min(n, jb + block); j0 += tile) {
                       if (j0 + tile <= n && p0 + tile <= k) {
                         transpose_16x16(b, p0, j0, bt + j0 * k + p0, k);
                         continue;
                       }
                       for (size_t j = j0; j < std::min(n, j0 + tile); ++j)
                         for (size_t p = p0; p < std::min(k, p0 + tile); ++p) bt[j * k + p] = b.row(p)[j];
                     }
               });
}

bool ternary_matmul(Int8Rows x, ByteRows w, int32_t* out) {
  const size_t m = x.n, n = w.n, k = x.width, ldx = round_up(k, kTernaryBlock);
  if (n == 0) return true;
  if (m == 0) return ternary_codes_valid(w, k);
  // x + 128 as unsigned bytes (x = 0, i.e. 128, past k) in the kernels' block order
  std::vector<uint8_t> xu(m * ldx, 128);
  for (size_t i = 0; i < m; ++i)
    for (size_t p = 0; p < k; ++p) xu[i * ldx + ternary_position(p)] = static_cast<uint8_t>(x.row(i)[p]) ^ 0x80u;
  const auto& t = active();
  std::atomic<bool> valid{true};
  parallel_units(m, n, k, [&](size_t i0, size_t i1, size_t j0, size_t j1) {
    for (size_t j = j0; j < j1; j += kColBlock)
      if (!t.ternary_gemm(xu.data() + i0 * ldx, ldx, i1 - i0, w.row(j), size_t(w.stride), std::min(kColBlock, j1 - j),
                          k, out + i0 * n + j, n))
        valid.store(false);
  });
  return valid.load();
}

}  // namespace cogtensor
