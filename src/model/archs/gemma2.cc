// "gemma2": Gemma 2 (2B, 9B, 27B): the Gemma decoder (model/gemma_decoder.h) with
// attention and final-logit soft-capping, a sliding window on every other layer (layer 0
// local), NeoX rope.
#include <fmt/format.h>

#include <cmath>

#include "model/gemma_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindGemma2(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  ModelConfig c = file->config();
  c.rope_style = RopeStyle::kNeox;
  // Local then global layers, unless the file says otherwise.
  if (c.sliding_window_pattern <= 1) c.sliding_window_pattern = 2;
  // query_pre_attn_scalar: head_dim, except 27B's n_embd / n_head (as llama.cpp and
  // Google's reference do; GGUF has no key for it). HF files give it (attn_scale).
  if (c.attn_scale <= 0) {
    const bool is_27b = c.n_layer == 46 && c.n_embd == 4608;
    const double scalar = is_27b ? static_cast<double>(c.n_embd / c.n_head) : static_cast<double>(c.head_dim);
    c.attn_scale = static_cast<float>(1.0 / std::sqrt(scalar));
  }
  if (!c.tied_embeddings) {
    return InvalidArgumentError(fmt::format("{}: a gemma2 model ties its output to token_embd, and this file has "
                                            "output.weight",
                                            file->path()));
  }
  return BindGemmaDecoder("gemma2", std::move(file), std::move(c), options);
}

}  // namespace

WEFT_ARCHITECTURE(gemma2) { RegisterArchitecture({"gemma2", "Gemma 2", &BindGemma2}); }

}  // namespace weft
