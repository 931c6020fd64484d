#include "sched/scheduler.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "base/check.h"
#include "sched/draft_tree.h"

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
  b.kv_copy_src = kv_copy_src;
  b.kv_copy_dst = kv_copy_dst;
  if (num_attn_mass > 0) b.attn_mass = attn_mass;
  return b;
}

namespace {
size_t Sz(int32_t n) { return static_cast<size_t>(n); }
int32_t GroupSize(const Sequence* s) { return std::max<int32_t>(1, static_cast<int32_t>(s->group.size())); }
}  // namespace

Scheduler::Scheduler(const SchedulerConfig& config, KvCacheManager* kv) : config_(config), kv_(kv) {
  WEFT_CHECK(kv != nullptr, "scheduler without a KV cache manager");
  WEFT_CHECK(config.max_num_batched_tokens > 0 && config.max_num_seqs > 0, "budget {} seqs {}",
             config.max_num_batched_tokens, config.max_num_seqs);
  const size_t seqs = Sz(config.max_num_seqs);
  running_.reserve(seqs);
  waiting_.reserve(std::max<size_t>(seqs * 4, 256));
  out_.seqs.reserve(seqs);
  out_.copies.reserve(seqs * 2);
  out_.shifts.reserve(seqs * Sz(kv->max_blocks_per_seq()));
  out_.preempted.reserve(seqs);
  out_.finished.reserve(seqs * 2);
  const size_t toks = Sz(config.max_num_batched_tokens);
  out_.tokens.reserve(toks);
  out_.positions.reserve(toks);
  out_.slot_mapping.reserve(toks);
  out_.query_start.reserve(seqs + 1);
  out_.seq_len.reserve(seqs);
  out_.block_table.reserve(seqs * Sz(kv->max_blocks_per_seq()));
  out_.logit_rows.reserve(seqs + Sz(std::max(0, config.max_draft_tokens_per_step)));
  out_.sampler_storage.reserve(seqs);
  // Token trees: each node off the chain is a sequence of its own, and fills scratch.
  const size_t tree_rows = Sz(std::max(0, config.max_draft_tokens_per_step));
  out_.query_start.reserve(seqs + 1 + tree_rows);
  out_.seq_len.reserve(seqs + tree_rows);
  out_.attn_mass.reserve(seqs + tree_rows);
  evict_.reserve(Sz(kv->max_blocks_per_seq()));
  out_.block_table.reserve((seqs + tree_rows) * Sz(kv->max_blocks_per_seq()));
  const size_t scratch_slots = Sz(std::max(0, config.tree_scratch_blocks)) * Sz(kv->block_size());
  out_.kv_copy_src.reserve(scratch_slots);
  out_.kv_copy_dst.reserve(scratch_slots);
  depth_.reserve(64);
  ancestors_.reserve(64);
}

int32_t Scheduler::MaxModelLen() const { return kv_->config().max_model_len; }

int32_t Scheduler::Room(const Sequence* s) const {
  // A dense sequence never outgrows the context (admission and FinishIfDone see to it).
  if (!s->kv.evicts()) return std::numeric_limits<int32_t>::max();
  // Nor past the whole cache, so that a windowed sequence alone always makes progress.
  const int32_t cache_tokens = kv_->config().num_blocks * kv_->block_size();
  const int32_t cache_len = KvCacheManager::CachePos(s->kv, s->num_computed_tokens);
  int32_t room = std::min(MaxModelLen(), cache_tokens) - cache_len;
  const KvBudget& b = s->kv.budget;
  if (b.enabled()) {
    // The budget: no step's attention sees more than N positions (its own tokens included).
    room = std::min(room, b.budget - cache_len);
    if (b.policy == KvPolicy::kH2o) room = std::min(room, H2oMaxStep(b, kv_->block_size()));
  }
  return room;
}

bool Scheduler::RunsBefore(const Sequence* a, const Sequence* b) const {
  if (config_.policy == SchedulingPolicy::kPriority && a->priority != b->priority) return a->priority < b->priority;
  return a->admission < b->admission;
}

bool Scheduler::QueuedBefore(const Sequence* a, const Sequence* b) const {
  if (config_.policy == SchedulingPolicy::kPriority && a->priority != b->priority) return a->priority < b->priority;
  if (a->arrival != b->arrival) return a->arrival < b->arrival;
  return a->sample_index < b->sample_index;
}

