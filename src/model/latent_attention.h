// Multi-head latent attention (DeepSeek-V2/V3), run on the latent: the KV cache holds, per
// token and layer, one row of D = rope_dim + kv_lora_rank values, [rope key | normed
// latent c], shared by all heads (a single KV head, stored as both K and V), instead of
// n_head keys and values. With the per-head up-projections of wkv_b,
//   k_h = [c W_UK_h, k_pe]    v_h = c W_UV_h,
// a head's score q_h . k_h = (q_nope_h W_UK_h^T) . c + q_pe_h . k_pe, and its output
// softmax(.) v_h = (softmax(.) c) W_UV_h: so the query is absorbed into the latent
// (q_lat_h = [q_pe_h | q_nope_h W_UK_h^T], D values) and W_UV_h is applied after
// attention. Per layer, over T tokens, after the input norm (a.xn [T, n_embd]):
//   q      = (rmsnorm(xn Wq_a) Wq_b) or xn Wq        [T, H, nope + rope]
//   kv     = xn Wkv_a                                [T, kv_lora_rank + rope]
//   k      = [rope(kv[:, kvr:]) | rmsnorm(kv[:, :kvr])]           [T, 1, D] -> cache
//   q_lat  = [rope(q_pe) | q_nope W_UK_h^T]                        [T, H, D]
//   o      = attention(q_lat, cache)                               [T, H, D]
//   proj   = (o[:, h, rope:] W_UV_h for each h) Wo                 [T, n_embd]
// The cache then costs 2 x D values per token and layer (K and V copies of the same row;
// 2 x 576 for DeepSeek-V2) against n_head x (qk + v_head_dim) for the expanded form
// (16 x 320 for V2-Lite, 128 x 320 for V2).
// Thread-safety: LatentAttentionWeights is immutable after MakeLatentAttentionWeights;
// the sub-layer is reentrant (one DecoderActivations per thread).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/ops.h"
#include "loader/model_config.h"
#include "model/forward_batch.h"
#include "model/layer_blocks.h"
#include "model/llama_weights.h"
#include "weft/status.h"

namespace weft {

// One layer's wkv_b, laid out per head for the latent form (buffers owned here): F32 when
// wkv_b is F32, else F16.
struct LatentAttentionWeights {
  std::vector<TensorView> uk_t;  // [n_head] ne {qk_nope_dim, kv_lora_rank}: W_UK_h^T (q_nope -> latent)
  std::vector<TensorView> uv;    // [n_head] ne {kv_lora_rank, v_head_dim}: W_UV_h (latent -> v)
  std::vector<uint8_t> storage;
};

// `c`: the file's config (is_mla()); wkv_b: ne {kv_lora_rank, n_head*(qk_nope_dim + v_head_dim)}.
StatusOr<std::unique_ptr<LatentAttentionWeights>> MakeLatentAttentionWeights(const ModelConfig& c,
                                                                            const TensorView& wkv_b);

// The sub-layer above: a.xn -> a.proj, the layer's latent rows into `kv`. `c` is the bound
// config (head_dim = D, one KV head); att: AttentionBatchFor(c, ...) with the latent scale.
void LatentAttentionSubLayer(const kernels::KernelContext& ctx, const LlamaLayerWeights& L,
                             const LatentAttentionWeights& lw, const ModelConfig& c, const ForwardBatch& b,
                             const kernels::KvCacheView& kv, const kernels::AttentionBatch& att,
                             const kernels::RopeParams& rope, DecoderActivations& a);

}  // namespace weft
