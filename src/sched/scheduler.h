// Scheduler: iteration-level (continuous) batching over the paged KV cache (Orca, vLLM),
// with ONE rule for every phase: each step, every scheduled sequence computes its next
// num_new_tokens = min(its uncomputed tokens, token budget left). Prefill, chunked
// prefill, decode (1 uncomputed token: the last sampled one), prefix-cache hits
// (num_computed_tokens starts past the hit) and resumption after preemption (recompute
// from 0) are all that rule.
//
// One step, on the engine thread:
//   const SchedulerOutput& out = scheduler.Schedule();
//   for (c : out.copies) storage.CopyBlock(c.src, c.dst);     // copy-on-write, first
//   logits = runner.Execute(out.batch());                      // rows = out.logit_rows
//   sampled = for each entry e with e.needs_logits, in out.seqs order:
//               for each s in e.samplers: sample(logits row e.logits_row, s)
//   scheduler.Update(sampled);          // appends tokens, finishes max_tokens/context
//   for (s : out.finished) ...           // finished by length: stream the final output
//   engine checks stop tokens/strings on each new token -> scheduler.Finish(s, kStop)
//   scheduler.Abort(request_id) for cancelled requests (blocks free immediately)
//
// Order of a step: running sequences first, in policy order (FCFS: admission order;
// priority: (priority, admission)), each getting its next chunk (1 token when decoding).
// When the KV cache cannot hold a running sequence's new tokens, the running sequence
// LAST in that order (lowest priority, most recently admitted) is preempted: its blocks
// are freed, num_computed_tokens = 0, and it goes back to the waiting queue at its arrival
// position (so it is resumed first under FCFS: no starvation); then the allocation is
// retried; if the victim is the sequence itself, it is simply not scheduled. A step that
// preempted admits no new sequences. Then waiting sequences are admitted in policy order
// (FCFS: arrival; priority: (priority, arrival)) while the budget, max_num_seqs and the KV
// blocks allow; the head of the queue blocks the rest (no overtaking), so FCFS is fair.
// On admission the longest cached prefix is reused (num_computed_tokens = hit).
// Without chunked prefill a new prompt that exceeds the budget left is not admitted this
// step (and, being the head, stops admission); Add() takes no prompt longer than the
// whole budget; recomputation after preemption is chunked anyway (it may be longer).
//
// n>1 samples: Add() takes all n samples of a request together; sample 0 computes the
// prompt; samples 1..n-1 wait (kForkPending, not counted anywhere else) and are forked
// from sample 0 (sharing its blocks, copy-on-write of the partial last block) in the
// Update() that completes the prompt: they sample their first token from the same logits
// row (ScheduledSequence::samplers) and run on their own from then. A request is admitted
// only when running + n <= max_num_seqs.
//
// Allocation: the step path (Schedule, Update, Finish) allocates nothing once the output
// vectors reached their reserved sizes (reserved at construction from max_num_seqs,
// max_num_batched_tokens and max_blocks_per_seq), formats no text and logs nothing.
// Sinks + window (kv/kv_window.h): a sequence whose kv.window is set (before Add) runs in
// cache positions: before it is scheduled, its blocks out of the window are evicted
// (SchedulerOutput::shifts lists the K re-rotations the engine must do before the
// forward pass), its batch positions, slots and seq_len are cache positions, a step
// computes at most max_model_len - (its cache length) tokens, and it is never finished
// for length by the context (only by max_tokens): it may run past the model's context.
// It never drafts, and must be a single sample (n == 1; checked).
// A KV budget (kv/kv_budget.h; KvBlockTable::budget, set before Add) is such a sequence
// too (cache positions, no drafts, n == 1, past the context), with one more rule: no
// step's attention sees more than its budget N of positions (Room caps the step at
// N - its cache length, and for h2o at H2oMaxStep). Policies window / sinks evict through
// the window above. h2o: before it is scheduled, the lowest-mass blocks outside the sinks
// and the recent window are evicted (ChooseH2oEvictions + KvCacheManager::EvictBlocks;
// their K re-rotations join `shifts`), and SchedulerOutput::attn_mass points the forward
// pass at its KvBlockTable::attn_mass, which accumulates the attention each position gets.
//
// Token trees (Sequence::draft_parent non-empty; sched/draft_tree.h): the entry's rows are
// the root (its last token, at position P = start_position) and the nodes, node i in row
// i + 1 with KV slot P + 1 + i and RoPE position P + depth(i). The first-child chain
// (nodes 0..c-1) is an ordinary causal run. Every other node gets its own ForwardBatch
// sequence of one query whose block table is the prefix's full blocks followed by
// scratch blocks (SchedulerConfig::tree_scratch_*), which the forward pass fills in every
// layer, after writing this step's KV (ForwardBatch::kv_copy_*), with the prefix's
// partial last block, the node's ancestors and the node itself: the attention kernel
// sees exactly the contiguous sequence plain decoding of that path would see (same
// positions, same split-KV chunks), so its logits are bit for bit those of plain
// decoding. Nodes past the scratch left this step are cut (with their subtrees).
//
// Thread-safety: none; the engine thread owns the scheduler and its KvCacheManager.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "model/forward_batch.h"
#include "sched/sequence.h"
#include "weft/status.h"

