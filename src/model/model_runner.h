// ModelRunner: executes one ForwardBatch on a loaded model and returns the logits of
// the requested rows. It owns the activation buffers (sized once, at creation, for the
// largest step: no allocation per step), the kernel context and a thread pool.
// Thread-safety: one Execute at a time (the engine thread's); the model it runs is
// immutable and may be shared with other runners.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "kv/kv_cache_storage.h"
#include "kv/kv_window.h"
#include "model/forward_batch.h"
#include "model/model.h"
#include "weft/status.h"

namespace weft {

struct RunnerOptions {
  int64_t max_tokens_per_step = 512;  // the largest ForwardBatch::n_tokens
  int64_t max_logit_rows = 256;       // the largest ForwardBatch::logit_rows.size()
  int threads = 0;                    // compute threads; 0 = one per physical core
  // The kernels to use; nullptr = SelectKernelTable() ($WEFT_ISA, else the best here).
  const kernels::KernelTable* kernel_table = nullptr;
  // Accept sequences longer than the model's trained context (RoPE positions past it).
  // Only `weft perplexity --stream` with dense attention sets it, to measure the failure
  // there; everything else keeps sequences within the context.
  bool allow_past_context = false;
};

class ModelRunner {
 public:
  static StatusOr<std::unique_ptr<ModelRunner>> Create(std::shared_ptr<const Model> model,
                                                       const RunnerOptions& options);

  const Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  const RunnerOptions& options() const { return options_; }
  const char* isa_name() const;
  int num_threads() const { return pool_.num_threads(); }

  // The shape a KV cache for this model needs, for `num_blocks` blocks of `block_size`.
  KvCacheShape KvShape(int64_t num_blocks, int block_size, kernels::KvTypes type = kernels::KvType::kF16) const;

  // Runs the batch, writing its K/V into `cache` and the logits of batch.logit_rows into
  // logits: [logit_rows.size(), n_vocab]. InvalidArgument when the batch is malformed or
  // larger than the options allow (the runner never reads outside its arrays).
  Status Execute(const ForwardBatch& batch, const KvCacheStorage& cache, float* logits);

  // Sinks + window (kv/kv_window.h): re-rotates the cached K of each shift's block by
  // -delta positions in every layer, with the layer's RoPE (Model::KvRope). Before the
  // next Execute that reads those blocks. FailedPrecondition when the model's K cannot be
  // re-rotated (SupportsKvShift).
  Status ShiftKPositions(const KvCacheStorage& cache, std::span<const KvShift> shifts);
  // OK when ShiftKPositions works for this model; else why not (for flag validation).
  Status SupportsKvShift() const;
  // OK when ForwardBatch::attn_mass (heavy hitters, --kv-policy h2o) works for this
  // model: not with --tp / --pp (a rank sees only its heads' or layers' attention, so the
  // ranks would rank blocks differently); FailedPrecondition naming them.
  Status SupportsAttentionMass() const;
  // Every later Execute shows each matmul's input to `observer` (borrowed; nullptr stops
  // it): weft imatrix. Not while an Execute runs.
  void SetMatMulObserver(kernels::MatMulObserver* observer) { ctx_.observer = observer; }

 private:
  ModelRunner(std::shared_ptr<const Model> model, const RunnerOptions& options);
  Status Validate(const ForwardBatch& batch, const KvCacheStorage& cache) const;

  std::shared_ptr<const Model> model_;
  RunnerOptions options_;
  ThreadPool pool_;
  kernels::Scratch scratch_;
  kernels::KernelContext ctx_;
  std::unique_ptr<ModelActivations> act_;
};

}  // namespace weft