void Scheduler::InsertRunning(Sequence* seq) {
  auto it = std::upper_bound(running_.begin(), running_.end(), seq,
                             [this](const Sequence* a, const Sequence* b) { return RunsBefore(a, b); });
  running_.insert(it, seq);
}

void Scheduler::InsertWaiting(Sequence* seq) {
  auto it = std::upper_bound(waiting_.begin(), waiting_.end(), seq,
                             [this](const Sequence* a, const Sequence* b) { return QueuedBefore(a, b); });
  waiting_.insert(it, seq);
}

void Scheduler::Add(std::span<Sequence* const> samples) {
  WEFT_CHECK(!samples.empty(), "a request needs at least one sample");
  const Sequence* first = samples[0];
  const int32_t n = static_cast<int32_t>(samples.size());
  WEFT_CHECK(first->num_prompt_tokens > 0, "request {}: empty prompt", first->request_id);
  for (int32_t k = 0; k < n; ++k) {
    const Sequence* s = samples[Sz(k)];
    WEFT_CHECK(s != nullptr && s->request_id == first->request_id && s->sample_index == k &&
                   s->num_prompt_tokens == first->num_prompt_tokens && s->num_tokens() == s->num_prompt_tokens &&
                   s->num_computed_tokens == 0 && s->max_tokens > 0 && s->status == SequenceStatus::kWaiting,
               "request {}: sample {} is not a fresh copy of sample 0 (same prompt, index {}, max_tokens > 0)",
               first->request_id, k, k);
    WEFT_DCHECK(std::equal(s->tokens.begin(), s->tokens.end(), first->tokens.begin()),
                "request {}: sample {} has another prompt", first->request_id, k);
  }
  // What admission (engine/admission.h) guarantees; a request past these would never run.
  // A windowed sequence may be longer than the context (it runs in a window of it).
  const bool windowed = first->kv.evicts();
  WEFT_CHECK(!windowed || n == 1, "request {}: {} samples with a KV window", first->request_id, n);
  WEFT_CHECK(windowed || first->num_prompt_tokens + 1 <= MaxModelLen(), "request {}: prompt of {} tokens in a context of {}",
             first->request_id, first->num_prompt_tokens, MaxModelLen());
  WEFT_CHECK(config_.enable_chunked_prefill || first->num_prompt_tokens <= config_.max_num_batched_tokens,
             "request {}: prompt of {} tokens over the step budget of {} without chunked prefill", first->request_id,
             first->num_prompt_tokens, config_.max_num_batched_tokens);
  WEFT_CHECK(windowed || kv_->BlocksForTokens(first->num_prompt_tokens + 1) <= kv_->config().num_blocks,
             "request {}: prompt of {} tokens does not fit a cache of {} blocks", first->request_id,
             first->num_prompt_tokens, kv_->config().num_blocks);
  WEFT_CHECK(n <= config_.max_num_seqs, "request {}: {} samples over max_num_seqs {}", first->request_id, n,
             config_.max_num_seqs);
  const uint64_t arrival = next_arrival_++;
  for (int32_t k = 0; k < n; ++k) {
    Sequence* s = samples[Sz(k)];
    kv_->InitTable(s->kv);
    s->arrival = arrival;
    s->finish_reason = FinishReason::kNone;
    s->status = k == 0 ? SequenceStatus::kWaiting : SequenceStatus::kForkPending;
    s->group.clear();
  }
  Sequence* leader = samples[0];
  if (n > 1) leader->group.assign(samples.begin(), samples.end());
  // Room for every live sequence in the waiting queue, so preemption never allocates.
  num_live_ += n;
  if (waiting_.capacity() < Sz(num_live_)) waiting_.reserve(Sz(num_live_) * 2);
  InsertWaiting(leader);
}

void Scheduler::Preempt(Sequence* seq) {
  auto it = std::find(running_.begin(), running_.end(), seq);
  WEFT_CHECK(it != running_.end(), "preempting a sequence that is not running");
  running_.erase(it);
  reserved_fork_slots_ -= GroupSize(seq) - 1;
  // Its blocks go back to the pool now: no re-rotation of them may follow (another
  // sequence may get one this step).
  if (seq->kv.evicts()) {
    std::erase_if(out_.shifts, [&](const KvShift& sh) {
      return std::find(seq->kv.blocks.begin(), seq->kv.blocks.end(), sh.block) != seq->kv.blocks.end();
    });
  }
  kv_->Free(seq->kv);
  seq->num_computed_tokens = 0;
  seq->draft.clear();
  seq->draft_parent.clear();
  seq->status = SequenceStatus::kPreempted;
  ++seq->num_preemptions;
  ++stats_.num_preemptions;
  InsertWaiting(seq);
  out_.preempted.push_back(seq);
}

