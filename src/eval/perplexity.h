// Perplexity over a token stream, the way users compare models and quantisations:
// the stream is cut into chunks of n_ctx tokens, each evaluated from position 0 (the
// first token replaced by BOS when the model uses one), and the second half of each
// chunk is scored (every scored token has at least n_ctx/2 tokens of context).
// Optionally each scored position's log-probabilities are saved (a "KL base", F16) or
// compared with a saved base: KL divergence and top-1 agreement, as for checking a
// quantised model against its F16/F32 original.
// Thread-safety: not thread-safe; one evaluation at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/model_runner.h"

namespace weft {

struct PerplexityOptions {
  int64_t n_ctx = 512;
  int64_t max_chunks = 0;      // 0 = all
  int32_t bos_id = -1;         // replaces each chunk's first token when >= 0
  std::string kl_base_path;    // empty: no KL; else compare with it if it exists, write it if not
  kernels::KvTypes kv_type = kernels::KvType::kF16;  // the KV cache's element types (K, V)
};

struct PerplexityProgress {
  int64_t chunk = 0, n_chunks = 0;
  int64_t tokens_scored = 0;
  double ppl = 0;           // running estimate
  double ppl_stderr = 0;    // standard error of the estimate (delta method)
  double seconds = 0;
};

struct PerplexityResult {
  PerplexityProgress final;
  bool kl_written = false, kl_compared = false;
  double kl_mean = 0, kl_max = 0;   // KL(base || this) per position, nats
  double top1_agreement = 0;        // fraction of positions with the same argmax
};

// InvalidArgument when the text holds fewer than n_ctx tokens (not one chunk).
StatusOr<PerplexityResult> ComputePerplexity(ModelRunner* runner, std::span<const int32_t> tokens,
                                             const PerplexityOptions& options,
                                             const std::function<void(const PerplexityProgress&)>& on_chunk);

}  // namespace weft
