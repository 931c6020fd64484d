// The mixture-of-experts FFN sub-layer (Mixtral, Qwen2-MoE, Qwen3-MoE, OLMoE, DeepSeek),
// after its input norm, over a flat batch of T tokens:
//   p = softmax(xn Wrouter), or sigmoid(xn Wrouter) elementwise (DeepSeek-V3)   [T, E]
//   per token t: its K = n_expert_used experts of largest p + bias (ties: lower index
//                first; bias: DeepSeek-V3's selection bias, else 0), among the experts of
//                its best groups only when routing is group-limited (RoutingRule),
//                weights w = p of those (divided by their sum when expert_weights_norm),
//                times expert_weights_scale
//   proj[t] = sum over ranks k of w[t,k] * Expert_{e(t,k)}(xn[t])     (in rank order)
//           + sigmoid(xn[t] . g) * Shared(xn[t])                      (Qwen2-MoE)
//           or + Shared(xn[t])                                        (DeepSeek)
// Expert(x) = (silu(x Wgate) * x Wup) Wdown. Tokens are grouped by expert so that each
// expert's matrices are read once per step for all the tokens routed to it (a gather, one
// matmul per expert, a scatter into per-(token, rank) rows); the rank-ordered sum makes a
// token's result independent of which other tokens share its experts (batch invariance,
// given the matmul kernels' own).
// Stateless; thread-safe as the kernels (one DecoderActivations per calling thread).
#pragma once

#include <cstdint>

#include "kernels/ops.h"
#include "loader/model_config.h"
#include "model/layer_blocks.h"
#include "model/llama_weights.h"

namespace weft {

// Reads a.xn [T, n_embd]; writes a.proj [T, n_embd] (and the MoE scratch of `a`). L must
// have experts (LlamaLayerWeights::experts non-empty); `layer` is its index. With
// a.expert_cache, each expert comes from the cache (on disk until needed), and the experts
// the next layer used in the previous step are prefetched; with a.expert_routing, the
// tokens per expert are counted.
void MixtureOfExpertsMlp(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c,
                         int64_t layer, int64_t n_tokens, DecoderActivations& a);

// How a layer chooses and weighs its experts from the router's scores.
struct RoutingRule {
  int64_t n_expert = 0;
  int64_t k = 0;                          // experts per token
  bool renormalize = false;               // weights divided by their sum
  float scale = 1.0f;                     // then multiplied by this
  const float* selection_bias = nullptr;  // [n_expert] added for the choice only, or null
  // Group-limited routing: experts in n_group equal groups (0: none); a token chooses among
  // its group_used best groups, a group scored by its best expert (top2_group_score false)
  // or the sum of its best two (true; DeepSeek-V3), biased scores throughout.
  int64_t n_group = 0;
  int64_t group_used = 0;
  bool top2_group_score = false;
};
RoutingRule RoutingRuleFor(const ModelConfig& c, const LlamaLayerWeights& L);

// Routing alone, for tests and observability: scores [T, E] are the router's softmax (or
// sigmoid); writes chosen [T, K] (best first) and weights [T, K].
void RouteTokens(const float* scores, int64_t n_tokens, const RoutingRule& rule, int32_t* chosen, float* weights);

// The FFN sub-layer of a pre-norm decoder layer: the experts when the layer has them, else
// the dense SwiGLU MLP (GatedMlp).
void FeedForward(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c, int64_t layer,
                 int64_t n_tokens, DecoderActivations& a);

}  // namespace weft