void Scheduler::AddEntry(Sequence* seq, int32_t num_new, int32_t num_draft) {
  ScheduledSequence& e = out_.seqs.emplace_back();
  e.seq = seq;
  e.num_new_tokens = num_new + num_draft;
  e.num_draft = num_draft;
  e.start_position = seq->num_computed_tokens;
  e.needs_logits = seq->num_computed_tokens + num_new == seq->num_tokens();
  if (e.needs_logits) {
    if (seq->group.empty()) {
      e.samplers = std::span<Sequence* const>(&e.seq, 1);
    } else {  // copied: Update() forks the group and clears it while samplers is in use
      const size_t at = out_.sampler_storage.size();
      WEFT_CHECK(at + seq->group.size() <= out_.sampler_storage.capacity(), "sampler storage would move");
      out_.sampler_storage.insert(out_.sampler_storage.end(), seq->group.begin(), seq->group.end());
      e.samplers = std::span<Sequence* const>(out_.sampler_storage).subspan(at, seq->group.size());
    }
    out_.num_samples += static_cast<int32_t>(e.samplers.size());
  }
  out_.num_tokens += num_new + num_draft;
  out_.num_draft_tokens += num_draft;
}

int32_t Scheduler::TreeScratchBlocks(int32_t start, int32_t depth) const {
  const int32_t bs = kv_->block_size();
  return (start % bs + depth + 1 + bs - 1) / bs;  // the partial prefix block, ancestors, itself
}

int32_t Scheduler::TreeNodesThatFit(const Sequence* s, int32_t k, int32_t& scratch_left) {
  if (s->draft_parent.empty()) return k;
  const int32_t c = FirstChildChainLength(s->draft_parent, k);
  DraftTreeDepths(s->draft_parent, k, depth_);
  int32_t need = 0;
  for (int32_t i = c; i < k; ++i) {
    const int32_t b = TreeScratchBlocks(s->num_computed_tokens, depth_[Sz(i)]);
    if (need + b > scratch_left) {
      k = i;
      break;
    }
    need += b;
  }
  scratch_left -= need;
  return k;
}

int32_t Scheduler::DraftLength(const Sequence* s, int32_t budget, int32_t draft_budget) const {
  // Only a decoding sequence verifies a draft; every token it may accept must still fit
  // max_tokens and the context (so Update never appends past them).
  if (s->num_uncomputed() != 1 || s->draft.empty() || !s->group.empty() || s->kv.evicts()) return 0;
  const int32_t k = std::min({static_cast<int32_t>(s->draft.size()), budget - 1, draft_budget,
                              s->max_tokens - s->num_generated() - 1, MaxModelLen() - s->num_tokens() - 1});
  return std::max(k, 0);
}

void Scheduler::EvictHeavyHitterVictims(Sequence* s, int32_t step_budget) {
  // The step this sequence will take at most (Room caps it again after the eviction).
  const int32_t bs = kv_->block_size();
  const int32_t cache_len = KvCacheManager::CachePos(s->kv, s->num_computed_tokens);
  const int32_t n = std::min({s->num_uncomputed(), step_budget, H2oMaxStep(s->kv.budget, bs)});
  if (n <= 0) return;
  ChooseH2oEvictions(s->kv.budget, bs, n, s->kv.attn_mass, cache_len, evict_);
  stats_.kv_evicted_tokens += kv_->EvictBlocks(s->kv, cache_len, evict_, out_.shifts);
}

