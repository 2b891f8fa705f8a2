// CPU detection and the active kernel table, chosen once at import.
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#include "cogtensor/isa.h"

namespace cogtensor {
namespace {

bool cpu_has(const std::string& isa) {
  if (isa == "scalar") return true;
#if defined(COGTENSOR_X86)
  __builtin_cpu_init();
  if (isa == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
  if (isa == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq") &&
           __builtin_cpu_supports("avx512vnni");
#endif
  return false;
}

KernelTable make_table(const std::string& isa) {
  KernelTable t{};
  if (isa == "scalar") fill_table_scalar(t);
#if defined(COGTENSOR_X86)
  else if (isa == "avx2") fill_table_avx2(t);
  else if (isa == "avx512") fill_table_avx512(t);
#endif
  return t;
}

const char* const kIsas[] = {"avx512", "avx2", "scalar"};  // best first

KernelTable g_tables[3];
std::atomic<const KernelTable*> g_active{nullptr};
std::atomic<size_t> g_threads{0};

size_t default_threads() {
  if (const char* env = std::getenv("COGTENSOR_NUM_THREADS")) {
    char* end = nullptr;
    errno = 0;
    long v = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || v < 1 || errno == ERANGE)
      throw std::invalid_argument(std::string("COGTENSOR_NUM_THREADS must be a positive integer, got '") +
                                  env + "'");
    return static_cast<size_t>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 1;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& x : names) s += (s.empty() ? "" : ", ") + x;
  return s;
}

const KernelTable* initial_table() {
  if (const char* env = std::getenv("COGTENSOR_ISA")) {
    set_isa(env);
  } else {
    set_isa(available_isas().front());
  }
  return g_active.load();
}

}  // namespace

std::vector<std::string> available_isas() {
  std::vector<std::string> out;
  for (const char* isa : kIsas)
    if (cpu_has(isa)) out.push_back(isa);
  return out;
}

void set_isa(const std::string& name) {
  for (size_t i = 0; i < 3; ++i) {
    if (name != kIsas[i]) continue;
    if (!cpu_has(name))
      throw std::invalid_argument("ISA '" + name + "' is not supported by this CPU; available: " +
                                  joined(available_isas()));
    if (!g_tables[i].name) g_tables[i] = make_table(name);
    g_active.store(&g_tables[i]);
    return;
  }
  throw std::invalid_argument("unknown ISA '" + name + "'; expected one of: avx512, avx2, scalar");
}

const KernelTable& active() {
  static const KernelTable* first = initial_table();  // once, thread-safe
  (void)first;
  return *g_active.load();
}

size_t num_threads() {
  size_t n = g_threads.load();
  if (n == 0) {
    n = default_threads();
    g_threads.store(n);
  }
  return n;
}

void set_num_threads(size_t n) { g_threads.store(n == 0 ? default_threads() : n); }

}  // namespace cogtensor
