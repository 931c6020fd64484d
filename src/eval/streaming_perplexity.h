// Streaming perplexity (StreamingLLM's figure, Xiao et al. 2023): one long text is fed
// through ONE sequence, `chunk` tokens per forward pass (1 = token by token, as the paper),
// past the model's trained context, under a KV policy: dense (keep everything: positions
// run past the context), a plain window (sinks 0) or sinks + window (kv/kv_window.h). Each
// token's negative log-likelihood of the next is recorded, so a curve of log-perplexity vs
// position shows where a policy breaks down.
//
// It runs on the engine's own machinery: a KvCacheManager (no prefix cache) whose
// EvictOutOfWindow frees the blocks, ModelRunner::ShiftKPositions re-rotates the kept K,
// and tokens sit at their cache positions; the window policies run in a cache of constant
// size (sink blocks + window + two blocks + chunk), dense in one of the text's length.
// A KV budget (kv/kv_budget.h) instead of a window: policy window / sinks run as the window
// of the same budget; h2o asks the attention for each token's mass (ForwardBatch::attn_mass)
// and, before each step that would pass the budget, evicts the lowest-scoring blocks
// between the sinks and the recent window (KvCacheManager::EvictBlocks), re-rotating the
// kept K after them. block_size 1 makes it token-level H2O (the reference for what whole
// blocks cost). The cache then holds ceil(budget / block_size) + 1 blocks.
// Thread-safety: not thread-safe; one evaluation at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "kv/kv_budget.h"
#include "kv/kv_window.h"
#include "model/model_runner.h"

namespace weft {

struct StreamingPerplexityOptions {
  KvWindow window;            // window 0: dense
  KvBudget budget;            // when enabled: this policy instead of `window` (which must be off)
  int32_t chunk = 1;          // tokens per forward pass (<= the runner's max tokens per step)
  int32_t block_size = 16;
  int32_t bos_id = -1;        // replaces the first token when >= 0
  kernels::KvTypes kv_type = kernels::KvType::kF16;
};

struct StreamingPerplexityResult {
  std::vector<float> nll;       // nll[i]: -log p(token i+1 | tokens <= i), nats
  std::vector<int32_t> argmax;  // argmax[i]: the greedy choice after tokens <= i
  int32_t cache_blocks = 0;     // blocks of the cache it ran in
  int32_t peak_used_blocks = 0; // most blocks the sequence held at once
  int64_t evicted_tokens = 0;   // tokens whose blocks were returned to the pool
  double mean_kv_tokens = 0;    // KV positions the steps' last query saw, on average
  double seconds = 0;
  double shift_seconds = 0;     // of which re-rotating K (ShiftKPositions)
};

// The runner must take `chunk` tokens and logit rows per step, and (dense past the
// context) have allow_past_context. InvalidArgument for fewer than 2 tokens or a window
// that does not fit the context.
StatusOr<StreamingPerplexityResult> ComputeStreamingPerplexity(
    ModelRunner* runner, std::span<const int32_t> tokens, const StreamingPerplexityOptions& options,
    const std::function<void(int64_t done, int64_t total)>& on_progress);

}  // namespace weft
