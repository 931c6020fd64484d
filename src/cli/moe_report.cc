#include "cli/moe_report.h"

#include <fmt/format.h>

#include <algorithm>

namespace weft::cli {

MoeStats MoeDelta(const MoeStats& before, const MoeStats& after) {
  MoeStats d = after;
  for (size_t i = 0; i < d.routed.size() && i < before.routed.size(); ++i) d.routed[i] -= before.routed[i];
  if (d.cache && before.cache) {
    d.cache->hits -= before.cache->hits;
    d.cache->misses -= before.cache->misses;
    d.cache->prefetches -= before.cache->prefetches;
    d.cache->bytes_read -= before.cache->bytes_read;
  }
  return d;
}

std::vector<double> LoadImbalance(const MoeStats& m) {
  std::vector<double> out;
  for (int64_t l = 0; l < m.n_layer; ++l) {
    int64_t sum = 0, most = 0;
    for (int64_t e = 0; e < m.n_expert; ++e) {
      const int64_t n = m.routed[static_cast<size_t>(l * m.n_expert + e)];
      sum += n;
      most = std::max(most, n);
    }
    out.push_back(sum > 0 ? static_cast<double>(most) * static_cast<double>(m.n_expert) / static_cast<double>(sum)
                          : 0.0);
  }
  return out;
}

std::string MoeSummary(const MoeStats& d, int64_t tokens) {
  const std::vector<double> imb = LoadImbalance(d);
  std::string s = fmt::format("experts: {}, top {}", d.n_expert, d.n_expert_used);
  if (!imb.empty()) {
    const auto [lo, hi] = std::minmax_element(imb.begin(), imb.end());
    s += fmt::format(" | load imbalance (busiest / mean) {:.2f} .. {:.2f} over {} layers", *lo, *hi, imb.size());
  }
  if (d.cache) {
    const ExpertCacheStats& c = *d.cache;
    const int64_t uses = c.hits + c.misses;
    s += fmt::format(" | cache {:.1f} MiB of {:.1f} MiB: {:.1f}% hits ({} prefetched), {:.2f} MB read per token",
                     static_cast<double>(c.capacity_bytes) / (1 << 20), static_cast<double>(c.total_bytes) / (1 << 20),
                     uses > 0 ? 100.0 * static_cast<double>(c.hits) / static_cast<double>(uses) : 0.0, c.prefetches,
                     tokens > 0 ? static_cast<double>(c.bytes_read) / 1e6 / static_cast<double>(tokens) : 0.0);
  }
  return s;
}

void AddMoeJson(const MoeStats& d, int64_t tokens, nlohmann::ordered_json* j) {
  (*j)["expert_load_imbalance"] = LoadImbalance(d);
  nlohmann::ordered_json per_layer = nlohmann::ordered_json::array();
  for (int64_t l = 0; l < d.n_layer; ++l) {
    per_layer.push_back(std::vector<int64_t>(d.routed.begin() + l * d.n_expert, d.routed.begin() + (l + 1) * d.n_expert));
  }
  (*j)["expert_tokens"] = per_layer;
  if (!d.cache) return;
  (*j)["expert_cache_capacity_bytes"] = d.cache->capacity_bytes;
  (*j)["expert_cache_hits"] = d.cache->hits;
  (*j)["expert_cache_misses"] = d.cache->misses;
  (*j)["expert_cache_prefetches"] = d.cache->prefetches;
  (*j)["expert_bytes_read"] = d.cache->bytes_read;
  (*j)["expert_bytes_read_per_token"] =
      tokens > 0 ? static_cast<double>(d.cache->bytes_read) / static_cast<double>(tokens) : 0.0;
}

}  // namespace weft::cli
