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
      // Attention and feed-forward sub-layers, each output normalised before its residual add.
      kernels::RmsNorm(ctx, a.x.data(), L.attn_norm, c.norm_eps, T, d, a.xn.data());
      AttentionSubLayer(ctx, L, c, b, cache.Layer(static_cast<int64_t>(l)), att, rope, a);
      kernels::RmsNorm(ctx, a.proj.data(), L.post_attn_norm, c.norm_eps, T, d, a.proj.data());
      kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
      kernels::RmsNorm(ctx, a.x.data(), L.ffn_norm, c.norm_eps, T, d, a.xn.data());
      GatedMlp(ctx, L, c, T, GateActivation::kGeluTanh, a);
      kernels::RmsNorm(ctx, a.proj.data(), L.post_ffn_norm, c.norm_eps, T, d, a.proj.data());
      kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
    }
    OutputLogits(ctx, w, c, b, a, logits);
    const auto R = static_cast<int64_t>(b.logit_rows.size());
    if (c.final_logit_softcap > 0) kernels::SoftCapInPlace(ctx, logits, c.final_logit_softcap, R * c.n_vocab);
  }
  // The RoPE Forward applies to the layer's K: the local one on sliding-window layers.
  std::optional<kernels::RopeParams> KvRope(int64_t layer) const override {
    const ModelConfig& c = config();
    kernels::RopeParams rope = RopeParamsFor(c, c.rope_theta, weights().rope_freq_factors());
    if (c.LayerWindow(layer) > 0 && c.rope_theta_local > 0) {
      rope.theta = c.rope_theta_local;
      rope.scaling = kernels::RopeScaling::kNone;
      rope.freq_factors = nullptr;
    }
    return rope;
  }
};

}  // namespace

StatusOr<std::shared_ptr<const Model>> BindGemmaDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        ModelConfig config, const BindOptions& options) {
  if (config.is_moe()) {
    return UnimplementedError(fmt::format("{}: a {} model with experts ({} of {}) is not one weft knows", file->path(),
                                          arch, config.n_expert_used, config.n_expert));
  }
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
