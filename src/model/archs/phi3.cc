// "phi3": Phi-3 (mini, medium) and Phi-4: the dense decoder with q/k/v fused into one
// projection and gate/up into another (bound as row slices of the fused tensors:
// LlamaWeights), NeoX rope, and Phi-3's sliding window (<arch>.attention.sliding_window;
// 0 for Phi-4). LongRoPE (rope_factors_long/short: Phi-3-128k, Phi-3.5) is refused.
#include <fmt/format.h>

#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindPhi3(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  ModelConfig c = file->config();
  for (const char* name : {"rope_factors_long.weight", "rope_factors_short.weight", "blk.0.rope_factors_long.weight"}) {
    if (file->FindTensor(name) != nullptr) {
      return UnimplementedError(fmt::format("{}: tensor '{}': LongRoPE (Phi-3-128k, Phi-3.5) is not supported; the "
                                            "4k-context Phi-3 models and Phi-4 are",
                                            file->path(), name));
    }
  }
  c.rope_style = RopeStyle::kNeox;
  return BindDenseDecoder("phi3", std::move(file), std::move(c), options);
}

}  // namespace

WEFT_ARCHITECTURE(phi3) { RegisterArchitecture({"phi3", "Phi-3 (4k context), Phi-4", &BindPhi3}); }

}  // namespace weft
