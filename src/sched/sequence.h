// Sequence: one sample of one request as the scheduler sees it: its tokens, how many of
// them have KV computed, its KV block table, and its place in the queues.
//
// Ownership: the caller (EngineCore) creates Sequences and owns them; the Scheduler holds
// raw pointers from Add() until the sequence is finished: it is listed in
// SchedulerOutput::finished after Update(), or Finish()/Abort() returned. After that the
// scheduler never touches it again and the caller may destroy it.
// Thread-safety: none; engine thread only.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_cache_manager.h"

namespace weft {

enum class SequenceStatus : uint8_t {
  kWaiting,    // queued, never admitted
  kRunning,    // admitted: holds KV blocks and is scheduled each step
  kPreempted,  // back in the waiting queue after losing its blocks (recomputed later)
  kForkPending,// sample k>0 of an n>1 request, waiting for sample 0's prompt to finish
  kFinished,
};

enum class FinishReason : uint8_t {
  kNone,
  kStop,    // a stop token or stop string (decided by the engine: Scheduler::Finish)
  kLength,  // max_tokens generated, or the context (max_model_len) is full
  kAbort,   // cancelled (Scheduler::Abort)
};

struct Sequence {
  // prompt: the prompt's token ids (copied). max_tokens: tokens to generate at most (> 0).
  // priority: with the priority policy, SMALLER values are served first (default 0).
  Sequence(uint64_t request_id, int32_t sample_index, std::span<const int32_t> prompt, int32_t max_tokens,
           int32_t priority = 0);

  uint64_t request_id = 0;
  int32_t sample_index = 0;        // 0..n-1 within its request
  std::vector<int32_t> tokens;     // prompt then generated tokens; capacity reserved for
                                   // prompt + max_tokens, so appends do not allocate
  int32_t num_prompt_tokens = 0;
  int32_t num_computed_tokens = 0; // leading tokens whose KV is in this sequence's blocks
  int32_t max_tokens = 0;
  int32_t priority = 0;

  // Set by the scheduler.
  SequenceStatus status = SequenceStatus::kWaiting;
  FinishReason finish_reason = FinishReason::kNone;
  uint64_t arrival = 0;            // order of Add() (FCFS key); forks share their parent's
  uint64_t admission = 0;          // order of the latest admission to running
  int32_t num_cached_tokens = 0;   // prefix-cache hit (tokens) at the latest admission
  int32_t num_preemptions = 0;
  KvBlockTable kv;                 // its KV blocks (KvCacheManager mutates it)
  // n>1: on sample 0 only, the request's samples in sample order (itself first) until its
  // prompt is computed and the others are forked from it; empty otherwise.
  std::vector<Sequence*> group;
  // Speculative decoding: draft tokens proposed to follow tokens (set by the engine before
  // Schedule(); the scheduler verifies up to ScheduledSequence::num_draft of them when the
  // sequence decodes, and clears the draft in Update()). They are never part of `tokens`
  // until accepted, so the prefix cache never sees a rejected token.
  std::vector<int32_t> draft;
  // Token trees (sched/draft_tree.h): empty for a chain; else draft_parent[i] is the parent
  // of draft[i] (-1: the last token), in the engine's layout (first-child chain first).
  // Set and cleared with `draft`.
  std::vector<int32_t> draft_parent;

  int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
  int32_t num_generated() const { return num_tokens() - num_prompt_tokens; }
  int32_t num_uncomputed() const { return num_tokens() - num_computed_tokens; }
  bool is_finished() const { return status == SequenceStatus::kFinished; }
  std::span<const int32_t> prompt() const {
    return std::span<const int32_t>(tokens).first(static_cast<size_t>(num_prompt_tokens));
  }
};

}  // namespace weft
