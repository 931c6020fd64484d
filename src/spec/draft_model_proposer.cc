#include "spec/draft_model_proposer.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "base/check.h"

namespace weft {
namespace {
constexpr uint64_t kSingleKey = std::numeric_limits<uint64_t>::max();  // Propose's sequence
}  // namespace

DraftModelProposer::DraftModelProposer(std::shared_ptr<const Model> draft, std::string name,
                                       const DraftModelOptions& options)
    : model_(std::move(draft)), name_(std::move(name)), options_(options) {}

DraftModelProposer::~DraftModelProposer() = default;

StatusOr<std::unique_ptr<DraftModelProposer>> DraftModelProposer::Create(std::shared_ptr<const Model> draft,
                                                                         std::string name,
                                                                         const DraftModelOptions& options) {
  if (options.max_seqs <= 0 || options.max_draft <= 0 || options.max_model_len <= 0 || options.block_size <= 0) {
    return InvalidArgumentError("a draft model needs positive sequence, draft, length and block limits");
  }
  auto p = std::unique_ptr<DraftModelProposer>(new DraftModelProposer(std::move(draft), std::move(name), options));
  p->max_len_ = static_cast<int32_t>(std::min<int64_t>(options.max_model_len, p->model_->config().context_length));
  RunnerOptions ro;
  // A catch-up chunk, or one token per drafting sequence.
  ro.max_tokens_per_step = std::max(options.max_tokens_per_step, options.max_seqs + kStagedRows);
  ro.max_logit_rows = options.max_seqs + (options.staged ? kStagedRows : 0);
  ro.threads = options.threads;
  WEFT_ASSIGN_OR_RETURN(p->runner_, ModelRunner::Create(p->model_, ro));
  const auto step = static_cast<size_t>(ro.max_tokens_per_step);
  p->tokens_.reserve(step);
  p->positions_.reserve(step);
  p->slots_.reserve(step);
  p->query_start_.reserve(static_cast<size_t>(options.max_seqs) + 1);
  p->seq_len_.reserve(static_cast<size_t>(options.max_seqs));
  p->logit_rows_.reserve(static_cast<size_t>(ro.max_logit_rows));
  p->batch_tracks_.reserve(static_cast<size_t>(options.max_seqs));
  p->active_.reserve(static_cast<size_t>(options.max_seqs));
  p->logits_.resize(static_cast<size_t>(ro.max_logit_rows) * static_cast<size_t>(p->model_->config().n_vocab));
  p->guesses_.reserve(static_cast<size_t>(options.max_seqs + kStagedRows));
  p->siblings_.assign(static_cast<size_t>(options.max_seqs) * static_cast<size_t>(options.max_draft) * kMaxSiblings, -1);
  return p;
}

int64_t DraftModelProposer::KvBytesPerToken() const {
  return static_cast<int64_t>(runner_->KvShape(1, options_.block_size, options_.kv_type).BytesPerToken());
}

Status DraftModelProposer::ReserveKv(int64_t num_blocks) {
  // At least one sequence of the longest length with a full draft must fit.
  const int64_t per_seq = (max_len_ + options_.max_draft + options_.block_size - 1) / options_.block_size;
  num_blocks = std::max(num_blocks, std::min<int64_t>(per_seq, 2));
  WEFT_ASSIGN_OR_RETURN(storage_,
                        KvCacheStorage::Create(runner_->KvShape(num_blocks, options_.block_size, options_.kv_type)));
  KvCacheConfig kc;
  kc.num_blocks = static_cast<int32_t>(num_blocks);
  kc.block_size = options_.block_size;
  kc.enable_prefix_caching = false;
  kc.max_model_len = max_len_ + options_.max_draft;
  kv_ = std::make_unique<KvCacheManager>(kc);
  // Tables reserve capacity when created (Track), the step path then allocates nothing
  // but new map nodes for new sequences.
  tracks_.reserve(static_cast<size_t>(options_.max_seqs) * 2);
  return Status::Ok();
}

void DraftModelProposer::Release(uint64_t key) { Drop(key); }

void DraftModelProposer::Drop(uint64_t key) {
  auto it = tracks_.find(key);
  if (it == tracks_.end()) return;
  kv_->Free(it->second.kv);
  tracks_.erase(it);
}

bool DraftModelProposer::Reserve(Track& t, int32_t from, int32_t need, uint64_t batch_start) {
  while (!kv_->Allocate(t.kv, from, need, copies_)) {
    // Evict the least recently used track that is not drafting in this call.
    auto victim = tracks_.end();
    for (auto it = tracks_.begin(); it != tracks_.end(); ++it) {
      if (it->second.last_use >= batch_start || it->second.kv.empty()) continue;
      if (victim == tracks_.end() || it->second.last_use < victim->second.last_use) victim = it;
    }
    if (victim == tracks_.end()) return false;
    kv_->Free(victim->second.kv);
    victim->second.tokens.clear();
    ++evictions_;
  }
  WEFT_CHECK(copies_.empty(), "the draft KV cache shares no block, yet Allocate asked for {} copies", copies_.size());
  return true;
}

void DraftModelProposer::Propose(std::span<const int32_t> tokens, int32_t num_prompt_tokens, int32_t max_draft,
                                 std::vector<int32_t>& draft) {
  const DraftSlot slot{kSingleKey, tokens, num_prompt_tokens, max_draft, &draft};
  ProposeBatch(std::span<const DraftSlot>(&slot, 1));
}

void DraftModelProposer::AddToBatch(Track& t, std::span<const int32_t> tokens, int32_t first_position,
                                    int32_t logit_rows) {
  const auto n = static_cast<int32_t>(tokens.size());
  const int32_t bs = options_.block_size;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t pos = first_position + i;
    tokens_.push_back(tokens[static_cast<size_t>(i)]);
    positions_.push_back(pos);
    slots_.push_back(static_cast<int64_t>(t.kv.blocks[static_cast<size_t>(pos / bs)]) * bs + pos % bs);
  }
  query_start_.push_back(static_cast<int32_t>(tokens_.size()));
  seq_len_.push_back(first_position + n);
  for (int32_t r = logit_rows; r > 0; --r) logit_rows_.push_back(static_cast<int32_t>(tokens_.size()) - r);
  batch_tracks_.push_back(&t);
}

