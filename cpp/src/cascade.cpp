// Cascade search: score rows on a prefix of the bytes, keep the promising ones,
// extend their distances to a longer prefix, then to the full width.
//
// A prefix distance never exceeds the full distance, so dropping rows whose
// prefix distance already exceeds a range threshold is exact. For top-k the
// thresholds are statistical: a row whose full distance is D differs from the
// query in D of the N bits; a b-bit prefix then sees a hypergeometric count with
// mean b*D/N and variance b*p*(1-p)*(N-b)/(N-1), p = D/N. With D_hat an upper
// bound on the k-th nearest distance (the k-th smallest full distance computed so
// far), rows are kept while prefix <= b*D_hat/N + sigmas * sd(D_hat).
#include <algorithm>
#include <cmath>

#include "cogtensor/hdc.h"
#include "cogtensor/isa.h"
#include "parallel.h"

namespace cogtensor {
namespace {

struct Prefixes {
  size_t b1, b2, w;  // stage byte counts: b1 <= b2 <= w
};

Prefixes stage_bytes(size_t width, CascadeStages s) {
  const size_t b1 = std::clamp<size_t>(width / std::max<size_t>(s.stage1_div, 1), 1, width);
  const size_t b2 = std::clamp<size_t>(width / std::max<size_t>(s.stage2_div, 1), b1, width);
  return {b1, b2, width};
}

// Extends hits[i].dist (a distance over bytes [0, from)) to bytes [0, to), in parallel.
void extend(std::vector<Hit>& hits, const uint8_t* query, const ByteRows& base, size_t from, size_t to) {
  if (from == to) return;
  const auto& t = active();
  const size_t grain = grain_rows(to - from);
  // Rows are short spans far apart, which the hardware prefetcher does not
  // foresee: fetch the spans `ahead` rows in advance to keep misses overlapping.
  const size_t span = to - from, ahead = std::clamp<size_t>(16384 / span, 2, 64);
  parallel_for(hits.size(), chunk_count(hits.size(), grain), [&](size_t, size_t lo, size_t hi) {
    for (size_t i = lo; i < hi; ++i) {
      if (i + ahead < hi) prefetch_span(base.row(hits[i + ahead].idx) + from, span);
      hits[i].dist += static_cast<uint32_t>(t.hamming(query + from, base.row(hits[i].idx) + from, span));
    }
  });
}

// Keeps the hits for which keep(hit) is true, preserving order.
template <class Keep>
void filter(std::vector<Hit>& hits, Keep keep) {
  hits.erase(std::remove_if(hits.begin(), hits.end(), [&](const Hit& h) { return !keep(h); }), hits.end());
}

// Stage-1 distances of every base row.
std::vector<Hit> first_stage(const uint8_t* query, const ByteRows& base, size_t b1) {
  std::vector<Hit> hits(base.n);
  for (size_t i = 0; i < base.n; ++i) hits[i] = {0, int64_t(i)};
  extend(hits, query, base, 0, b1);
  return hits;
}

// Statistical stage threshold on a prefix of `bytes` for an upper bound d_hat.
double stage_threshold(uint64_t d_hat, size_t bytes, size_t width, double sigmas) {
  const double n = 8.0 * width, b = 8.0 * bytes, p = d_hat / n;
  const double var = n > 1 ? b * p * (1 - p) * (n - b) / (n - 1) : 0.0;
  return b * p + sigmas * std::sqrt(std::max(var, 0.0));
}

// Full distances of the k best hits by their current (prefix) distance, merged
// into `known` (the k best full distances seen so far). Reorders hits.
void refine_known(std::vector<Hit>& hits, size_t k, const uint8_t* query, const ByteRows& base,
                  size_t from, std::vector<Hit>& known) {
  const size_t kk = std::min(k, hits.size());
  std::nth_element(hits.begin(), hits.begin() + kk, hits.end());
  std::vector<Hit> candidates(hits.begin(), hits.begin() + kk);
  extend(candidates, query, base, from, base.width);
  known.insert(known.end(), candidates.begin(), candidates.end());
  std::sort(known.begin(), known.end());
  known.erase(std::unique(known.begin(), known.end()), known.end());
  if (known.size() > k) known.resize(k);
}

std::vector<Hit> cascade_one(const uint8_t* query, const ByteRows& base, size_t k, Prefixes p, double sigmas) {
  std::vector<Hit> hits = first_stage(query, base, p.b1), known;
  size_t done = p.b1;
  for (size_t next : {p.b2, p.w}) {
    refine_known(hits, k, query, base, done, known);
    const double limit = stage_threshold(known.back().dist, done, p.w, sigmas);
    filter(hits, [&](const Hit& h) { return h.dist <= limit; });
    extend(hits, query, base, done, next);
    done = next;
  }
  hits.insert(hits.end(), known.begin(), known.end());
  std::sort(hits.begin(), hits.end());
  hits.erase(std::unique(hits.begin(), hits.end()), hits.end());
  hits.resize(k);
  return hits;
}

}  // namespace

void cascade_topk(ByteRows queries, ByteRows base, size_t k, CascadeStages stages, double sigmas,
                  uint32_t* dist, int64_t* idx) {
  if (k == 0) return;
  const Prefixes p = stage_bytes(base.width, stages);
  for (size_t q = 0; q < queries.n; ++q) {
    const std::vector<Hit> hits = cascade_one(queries.row(q), base, k, p, sigmas);
    for (size_t i = 0; i < k; ++i) {
      dist[q * k + i] = hits[i].dist;
      idx[q * k + i] = hits[i].idx;
    }
  }
}

std::vector<Hit> cascade_range(const uint8_t* query, ByteRows base, uint64_t threshold, CascadeStages stages) {
  const Prefixes p = stage_bytes(base.width, stages);
  std::vector<Hit> hits = first_stage(query, base, p.b1);
  size_t done = p.b1;
  for (size_t next : {p.b2, p.w}) {
    filter(hits, [&](const Hit& h) { return h.dist <= threshold; });
    extend(hits, query, base, done, next);
    done = next;
  }
  filter(hits, [&](const Hit& h) { return h.dist <= threshold; });
  std::sort(hits.begin(), hits.end());
  return hits;
}

}  // namespace cogtensor
