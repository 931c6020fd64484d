// The pre-norm dense decoder that most model families share, as a Model:
//   Llama 2/3 (rope_freqs, llama3 rope scaling, tied embeddings), Mistral (sliding-window
//   attention), SmolLM, TinyLlama; Qwen2 (q/k/v biases) and Qwen3 (per-head q/k
//   RMSNorm), which differ from it only by what LlamaWeights binds.
// The architectures under model/archs/ that are this decoder register it under their
// names; an architecture that differs (other norms, MLPs, attention) brings its own
// Model and reuses the kernels.
#pragma once

#include <memory>
#include <string_view>

#include "model/bind_options.h"
#include "model/llama_weights.h"
#include "model/model.h"
#include "weft/status.h"

namespace weft {

// Binds the file's weights (LlamaWeights::Bind checks every tensor against the config)
// and returns the model, named `arch`.
StatusOr<std::shared_ptr<const Model>> BindDenseDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        const BindOptions& options);
// The same with `config`: the file's, completed by the architecture (e.g. whether a
// mixture of experts renormalises its routing weights).
StatusOr<std::shared_ptr<const Model>> BindDenseDecoder(std::string_view arch, std::shared_ptr<const ModelFile> file,
                                                        ModelConfig config, const BindOptions& options);

}  // namespace weft