void DraftModelProposer::RunBatch() {
  // Block tables padded to the widest one in this batch.
  int32_t width = 1;
  for (const Track* t : batch_tracks_) width = std::max(width, t->kv.num_blocks());
  block_table_.assign(batch_tracks_.size() * static_cast<size_t>(width), 0);
  for (size_t s = 0; s < batch_tracks_.size(); ++s) {
    std::copy(batch_tracks_[s]->kv.blocks.begin(), batch_tracks_[s]->kv.blocks.end(),
              block_table_.begin() + static_cast<std::ptrdiff_t>(s * static_cast<size_t>(width)));
  }
  ForwardBatch b;
  b.tokens = tokens_;
  b.positions = positions_;
  b.slot_mapping = slots_;
  b.query_start = query_start_;
  b.seq_len = seq_len_;
  b.block_table = block_table_;
  b.max_blocks_per_seq = width;
  b.logit_rows = logit_rows_;
  const Status s = runner_->Execute(b, *storage_, logits_.data());
  WEFT_CHECK(s.ok(), "draft model forward pass failed: {}", s.message());
  ++forward_passes_;
  computed_tokens_ += static_cast<int64_t>(tokens_.size());
}

int32_t DraftModelProposer::Pick(int32_t row, int32_t* runners_up) const {
  const auto n = static_cast<size_t>(model_->config().n_vocab);
  const float* r = logits_.data() + static_cast<size_t>(row) * n;
  if (runners_up == nullptr) return static_cast<int32_t>(std::max_element(r, r + n) - r);  // the first of equal maxima
  // The 1 + kMaxSiblings largest, in order; a later id enters only above (ties: lower id first).
  constexpr int kTop = 1 + kMaxSiblings;
  int32_t id[kTop];
  float value[kTop];
  int have = 0;
  for (size_t i = 0; i < n; ++i) {
    const float v = r[i];
    if (have == kTop && !(v > value[kTop - 1])) continue;
    int at = have < kTop ? have++ : kTop - 1;
    while (at > 0 && v > value[at - 1]) {
      value[at] = value[at - 1];
      id[at] = id[at - 1];
      --at;
    }
    value[at] = v;
    id[at] = static_cast<int32_t>(i);
  }
  for (int j = 0; j < kMaxSiblings; ++j) runners_up[j] = j + 1 < have ? id[j + 1] : -1;
  return id[0];
}