namespace weft {

enum class SchedulingPolicy : uint8_t { kFcfs, kPriority };

struct SchedulerConfig {
  int32_t max_num_batched_tokens = 512;  // token budget per step
  int32_t max_num_seqs = 64;             // running sequences at most
  bool enable_chunked_prefill = true;
  SchedulingPolicy policy = SchedulingPolicy::kFcfs;
  // Speculative decoding: draft tokens verified per step at most, all sequences together
  // (each costs a token of the budget and a logits row); 0 = no speculation (drafts are
  // ignored). The runner must take max_num_seqs + this many logits rows.
  int32_t max_draft_tokens_per_step = 0;
  // Token trees (sched/draft_tree.h): KV blocks past the KV manager's, in the same storage
  // (ids tree_scratch_first_block ..), that give each tree node off the first-child chain
  // a contiguous view of its prefix and ancestors for one step (see FillBatch below).
  // 0 blocks: trees are cut to their first-child chain.
  int32_t tree_scratch_first_block = 0;
  int32_t tree_scratch_blocks = 0;
  // The model's own sliding window when EVERY layer has one (Mistral, Phi-3; the largest),
  // else 0: blocks wholly before the window of a sequence's next token are released
  // (KvCacheManager::ReleaseBeforeWindow) before it is scheduled. 0 = keep them.
  int32_t model_window = 0;
  // The block size and max_model_len are the KvCacheManager's (KvCacheConfig).
};

// One sequence's work in a step.
struct ScheduledSequence {
  Sequence* seq = nullptr;
  int32_t num_new_tokens = 0;             // tokens [start_position, start_position + n)
  int32_t start_position = 0;             // == seq->num_computed_tokens before the step
  std::span<const int32_t> block_table;   // seq's blocks, covering all its tokens after the step
  bool needs_logits = false;              // its last new token is its last uncomputed token
  int32_t logits_row = -1;                // index into logit_rows when needs_logits
  int32_t token_offset = 0;               // index of its first token in the flat batch
  // Speculative decoding: the entry's last num_draft tokens are seq->draft[0, num_draft),
  // at positions start_position + 1 ..; it then has num_draft + 1 consecutive logits rows
  // from logits_row (row j scores the token after new token j). Only for a decoding
  // sequence (num_new_tokens == num_draft + 1, one sampler).
  int32_t num_draft = 0;
  // Sequences that sample from this entry's logits row, in order: seq itself, then (when
  // this step completes an n>1 prompt) the samples to fork. Empty unless needs_logits.
  std::span<Sequence* const> samplers;
};

// Owned by the Scheduler and reused each step; valid until the next Schedule().
struct SchedulerOutput {
  std::vector<ScheduledSequence> seqs;    // running sequences (in step order)
  std::vector<BlockCopy> copies;          // copy-on-write copies to do BEFORE the forward pass
  std::vector<KvShift> shifts;            // sinks + window: K re-rotations to do after the
                                          // copies, before the forward pass (ModelRunner::ShiftKPositions)
  std::vector<Sequence*> preempted;       // preempted in this Schedule() (now waiting)
  std::vector<Sequence*> finished;        // finished by Update() (kLength); not owned after it
  int32_t num_tokens = 0;                 // sum of num_new_tokens (<= max_num_batched_tokens)
  int32_t num_samples = 0;                // samplers in all entries: sum of samplers.size()
  int32_t num_draft_tokens = 0;           // sum of num_draft

