// What a mixture-of-experts model reports about its experts: how many tokens each expert
// of each layer received (the load balance of a workload) and, with experts on disk
// (model/expert_cache.h), the cache's hits, misses and bytes read. Plain data, except
// ExpertRouting: counters the forward pass adds to, safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace weft {

struct ExpertCacheStats {
  int64_t capacity_bytes = 0;
  int64_t resident_bytes = 0;
  int64_t total_bytes = 0;  // all experts of all layers
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t bytes_read = 0;   // from the file, by misses and prefetches
  int64_t prefetches = 0;   // experts loaded ahead of use (their bytes are in bytes_read)
};

struct MoeStats {
  int64_t n_layer = 0;
  int64_t n_expert = 0;
  int64_t n_expert_used = 0;
  std::vector<int64_t> routed;               // [n_layer * n_expert] tokens, since load
  std::optional<ExpertCacheStats> cache;     // with --expert-cache-mem only
};

// Tokens routed to each (layer, expert) since load. Relaxed atomics: totals, no ordering.
class ExpertRouting {
 public:
  ExpertRouting(int64_t n_layer, int64_t n_expert)
      : n_expert_(n_expert), counts_(static_cast<size_t>(n_layer * n_expert)) {}
  void Add(int64_t layer, int64_t e, int64_t tokens) {
    counts_[static_cast<size_t>(layer * n_expert_ + e)].fetch_add(tokens, std::memory_order_relaxed);
  }
  std::vector<int64_t> Snapshot() const {
    std::vector<int64_t> out(counts_.size());
    for (size_t i = 0; i < out.size(); ++i) out[i] = counts_[i].load(std::memory_order_relaxed);
    return out;
  }

 private:
  int64_t n_expert_;
  std::vector<std::atomic<int64_t>> counts_;
};

}  // namespace weft
