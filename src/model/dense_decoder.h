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

#include "dist/communicator.h"
#include "kernels/ops.h"
#include "model/bind_options.h"
#include "model/forward_batch.h"
#include "model/layer_blocks.h"
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

// The decoder's forward pass (what DenseDecoderModel::Forward runs). With `tp` (tensor
// parallelism, model/tp_decoder.h) the weights are one rank's part and `c` the rank's
// config: each sub-layer's output is this rank's partial sum, all-reduced over `tp`
// before the residual add. logits: [b.logit_rows.size(), n_vocab]; unused without rows.
void DenseDecoderForward(const kernels::KernelContext& ctx, const LlamaWeights& w, const ModelConfig& c,
                         const ForwardBatch& b, const KvCacheStorage& cache, DecoderActivations& a, float* logits,
                         dist::Communicator* tp);

// A pipeline stage's part of that pass (model/tp_decoder.h, `--pp`): `w` holds layers
// [w.first_layer(), + w.layers().size()) and `cache` those layers' KV (cache layer 0 is
// w.first_layer()). embed: start from the token embedding; otherwise a.x [T, n_embd]
// already holds the previous stage's output. output: finish with the logits of
// b.logit_rows; otherwise a.x is left holding this stage's output.
void DenseDecoderStageForward(const kernels::KernelContext& ctx, const LlamaWeights& w, const ModelConfig& c,
                              const ForwardBatch& b, const KvCacheStorage& cache, DecoderActivations& a,
                              float* logits, dist::Communicator* tp, bool embed, bool output);

}  // namespace weft
