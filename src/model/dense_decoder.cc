// The llama-family forward pass over a flat ragged batch (pre-norm decoder):
//   x = embed(tokens)
//   per layer:  h = rmsnorm(x) ; q,k,v = h Wq,Wk,Wv (+bias: qwen2) ; q,k = rmsnorm per
//               head (qwen3) ; rope(q, k) ; cache <- k, v ; a = attention(q, cache)
//               (over the layer's sliding window when it has one: Mistral)
//               x += a Wo ; h = rmsnorm(x) ; x += (silu(h Wgate) * h Wup) Wdown
//   logits = rmsnorm(x[rows]) Wout
// Shapes: T tokens of the batch, R = logit rows; see DecoderActivations.
#include "model/dense_decoder.h"

#include "model/decoder_model.h"
#include "model/layer_blocks.h"

namespace weft {
namespace {

void Forward(const kernels::KernelContext& ctx, const LlamaWeights& w, const ModelConfig& c, const ForwardBatch& b,
             const KvCacheStorage& cache, DecoderActivations& a, float* logits) {
  const int64_t T = b.n_tokens();
  const int64_t d = c.n_embd;
  const int64_t q_dim = c.n_head * c.head_dim;
  const int64_t kv_dim = c.n_head_kv * c.head_dim;
  const int n_head = static_cast<int>(c.n_head), n_kv = static_cast<int>(c.n_head_kv);
  const int hd = static_cast<int>(c.head_dim);
  const kernels::RopeParams rope = RopeParamsFor(c, c.rope_theta, w.rope_freq_factors());
  kernels::AttentionBatch att = AttentionBatchFor(c, b, a.q.data());

  kernels::EmbeddingLookup(ctx, w.token_embd(), b.tokens.data(), T, a.x.data());
  for (size_t l = 0; l < w.layers().size(); ++l) {
    const LlamaLayerWeights& L = w.layers()[l];
    att.window = static_cast<int32_t>(c.LayerWindow(static_cast<int64_t>(l)));
    const kernels::KvCacheView kv = cache.Layer(static_cast<int64_t>(l));
    // Attention block.
    kernels::RmsNorm(ctx, a.x.data(), L.attn_norm, c.norm_eps, T, d, a.xn.data());
    const kernels::MatMulOutput qkv[] = {{L.wq, a.q.data()}, {L.wk, a.k.data()}, {L.wv, a.v.data()}};
    kernels::MatMulMany(ctx, a.xn.data(), T, qkv);
    AddBias(ctx, a.q.data(), L.bq, T, q_dim);
    AddBias(ctx, a.k.data(), L.bk, T, kv_dim);
    AddBias(ctx, a.v.data(), L.bv, T, kv_dim);
    if (L.q_norm != nullptr) kernels::RmsNorm(ctx, a.q.data(), L.q_norm, c.norm_eps, T * n_head, hd, a.q.data());
    if (L.k_norm != nullptr) kernels::RmsNorm(ctx, a.k.data(), L.k_norm, c.norm_eps, T * n_kv, hd, a.k.data());
    kernels::Rope(ctx, a.q.data(), T, n_head, hd, b.positions.data(), rope);
    kernels::Rope(ctx, a.k.data(), T, n_kv, hd, b.positions.data(), rope);
    kernels::WriteKv(ctx, a.k.data(), a.v.data(), T, b.slot_mapping.data(), kv);
    kernels::Attention(ctx, att, kv, a.attn.data());
    kernels::MatMul(ctx, a.attn.data(), T, *L.wo, a.proj.data());
    AddBias(ctx, a.proj.data(), L.bo, T, d);
    kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
    // Feed-forward block.
    kernels::RmsNorm(ctx, a.x.data(), L.ffn_norm, c.norm_eps, T, d, a.xn.data());
    const kernels::MatMulOutput gate_up[] = {{L.w_gate, a.gate.data()}, {L.w_up, a.up.data()}};
    kernels::MatMulMany(ctx, a.xn.data(), T, gate_up);
    kernels::SiluMul(ctx, a.gate.data(), a.up.data(), a.gate.data(), T * c.n_ff);
    kernels::MatMul(ctx, a.gate.data(), T, *L.w_down, a.proj.data());
    kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
  }
  // Only the rows that need logits go through the final norm and the output matrix.
  const auto R = static_cast<int64_t>(b.logit_rows.size());
  if (R == 0) return;
  GatherLogitRows(b, a.x.data(), d, a.last.data());
  kernels::RmsNorm(ctx, a.last.data(), w.output_norm(), c.norm_eps, R, d, a.last.data());
  kernels::MatMul(ctx, a.last.data(), R, w.output(), logits);
}

class DenseDecoderModel final : public DecoderModel {
 public:
  using DecoderModel::DecoderModel;
  void Forward(const kernels::KernelContext& ctx, const ForwardBatch& batch, const KvCacheStorage& cache,
               ModelActivations& act, float* logits) const override {
    weft::Forward(ctx, weights(), config(), batch, cache, static_cast<DecoderActivations&>(act), logits);
  }
};

}  // namespace

StatusOr<std::shared_ptr<const Model>> BindDenseDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        const BindOptions& options) {
  WEFT_ASSIGN_OR_RETURN(auto weights, LlamaWeights::Bind(std::move(file), options));
  ModelConfig config = weights->config();
  return std::shared_ptr<const Model>(std::make_shared<DenseDecoderModel>(arch, std::move(weights), std::move(config)));
}

}  // namespace weft
