// DraftModelProposer: speculative decoding with a draft model (Leviathan et al. 2023,
// Chen et al. 2023): a smaller model with the target's vocabulary drafts k tokens
// greedily (its argmax: a point mass, which is what SequenceSampler::Verify's rule
// assumes), and the target verifies them. Also the self-speculative draft (Draft &
// Verify, Zhang et al. 2023): the target with layers skipped (Model::WithoutLayers).
//
// KV: the draft model keeps its own paged KV cache (KvCacheStorage of the draft's layers
// and heads, with its own KvCacheManager, no prefix caching), one block table per
// drafting sequence. It is a separate pool because a block of the target's cache has the
// target's shape (n_layers x n_kv_heads x head_dim) and the draft's differs; the engine
// takes its bytes out of the same KV budget (EngineCore::Create: the target gets
// bytes * t / (t + d) for t, d bytes per token, both caches the same number of blocks).
//
// Sync: each sequence's draft KV holds the tokens it computed (its context, then the draft
// tokens but the last). At the next call the longest common prefix with the sequence's
// tokens stays (accepted draft tokens are already there), the rest is rolled back
// (KvCacheManager::Truncate: no copy) and the new tokens are computed in one ragged batch
// for all sequences (chunked to the runner's step size), then one batched pass per draft
// token. A preempted sequence keeps its draft KV; when the draft pool is full, the least
// recently drafting sequences' KV is dropped (they recompute it when they draft again),
// and a sequence that still does not fit drafts nothing that step.
//
// Staged (options.staged, `--spec staged:MODEL`; Spector & Re 2023's second stage): the
// draft's own decoding is speculative too. Each draft pass of a sequence carries, after
// its last draft token, up to k - 1 - have n-gram guesses (NgramProposer over the context
// and the draft so far; at most kStagedRows per pass over all sequences), with logits for
// every row; the draft's argmax after each row is taken as before, and a guess that equals
// it lets the next row count as well. The chain is bit-identical to the unstaged one (the
// rows are batch-invariant), computed in fewer passes where the text repeats. Rejected
// guesses' KV slots are overwritten by the next pass or rolled back at the next sync.
//
// Token trees (ProposeTreeBatch, `--spec tree:draft:MODEL` / `tree:self:LAYERS`): the
// chain above is the tree's first-child chain, and at each depth the draft's next most
// likely tokens after its argmax (up to kMaxSiblings, the shallow depths first while the
// node budget lasts) are leaves beside the chain's node: where the draft's first choice
// misses, the target's token is often its second (SpecInfer's top-k expansion, along the
// draft's greedy path only, so it costs no extra draft pass).
//
// Thread-safety: engine thread only (as every Proposer).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "kv/kv_cache_storage.h"
#include "model/model_runner.h"
#include "spec/ngram_proposer.h"
#include "spec/proposer.h"

namespace weft {

struct DraftModelOptions {
  int threads = 0;                  // the draft runner's compute threads (0: one per core)
  int block_size = 16;
  int32_t max_model_len = 0;        // the target's; capped at the draft's context
  int32_t max_seqs = 64;            // sequences drafting in one call at most
  int32_t max_draft = 16;           // draft tokens per sequence and call at most
  int32_t max_tokens_per_step = 512;  // tokens per draft forward pass (catch-up chunks)
  kernels::KvTypes kv_type = kernels::KvType::kF16;
  bool staged = false;              // n-gram guesses verified by the draft itself (see above)
};

class DraftModelProposer final : public Proposer {
 public:
  // `draft` must have the target's vocabulary (the caller checks: spec/spec_config.cc).
  // The KV cache is allocated by ReserveKv.
  static StatusOr<std::unique_ptr<DraftModelProposer>> Create(std::shared_ptr<const Model> draft, std::string name,
                                                              const DraftModelOptions& options);
  ~DraftModelProposer() override;

  void Propose(std::span<const int32_t> tokens, int32_t num_prompt_tokens, int32_t max_draft,
               std::vector<int32_t>& draft) override;
  void ProposeBatch(std::span<const DraftSlot> slots) override;
  void ProposeTreeBatch(std::span<const DraftSlot> slots) override;
  bool drafts_in_batches() const override { return true; }
  static constexpr int kMaxSiblings = 3;  // tree leaves beside each chain node at most
  static constexpr int kStagedRows = 64;  // staged: guess rows per draft pass at most
  void Release(uint64_t key) override;
  int64_t KvBytesPerToken() const override;
  Status ReserveKv(int64_t num_blocks) override;
  std::string name() const override { return name_; }
  ProposerCounters counters() const override { return {forward_passes_, guessed_tokens_, confirmed_guesses_}; }

