// "phi3": Phi-3 (mini, medium; 4k and 128k contexts), Phi-3.5-mini and Phi-4: the dense
// decoder with q/k/v fused into one projection and gate/up into another (bound as row
// slices of the fused tensors: LlamaWeights), NeoX rope, and Phi-3's sliding window
// (<arch>.attention.sliding_window; 0 for Phi-4). LongRoPE (the 128k models and
// Phi-3.5: rope_factors_long/short, config.json's rope_scaling "longrope") is RoPE with
// per-pair divisors and a magnitude (loader/rope_freq_factors.h), which LlamaWeights binds.
#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindPhi3(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  ModelConfig c = file->config();
  c.rope_style = RopeStyle::kNeox;
  return BindDenseDecoder("phi3", std::move(file), std::move(c), options);
}

}  // namespace

WEFT_ARCHITECTURE(phi3) { RegisterArchitecture({"phi3", "Phi-3, Phi-3.5, Phi-4 (incl. LongRoPE)", &BindPhi3}); }

}  // namespace weft
