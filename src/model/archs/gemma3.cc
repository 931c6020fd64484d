// "gemma3": Gemma 3 text models (1B, 4B, 12B, 27B): the Gemma decoder
// (model/gemma_decoder.h) with per-head q/k norms, five sliding-window layers then one
// global, the local layers' rope base 10000 (the global's from the file, with its
// scaling), no soft-capping, NeoX rope.
#include <fmt/format.h>

#include <cmath>

#include "model/gemma_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindGemma3(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  ModelConfig c = file->config();
  c.rope_style = RopeStyle::kNeox;
  if (c.sliding_window_pattern <= 1) c.sliding_window_pattern = 6;
  if (c.rope_theta_local <= 0) c.rope_theta_local = 10000.0f;
  if (c.attn_scale <= 0) c.attn_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  if (!c.qk_norm) {
    return InvalidArgumentError(fmt::format("{}: a gemma3 model needs per-head q/k norms (attn_q_norm.weight ...), "
                                            "and this file has none",
                                            file->path()));
  }
  return BindGemmaDecoder("gemma3", std::move(file), std::move(c), options);
}

}  // namespace

WEFT_ARCHITECTURE(gemma3) { RegisterArchitecture({"gemma3", "Gemma 3 (text)", &BindGemma3}); }

}  // namespace weft