  // The flat ragged batch (ForwardBatch fields), filled by Schedule().
  std::vector<int32_t> tokens;            // [num_tokens]
  std::vector<int32_t> positions;         // [num_tokens]
  std::vector<int64_t> slot_mapping;      // [num_tokens] block * block_size + offset
  std::vector<int32_t> query_start;       // [n_seqs + 1]
  std::vector<int32_t> seq_len;           // [n_seqs] KV length after the step
  std::vector<int32_t> block_table;       // [n_seqs * max_blocks_per_seq], padded with 0
  int32_t max_blocks_per_seq = 0;         // widest table this step
  std::vector<int32_t> logit_rows;        // token indices whose logits are needed
  std::vector<Sequence*> sampler_storage; // backing of n>1 entries' samplers
  std::vector<int64_t> kv_copy_src;       // token trees: slot copies in each layer after
  std::vector<int64_t> kv_copy_dst;       // its KV write (ForwardBatch::kv_copy_*)
  std::vector<float*> attn_mass;          // [n_seqs] h2o sequences' KvBlockTable::attn_mass, else null
  int32_t num_attn_mass = 0;              // non-null entries (0: the batch asks for no mass)

  bool empty() const { return seqs.empty(); }
  // Borrowing view for ModelRunner::Execute; valid while this output is unchanged.
  ForwardBatch batch() const;
};

struct SchedulerStats {
  int32_t num_running = 0;
  int32_t num_waiting = 0;                // includes preempted ones
  int64_t num_preemptions = 0;            // total
  int64_t num_steps = 0;                  // Schedule() calls
  int64_t num_scheduled_tokens = 0;       // total over all steps
  int64_t schedule_ns_total = 0;          // time in Schedule(), summed
  int64_t schedule_ns_last = 0;
  int64_t schedule_ns_max = 0;
  int64_t kv_evicted_tokens = 0;          // sinks + window: tokens whose blocks went back to the pool
  int64_t kv_shifted_blocks = 0;          // KvShift entries handed out (blocks re-rotated)
  int64_t kv_released_blocks = 0;         // model sliding window: blocks released behind it
  // KV budgets (--kv-budget / kv_budget), checked on every batch apart from the eviction:
  // the most positions a budgeted sequence's attention saw in one step, and the steps in
  // which one saw more than its budget (a bug if ever > 0).
  int64_t kv_budget_peak_tokens = 0;
  int64_t kv_budget_overruns = 0;
};

class Scheduler {
 public:
  // `kv` must outlive the scheduler; the scheduler is its only user.
  Scheduler(const SchedulerConfig& config, KvCacheManager* kv);
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues the n samples of one request (samples[k]->sample_index == k, same request id
  // and prompt; n == 1 for a plain request). The request was admitted (engine/admission.h):
  // a non-empty prompt that fits max_model_len and the whole cache with one generated
  // token, n <= max_num_seqs, and (chunked prefill off) a prompt within
  // max_num_batched_tokens. Anything else is a bug and aborts (WEFT_CHECK).
  // Not the step path (may allocate).
  void Add(std::span<Sequence* const> samples);
  void Add(Sequence* seq) { Add(std::span<Sequence* const>(&seq, 1)); }

  // Plans the next step (see the top of this file). The reference stays valid (and the
  // scheduler keeps using the object) until the next Schedule().
  const SchedulerOutput& Schedule();

  // After the forward pass and sampling of every non-empty Schedule() (a no-op after an
  // empty one): `sampled` holds the new tokens of each sampler of each entry, in order.
  // `counts` empty: one token per sampler (output.num_samples tokens). Else counts[i] is
  // the number of tokens of the i-th sampler: 1 + the accepted draft tokens (1 ..
  // num_draft + 1; exactly 1 for entries without a draft); an entry with a draft then
  // computed only its accepted tokens: num_computed_tokens advances by counts[i] and the
  // KV blocks past them are rolled back (KvCacheManager::Truncate). Advances num_computed_tokens,
  // registers newly full blocks in the prefix cache, appends the sampled tokens, forks
  // pending samples of completed n>1 prompts, finishes sequences that reached max_tokens
  // or max_model_len (kLength; listed in output.finished, their blocks freed).
  void Update(std::span<const int32_t> sampled, std::span<const int32_t> counts = {});

  // Finishes a running, waiting or preempted sequence now (e.g. kStop on a stop string):
  // frees its blocks and forgets it. Not between Schedule() and Update().
  void Finish(Sequence* seq, FinishReason reason);
  // Finishes every sequence of the request with kAbort, freeing its blocks now. Returns
  // how many sequences it finished (0 if the request is unknown or already done). Not
  // between Schedule() and Update().
  int32_t Abort(uint64_t request_id);

  bool HasUnfinished() const { return !running_.empty() || !waiting_.empty(); }
  SchedulerStats Stats() const;
  const SchedulerConfig& config() const { return config_; }
  KvCacheManager& kv() { return *kv_; }
  // Running sequences in policy order; waiting ones in queue order (for tests and stats).
  std::span<Sequence* const> running() const { return running_; }
  std::span<Sequence* const> waiting() const { return waiting_; }

 private:
  bool RunsBefore(const Sequence* a, const Sequence* b) const;  // running order
  bool QueuedBefore(const Sequence* a, const Sequence* b) const;  // waiting order
  void InsertRunning(Sequence* seq);
  void InsertWaiting(Sequence* seq);
  void Preempt(Sequence* seq);
  void ScheduleRunning(int32_t& budget, bool& preempted_any);
  void AdmitWaiting(int32_t& budget);
  void AddEntry(Sequence* seq, int32_t num_new, int32_t num_draft);
  int32_t DraftLength(const Sequence* s, int32_t budget, int32_t draft_budget) const;
  // Token trees: how many of s's first k nodes fit the scratch blocks left (takes them).
  int32_t TreeNodesThatFit(const Sequence* s, int32_t k, int32_t& scratch_left);
  int32_t TreeScratchBlocks(int32_t start, int32_t depth) const;
  void FillBatch();
  // h2o: evicts s's lowest-mass blocks so that its next step (at most step_budget tokens)
  // fits its KV budget.
  void EvictHeavyHitterVictims(Sequence* s, int32_t step_budget);
  void FillTree(ScheduledSequence& e, int32_t widest, int32_t& scratch_next);  // a token tree's rows
  void ReleaseSequence(Sequence* seq, FinishReason reason);
  void FinishIfDone(Sequence* seq);
  int32_t MaxModelLen() const;
  // Tokens s may compute this step as far as the context goes: when windowed,
  // min(max_model_len, the whole cache) minus its cache length (positions are cache
  // positions); unbounded otherwise.
  int32_t Room(const Sequence* s) const;

  SchedulerConfig config_;
  KvCacheManager* kv_;
  std::vector<Sequence*> running_;  // policy order
  std::vector<Sequence*> waiting_;  // policy order
  SchedulerOutput out_;
  bool in_step_ = false;            // between Schedule() and Update()
  uint64_t next_arrival_ = 0;
  uint64_t next_admission_ = 0;
  int32_t num_live_ = 0;             // sequences added and not finished (incl. pending forks)
  int32_t reserved_fork_slots_ = 0;  // pending forks of running n>1 prompts (max_num_seqs)
  SchedulerStats stats_;
  std::vector<int32_t> depth_, ancestors_;  // token-tree scratch (FillBatch)
  std::vector<int32_t> evict_;                // h2o: table indices to evict (EvictHeavyHitterVictims)
};

}  // namespace weft
