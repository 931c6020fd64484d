#include "model/moe_block.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "base/check.h"
#include "model/expert_cache.h"
#include "model/moe_stats.h"

namespace weft {

RoutingRule RoutingRuleFor(const ModelConfig& c, const LlamaLayerWeights& L) {
  RoutingRule r;
  r.n_expert = c.n_expert;
  r.k = c.n_expert_used;
  r.renormalize = c.expert_weights_norm;
  r.scale = c.expert_weights_scale;
  r.selection_bias = L.expert_selection_bias;
  r.n_group = c.expert_group_count > 1 ? c.expert_group_count : 0;
  r.group_used = c.expert_group_used;
  r.top2_group_score = c.expert_gating == ExpertGating::kSigmoid;
  return r;
}

void RouteTokens(const float* scores, int64_t n_tokens, const RoutingRule& rule, int32_t* chosen, float* weights) {
  const int64_t E = rule.n_expert, K = rule.k;
  const int64_t G = rule.n_group > 1 ? rule.n_group : 1, per_group = E / G;
  // Per-thread scratch: this runs in every MoE layer of every step, so it allocates only
  // when a larger group count first appears.
  thread_local std::vector<float> group_score;
  thread_local std::vector<uint8_t> group_on;
  group_score.resize(static_cast<size_t>(G));
  group_on.resize(static_cast<size_t>(G));
  for (int64_t t = 0; t < n_tokens; ++t) {
    const float* p = scores + t * E;
    int32_t* ids = chosen + t * K;
    float* w = weights + t * K;
    // The score that chooses: biased by DeepSeek-V3's selection bias, else the router's.
    auto s = [&](int64_t e) { return p[e] + (rule.selection_bias != nullptr ? rule.selection_bias[e] : 0.0f); };
    // Group-limited routing: the group_used best groups (ties: lower index) stay eligible.
    std::fill(group_on.begin(), group_on.end(), G > 1 ? 0 : 1);
    if (G > 1) {
      for (int64_t g = 0; g < G; ++g) {
        float best = -INFINITY, second = -INFINITY;
        for (int64_t e = g * per_group; e < (g + 1) * per_group; ++e) {
          const float v = s(e);
          if (v > best) {
            second = best;
            best = v;
          } else if (v > second) {
            second = v;
          }
        }
        group_score[g] = rule.top2_group_score && per_group > 1 ? best + second : best;
      }
      for (int64_t r = 0; r < rule.group_used; ++r) {
        int64_t pick = -1;
        for (int64_t g = 0; g < G; ++g) {
          if (group_on[g] == 0 && (pick < 0 || group_score[g] > group_score[pick])) pick = g;
        }
        group_on[pick] = 1;
      }
    }
    // Selection of the k largest eligible, best first; equal scores keep the lower index.
    for (int64_t r = 0; r < K; ++r) {
      int32_t best = -1;
      for (int64_t e = 0; e < E; ++e) {
        if (group_on[e / per_group] == 0) continue;
        if (std::find(ids, ids + r, static_cast<int32_t>(e)) != ids + r) continue;
        if (best < 0 || s(e) > s(best)) best = static_cast<int32_t>(e);
      }
      ids[r] = best;
      w[r] = p[best];
    }
    if (rule.renormalize) {
      float sum = 0;
      for (int64_t r = 0; r < K; ++r) sum += w[r];
      for (int64_t r = 0; r < K; ++r) w[r] /= sum;
    }
    if (rule.scale != 1.0f) {
      for (int64_t r = 0; r < K; ++r) w[r] *= rule.scale;
    }
  }
}

void MixtureOfExpertsMlp(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c,
                         int64_t layer, int64_t n_tokens, DecoderActivations& a) {
  const int64_t T = n_tokens, E = c.n_expert, K = c.n_expert_used, d = c.n_embd, ff = c.ExpertFf();
  WEFT_CHECK(static_cast<int64_t>(L.experts.size()) == E && L.router != nullptr, "layer has no experts bound");
  kernels::MatMul(ctx, a.xn.data(), T, *L.router, a.router.data());
  if (c.expert_gating == ExpertGating::kSigmoid) {
    for (int64_t i = 0; i < T * E; ++i) a.router[static_cast<size_t>(i)] = 1.0f / (1.0f + std::exp(-a.router[static_cast<size_t>(i)]));
  } else {
    kernels::Softmax(ctx, a.router.data(), T, E);
  }
  RouteTokens(a.router.data(), T, RoutingRuleFor(c, L), a.chosen.data(), a.chosen_w.data());

  // Group the (token, rank) slots by expert: a counting sort, slots in token order within
  // an expert.
  std::vector<int64_t>& start = a.expert_start;
  std::vector<int64_t>& fill = a.expert_fill;
  std::fill(start.begin(), start.end(), 0);
  for (int64_t s = 0; s < T * K; ++s) ++start[static_cast<size_t>(a.chosen[static_cast<size_t>(s)]) + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::copy(start.begin(), start.end() - 1, fill.begin());
  for (int64_t s = 0; s < T * K; ++s) {
    a.routed[static_cast<size_t>(fill[static_cast<size_t>(a.chosen[static_cast<size_t>(s)])]++)] =
        static_cast<int32_t>(s);
  }

  uint8_t* used = a.expert_used.data() + layer * E;
  if (a.expert_cache != nullptr && layer + 1 < c.n_layer) {
    // The next layer's experts of the previous step are the best guess of its next ones.
    const uint8_t* next = used + E;
    for (int64_t e = 0; e < E; ++e) {
      if (next[e] != 0) a.expert_cache->Prefetch(layer + 1, e);
    }
  }
  for (int64_t e = 0; e < E; ++e) {
    const int64_t lo = start[static_cast<size_t>(e)], n = start[static_cast<size_t>(e) + 1] - lo;
    used[e] = n > 0 ? 1 : 0;
    if (n == 0) continue;
    if (a.expert_routing != nullptr) a.expert_routing->Add(layer, e, n, L.experts[static_cast<size_t>(e)].Bytes());
    std::shared_ptr<const ResidentExpert> resident;
    if (a.expert_cache != nullptr) resident = a.expert_cache->Get(layer, e);
    const ExpertWeights& weights = resident ? resident->w : L.experts[static_cast<size_t>(e)];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t t = a.routed[static_cast<size_t>(lo + i)] / K;
      std::copy_n(a.xn.data() + t * d, d, a.expert_in.data() + i * d);
    }
    // expert_in's rows are read before MatMul writes its output: the down projection
    // lands in proj (free until the sum below) and is scattered to the slots' rows.
    RunGatedMlp(ctx, weights, ff, a.expert_in.data(), n, GateActivation::kSilu,
                a.gate.data(), a.up.data(), a.proj.data());
    for (int64_t i = 0; i < n; ++i) {
      const int64_t slot = a.routed[static_cast<size_t>(lo + i)];
      std::copy_n(a.proj.data() + i * d, d, a.expert_out.data() + slot * d);
    }
  }

  for (int64_t t = 0; t < T; ++t) {
    float* out = a.proj.data() + t * d;
    std::fill_n(out, d, 0.0f);
    for (int64_t r = 0; r < K; ++r) {
      const float w = a.chosen_w[static_cast<size_t>(t * K + r)];
      const float* y = a.expert_out.data() + (t * K + r) * d;
      for (int64_t j = 0; j < d; ++j) out[j] += w * y[j];
    }
  }

  if (L.shared_expert.w_down != nullptr) {
    float* shared = a.expert_in.data();  // [T, d]
    RunGatedMlp(ctx, L.shared_expert, c.n_ff_shared_expert, a.xn.data(), T, GateActivation::kSilu, a.gate.data(),
                a.up.data(), shared);
    for (int64_t t = 0; t < T; ++t) {
      const float* x = a.xn.data() + t * d;
      double dot = 0;
      if (L.shared_expert_gate != nullptr) {
        for (int64_t j = 0; j < d; ++j) dot += static_cast<double>(x[j]) * L.shared_expert_gate[j];
      }
      // Ungated (DeepSeek): added as is.
      const auto g = L.shared_expert_gate != nullptr ? static_cast<float>(1.0 / (1.0 + std::exp(-dot))) : 1.0f;
      float* out = a.proj.data() + t * d;
      const float* y = shared + t * d;
      for (int64_t j = 0; j < d; ++j) out[j] += g * y[j];
    }
  }
}

void FeedForward(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c, int64_t layer,
                 int64_t n_tokens, DecoderActivations& a) {
  if (!L.experts.empty()) {
    MixtureOfExpertsMlp(ctx, L, c, layer, n_tokens, a);
  } else {
    GatedMlp(ctx, L, c, n_tokens, GateActivation::kSilu, a);
  }
}

}  // namespace weft
