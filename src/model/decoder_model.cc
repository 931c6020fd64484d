#include "model/decoder_model.h"

namespace weft {

DecoderModel::DecoderModel(std::string_view arch, std::shared_ptr<const LlamaWeights> weights, ModelConfig config,
                           const BindOptions& options)
    : Model(weights->file_ptr(), std::move(config)), arch_(arch), w_(std::move(weights)) {
  const ModelConfig& c = this->config();
  if (!c.is_moe()) return;
  routing_ = std::make_unique<ExpertRouting>(c.n_layer, c.n_expert);
  if (options.expert_cache_bytes > 0) {
    std::vector<std::vector<ExpertWeights>> experts;
    for (const LlamaLayerWeights& l : w_->layers()) experts.push_back(l.experts);
    cache_ = std::make_unique<ExpertCache>(w_->file_ptr(), std::move(experts), options.expert_cache_bytes,
                                           options.panel_types);
  }
}

std::unique_ptr<ModelActivations> DecoderModel::NewActivations(int64_t max_tokens, int64_t max_logit_rows) const {
  auto a = std::make_unique<DecoderActivations>();
  a->Allocate(config(), max_tokens, max_logit_rows);
  a->expert_routing = routing_.get();
  a->expert_cache = cache_.get();
  return a;
}

std::optional<MoeStats> DecoderModel::moe_stats() const {
  if (!routing_) return std::nullopt;
  MoeStats s;
  s.n_layer = config().n_layer;
  s.n_expert = config().n_expert;
  s.n_expert_used = config().n_expert_used;
  s.routed = routing_->Snapshot();
  s.expert_bytes_used = routing_->bytes_used();
  if (cache_) s.cache = cache_->Stats();
  return s;
}

}  // namespace weft
