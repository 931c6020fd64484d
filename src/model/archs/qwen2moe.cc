// "qwen2moe": Qwen1.5-MoE and Qwen2-MoE (e.g. Qwen2-57B-A14B); the dense decoder of
// qwen2 (q/k/v biases, NeoX rope) with a mixture of experts in every layer: softmax
// routing, top-k (not renormalised: norm_topk_prob false, as the loaders default), and a shared expert scaled by its sigmoid gate
// (model/moe_block.h).
#include <fmt/format.h>

#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindQwen2Moe(std::shared_ptr<const ModelFile> file,
                                                    const BindOptions& options) {
  ModelConfig c = file->config();
  if (!c.is_moe()) {
    return InvalidArgumentError(fmt::format("{}: a qwen2moe model needs qwen2moe.expert_count and "
                                            "qwen2moe.expert_used_count, and this file has no experts",
                                            file->path()));
  }
  c.rope_style = RopeStyle::kNeox;
  return BindDenseDecoder("qwen2moe", std::move(file), std::move(c), options);
}

}  // namespace

WEFT_ARCHITECTURE(qwen2moe) { RegisterArchitecture({"qwen2moe", "Qwen1.5-MoE, Qwen2-MoE", &BindQwen2Moe}); }

}  // namespace weft
