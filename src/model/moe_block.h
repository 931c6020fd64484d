// The mixture-of-experts FFN sub-layer (Mixtral, Qwen2-MoE, Qwen3-MoE), after its input
// norm, over a flat batch of T tokens:
//   p = softmax(xn Wrouter)                   [T, E]
//   per token t: its K = n_expert_used experts of largest p (ties: lower index first),
//                weights w = p of those (divided by their sum when expert_weights_norm)
//   proj[t] = sum over ranks k of w[t,k] * Expert_{e(t,k)}(xn[t])     (in rank order)
//           + sigmoid(xn[t] . g) * Shared(xn[t])                      (Qwen2-MoE)
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

// Routing alone, for tests and observability: probs [T, E] are the router's softmax;
// writes chosen [T, K] (best first) and weights [T, K].
void RouteTokens(const float* probs, int64_t n_tokens, int64_t n_expert, int64_t k, bool renormalize,
                 int32_t* chosen, float* weights);

// The FFN sub-layer of a pre-norm decoder layer: the experts when the layer has them, else
// the dense SwiGLU MLP (GatedMlp).
void FeedForward(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c, int64_t layer,
                 int64_t n_tokens, DecoderActivations& a);

}  // namespace weft
