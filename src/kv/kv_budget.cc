#include "kv/kv_budget.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace weft {

std::optional<KvPolicy> KvPolicyFromName(std::string_view name) {
  if (name == "h2o") return KvPolicy::kH2o;
  if (name == "window") return KvPolicy::kWindow;
  if (name == "sinks") return KvPolicy::kSinks;
  return std::nullopt;
}

std::string_view KvPolicyName(KvPolicy p) {
  switch (p) {
    case KvPolicy::kH2o: return "h2o";
    case KvPolicy::kWindow: return "window";
    case KvPolicy::kSinks: return "sinks";
  }
  return "?";
}

namespace {
int32_t SinkTokens(const KvBudget& b, int32_t bs) { return (b.sinks + bs - 1) / bs * bs; }
}  // namespace

int32_t H2oMaxStep(const KvBudget& b, int32_t bs) { return b.budget - SinkTokens(b, bs) - 2 * (bs - 1); }

int32_t WindowPolicyMaxStep(const KvBudget& b, int32_t bs) {
  const int32_t sinks = b.policy == KvPolicy::kSinks ? b.sinks : 0;
  return b.budget - (sinks + bs - 1) / bs * bs - bs;
}

int32_t H2oRecentTokens(const KvBudget& b, int32_t bs, int32_t n) { return (b.budget - SinkTokens(b, bs) - n) / 2; }

KvWindow WindowForBudget(const KvBudget& b, int32_t bs, int32_t n) {
  if (!b.enabled() || b.policy == KvPolicy::kH2o) return {};
  const int32_t sinks = b.policy == KvPolicy::kSinks ? b.sinks : 0;
  return KvWindow{sinks, b.budget - (sinks + bs - 1) / bs * bs - bs + 1 - n};
}

Status ValidateKvBudget(const KvBudget& b, int32_t bs, int32_t n, int32_t max_model_len,
                        const std::string& budget_field, const std::string& sinks_field) {
  if (b.budget < 0) {
    return InvalidArgumentError(fmt::format("{} = {} must be >= 0 (0: no budget)", budget_field, b.budget))
        .WithField(budget_field);
  }
  if (b.sinks < 0) return InvalidArgumentError(fmt::format("{} = {} must be >= 0", sinks_field, b.sinks)).WithField(sinks_field);
  if (!b.enabled()) return Status::Ok();
  if (b.policy == KvPolicy::kSinks && b.sinks == 0) {
    return InvalidArgumentError(fmt::format("policy sinks needs {} > 0 (or use policy window)", sinks_field))
        .WithField(sinks_field);
  }
  if (b.policy == KvPolicy::kWindow && b.sinks > 0) {
    return InvalidArgumentError(fmt::format("policy window keeps no sinks: drop {} or use policy sinks", sinks_field))
        .WithField(sinks_field);
  }
  if (b.budget > max_model_len) {
    return InvalidArgumentError(fmt::format("{} = {} is past the context of {} tokens", budget_field, b.budget,
                                            max_model_len))
        .WithField(budget_field);
  }
  const int32_t sink_tokens = SinkTokens(b, bs);
  if (b.policy == KvPolicy::kH2o) {
    const int64_t need = int64_t{sink_tokens} + n + 2 * (bs - 1);
    if (b.budget < need) {
      return InvalidArgumentError(
                 fmt::format("{} = {} is too small for h2o with blocks of {}: the {} sink tokens (whole blocks), "
                             "steps of {} and a recent window of at least a block need {} >= {}",
                             budget_field, b.budget, bs, sink_tokens, n, budget_field, need))
          .WithField(budget_field);
    }
    return Status::Ok();
  }
  if (WindowForBudget(b, bs, n).window < 1) {
    return InvalidArgumentError(fmt::format("{} = {} is too small for policy {} with blocks of {}: it needs {} >= {} "
                                            "(sink blocks, a block and the step's {} tokens)",
                                            budget_field, b.budget, KvPolicyName(b.policy), bs, budget_field,
                                            sink_tokens + bs + n, n))
        .WithField(budget_field);
  }
  return Status::Ok();
}

void ChooseH2oEvictions(const KvBudget& b, int32_t bs, int32_t n, std::span<const float> mass, int32_t cache_len,
                        std::vector<int32_t>& out) {
  out.clear();
  if (!b.enabled() || b.policy != KvPolicy::kH2o || cache_len + n <= b.budget) return;
  const int32_t k = (cache_len + n - b.budget + bs - 1) / bs;
  const int32_t first = (b.sinks + bs - 1) / bs;                                      // after the sink blocks
  const int32_t recent = std::max(0, cache_len - H2oRecentTokens(b, bs, n)) / bs;     // first recent block
  // Candidates [first, recent): full blocks (the last, partial one is recent).
  thread_local std::vector<std::pair<double, int32_t>> scored;
  scored.clear();
  for (int32_t j = first; j < recent; ++j) {
    double s = 0;
    for (int32_t t = j * bs; t < (j + 1) * bs; ++t) s += mass[static_cast<size_t>(t)];
    scored.emplace_back(s, j);
  }
  const auto take = std::min<size_t>(static_cast<size_t>(k), scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<std::ptrdiff_t>(take), scored.end());  // ties: older
  for (size_t i = 0; i < take; ++i) out.push_back(scored[i].second);
  std::sort(out.begin(), out.end());
}

std::string KvBudgetName(const KvBudget& b) {
  if (!b.enabled()) return "dense";
  switch (b.policy) {
    case KvPolicy::kH2o:
      return b.sinks > 0 ? fmt::format("h2o {} (sinks {})", b.budget, b.sinks) : fmt::format("h2o {}", b.budget);
    case KvPolicy::kWindow: return fmt::format("window at {}", b.budget);
    case KvPolicy::kSinks: return fmt::format("sinks {} + window at {}", b.sinks, b.budget);
  }
  return "?";
}

}  // namespace weft
