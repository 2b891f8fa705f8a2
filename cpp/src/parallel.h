// Splitting a loop over the kernel threads (COGTENSOR_NUM_THREADS).
#pragma once
#include <algorithm>
#include <cstddef>
#include <system_error>
#include <thread>
#include <vector>

#include "cogtensor/isa.h"

namespace cogtensor {

// A thread must get at least this many bytes of input to be worth starting.
constexpr size_t kGrainBytes = 1 << 18;

// Rows per thread for rows of `row_bytes` bytes.
inline size_t grain_rows(size_t row_bytes) { return std::max<size_t>(1, kGrainBytes / std::max<size_t>(row_bytes, 1)); }

// Asks for `bytes` at p to be brought into cache: keeps several rows' misses in
// flight where one core's hardware prefetcher alone falls short of the bandwidth.
inline void prefetch_span(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(c + b);
}

// Number of chunks to split n items into so each gets at least `grain` items.
inline size_t chunk_count(size_t n, size_t grain) {
  size_t by_size = grain ? (n + grain - 1) / grain : n;
  return std::max<size_t>(1, std::min(num_threads(), by_size));
}

// Calls f(chunk, begin, end) for `chunks` contiguous ranges covering [0, n), one
// thread per chunk (the caller's thread runs chunk 0). f must not throw.
template <class F>
void parallel_for(size_t n, size_t chunks, F&& f) {
  chunks = std::max<size_t>(1, std::min(chunks, std::max<size_t>(n, 1)));
  const size_t step = (n + chunks - 1) / chunks;
  if (chunks == 1) {
    f(size_t{0}, size_t{0}, n);
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(chunks - 1);
  size_t c = 1;
  try {
    for (; c < chunks; ++c)
      workers.emplace_back([&f, c, step, n] { f(c, std::min(n, c * step), std::min(n, (c + 1) * step)); });
  } catch (const std::system_error&) {
    // the system refused another thread (thread count far above the cores): run the rest here
  }
  for (size_t rest = c; rest < chunks; ++rest) f(rest, std::min(n, rest * step), std::min(n, (rest + 1) * step));
  f(size_t{0}, size_t{0}, std::min(n, step));
  for (auto& w : workers) w.join();
}

}  // namespace cogtensor
