// The only pybind11 file: turns numpy arrays into Rows views, checks them, and
// calls the kernels with the GIL released. Friendly argument handling lives in
// python/cogtensor; the checks here keep any caller from reaching bad memory.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cogtensor/gemm.h"
#include "cogtensor/hdc.h"
#include "cogtensor/int8.h"
#include "cogtensor/isa.h"

namespace py = pybind11;
using namespace cogtensor;

namespace {

template <class T>
const char* dtype_name();
template <> const char* dtype_name<uint8_t>() { return "uint8"; }
template <> const char* dtype_name<int8_t>() { return "int8"; }
template <> const char* dtype_name<float>() { return "float32"; }

template <class T>
void check_dtype(const py::array& arr, const char* what) {
  if (!arr.dtype().equal(py::dtype::of<T>()))  // equal, not is: unpickled arrays carry their own dtype object
    throw py::type_error(std::string(what) + ": expected dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(arr.dtype())));
}

// A 2-d array with contiguous rows as a Rows view (no copy).
template <class T>
Rows<T> rows_of(const py::array& arr, const char* what) {
  check_dtype<T>(arr, what);
  if (arr.ndim() != 2)
    throw py::value_error(std::string(what) + ": expected a 2-d array, got " + std::to_string(arr.ndim()) + "-d");
  const ptrdiff_t item = sizeof(T);
  if (arr.shape(1) < 1) throw py::value_error(std::string(what) + ": rows must be at least 1 element wide");
  const size_t n = size_t(arr.shape(0));
  if (n == 0) return {static_cast<const T*>(arr.data()), 0, size_t(arr.shape(1)), 0};
  if (arr.shape(1) > 1 && arr.strides(1) != item)
    throw py::value_error(std::string(what) + ": each row must be contiguous");
  if (arr.strides(0) % item != 0) throw py::value_error(std::string(what) + ": misaligned row stride");
  return {static_cast<const T*>(arr.data()), n, size_t(arr.shape(1)), arr.strides(0) / item};
}

// Checks equal widths and equal row counts, broadcasting a single row (stride 0).
template <class T>
void pair_up(Rows<T>& a, Rows<T>& b, const char* op) {
  if (a.width != b.width)
    throw py::value_error(std::string(op) + ": widths differ: " + std::to_string(a.width) + " vs " +
                          std::to_string(b.width));
  if (a.n == b.n) return;
  if (a.n == 1) a = {a.data, b.n, a.width, 0};
  else if (b.n == 1) b = {b.data, a.n, b.width, 0};
  else
    throw py::value_error(std::string(op) + ": row counts " + std::to_string(a.n) + " and " + std::to_string(b.n) +
                          " do not broadcast");
}

template <class T>
py::array_t<T> empty(std::initializer_list<py::ssize_t> shape) {
  return py::array_t<T>(std::vector<py::ssize_t>(shape));
}

void check_k(size_t k, size_t n, const char* op) {
  if (k > n)
    throw py::value_error(std::string(op) + ": k=" + std::to_string(k) + " is larger than the " + std::to_string(n) +
                          " base rows");
}

CascadeStages stages_of(size_t s1, size_t s2) {
  if (s1 < 1 || s2 < 1 || s2 > s1)
    throw py::value_error("cascade stages must satisfy stage1_div >= stage2_div >= 1");
  return {s1, s2};
}


// The same rows with stride == width: the view itself, or a copy kept in `buf`.
template <class T>
Rows<T> packed_rows(Rows<T> r, std::vector<T>& buf) {
  if (r.n <= 1 || r.stride == ptrdiff_t(r.width)) return {r.data, r.n, r.width, ptrdiff_t(r.width)};
  buf.resize(r.n * r.width);
  for (size_t i = 0; i < r.n; ++i) std::copy(r.row(i), r.row(i) + r.width, buf.data() + i * r.width);
  return {buf.data(), r.n, r.width, ptrdiff_t(r.width)};
}

std::string dims(size_t a, size_t b) { return "(" + std::to_string(a) + ", " + std::to_string(b) + ")"; }

}  // namespace

PYBIND11_MODULE(_kernels, m) {
  m.doc() = "cogtensor C++ kernels (private; use cogtensor.hdc / cogtensor.quant)";
  active();  // choose the ISA now, so a bad COGTENSOR_ISA fails at import

  m.def("isa", [] { return std::string(active().name); });
  m.def("available_isas", &available_isas);
  m.def("set_isa", &set_isa, py::arg("name"));
  m.def("num_threads", &num_threads);
  m.def("set_num_threads", &set_num_threads, py::arg("n"));

  m.def("popcount", [](const py::array& a) {
    auto ra = rows_of<uint8_t>(a, "popcount");
    auto out = empty<uint32_t>({py::ssize_t(ra.n)});
    uint32_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    popcount(ra, o);
    return out;
  });
  m.def("hamming", [](const py::array& a, const py::array& b) {
    auto ra = rows_of<uint8_t>(a, "hamming"), rb = rows_of<uint8_t>(b, "hamming");
    pair_up(ra, rb, "hamming");
    auto out = empty<uint32_t>({py::ssize_t(ra.n)});
    uint32_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    hamming(ra, rb, o);
    return out;
  });
  m.def("hamming_matrix", [](const py::array& a, const py::array& b) {
    auto ra = rows_of<uint8_t>(a, "hamming_matrix"), rb = rows_of<uint8_t>(b, "hamming_matrix");
    if (ra.width != rb.width) throw py::value_error("hamming_matrix: widths differ");
    auto out = empty<uint32_t>({py::ssize_t(ra.n), py::ssize_t(rb.n)});
    uint32_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    hamming_matrix(ra, rb, o);
    return out;
  });
  m.def("bind", [](const py::array& a, const py::array& b) {
    auto ra = rows_of<uint8_t>(a, "bind"), rb = rows_of<uint8_t>(b, "bind");
    pair_up(ra, rb, "bind");
    auto out = empty<uint8_t>({py::ssize_t(ra.n), py::ssize_t(ra.width)});
    uint8_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    bind(ra, rb, o);
    return out;
  });
  m.def("permute", [](const py::array& a, const py::array_t<int64_t, py::array::c_style>& shifts) {
    auto ra = rows_of<uint8_t>(a, "permute");
    if (shifts.ndim() != 1 || (shifts.size() != 1 && size_t(shifts.size()) != ra.n))
      throw py::value_error("permute: shifts must hold 1 or one per row");
    const size_t step = shifts.size() == 1 ? 0 : 1;
    auto out = empty<uint8_t>({py::ssize_t(ra.n), py::ssize_t(ra.width)});
    uint8_t* o = out.mutable_data();
    const int64_t* s = shifts.data();
    py::gil_scoped_release nogil;
    permute(ra, s, step, o);
    return out;
  });
  m.def("bundle", [](const py::array& a) {
    auto ra = rows_of<uint8_t>(a, "bundle");
    if (ra.n == 0) throw py::value_error("bundle: needs at least one row");
    auto out = empty<uint8_t>({py::ssize_t(ra.width)});
    uint8_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    bundle(ra, o);
    return out;
  });
  m.def("bit_counts", [](const py::array& a, std::optional<py::array_t<int32_t, py::array::c_style>> weights) {
    auto ra = rows_of<uint8_t>(a, "bit_counts");
    const int32_t* w = nullptr;
    if (weights) {
      if (weights->ndim() != 1 || size_t(weights->size()) != ra.n)
        throw py::value_error("bit_counts: weights must hold one int32 per row");
      w = weights->data();
    }
    py::array_t<int64_t> out(py::ssize_t(ra.width * 8));
    int64_t* o = out.mutable_data();
    std::fill(o, o + ra.width * 8, 0);
    py::gil_scoped_release nogil;
    bit_counts(ra, w, o);
    return out;
  }, py::arg("a"), py::arg("weights") = py::none());
  m.def("majority_from_counts", [](const py::array_t<int64_t, py::array::c_style>& counts, int64_t total) {
    if (counts.ndim() != 1 || counts.size() == 0 || counts.size() % 8 != 0)
      throw py::value_error("majority_from_counts: counts must be 1-d with a positive multiple of 8 entries");
    auto out = empty<uint8_t>({py::ssize_t(counts.size() / 8)});
    majority_from_counts(counts.data(), size_t(counts.size()), total, out.mutable_data());
    return out;
  });
  m.def("topk", [](const py::array& q, const py::array& base, size_t k) {
    auto rq = rows_of<uint8_t>(q, "topk"), rb = rows_of<uint8_t>(base, "topk");
    if (rq.width != rb.width) throw py::value_error("topk: query and base widths differ");
    check_k(k, rb.n, "topk");
    auto dist = empty<uint32_t>({py::ssize_t(rq.n), py::ssize_t(k)});
    auto idx = empty<int64_t>({py::ssize_t(rq.n), py::ssize_t(k)});
    uint32_t* d = dist.mutable_data();
    int64_t* i = idx.mutable_data();
    {
      py::gil_scoped_release nogil;
      topk(rq, rb, k, d, i);
    }
    return py::make_tuple(dist, idx);
  });
  m.def("cascade_topk", [](const py::array& q, const py::array& base, size_t k, size_t s1, size_t s2, double sigmas) {
    auto rq = rows_of<uint8_t>(q, "cascade_search"), rb = rows_of<uint8_t>(base, "cascade_search");
    if (rq.width != rb.width) throw py::value_error("cascade_search: query and base widths differ");
    check_k(k, rb.n, "cascade_search");
    const CascadeStages st = stages_of(s1, s2);
    if (!(sigmas >= 0)) throw py::value_error("cascade_search: sigmas must be >= 0");
    auto dist = empty<uint32_t>({py::ssize_t(rq.n), py::ssize_t(k)});
    auto idx = empty<int64_t>({py::ssize_t(rq.n), py::ssize_t(k)});
    uint32_t* d = dist.mutable_data();
    int64_t* i = idx.mutable_data();
    {
      py::gil_scoped_release nogil;
      cascade_topk(rq, rb, k, st, sigmas, d, i);
    }
    return py::make_tuple(dist, idx);
  });
  m.def("cascade_range", [](const py::array& q, const py::array& base, uint64_t threshold, size_t s1, size_t s2) {
    auto rq = rows_of<uint8_t>(q, "cascade_search"), rb = rows_of<uint8_t>(base, "cascade_search");
    if (rq.width != rb.width || rq.n != 1)
      throw py::value_error("cascade_search: range mode takes one query row of the base's width");
    const CascadeStages st = stages_of(s1, s2);
    std::vector<Hit> hits;
    {
      py::gil_scoped_release nogil;
      hits = cascade_range(rq.data, rb, threshold, st);
    }
    auto dist = empty<uint32_t>({py::ssize_t(hits.size())});
    auto idx = empty<int64_t>({py::ssize_t(hits.size())});
    for (size_t j = 0; j < hits.size(); ++j) {
      dist.mutable_at(j) = hits[j].dist;
      idx.mutable_at(j) = hits[j].idx;
    }
    return py::make_tuple(dist, idx);
  });
  m.def("row_seeds", [](uint64_t seed, size_t n) {
    py::array_t<uint64_t> out(static_cast<py::ssize_t>(n));
    for (size_t r = 0; r < n; ++r) out.mutable_at(r) = row_seed(seed, r);
    return out;
  });
  m.def("random_records", [](const py::array_t<uint64_t, py::array::c_style>& seeds, size_t width) {
    if (seeds.ndim() != 1) throw py::value_error("random_records: seeds must be 1-d");
    if (width < 1) throw py::value_error("random_records: width must be >= 1");
    auto out = empty<uint8_t>({py::ssize_t(seeds.size()), py::ssize_t(width)});
    uint8_t* o = out.mutable_data();
    const uint64_t* s = seeds.data();
    const size_t n = size_t(seeds.size());
    py::gil_scoped_release nogil;
    random_records(s, n, width, o);
    return out;
  });

  m.def("int8_dot", [](const py::array& a, const py::array& b) {
    auto ra = rows_of<int8_t>(a, "int8_dot"), rb = rows_of<int8_t>(b, "int8_dot");
    pair_up(ra, rb, "int8_dot");
    if (ra.width > kMaxInt8Dim) throw py::value_error("int8_dot: dimension above 65536 could overflow int32");
    auto out = empty<int32_t>({py::ssize_t(ra.n)});
    int32_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    int8_dot(ra, rb, o);
    return out;
  });
  m.def("int8_dot_matrix", [](const py::array& a, const py::array& b) {
    auto ra = rows_of<int8_t>(a, "int8_dot_matrix"), rb = rows_of<int8_t>(b, "int8_dot_matrix");
    if (ra.width != rb.width) throw py::value_error("int8_dot_matrix: widths differ");
    if (ra.width > kMaxInt8Dim) throw py::value_error("int8_dot_matrix: dimension above 65536 could overflow int32");
    auto out = empty<int32_t>({py::ssize_t(ra.n), py::ssize_t(rb.n)});
    int32_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    int8_dot_matrix(ra, rb, o);
    return out;
  });
  m.def("int8_cosine", [](const py::array& a, const py::array& b) {
    auto ra = rows_of<int8_t>(a, "int8_cosine"), rb = rows_of<int8_t>(b, "int8_cosine");
    pair_up(ra, rb, "int8_cosine");
    if (ra.width > kMaxInt8Dim) throw py::value_error("int8_cosine: dimension above 65536 could overflow int32");
    auto out = empty<double>({py::ssize_t(ra.n)});
    double* o = out.mutable_data();
    py::gil_scoped_release nogil;
    int8_cosine(ra, rb, o);
    return out;
  });
  m.def("quantize", [](const py::array& x, bool per_column) {
    auto rx = rows_of<float>(x, "quantize");
    auto q = empty<int8_t>({py::ssize_t(rx.n), py::ssize_t(rx.width)});
    auto scales = empty<float>({py::ssize_t(per_column ? rx.width : rx.n)});
    int8_t* qp = q.mutable_data();
    float* sp = scales.mutable_data();
    bool finite;
    {
      py::gil_scoped_release nogil;
      finite = per_column ? quantize_columns(rx, qp, sp) : quantize_rows(rx, qp, sp);
    }
    if (!finite) throw py::value_error("quantize: input holds NaN or infinity");
    return py::make_tuple(q, scales);
  }, py::arg("x"), py::arg("per_column") = false);
  m.def("dequantize", [](const py::array& q, const py::array_t<float, py::array::c_style>& scales, bool per_column) {
    auto rq = rows_of<int8_t>(q, "dequantize");
    const size_t want = per_column ? rq.width : rq.n;
    if (scales.ndim() != 1 || size_t(scales.size()) != want)
      throw py::value_error("dequantize: expected " + std::to_string(want) + " scales, got " +
                            std::to_string(scales.size()));
    auto out = empty<float>({py::ssize_t(rq.n), py::ssize_t(rq.width)});
    float* o = out.mutable_data();
    const float* s = scales.data();
    py::gil_scoped_release nogil;
    dequantize(rq, s, per_column, o);
    return out;
  }, py::arg("q"), py::arg("scales"), py::arg("per_column") = false);
  // a (m, k) @ b: b is (k, n) when b_is_kn, else given transposed as (n, k) (the fast layout).
  m.def("int8_matmul", [](const py::array& a, const py::array& b, bool b_is_kn) {
    auto ra = rows_of<int8_t>(a, "int8_matmul"), rb = rows_of<int8_t>(b, "int8_matmul");
    const size_t k = ra.width, bk = b_is_kn ? rb.n : rb.width, n = b_is_kn ? rb.width : rb.n;
    if (bk != k)
      throw py::value_error("int8_matmul: a is " + dims(ra.n, k) + " but b " + (b_is_kn ? "(k, n)" : "(n, k)") +
                            " has k=" + std::to_string(bk));
    if (k > kMaxInt8MatmulDepth)
      throw py::value_error("int8_matmul: k=" + std::to_string(k) + " could overflow int32 (at most " +
                            std::to_string(kMaxInt8MatmulDepth) + ")");
    auto out = empty<int32_t>({py::ssize_t(ra.n), py::ssize_t(n)});
    int32_t* o = out.mutable_data();
    py::gil_scoped_release nogil;
    std::vector<int8_t> buf;
    std::unique_ptr<int8_t[]> transposed;  // uninitialised: transpose_i8 writes every byte
    Int8Rows bt = rb;
    if (b_is_kn) {
      transposed.reset(new int8_t[n * k]);
      transpose_i8(rb, transposed.get());
      bt = {transposed.get(), n, k, ptrdiff_t(k)};
    } else {
      bt = packed_rows(rb, buf);
    }
    int8_matmul(ra, bt, o);
    return out;
  }, py::arg("a"), py::arg("b"), py::arg("b_is_kn"));
  m.def("ternary_matmul", [](const py::array& x, const py::array& w) {
    auto rx = rows_of<int8_t>(x, "ternary_matmul");
    auto rw = rows_of<uint8_t>(w, "ternary_matmul");
    const size_t k = rx.width;
    if (rw.width != (k + kTernaryPerByte - 1) / kTernaryPerByte)
      throw py::value_error("ternary_matmul: k=" + std::to_string(k) + " weights need " +
                            std::to_string((k + 3) / 4) + " bytes per packed row, got " + std::to_string(rw.width));
    if (k > kMaxTernaryDepth)
      throw py::value_error("ternary_matmul: k=" + std::to_string(k) + " could overflow int32 (at most " +
                            std::to_string(kMaxTernaryDepth) + ")");
    auto out = empty<int32_t>({py::ssize_t(rx.n), py::ssize_t(rw.n)});
    int32_t* o = out.mutable_data();
    bool valid;
    {
      py::gil_scoped_release nogil;
      std::vector<uint8_t> buf;
      valid = ternary_matmul(rx, packed_rows(rw, buf), o);
    }
    if (!valid) throw py::value_error("ternary_matmul: packed weights hold the invalid 2-bit code 0b11");
    return out;
  }, py::arg("x"), py::arg("w"));
}