  // For tests and stats.
  int32_t num_tracked() const { return static_cast<int32_t>(tracks_.size()); }
  int32_t num_free_blocks() const { return kv_ ? kv_->num_free_blocks() : 0; }
  int32_t num_blocks() const { return kv_ ? kv_->config().num_blocks : 0; }
  int64_t kv_bytes() const { return storage_ ? static_cast<int64_t>(storage_->shape().TotalBytes()) : 0; }
  int64_t forward_passes() const { return forward_passes_; }
  int64_t computed_tokens() const { return computed_tokens_; }
  int64_t evictions() const { return evictions_; }  // sequences whose draft KV was dropped for room
  int64_t guessed_tokens() const { return guessed_tokens_; }        // staged: n-gram guesses computed
  int64_t confirmed_guesses() const { return confirmed_guesses_; }  // staged: ... the draft confirmed

 private:
  struct Track {
    KvBlockTable kv;
    std::vector<int32_t> tokens;  // tokens whose K/V the draft cache holds, in order
    uint64_t last_use = 0;
  };
  struct Active {
    Track* track;
    const DraftSlot* slot;
    int32_t k;      // draft tokens to produce
    int32_t next;   // next context token to compute (catch-up), == tokens.size() when done
    int32_t guess_begin = 0, num_guesses = 0;  // staged: this pass's input in guesses_
  };
  // ProposeBatch, and with `siblings` the runners-up of each draft row into
  // siblings_[active index][depth][kMaxSiblings] (-1: none).
  void Draft(std::span<const DraftSlot> slots, bool siblings);
  // The draft row's argmax (the first of equal maxima); with `runners_up`, the next
  // kMaxSiblings tokens by logit (ties: the lower id first) into runners_up, -1 past the vocabulary.
  int32_t Pick(int32_t row, int32_t* runners_up) const;
  DraftModelProposer(std::shared_ptr<const Model> draft, std::string name, const DraftModelOptions& options);
  // Reserves the draft KV for `need` tokens from `from`, evicting the least recently
  // used tracks not drafting in this call; false when it cannot.
  bool Reserve(Track& t, int32_t from, int32_t need, uint64_t batch_start);
  void Drop(uint64_t key);
  // Runs the batch built in the arrays below; writes logits rows to logits_.
  void RunBatch();
  // Appends `tokens` at first_position.. of t; the last `logit_rows` of them get logits rows.
  void AddToBatch(Track& t, std::span<const int32_t> tokens, int32_t first_position, int32_t logit_rows);

  std::shared_ptr<const Model> model_;
  std::string name_;
  DraftModelOptions options_;
  int32_t max_len_ = 0;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<KvCacheStorage> storage_;
  std::unique_ptr<KvCacheManager> kv_;
  std::unordered_map<uint64_t, Track> tracks_;
  uint64_t clock_ = 0;
  std::vector<Active> active_;
  std::vector<BlockCopy> copies_;  // always empty (no sharing); Allocate's out-parameter
  // One forward pass's arrays (ForwardBatch), reused.
  std::vector<int32_t> tokens_, positions_, query_start_, seq_len_, block_table_, logit_rows_;
  std::vector<int64_t> slots_;
  std::vector<const Track*> batch_tracks_;
  std::vector<float> logits_;
  std::vector<int32_t> siblings_;  // Draft's runners-up: [max_seqs][max_draft][kMaxSiblings]
  // Staged: the n-gram guesser, a sequence's context + draft, one pass's inputs (each
  // drafting sequence's last draft token, then its guesses), one sequence's guesses.
  NgramProposer ngram_;
  std::vector<int32_t> context_, guesses_, guess_scratch_;
  int64_t guessed_tokens_ = 0, confirmed_guesses_ = 0;
  int64_t forward_passes_ = 0, computed_tokens_ = 0, evictions_ = 0;
};

}  // namespace weft
