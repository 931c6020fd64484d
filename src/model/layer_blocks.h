// Small building blocks the architectures' forward passes share (model/archs/*,
// model/dense_decoder.cc): bias rows, RoPE parameters from a config, the attention batch
// of a ForwardBatch. Stateless; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/ops.h"
#include "loader/model_config.h"
#include "model/forward_batch.h"
#include "model/llama_weights.h"
#include "model/model.h"

namespace weft {

class ExpertCache;
class ExpertRouting;

// Per-step scratch of a decoder's forward pass; shapes in tokens T (<= max tokens) and
// logit rows R (<= max rows), sized once by Allocate.
struct DecoderActivations : ModelActivations {
  std::vector<float> x;       // [T, n_embd] the residual stream
  std::vector<float> xn;      // [T, n_embd] normalised input of a sub-layer
  std::vector<float> q;       // [T, n_head * head_dim]
  std::vector<float> k;       // [T, n_head_kv * head_dim]
  std::vector<float> v;       // [T, n_head_kv * head_dim]
  std::vector<float> attn;    // [T, n_head * head_dim]
  std::vector<float> proj;    // [T, n_embd] sub-layer output before the residual add
  std::vector<float> gate;    // [T, n_ff]
  std::vector<float> up;      // [T, n_ff]
  std::vector<float> last;    // [R, n_embd] rows that need logits
  // Mixture of experts only (empty for a dense model); K = n_expert_used:
  std::vector<float> router;       // [T, n_expert] router logits, then probabilities
  std::vector<int32_t> chosen;     // [T, K] each token's experts, best first
  std::vector<float> chosen_w;     // [T, K] their weights
  std::vector<int32_t> routed;     // [T * K] (token, rank) slots grouped by expert
  std::vector<int64_t> expert_start;  // [n_expert + 1] expert e's slots: routed[start[e], start[e+1])
  std::vector<int64_t> expert_fill;   // [n_expert] scratch of the grouping
  std::vector<float> expert_in;    // [T, n_embd] the rows routed to one expert, gathered
  std::vector<float> expert_out;   // [T * K, n_embd] each (token, rank)'s expert output
  std::vector<uint8_t> expert_used;   // [n_layer, n_expert] 1: routed to in the last step
  // Latent attention only (model/latent_attention.h; qk = qk_nope_dim + rope_dim):
  std::vector<float> mla_q;        // [T, n_head * qk] the per-head queries before absorption
  std::vector<float> mla_q_a;      // [T, q_lora_rank] the query bottleneck
  std::vector<float> mla_kv;       // [T, kv_lora_rank + rope_dim] latent and rope key, before the norm
  std::vector<float> mla_v;        // [T, n_head * v_head_dim] per-head values after W_UV
  ExpertRouting* expert_routing = nullptr;  // the model's counters (borrowed), or null
  ExpertCache* expert_cache = nullptr;      // experts on disk: the model's cache (borrowed)
  // gate and up hold [T, max(n_ff, expert ff, shared-expert ff)].
  void Allocate(const ModelConfig& c, int64_t max_tokens, int64_t max_rows);
};

// rows[r] = x[logit_rows[r]] for the rows of b that want logits ([R, n_embd]).
void GatherLogitRows(const ForwardBatch& b, const float* x, int64_t n_embd, float* rows);

// The attention sub-layer after its input norm: a.xn -> q, k, v (+ biases), per-head q/k
// norms when the layer has them (whole-projection ones with qk_norm_full: OLMoE), rope, the batch's K/V into the layer's cache, attention
// (att: its window set for this layer), a.proj = attention output Wo (+ bias).
void AttentionSubLayer(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c,
                       const ForwardBatch& b, const kernels::KvCacheView& kv, const kernels::AttentionBatch& att,
                       const kernels::RopeParams& rope, DecoderActivations& a);

enum class GateActivation { kSilu, kGeluTanh };  // SwiGLU (llama family), GeGLU (Gemma)
// One gated MLP of width ff over n rows of x [n, n_embd]: out [n, n_embd] =
// (act(x Wgate) * x Wup) Wdown; gate, up: scratch of [n, ff].
void RunGatedMlp(const kernels::KernelContext& ctx, const ExpertWeights& w, int64_t ff, const float* x, int64_t n,
                 GateActivation act, float* gate, float* up, float* out);
// The gated MLP after its input norm: a.proj = (act(a.xn Wgate) * a.xn Wup) Wdown.
void GatedMlp(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c, int64_t n_tokens,
              GateActivation act, DecoderActivations& a);

// logits [R, n_vocab] of the rows that want them: final norm of x's rows, output matrix.
void OutputLogits(const kernels::KernelContext& ctx, const LlamaWeights& w, const ModelConfig& c,
                  const ForwardBatch& b, DecoderActivations& a, float* logits);

// y[t, :] += bias for each of the `rows` rows of length dim; nothing when bias is null.
void AddBias(const kernels::KernelContext& ctx, float* y, const float* bias, int64_t rows, int64_t dim);

// The rope of a layer: the config's style and scaling with base `theta` (a layer kind may
// have its own: Gemma 3's local layers), and the per-pair divisors (Llama 3.1) or null.
kernels::RopeParams RopeParamsFor(const ModelConfig& c, float theta, const float* freq_factors);

// The attention batch of `b` over queries q: [T, n_head, head_dim], scale from the
// config (attn_scale, else 1 / sqrt(head_dim)), softcap from attn_logit_softcap; the
// window is per layer (ModelConfig::LayerWindow): set att.window before each layer.
kernels::AttentionBatch AttentionBatchFor(const ModelConfig& c, const ForwardBatch& b, const float* q);

}  // namespace weft
