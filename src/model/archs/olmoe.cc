// "olmoe": OLMoE (Allen AI, e.g. OLMoE-1B-7B); the dense decoder with RMSNorm over each
// token's whole q and k projections (ModelConfig::qk_norm_full), NeoX rope, no biases, and
// a mixture of experts in every layer: softmax routing, top-k not renormalised
// (model/moe_block.h).
#include <fmt/format.h>

#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindOlmoe(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  ModelConfig c = file->config();
  if (!c.is_moe() || !c.qk_norm_full) {
    return InvalidArgumentError(fmt::format("{}: an olmoe model needs experts (olmoe.expert_count) and q/k norms over "
                                            "the whole projection (attn_q_norm.weight of n_head * head_dim); this "
                                            "file has {}",
                                            file->path(), c.is_moe() ? "no such norms" : "no experts"));
  }
  c.rope_style = RopeStyle::kNeox;
  return BindDenseDecoder("olmoe", std::move(file), std::move(c), options);
}

}  // namespace

WEFT_ARCHITECTURE(olmoe) { RegisterArchitecture({"olmoe", "OLMoE", &BindOlmoe}); }

}  // namespace weft