void Scheduler::ScheduleRunning(int32_t& budget, bool& preempted_any) {
  int32_t draft_budget = config_.max_draft_tokens_per_step;
  int32_t scratch_left = config_.tree_scratch_blocks;
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* s = running_[i];
    if (s->kv.window.enabled() && s->num_uncomputed() > 0) {
      const KvBudget& b = s->kv.budget;
      // A budget's window is sized for the step (WindowForBudget): a prefill chunk of n
      // tokens keeps a window n - 1 shorter than decoding does, so that it fits too.
      const int32_t n_planned = std::min({s->num_uncomputed(), budget, WindowPolicyMaxStep(b, kv_->block_size())});
      if (b.enabled()) s->kv.window = WindowForBudget(b, kv_->block_size(), std::max(1, n_planned));
      stats_.kv_evicted_tokens +=
          kv_->EvictOutOfWindow(s->kv, KvCacheManager::CachePos(s->kv, s->num_computed_tokens), out_.shifts);
      if (b.enabled()) s->kv.window = WindowForBudget(b, kv_->block_size(), 1);
    }
    if (s->kv.budget.enabled() && s->kv.budget.policy == KvPolicy::kH2o && s->num_uncomputed() > 0) {
      EvictHeavyHitterVictims(s, budget);
    }
    if (config_.model_window > 0 && !s->kv.evicts() && s->num_uncomputed() > 0) {
      stats_.kv_released_blocks += kv_->ReleaseBeforeWindow(s->kv, s->num_computed_tokens - config_.model_window + 1);
    }
    const int32_t n = std::min({s->num_uncomputed(), budget, Room(s)});
    WEFT_CHECK(n > 0 || !s->kv.budget.enabled() || budget <= 0 || s->num_uncomputed() == 0,
               "request {}: KV budget {} left no room at cache length {}", s->request_id, KvBudgetName(s->kv.budget),
               KvCacheManager::CachePos(s->kv, s->num_computed_tokens));
    if (n <= 0) {
      ++i;
      continue;
    }
    // A draft is verified only when its blocks are free and leave a block for each
    // running sequence after this one: it never preempts anyone.
    int32_t k = DraftLength(s, budget, draft_budget);
    const int32_t scratch_before = scratch_left;
    if (k > 0) k = TreeNodesThatFit(s, k, scratch_left);
    if (k > 0 && kv_->num_free_blocks() - kv_->BlocksNeeded(s->kv, s->num_computed_tokens, n + k) <
                     static_cast<int32_t>(running_.size() - i - 1)) {
      k = 0;
    }
    if (k > 0 && !kv_->Allocate(s->kv, s->num_computed_tokens, n + k, out_.copies)) k = 0;
    if (k > 0) {
      AddEntry(s, n, k);
      budget -= n + k;
      draft_budget -= k;
      ++i;
      continue;
    }
    scratch_left = scratch_before;
    bool ok = false;
    for (;;) {
      if (kv_->Allocate(s->kv, KvCacheManager::CachePos(s->kv, s->num_computed_tokens), n, out_.copies)) {
        ok = true;
        break;
      }
      // The last in running order is the lowest-priority, most recently admitted one; it
      // is never one already scheduled this step (those come before s).
      Sequence* victim = running_.back();
      Preempt(victim);
      preempted_any = true;
      if (victim == s) break;
    }
    if (!ok) break;  // s was the last running sequence
    AddEntry(s, n, 0);
    budget -= n;
    ++i;
  }
}

void Scheduler::AdmitWaiting(int32_t& budget) {
  while (!waiting_.empty() && budget > 0) {
    Sequence* s = waiting_.front();
    const int32_t group = GroupSize(s);
    if (static_cast<int32_t>(running_.size()) + reserved_fork_slots_ + group > config_.max_num_seqs) break;
    const PrefixMatch m = kv_->MatchPrefix(s->kv, s->tokens);
    const int32_t remaining = s->num_tokens() - m.num_cached_tokens;
    // Without chunked prefill a prompt runs whole; a preempted sequence's recomputation
    // (prompt + generated tokens, possibly past the budget) is chunked regardless.
    if (!config_.enable_chunked_prefill && s->status == SequenceStatus::kWaiting && remaining > budget) break;
    const int32_t n = std::min({remaining, budget, Room(s)});
    if (!kv_->Allocate(s->kv, m.num_cached_tokens, n, out_.copies, &m)) break;
    waiting_.erase(waiting_.begin());
    s->num_computed_tokens = m.num_cached_tokens;
    s->num_cached_tokens = m.num_cached_tokens;
    s->status = SequenceStatus::kRunning;
    s->admission = next_admission_++;
    reserved_fork_slots_ += group - 1;
    InsertRunning(s);
    AddEntry(s, n, 0);
    budget -= n;
  }
}

