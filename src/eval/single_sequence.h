// SingleSequence: one sequence run through a ModelRunner with its own small KV cache —
// what `weft logits`, `weft perplexity` and `weft run` need before (and besides) the
// engine's paged, shared cache. Tokens are appended in chunks of at most the runner's
// max tokens per step; each chunk is one ForwardBatch with identity block table.
// Thread-safety: not thread-safe; owned by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "kv/kv_cache_storage.h"
#include "model/model_runner.h"

namespace weft {

class SingleSequence {
 public:
  // A cache for `max_tokens` tokens (<= the model's context), in blocks of block_size.
  static StatusOr<std::unique_ptr<SingleSequence>> Create(ModelRunner* runner, int64_t max_tokens,
                                                          int block_size = 16,
                                                          kernels::KvTypes kv_type = kernels::KvType::kF16);

  int64_t length() const { return length_; }  // tokens evaluated so far
  int64_t capacity() const { return capacity_; }
  void Reset() { length_ = 0; }  // forget the cached tokens (the memory is reused)
  // Keeps the first n cached tokens (0 <= n <= length()) and forgets the rest: the next
  // Append continues at position n, over the same K/V a fresh run of those n tokens wrote.
  Status Truncate(int64_t n);

  // Evaluates `tokens` after the ones already cached. For each i in logit_positions
  // (indices into `tokens`, increasing), writes that token's next-token logits into
  // logits[i_out * n_vocab ...]. OutOfRange when the tokens do not fit.
  Status Append(std::span<const int32_t> tokens, std::span<const int32_t> logit_positions, float* logits);

 private:
  SingleSequence(ModelRunner* runner, std::unique_ptr<KvCacheStorage> cache, int64_t capacity);
  ModelRunner* runner_;
  std::unique_ptr<KvCacheStorage> cache_;
  int64_t capacity_;
  int64_t length_ = 0;
  std::vector<int32_t> block_table_;
  // Per-chunk arrays, sized once.
  std::vector<int32_t> positions_;
  std::vector<int64_t> slots_;
  std::vector<int32_t> rows_;
};

}  // namespace weft
