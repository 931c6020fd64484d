// "qwen3": Qwen3 (dense); the dense decoder with a per-head RMSNorm on q and k before
// rope, NeoX-style rope and no biases.
#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindQwen3(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  if (!file->config().qk_norm) {
    return InvalidArgumentError("a qwen3 model needs per-head q/k norms (attn_q_norm.weight ...), and this file has none");
  }
  return BindDenseDecoder("qwen3", std::move(file), options);
}

}  // namespace

WEFT_ARCHITECTURE(qwen3) { RegisterArchitecture({"qwen3", "Qwen3", &BindQwen3}); }

}  // namespace weft
