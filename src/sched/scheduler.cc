#include "sched/scheduler.h"

#include "base/check.h"

namespace weft {

Sequence::Sequence(uint64_t request_id_, int32_t sample_index_, std::span<const int32_t> prompt, int32_t max_tokens_,
                   int32_t priority_)
    : request_id(request_id_), sample_index(sample_index_), max_tokens(max_tokens_), priority(priority_) {
  tokens.reserve(prompt.size() + static_cast<size_t>(max_tokens_ > 0 ? max_tokens_ : 0));
  tokens.assign(prompt.begin(), prompt.end());
  num_prompt_tokens = static_cast<int32_t>(prompt.size());
}

ForwardBatch SchedulerOutput::batch() const {
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = positions;
  b.slot_mapping = slot_mapping;
  b.query_start = query_start;
  b.seq_len = seq_len;
  b.block_table = block_table;
  b.max_blocks_per_seq = max_blocks_per_seq;
  b.logit_rows = logit_rows;
  return b;
}

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager* kv) : config_(config), kv_(kv) {}
Status Scheduler::Add(std::span<Sequence* const>) { return UnimplementedError("scheduler: not yet"); }
const SchedulerOutput& Scheduler::Schedule() { return out_; }
void Scheduler::Update(std::span<const int32_t>) {}
void Scheduler::Finish(Sequence*, FinishReason) {}
int32_t Scheduler::Abort(uint64_t) { return 0; }
SchedulerStats Scheduler::Stats() const { return stats_; }

}  // namespace weft