void DraftModelProposer::ProposeBatch(std::span<const DraftSlot> slots) { Draft(slots, false); }

void DraftModelProposer::ProposeTreeBatch(std::span<const DraftSlot> slots) {
  Draft(slots, true);
  // Each drafted chain (the first-child chain), then the runners-up as leaves beside its
  // nodes, the shallow depths first, within the slot's node budget.
  const auto stride = static_cast<size_t>(options_.max_draft) * kMaxSiblings;
  for (size_t ai = 0; ai < active_.size(); ++ai) {
    const DraftSlot& slot = *active_[ai].slot;
    const auto chain = static_cast<int32_t>(slot.draft->size());
    for (int32_t i = 0; i < chain; ++i) slot.parent->push_back(i - 1);
    int32_t budget = slot.max_nodes - chain;
    for (int32_t depth = 0; depth < chain && budget > 0; ++depth) {
      const int32_t* up = siblings_.data() + ai * stride + static_cast<size_t>(depth) * kMaxSiblings;
      for (int j = 0; j < kMaxSiblings && budget > 0 && up[j] >= 0; ++j, --budget) {
        slot.draft->push_back(up[j]);
        slot.parent->push_back(depth - 1);
      }
    }
  }
}

void DraftModelProposer::Draft(std::span<const DraftSlot> slots, bool siblings) {
  WEFT_CHECK(kv_ != nullptr, "DraftModelProposer used before ReserveKv");
  const uint64_t batch_start = clock_ + 1;
  active_.clear();
  for (const DraftSlot& slot : slots) {
    if (static_cast<int32_t>(active_.size()) == options_.max_seqs) break;
    const auto n = static_cast<int32_t>(slot.tokens.size());
    const int32_t k = std::min({slot.max_draft, options_.max_draft, max_len_ - n, siblings ? slot.max_nodes : std::numeric_limits<int32_t>::max()});
    if (k <= 0 || n == 0) continue;
    auto [it, fresh] = tracks_.try_emplace(slot.key);
    Track& t = it->second;
    if (fresh) kv_->InitTable(t.kv);
    t.last_use = ++clock_;
    // Keep the longest common prefix (accepted drafts); the last token is always computed
    // again when it is cached (its logits are needed).
    const size_t limit = std::min(t.tokens.size(), static_cast<size_t>(n - 1));
    size_t lcp = 0;
    while (lcp < limit && t.tokens[lcp] == slot.tokens[lcp]) ++lcp;
    kv_->Truncate(t.kv, static_cast<int32_t>(lcp));
    t.tokens.resize(lcp);
    // The context's new tokens, then draft tokens 1 .. k-1 (the k-th is never computed).
    if (!Reserve(t, static_cast<int32_t>(lcp), n - static_cast<int32_t>(lcp) + k - 1, batch_start)) {
      Drop(slot.key);
      continue;
    }
    active_.push_back({&t, &slot, k, static_cast<int32_t>(lcp)});
  }
  if (active_.empty()) return;
  // Where the runners-up of active sequence ai's next draft token go (null: not wanted).
  const auto stride = static_cast<size_t>(options_.max_draft) * kMaxSiblings;
  auto runners_up = [&](size_t ai, const Active& a) -> int32_t* {
    if (!siblings) return nullptr;
    return siblings_.data() + ai * stride + a.slot->draft->size() * kMaxSiblings;
  };

  // Catch-up: each sequence's uncomputed context in ragged batches of at most the step's
  // tokens; the chunk that ends a context wants its last token's logits (draft token 1).
  const auto step = static_cast<int32_t>(runner_->options().max_tokens_per_step);
  for (;;) {
    tokens_.clear();
    positions_.clear();
    slots_.clear();
    query_start_.assign(1, 0);
    seq_len_.clear();
    logit_rows_.clear();
    batch_tracks_.clear();
    int32_t room = step;
    for (Active& a : active_) {
      const auto n = static_cast<int32_t>(a.slot->tokens.size());
      if (a.next == n || room == 0) continue;
      const int32_t m = std::min(room, n - a.next);
      AddToBatch(*a.track, a.slot->tokens.subspan(static_cast<size_t>(a.next), static_cast<size_t>(m)), a.next,
                 a.next + m == n ? 1 : 0);
      room -= m;
    }
    if (batch_tracks_.empty()) break;
    RunBatch();
    int32_t row = 0;
    room = step;
    for (size_t ai = 0; ai < active_.size(); ++ai) {
      Active& a = active_[ai];
      const auto n = static_cast<int32_t>(a.slot->tokens.size());
      if (a.next == n || room == 0) continue;
      const int32_t m = std::min(room, n - a.next);
      a.track->tokens.insert(a.track->tokens.end(), a.slot->tokens.begin() + a.next,
                             a.slot->tokens.begin() + a.next + m);
      a.next += m;
      room -= m;
      if (a.next == n) a.slot->draft->push_back(Pick(row++, runners_up(ai, a)));
    }
  }
  // Draft tokens 2 .. k: one batched pass per step over the sequences still drafting.
  // Staged: a sequence's pass also carries n-gram guesses of its next draft tokens (as
  // many as its reserved KV and the pass's extra logits rows allow), and each guess that
  // the draft's own argmax confirms yields one more draft token in the same pass: the
  // chain is the same, in fewer passes.
  for (;;) {
    tokens_.clear();
    positions_.clear();
    slots_.clear();
    query_start_.assign(1, 0);
    seq_len_.clear();
    logit_rows_.clear();
    batch_tracks_.clear();
    guesses_.clear();
    int32_t extra_rows = options_.staged ? kStagedRows : 0;
    for (Active& a : active_) {
      const auto have = static_cast<int32_t>(a.slot->draft->size());
      a.num_guesses = 0;
      if (have >= a.k) continue;
      // This pass's input: the last draft token, then (staged) the guesses.
      a.guess_begin = static_cast<int32_t>(guesses_.size());
      guesses_.push_back(a.slot->draft->back());
      const int32_t room = std::min(a.k - 1 - have, extra_rows);
      if (room > 0) {
        context_.assign(a.slot->tokens.begin(), a.slot->tokens.end());
        context_.insert(context_.end(), a.slot->draft->begin(), a.slot->draft->end());
        guess_scratch_.clear();
        ngram_.Propose(context_, a.slot->num_prompt_tokens, room, guess_scratch_);
        a.num_guesses = static_cast<int32_t>(guess_scratch_.size());
        guesses_.insert(guesses_.end(), guess_scratch_.begin(), guess_scratch_.end());
        extra_rows -= a.num_guesses;
        guessed_tokens_ += a.num_guesses;
      }
      const int32_t pos = static_cast<int32_t>(a.slot->tokens.size()) + have - 1;
      AddToBatch(*a.track,
                 std::span<const int32_t>(guesses_.data() + a.guess_begin, static_cast<size_t>(1 + a.num_guesses)),
                 pos, 1 + a.num_guesses);
    }
    if (batch_tracks_.empty()) break;
    RunBatch();
    int32_t row = 0;
    for (size_t ai = 0; ai < active_.size(); ++ai) {
      Active& a = active_[ai];
      if (static_cast<int32_t>(a.slot->draft->size()) >= a.k) continue;
      a.track->tokens.push_back(a.slot->draft->back());
      a.slot->draft->push_back(Pick(row, runners_up(ai, a)));
      // Guess i was computed after draft token have + i; its row counts while every
      // earlier guess was the draft's own next token.
      const int32_t* guess = guesses_.data() + a.guess_begin + 1;
      int32_t i = 0;
      for (; i < a.num_guesses && a.slot->draft->back() == guess[i]; ++i) {
        a.track->tokens.push_back(guess[i]);
        a.slot->draft->push_back(Pick(row + 1 + i, runners_up(ai, a)));
      }
      confirmed_guesses_ += i;
      row += 1 + a.num_guesses;
    }
  }
}

}  // namespace weft
