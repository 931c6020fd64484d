// "deepseek2": DeepSeek-V2, V2-Lite, V2.5 and V3 (llama.cpp's deepseek2 GGUF; HF
// deepseek_v2 / deepseek_v3). Pre-norm decoder with multi-head latent attention
// (model/latent_attention.h: the KV cache holds one latent row per token) and a mixture
// of experts after n_dense_lead_layers dense layers: softmax (V2) or sigmoid (V3)
// routing, optional group-limited choice and selection bias, the routed weights scaled by
// expert_weights_scale, plus shared experts added ungated (model/moe_block.h).
// Interleaved rope on the rope dims only; with YaRN, the rope keeps unit magnitude and
// scores are scaled by mscale^2 / sqrt(qk_nope_dim + rope_dim), mscale = attn_factor x
// (1 + rope_yarn_log_mul x ln(factor)), as DeepSeek's reference does.
#include <fmt/format.h>

#include <cmath>

#include "model/decoder_model.h"
#include "model/latent_attention.h"
#include "model/model_registry.h"
#include "model/moe_block.h"

namespace weft {
namespace {

class Deepseek2Model final : public DecoderModel {
 public:
  Deepseek2Model(std::shared_ptr<const LlamaWeights> weights, ModelConfig config, const BindOptions& options,
                 std::vector<std::unique_ptr<LatentAttentionWeights>> latent)
      : DecoderModel("deepseek2", std::move(weights), std::move(config), options), latent_(std::move(latent)) {}

  void Forward(const kernels::KernelContext& ctx, const ForwardBatch& b, const KvCacheStorage& cache,
               ModelActivations& act, float* logits) const override {
    auto& a = static_cast<DecoderActivations&>(act);
    const LlamaWeights& w = weights();
    const ModelConfig& c = config();
    const int64_t T = b.n_tokens(), d = c.n_embd;
    const kernels::RopeParams rope = RopeParamsFor(c, c.rope_theta, nullptr);
    const kernels::AttentionBatch att = AttentionBatchFor(c, b, a.q.data());
    kernels::EmbeddingLookup(ctx, w.token_embd(), b.tokens.data(), T, a.x.data());
    for (size_t l = 0; l < w.layers().size(); ++l) {
      const LlamaLayerWeights& L = w.layers()[l];
      kernels::RmsNorm(ctx, a.x.data(), L.attn_norm, c.norm_eps, T, d, a.xn.data());
      LatentAttentionSubLayer(ctx, L, *latent_[l], c, b, cache.Layer(static_cast<int64_t>(l)), att, rope, a);
      kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
      kernels::RmsNorm(ctx, a.x.data(), L.ffn_norm, c.norm_eps, T, d, a.xn.data());
      FeedForward(ctx, L, c, static_cast<int64_t>(l), T, a);  // dense in the first layers, then the experts
      kernels::AddInPlace(ctx, a.x.data(), a.proj.data(), T * d);
    }
    OutputLogits(ctx, w, c, b, a, logits);
  }

  std::vector<const TensorView*> LayerMatrices() const override {
    std::vector<const TensorView*> m = DecoderModel::LayerMatrices();
    for (const auto& lw : latent_) {
      for (const TensorView& t : lw->uk_t) m.push_back(&t);
      for (const TensorView& t : lw->uv) m.push_back(&t);
    }
    return m;
  }

 private:
  std::vector<std::unique_ptr<LatentAttentionWeights>> latent_;  // [n_layer]
};

StatusOr<std::shared_ptr<const Model>> BindDeepseek2(std::shared_ptr<const ModelFile> file,
                                                     const BindOptions& options) {
  ModelConfig c = file->config();
  if (!c.is_mla()) {
    return InvalidArgumentError(fmt::format("{}: a deepseek2 model needs latent attention "
                                            "(deepseek2.attention.kv_lora_rank), and this file has none",
                                            file->path()));
  }
  if (c.rope_dim + c.kv_lora_rank > kernels::kMaxKvHeadDim) {
    return UnimplementedError(fmt::format("{}: a latent of {} + rope key of {} exceeds the {} values weft's KV cache "
                                          "holds per head",
                                          file->path(), c.kv_lora_rank, c.rope_dim, kernels::kMaxKvHeadDim));
  }
  WEFT_ASSIGN_OR_RETURN(auto weights, LlamaWeights::Bind(file, options));
  std::vector<std::unique_ptr<LatentAttentionWeights>> latent;
  for (const LlamaLayerWeights& L : weights->layers()) {
    WEFT_ASSIGN_OR_RETURN(auto lw, MakeLatentAttentionWeights(c, *L.wkv_b));
    latent.push_back(std::move(lw));
  }
  // Attention runs on the latent: one KV head of rope key + latent.
  double mscale = 1.0;
  if (c.rope_scaling.type == RopeScalingType::kYarn && c.rope_scaling.factor > 1.0f) {
    const double ln_factor = std::log(static_cast<double>(c.rope_scaling.factor));
    mscale = c.rope_scaling.yarn_attn_factor * (1.0 + c.rope_yarn_log_mul * ln_factor);
    c.rope_scaling.yarn_attn_factor = static_cast<float>(1.0 / (1.0 + 0.1 * ln_factor));  // unit-magnitude rope
  }
  c.attn_scale = static_cast<float>(mscale * mscale / std::sqrt(static_cast<double>(c.qk_nope_dim + c.rope_dim)));
  c.head_dim = c.rope_dim + c.kv_lora_rank;
  c.n_head_kv = 1;
  return std::shared_ptr<const Model>(
      std::make_shared<Deepseek2Model>(std::move(weights), std::move(c), options, std::move(latent)));
}

}  // namespace

WEFT_ARCHITECTURE(deepseek2) {
  RegisterArchitecture({"deepseek2", "DeepSeek-V2, V2-Lite, V3 (latent attention, shared experts)", &BindDeepseek2});
}

}  // namespace weft
