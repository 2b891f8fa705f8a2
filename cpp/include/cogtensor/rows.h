// A strided batch of fixed-width rows: the one shape every kernel works on.
#pragma once
#include <cstddef>
#include <cstdint>

namespace cogtensor {

// `n` rows of `width` elements; row i starts at data + i * stride (stride in
// elements, 0 broadcasts one row, negative walks backwards). Rows themselves are
// contiguous. A 2048-byte container inside 8192-byte records is
// Rows<uint8_t>{records + 2048 * c, n, 2048, 8192}: no copy.
template <class T>
struct Rows {
  const T* data;
  size_t n;
  size_t width;
  ptrdiff_t stride;
  const T* row(size_t i) const { return data + static_cast<ptrdiff_t>(i) * stride; }
};

using ByteRows = Rows<uint8_t>;
using Int8Rows = Rows<int8_t>;
using FloatRows = Rows<float>;

}  // namespace cogtensor