void Scheduler::FillBatch() {
  int32_t widest = 0;
  for (const ScheduledSequence& e : out_.seqs) widest = std::max(widest, e.seq->kv.num_blocks());
  out_.max_blocks_per_seq = widest;
  out_.query_start.push_back(0);
  int32_t scratch_next = config_.tree_scratch_first_block;
  for (ScheduledSequence& e : out_.seqs) {
    const Sequence& s = *e.seq;
    e.block_table = s.kv.blocks;
    e.token_offset = static_cast<int32_t>(out_.tokens.size());
    if (e.num_draft > 0 && !s.draft_parent.empty() && FirstChildChainLength(s.draft_parent, e.num_draft) < e.num_draft) {
      FillTree(e, widest, scratch_next);
      continue;
    }
    for (int32_t p = e.start_position; p < e.start_position + e.num_new_tokens; ++p) {
      out_.tokens.push_back(p < s.num_tokens() ? s.tokens[Sz(p)] : s.draft[Sz(p - s.num_tokens())]);
      const int32_t c = KvCacheManager::CachePos(s.kv, p);  // p itself unless windowed
      out_.positions.push_back(c);
      out_.slot_mapping.push_back(kv_->Slot(s.kv, c));
    }
    out_.query_start.push_back(static_cast<int32_t>(out_.tokens.size()));
    out_.seq_len.push_back(KvCacheManager::CachePos(s.kv, e.start_position + e.num_new_tokens));
    const bool mass = s.kv.budget.enabled() && s.kv.budget.policy == KvPolicy::kH2o;
    out_.attn_mass.push_back(mass ? const_cast<float*>(s.kv.attn_mass.data()) : nullptr);
    out_.num_attn_mass += mass ? 1 : 0;
    if (s.kv.budget.enabled()) {
      // Checked here from the batch itself, apart from the eviction that should ensure it.
      const int32_t seen = out_.seq_len.back();
      stats_.kv_budget_peak_tokens = std::max<int64_t>(stats_.kv_budget_peak_tokens, seen);
      if (seen > s.kv.budget.budget) ++stats_.kv_budget_overruns;
    }
    // Blocks released behind a model's sliding window read as block 0 (never used).
    for (int32_t b : s.kv.blocks) out_.block_table.push_back(b == KvCacheManager::kReleasedBlock ? 0 : b);
    out_.block_table.resize(out_.block_table.size() + Sz(widest - s.kv.num_blocks()), 0);
    if (e.needs_logits) {
      e.logits_row = static_cast<int32_t>(out_.logit_rows.size());
      for (int32_t j = e.num_draft; j >= 0; --j) out_.logit_rows.push_back(static_cast<int32_t>(out_.tokens.size()) - 1 - j);
    }
  }
}

void Scheduler::FillTree(ScheduledSequence& e, int32_t widest, int32_t& scratch_next) {
  const Sequence& s = *e.seq;
  const int32_t P = e.start_position, n = e.num_draft, bs = kv_->block_size();
  const int32_t c = FirstChildChainLength(s.draft_parent, n);
  DraftTreeDepths(s.draft_parent, n, depth_);
  const auto push_table = [&](int32_t real_blocks, int32_t first_scratch, int32_t scratch) {
    for (int32_t j = 0; j < real_blocks; ++j) {  // released behind a model window: block 0, never read
      const int32_t b = s.kv.blocks[Sz(j)];
      out_.block_table.push_back(b == KvCacheManager::kReleasedBlock ? 0 : b);
    }
    for (int32_t j = 0; j < scratch; ++j) out_.block_table.push_back(first_scratch + j);
    out_.block_table.resize(out_.block_table.size() + Sz(widest - real_blocks - scratch), 0);
  };
  // Rows: the root (the last token), then node i at row i + 1, KV slot P + 1 + i.
  out_.tokens.push_back(s.tokens[Sz(P)]);
  out_.positions.push_back(P);
  out_.slot_mapping.push_back(kv_->Slot(s.kv, P));
  for (int32_t i = 0; i < n; ++i) {
    out_.tokens.push_back(s.draft[Sz(i)]);
    out_.positions.push_back(P + depth_[Sz(i)]);
    out_.slot_mapping.push_back(kv_->Slot(s.kv, P + 1 + i));
  }
  // The root and the first-child chain: one causal run of c + 1 rows.
  out_.query_start.push_back(e.token_offset + c + 1);
  out_.seq_len.push_back(P + c + 1);
  out_.attn_mass.push_back(nullptr);  // a budgeted sequence never drafts
  push_table(s.kv.num_blocks(), 0, 0);
  // Every other node: one query over [the prefix's full blocks | scratch: the prefix's
  // partial block, its ancestors, itself].
  const int32_t full = P / bs;
  for (int32_t i = c; i < n; ++i) {
    const int32_t d = depth_[Sz(i)];
    ancestors_.assign(Sz(d), 0);  // ancestors_[j]: the node at depth j + 1 on i's path
    for (int32_t a = i, j = d - 1; a >= 0 && j >= 0; a = s.draft_parent[Sz(a)], --j) ancestors_[Sz(j)] = a;
    const int32_t tail = P % bs + d + 1, blocks = TreeScratchBlocks(P, d);
    for (int32_t t = 0; t < tail; ++t) {
      const int32_t q = full * bs + t;
      out_.kv_copy_src.push_back(q <= P ? kv_->Slot(s.kv, q) : kv_->Slot(s.kv, P + 1 + ancestors_[Sz(q - P - 1)]));
      out_.kv_copy_dst.push_back(int64_t{scratch_next + t / bs} * bs + t % bs);
    }
    out_.query_start.push_back(e.token_offset + 2 + i);
    out_.seq_len.push_back(P + d + 1);
    out_.attn_mass.push_back(nullptr);
    push_table(full, scratch_next, blocks);
    scratch_next += blocks;
  }
  e.logits_row = static_cast<int32_t>(out_.logit_rows.size());
  for (int32_t j = n; j >= 0; --j) out_.logit_rows.push_back(static_cast<int32_t>(out_.tokens.size()) - 1 - j);
}

