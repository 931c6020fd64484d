#include "eval/single_sequence.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

namespace weft {

SingleSequence::SingleSequence(ModelRunner* runner, std::unique_ptr<KvCacheStorage> cache, int64_t capacity)
    : runner_(runner), cache_(std::move(cache)), capacity_(capacity) {
  block_table_.resize(static_cast<size_t>(cache_->shape().num_blocks));
  std::iota(block_table_.begin(), block_table_.end(), 0);
  const auto step = static_cast<size_t>(runner_->options().max_tokens_per_step);
  positions_.resize(step);
  slots_.resize(step);
  rows_.reserve(static_cast<size_t>(runner_->options().max_logit_rows));
}

StatusOr<std::unique_ptr<SingleSequence>> SingleSequence::Create(ModelRunner* runner, int64_t max_tokens,
                                                                 int block_size, kernels::KvTypes kv_type) {
  const int64_t ctx = runner->config().context_length;
  if (max_tokens <= 0 || max_tokens > ctx) {
    return OutOfRangeError(fmt::format("{} tokens requested, but the model's context is {} tokens", max_tokens, ctx));
  }
  const int64_t blocks = (max_tokens + block_size - 1) / block_size;
  WEFT_ASSIGN_OR_RETURN(auto cache, KvCacheStorage::Create(runner->KvShape(blocks, block_size, kv_type)));
  return std::unique_ptr<SingleSequence>(new SingleSequence(runner, std::move(cache), max_tokens));
}

Status SingleSequence::Truncate(int64_t n) {
  if (n < 0 || n > length_) {
    return OutOfRangeError(fmt::format("cannot keep {} tokens of a sequence of {}", n, length_));
  }
  length_ = n;
  return Status::Ok();
}

Status SingleSequence::Append(std::span<const int32_t> tokens, std::span<const int32_t> logit_positions,
                              float* logits) {
  if (length_ + static_cast<int64_t>(tokens.size()) > capacity_) {
    return OutOfRangeError(fmt::format("{} cached + {} new tokens exceed the {} this sequence holds", length_,
                                       tokens.size(), capacity_));
  }
  const int64_t n_vocab = runner_->config().n_vocab;
  const int64_t step = runner_->options().max_tokens_per_step;
  const int64_t max_rows = runner_->options().max_logit_rows;
  const int block_size = cache_->shape().block_size;
  size_t next_logit = 0;
  int64_t out_row = 0;
  for (int64_t start = 0; start < static_cast<int64_t>(tokens.size());) {
    // A chunk ends at the step size, or earlier when its logit rows would overflow.
    int64_t end = std::min<int64_t>(start + step, static_cast<int64_t>(tokens.size()));
    rows_.clear();
    for (size_t i = next_logit; i < logit_positions.size() && logit_positions[i] < end; ++i) {
      if (static_cast<int64_t>(rows_.size()) == max_rows) {
        end = logit_positions[i];
        break;
      }
      if (logit_positions[i] < start || (i > 0 && logit_positions[i] <= logit_positions[i - 1])) {
        return InvalidArgumentError("logit positions must be increasing indices into the tokens");
      }
      rows_.push_back(static_cast<int32_t>(logit_positions[i] - start));
    }
    const int64_t n = end - start;
    for (int64_t t = 0; t < n; ++t) {
      const int64_t pos = length_ + t;
      positions_[static_cast<size_t>(t)] = static_cast<int32_t>(pos);
      slots_[static_cast<size_t>(t)] = pos;  // identity block table: slot == position
    }
    const int32_t query_start[2] = {0, static_cast<int32_t>(n)};
    const int32_t seq_len[1] = {static_cast<int32_t>(length_ + n)};
    const int32_t blocks_used = static_cast<int32_t>((length_ + n + block_size - 1) / block_size);
    ForwardBatch batch;
    batch.tokens = tokens.subspan(static_cast<size_t>(start), static_cast<size_t>(n));
    batch.positions = std::span<const int32_t>(positions_.data(), static_cast<size_t>(n));
    batch.slot_mapping = std::span<const int64_t>(slots_.data(), static_cast<size_t>(n));
    batch.query_start = query_start;
    batch.seq_len = seq_len;
    batch.block_table = std::span<const int32_t>(block_table_.data(), static_cast<size_t>(blocks_used));
    batch.max_blocks_per_seq = blocks_used;
    batch.logit_rows = rows_;
    WEFT_RETURN_IF_ERROR(runner_->Execute(batch, *cache_, logits + out_row * n_vocab));
    out_row += static_cast<int64_t>(rows_.size());
    next_logit += rows_.size();
    length_ += n;
    start = end;
  }
  if (next_logit != logit_positions.size()) {
    return InvalidArgumentError("logit positions must be increasing indices into the tokens");
  }
  return Status::Ok();
}

}  // namespace weft
