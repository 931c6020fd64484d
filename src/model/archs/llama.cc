// "llama": Llama 2 and 3.x (rope_freqs / llama3 rope scaling, tied embeddings for
// 1B/3B), Mistral (sliding-window attention: ModelConfig::sliding_window), SmolLM,
// TinyLlama; the dense decoder of model/dense_decoder.h with RMSNorm, SwiGLU, no biases.
// Mixtral is "llama" with llama.expert_count experts per layer: softmax routing, the top
// k renormalised (model/moe_block.h).
#include "model/dense_decoder.h"
#include "model/model_registry.h"

namespace weft {
namespace {

StatusOr<std::shared_ptr<const Model>> BindLlama(std::shared_ptr<const ModelFile> file, const BindOptions& options) {
  return BindDenseDecoder("llama", std::move(file), options);
}

}  // namespace

WEFT_ARCHITECTURE(llama) { RegisterArchitecture({"llama", "Llama 2/3, Mistral, Mixtral, SmolLM, TinyLlama", &BindLlama}); }

}  // namespace weft