const SchedulerOutput& Scheduler::Schedule() {
  WEFT_CHECK(!in_step_, "Schedule() called twice without Update()");
  const auto t0 = std::chrono::steady_clock::now();
  out_.seqs.clear();
  out_.copies.clear();
  out_.shifts.clear();
  out_.preempted.clear();
  out_.finished.clear();
  out_.tokens.clear();
  out_.positions.clear();
  out_.slot_mapping.clear();
  out_.query_start.clear();
  out_.seq_len.clear();
  out_.attn_mass.clear();
  out_.num_attn_mass = 0;
  out_.block_table.clear();
  out_.logit_rows.clear();
  out_.sampler_storage.clear();
  out_.kv_copy_src.clear();
  out_.kv_copy_dst.clear();
  out_.num_tokens = 0;
  out_.num_samples = 0;
  out_.num_draft_tokens = 0;
  out_.max_blocks_per_seq = 0;

  int32_t budget = config_.max_num_batched_tokens;
  bool preempted_any = false;
  ScheduleRunning(budget, preempted_any);
  // A step that had to preempt has no blocks to spare for newcomers.
  if (!preempted_any) AdmitWaiting(budget);
  FillBatch();
  in_step_ = !out_.seqs.empty();
  stats_.kv_shifted_blocks += static_cast<int64_t>(out_.shifts.size());

  const int64_t ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  ++stats_.num_steps;
  stats_.num_scheduled_tokens += out_.num_tokens;
  stats_.schedule_ns_total += ns;
  stats_.schedule_ns_last = ns;
  stats_.schedule_ns_max = std::max(stats_.schedule_ns_max, ns);
  return out_;
}

void Scheduler::FinishIfDone(Sequence* seq) {
  if (seq->num_generated() >= seq->max_tokens || (!seq->kv.evicts() && seq->num_tokens() >= MaxModelLen())) {
    ReleaseSequence(seq, FinishReason::kLength);
    out_.finished.push_back(seq);
  }
}

