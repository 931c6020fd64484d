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
  void Allocate(const ModelConfig& c, int64_t max_tokens, int64_t max_rows);
};

// rows[r] = x[logit_rows[r]] for the rows of b that want logits ([R, n_embd]).
void GatherLogitRows(const ForwardBatch& b, const float* x, int64_t n_embd, float* rows);

// The attention sub-layer after its input norm: a.xn -> q, k, v (+ biases), per-head q/k
// norms when the layer has them, rope, the batch's K/V into the layer's cache, attention
// (att: its window set for this layer), a.proj = attention output Wo (+ bias).
void AttentionSubLayer(const kernels::KernelContext& ctx, const LlamaLayerWeights& L, const ModelConfig& c,
                       const ForwardBatch& b, const kernels::KvCacheView& kv, const kernels::AttentionBatch& att,
                       const kernels::RopeParams& rope, DecoderActivations& a);

enum class GateActivation { kSilu, kGeluTanh };  // SwiGLU (llama family), GeGLU (Gemma)
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
