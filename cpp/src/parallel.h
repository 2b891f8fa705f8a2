// Splitting a loop over the kernel threads (COGTENSOR_NUM_THREADS).
#pragma once
#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

#include "cogtensor/isa.h"

namespace cogtensor {

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
  for (size_t c = 1; c < chunks; ++c)
    workers.emplace_back([&f, c, step, n] { f(c, std::min(n, c * step), std::min(n, (c + 1) * step)); });
  f(size_t{0}, size_t{0}, std::min(n, step));
  for (auto& w : workers) w.join();
}

}  // namespace cogtensor
