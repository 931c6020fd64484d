// ModelRunner: executes one ForwardBatch on a loaded model and returns the logits of
// the requested rows. It owns the activation buffers (sized once, at creation, for the
// largest step: no allocation per step), the kernel context and a thread pool.
// Thread-safety: one Execute at a time (the engine thread's); the weights it reads are
// immutable and may be shared with other runners.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "kv/kv_cache_storage.h"
#include "model/forward_batch.h"
#include "model/llama_weights.h"
#include "weft/status.h"

namespace weft {

struct RunnerOptions {
  int64_t max_tokens_per_step = 512;  // the largest ForwardBatch::n_tokens
  int64_t max_logit_rows = 256;       // the largest ForwardBatch::logit_rows.size()
  int threads = 0;                    // compute threads; 0 = one per physical core
  // The kernels to use; nullptr = SelectKernelTable() ($WEFT_ISA, else the best here).
  const kernels::KernelTable* kernel_table = nullptr;
};

// Per-step scratch of the llama-family forward pass; shapes in tokens T (<= max tokens).
struct LlamaActivations {
  std::vector<float> x;       // [T, n_embd] the residual stream
  std::vector<float> xn;      // [T, n_embd] normalised input of a sub-layer
  std::vector<float> q;       // [T, n_head * head_dim]
  std::vector<float> k;       // [T, n_head_kv * head_dim]
  std::vector<float> v;       // [T, n_head_kv * head_dim]
  std::vector<float> attn;    // [T, n_head * head_dim]
  std::vector<float> proj;    // [T, n_embd] sub-layer output before the residual add
  std::vector<float> gate;    // [T, n_ff]
  std::vector<float> up;      // [T, n_ff]
  std::vector<float> last;    // [R, n_embd] rows that need logits
};

class ModelRunner {
 public:
  static StatusOr<std::unique_ptr<ModelRunner>> Create(std::shared_ptr<const LlamaWeights> weights,
                                                       const RunnerOptions& options);

  const ModelConfig& config() const { return weights_->config(); }
  const RunnerOptions& options() const { return options_; }
  const char* isa_name() const;
  int num_threads() const { return pool_.num_threads(); }

  // The shape a KV cache for this model needs, for `num_blocks` blocks of `block_size`.
  KvCacheShape KvShape(int64_t num_blocks, int block_size, DType type = DType::kF16) const;

  // Runs the batch, writing its K/V into `cache` and the logits of batch.logit_rows into
  // logits: [logit_rows.size(), n_vocab]. InvalidArgument when the batch is malformed or
  // larger than the options allow (the runner never reads outside its arrays).
  Status Execute(const ForwardBatch& batch, const KvCacheStorage& cache, float* logits);

 private:
  ModelRunner(std::shared_ptr<const LlamaWeights> weights, const RunnerOptions& options);
  Status Validate(const ForwardBatch& batch, const KvCacheStorage& cache) const;

  std::shared_ptr<const LlamaWeights> weights_;
  RunnerOptions options_;
  ThreadPool pool_;
  kernels::Scratch scratch_;
  kernels::KernelContext ctx_;
  LlamaActivations act_;
};

// The llama-family forward pass (model/archs/llama.cc): Llama 2/3, Mistral, SmolLM,
// TinyLlama, and qwen2 (QKV bias) / qwen3 (q/k norm), which differ only by flags.
void LlamaForward(const kernels::KernelContext& ctx, const LlamaWeights& w, const ForwardBatch& batch,
                  const KvCacheStorage& cache, LlamaActivations& act, float* logits);

}  // namespace weft
