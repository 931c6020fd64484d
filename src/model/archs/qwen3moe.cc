// "qwen3moe": Qwen3-MoE (Qwen3-30B-A3B, 235B-A22B); the qwen3 decoder (per-head q/k
// RMSNorm, NeoX rope, no biases) with a mixture of experts in every layer: softmax
// routing, top-k renormalised (norm_topk_prob), no shared expert (model/moe_block.h).
#include <fmt/format.h>

#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindQwen3Moe(std::shared_ptr<const ModelFile> file,
                                                    const BindOptions& options) {
  ModelConfig c = file->config();
  if (!c.is_moe() || !c.qk_norm) {
    return InvalidArgumentError(fmt::format("{}: a qwen3moe model needs experts (qwen3moe.expert_count) and per-head "
                                            "q/k norms (attn_q_norm.weight); this file has {}",
                                            file->path(), c.is_moe() ? "no q/k norms" : "no experts"));
  }
  c.rope_style = RopeStyle::kNeox;
  return BindDenseDecoder("qwen3moe", std::move(file), std::move(c), options);
}

}  // namespace

WEFT_ARCHITECTURE(qwen3moe) { RegisterArchitecture({"qwen3moe", "Qwen3-MoE", &BindQwen3Moe}); }

}  // namespace weft
