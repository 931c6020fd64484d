// DecoderModel: the part of a Model that every decoder bound through LlamaWeights shares
// (its name, its config, its scratch, the matrices cost models read); an architecture's
// forward pass subclasses it (model/dense_decoder.cc, model/gemma_decoder.cc). A mixture
// of experts' counters and expert cache live here too (model/moe_stats.h,
// model/expert_cache.h).
// Thread-safety: immutable after construction, as Model, except those two, which are
// safe from any thread.
#pragma once

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/bind_options.h"
#include "model/expert_cache.h"
#include "model/layer_blocks.h"
#include "model/llama_weights.h"
#include "model/model.h"

namespace weft {

class DecoderModel : public Model {
 public:
  // `config`: the file's, completed by the architecture (see Model::config).
  // A mixture of experts also gets its routing counters, and its expert cache when
  // options.expert_cache_bytes > 0 (the weights then hold the experts' file views).
  DecoderModel(std::string_view arch, std::shared_ptr<const LlamaWeights> weights, ModelConfig config,
               const BindOptions& options = {});

  std::string_view architecture() const override { return arch_; }

  std::unique_ptr<ModelActivations> NewActivations(int64_t max_tokens, int64_t max_logit_rows) const override;
  std::optional<MoeStats> moe_stats() const override;

  std::vector<const TensorView*> LayerMatrices() const override {
    std::vector<const TensorView*> m;
    // A mixture of experts: the router, the shared expert and n_expert_used experts (the
    // first ones: every expert has the same shape), what one token multiplies by.
    const auto used = static_cast<size_t>(config().n_expert_used);
    for (const LlamaLayerWeights& l : w_->layers()) {
      for (const TensorView* t : {l.wq, l.wk, l.wv, l.wo, l.wq_a, l.wq_b, l.wkv_a, l.w_gate, l.w_up, l.w_down, l.router,
                                  l.shared_expert.w_gate, l.shared_expert.w_up, l.shared_expert.w_down}) {
        if (t != nullptr) m.push_back(t);
      }
      for (size_t e = 0; e < std::min(used, l.experts.size()); ++e) {
        for (const TensorView* t : {l.experts[e].w_gate, l.experts[e].w_up, l.experts[e].w_down}) m.push_back(t);
      }
    }
    return m;
  }
  const TensorView& OutputMatrix() const override { return w_->output(); }
  int num_repacked() const override { return w_->num_repacked(); }
  int num_panel_packed() const override { return w_->num_panel_packed(); }

 protected:
  const LlamaWeights& weights() const { return *w_; }
  const std::shared_ptr<const LlamaWeights>& weights_ptr() const { return w_; }

 private:
  std::string arch_;
  std::shared_ptr<const LlamaWeights> w_;
  std::unique_ptr<ExpertRouting> routing_;  // mixtures of experts only
  std::unique_ptr<ExpertCache> cache_;      // experts on disk only
};

}  // namespace weft