void Scheduler::Update(std::span<const int32_t> sampled, std::span<const int32_t> counts) {
  if (!in_step_) {
    WEFT_CHECK(sampled.empty(), "Update() with {} tokens for an empty step", sampled.size());
    return;
  }
  in_step_ = false;
  if (counts.empty()) {
    WEFT_CHECK(static_cast<int32_t>(sampled.size()) == out_.num_samples,
               "Update() got {} sampled tokens, expected {}", sampled.size(), out_.num_samples);
  } else {
    int64_t total = 0;
    for (int32_t c : counts) total += c;
    WEFT_CHECK(static_cast<int32_t>(counts.size()) == out_.num_samples && total == static_cast<int64_t>(sampled.size()),
               "Update() got {} counts summing to {} for {} tokens, expected {} samplers", counts.size(), total,
               sampled.size(), out_.num_samples);
  }
  size_t k = 0, ci = 0;
  auto count_of = [&](int32_t most) {
    const int32_t c = counts.empty() ? 1 : counts[ci++];
    WEFT_CHECK(c >= 1 && c <= most, "{} tokens for a sampler that may take 1..{}", c, most);
    return c;
  };
  for (ScheduledSequence& e : out_.seqs) {
    Sequence* s = e.seq;
    if (e.num_draft > 0) {
      // Verified a draft: the sampled token, then c - 1 accepted draft tokens' successors.
      // KV holds the entry's first token and the accepted drafts; the rest is rolled back.
      const int32_t c = count_of(e.num_draft + 1);
      for (int32_t j = 0; j < c; ++j) s->tokens.push_back(sampled[k++]);
      s->num_computed_tokens += e.num_new_tokens - e.num_draft + (c - 1);
      kv_->Truncate(s->kv, s->num_computed_tokens);
      kv_->CommitComputed(s->kv, s->tokens, s->num_computed_tokens);
      s->draft.clear();
      s->draft_parent.clear();
      FinishIfDone(s);
      continue;
    }
    s->draft.clear();
    s->draft_parent.clear();
    s->num_computed_tokens += e.num_new_tokens;
    kv_->CommitComputed(s->kv, s->tokens, s->num_computed_tokens);
    if (!e.needs_logits) continue;
    // Fork the pending samples of an n>1 request now that its prompt's KV exists.
    for (size_t j = 1; j < s->group.size(); ++j) {
      Sequence* c = s->group[j];
      kv_->Fork(s->kv, c->kv);
      c->num_computed_tokens = s->num_computed_tokens;
      c->status = SequenceStatus::kRunning;
      c->admission = next_admission_++;
      InsertRunning(c);
    }
    if (!s->group.empty()) {
      reserved_fork_slots_ -= GroupSize(s) - 1;
      s->group.clear();
    }
    for (Sequence* t : e.samplers) {
      count_of(1);
      t->tokens.push_back(sampled[k++]);
      FinishIfDone(t);
    }
  }
}

void Scheduler::ReleaseSequence(Sequence* seq, FinishReason reason) {
  if (seq->status == SequenceStatus::kRunning) {
    auto it = std::find(running_.begin(), running_.end(), seq);
    WEFT_CHECK(it != running_.end(), "running sequence missing from the running list");
    running_.erase(it);
    reserved_fork_slots_ -= GroupSize(seq) - 1;
  } else if (seq->status == SequenceStatus::kWaiting || seq->status == SequenceStatus::kPreempted) {
    auto it = std::find(waiting_.begin(), waiting_.end(), seq);
    WEFT_CHECK(it != waiting_.end(), "waiting sequence missing from the queue");
    waiting_.erase(it);
  }
  kv_->Free(seq->kv);
  for (size_t j = 1; j < seq->group.size(); ++j) {  // samples never forked end with it
    seq->group[j]->status = SequenceStatus::kFinished;
    seq->group[j]->finish_reason = reason;
    --num_live_;
  }
  seq->group.clear();
  seq->status = SequenceStatus::kFinished;
  seq->finish_reason = reason;
  --num_live_;
}

void Scheduler::Finish(Sequence* seq, FinishReason reason) {
  WEFT_CHECK(!in_step_, "Finish() between Schedule() and Update()");
  WEFT_CHECK(seq->status != SequenceStatus::kForkPending, "Finish() of a sample not yet forked");
  if (seq->is_finished()) return;
  ReleaseSequence(seq, reason);
}

int32_t Scheduler::Abort(uint64_t request_id) {
  WEFT_CHECK(!in_step_, "Abort() between Schedule() and Update()");
  const int32_t live_before = num_live_;
  for (size_t i = running_.size(); i-- > 0;) {
    if (running_[i]->request_id == request_id) ReleaseSequence(running_[i], FinishReason::kAbort);
  }
  for (size_t i = waiting_.size(); i-- > 0;) {
    if (waiting_[i]->request_id == request_id) ReleaseSequence(waiting_[i], FinishReason::kAbort);
  }
  return live_before - num_live_;
}

SchedulerStats Scheduler::Stats() const {
  SchedulerStats s = stats_;
  s.num_running = static_cast<int32_t>(running_.size());
  s.num_waiting = static_cast<int32_t>(waiting_.size());
  return s;
}

}  // namespace weft
