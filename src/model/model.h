// Model: one loaded architecture, behind the interface the rest of weft sees. The engine,
// the model runner, the evaluation tools and the front ends hold a `const Model`; only
// the architecture's own file (model/archs/<arch>.cc) knows its tensors and its forward
// pass. Architectures are found by name in model/model_registry.h.
//
//   auto file  = OpenModelFile(path);                   // GGUF, HF directory, llama2.c
//   auto model = BindModel(file);                       // the registry picks the arch
//   auto act   = model->NewActivations(512, 64);        // per-runner scratch
//   model->Forward(ctx, batch, cache, *act, logits);    // logits: [rows, n_vocab]
//
// Ownership: a Model shares its ModelFile (zero-copy tensor views stay valid) and owns
// whatever it repacked at bind time. Thread-safety: immutable after binding; Forward may
// run on several threads at once as long as each uses its own ModelActivations.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kernels/ops.h"
#include "kv/kv_cache_storage.h"
#include "loader/model_file.h"
#include "model/forward_batch.h"
#include "model/moe_stats.h"
#include "tensor/tensor_view.h"

namespace weft {

namespace dist {
class Communicator;
}

// Per-step scratch of one architecture's forward pass, sized once for the largest step
// (no allocation per step). Each architecture defines its own subclass.
class ModelActivations {
 public:
  virtual ~ModelActivations() = default;
};

// What the KV cache must hold for this model: K and V of n_kv_heads x head_dim per token
// in each of n_layers layers.
struct KvLayout {
  int64_t n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
};

class Model {
 public:
  virtual ~Model() = default;

  // The file's hyper-parameters, completed by the architecture at bind time (defaults the
  // file format leaves implicit, e.g. which Gemma layers slide).
  const ModelConfig& config() const { return config_; }
  const ModelFile& file() const { return *file_; }
  // The architecture that runs this model, as the registry names it ("llama", "qwen3").
  virtual std::string_view architecture() const = 0;

  // Scratch for Forward over up to max_tokens tokens, of which up to max_logit_rows want
  // logits.
  virtual std::unique_ptr<ModelActivations> NewActivations(int64_t max_tokens, int64_t max_logit_rows) const = 0;

  // The forward pass over a validated batch (ModelRunner::Execute checks it): writes the
  // batch's K/V into `cache` and the logits of batch.logit_rows into
  // logits: [logit_rows.size(), n_vocab]. `act` must come from NewActivations with limits
  // that hold the batch.
  virtual void Forward(const kernels::KernelContext& ctx, const ForwardBatch& batch, const KvCacheStorage& cache,
                       ModelActivations& act, float* logits) const = 0;

  // Copies KV block src to dst in every layer of `cache` (copy-on-write of a shared
  // block), before the Forward that needs it. A tensor-parallel model has every rank do it.
  virtual void CopyKvBlock(KvCacheStorage& cache, int32_t src, int32_t dst) const { cache.CopyBlock(src, dst); }

  // Tensor parallelism (model/tp_decoder.h): the number of ranks this model is split
  // over (1: the whole model here), and their communicator (null when 1).
  virtual int tp_size() const { return 1; }
  // Pipeline parallelism (`--pp`): the number of stages the layers are divided over (1:
  // all here). communicator() is then the whole job's (tp_size * pp_size ranks).
  virtual int pp_size() const { return 1; }
  virtual dist::Communicator* communicator() const { return nullptr; }

  // The RoPE that layer `layer` applied to the K it cached (what the attention-sinks window
  // re-rotates, kv/kv_window.h); nullopt when this model's cached K cannot be re-rotated
  // alone (latent attention, tensor-parallel ranks, models without RoPE).
  virtual std::optional<kernels::RopeParams> KvRope(int64_t layer) const {
    (void)layer;
    return std::nullopt;
  }

  virtual KvLayout kv_layout() const {
    const ModelConfig& c = config();
    return {c.n_layer, static_cast<int>(c.n_head_kv), static_cast<int>(c.head_dim)};
  }

  // The matrices one token's pass through the layers multiplies by (every layer's, as
  // bound for the kernels), and the output head: for cost models such as `weft bench`'s.
  virtual std::vector<const TensorView*> LayerMatrices() const = 0;
  virtual const TensorView& OutputMatrix() const = 0;
  // A mixture of experts' routing counts and expert-cache figures; nullopt for a dense model.
  virtual std::optional<MoeStats> moe_stats() const { return std::nullopt; }

  // Self-speculative decoding's draft (Draft & Verify; spec/draft_model_proposer.h): this
  // model with the layers in `skip` (indices, any order) left out — their residual passes
  // through unchanged — sharing every weight (zero-copy). The result has n_layer minus
  // the skipped layers and needs its own KV cache of that many layers. Unimplemented
  // (naming the architecture) where an architecture does not offer it; InvalidArgument
  // for an index out of range or a skip set that leaves no layer.
  virtual StatusOr<std::shared_ptr<const Model>> WithoutLayers(std::span<const int64_t> skip) const;

  // Tensors repacked at bind time (Panel16 or F32 copies), for reports and tests.
  virtual int num_repacked() const = 0;
  virtual int num_panel_packed() const = 0;

 protected:
  Model(std::shared_ptr<const ModelFile> file, ModelConfig config)
      : file_(std::move(file)), config_(std::move(config)) {}

 private:
  std::shared_ptr<const ModelFile> file_;
  ModelConfig config_;
};

}  // namespace weft
