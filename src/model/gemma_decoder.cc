#include "model/gemma_decoder.h"

#include <fmt/format.h>

#include <cmath>

#include "model/decoder_model.h"
#include "model/layer_blocks.h"

namespace weft {
namespace {

class GemmaDecoderModel final : public DecoderModel {
 public:
  using DecoderModel::DecoderModel;

  void Forward(const kernels::KernelContext& ctx, const ForwardBatch& b, const KvCacheStorage& cache,
               ModelActivations& act, float* logits) const override {
    auto& a = static_cast<DecoderActivations&>(act);
    const LlamaWeights& w = weights();
    const ModelConfig& c = config();
    const int64_t T = b.n_tokens();
    const int64_t d = c.n_embd;
    const int n_head = static_cast<int>(c.n_head), n_kv = static_cast<int>(c.n_head_kv);
    const int hd = static_cast<int>(c.head_dim);
    const kernels::RopeParams global_rope = RopeParamsFor(c, c.rope_theta, w.rope_freq_factors());
    kernels::RopeParams local_rope = global_rope;
    if (c.rope_theta_local > 0) {  // Gemma 3: the local layers' own base, without the global scaling
      local_rope.theta = c.rope_theta_local;
      local_rope.scaling = kernels::RopeScaling::kNone;
      local_rope.freq_factors = nullptr;
    }
    kernels::AttentionBatch att = AttentionBatchFor(c, b, a.q.data());

    kernels::EmbeddingLookup(ctx, w.token_embd(), b.tokens.data(), T, a.x.data());
    kernels::Scale(ctx, a.x.data(), std::sqrt(static_cast<float>(d)), T * d);
    for (size_t l = 0; l < w.layers().size(); ++l) {
      const LlamaLayerWeights& L = w.layers()[l];
      att.window = static_cast<int32_t>(c.LayerWindow(static_cast<int64_t>(l)));
      const kernels::RopeParams& rope = att.window > 0 ? local_rope : global_rope;
      const kernels::KvCacheView kv = cache.Layer(static_cast<int64_t>(l));
      // Attention block, its output normalised before the residual add.
      kernels::RmsNorm(ctx, a.x.data(), L.attn_norm, c.norm_eps, T, d, a.xn.data());
      const kernels::MatMulOutput qkv[] = {{L.wq, a.q.data()}, {L.wk, a.k.data()}, {L.wv, a.v.data()}};
      kernels::MatMulMany(ctx, a.xn.data(), T, qkv);
      if (L.q_norm != nullptr) kernels::RmsNorm(ctx, a.q.data(), L.q_norm, c.norm_eps, T * n_head, hd, a.q.data());
      if (L.k_norm != nullptr) kernels::RmsNorm(ctx, a.k.data(), L.k_norm, c.norm_eps, T * n_kv, hd, a.k.data());
      kernels::Rope(ctx, a.q.data(), T, n_head, hd, b.positions.data(), rope);
      kernels::Rope(ctx, a.k.data(), T, n_kv, hd, b.positions.data(), rope);
      kernels::WriteKv(ctx, a.k.data(), a.v.data(), T, b.slot_mapping.data(), kv);
      kernels::Attention(ctx, att, kv, a.attn.data());
      kernels::MatMul(ctx, a.attn.data(), T, *L.wo, a.proj.data());
      kernels::RmsNorm(ctx, a.proj.data(), L.post_attn_norm, c.norm_eps, T, d, a.proj.data());
      kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
      // GeGLU feed-forward block between two norms.
      kernels::RmsNorm(ctx, a.x.data(), L.ffn_norm, c.norm_eps, T, d, a.xn.data());
      const kernels::MatMulOutput gate_up[] = {{L.w_gate, a.gate.data()}, {L.w_up, a.up.data()}};
      kernels::MatMulMany(ctx, a.xn.data(), T, gate_up);
      kernels::GeluTanhMul(ctx, a.gate.data(), a.up.data(), a.gate.data(), T * c.n_ff);
      kernels::MatMul(ctx, a.gate.data(), T, *L.w_down, a.proj.data());
      kernels::RmsNorm(ctx, a.proj.data(), L.post_ffn_norm, c.norm_eps, T, d, a.proj.data());
      kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
    }
    const auto R = static_cast<int64_t>(b.logit_rows.size());
    if (R == 0) return;
    GatherLogitRows(b, a.x.data(), d, a.last.data());
    kernels::RmsNorm(ctx, a.last.data(), w.output_norm(), c.norm_eps, R, d, a.last.data());
    kernels::MatMul(ctx, a.last.data(), R, w.output(), logits);
    if (c.final_logit_softcap > 0) kernels::SoftCapInPlace(ctx, logits, c.final_logit_softcap, R * c.n_vocab);
  }
};

}  // namespace

StatusOr<std::shared_ptr<const Model>> BindGemmaDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        ModelConfig config, const BindOptions& options) {
  for (int64_t l = 0; l < config.n_layer; ++l) {
    for (const char* norm : {"post_attention_norm", "post_ffw_norm"}) {
      const std::string name = fmt::format("blk.{}.{}.weight", l, norm);
      const TensorView* t = file->FindTensor(name);
      if (t == nullptr || t->NumElements() != config.n_embd) {
        return NotFoundError(fmt::format("{}: a {} model needs tensor '{}' of {} values{}", file->path(), arch, name,
                                         config.n_embd, t == nullptr ? " (missing)" : ""));
      }
    }
  }
  WEFT_ASSIGN_OR_RETURN(auto weights, LlamaWeights::Bind(std::move(file), options));
  return std::shared_ptr<const Model>(std::make_shared<GemmaDecoderModel>(arch, std::move(weights), std::move(config)));
}

}  // namespace weft
