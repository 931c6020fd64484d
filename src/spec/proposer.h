// Proposer: drafts the next tokens of a sequence for speculative decoding; the engine
// verifies them with the target model (EngineCore, SequenceSampler::Verify), so a proposer
// decides only speed, never the output distribution. A proposer is deterministic given the
// tokens (q is a point mass on each draft token, which is what Verify's rule assumes).
//
// Two kinds: stateless ones (n-gram) implement Propose; model-backed ones (a draft model,
// the target with layers skipped: spec/draft_model_proposer.h) keep a KV cache per
// sequence, so the engine calls ProposeBatch with a key per sequence (stable while the
// sequence lives) and Release(key) when the sequence ends.
//
// Token trees (sched/draft_tree.h): a proposer may draft a tree instead of a chain
// (ProposeTree, or ProposeTreeBatch for a model-backed one); the default gives its chain.
//
// Adding a proposer = one new file implementing Proposer + a case in MakeProposer
// (spec/spec_config.cc) + its test.
// Thread-safety: used by the engine thread only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "weft/status.h"

namespace weft {

// One sequence's drafting request in a batch.
struct DraftSlot {
  uint64_t key = 0;                  // the sequence's identity (engine: its Sequence's address)
  std::span<const int32_t> tokens;   // prompt then generated tokens
  int32_t num_prompt_tokens = 0;
  int32_t max_draft = 0;             // append at most this many (>= 1); a tree: its depth
  std::vector<int32_t>* draft = nullptr;  // cleared by the caller; the proposer appends
  // Token trees (ProposeTreeBatch) only: the nodes' parents (cleared by the caller; as
  // ProposeTree's) and the node budget (>= 1).
  std::vector<int32_t>* parent = nullptr;
  int32_t max_nodes = 0;
};

// What a model-backed proposer did so far (EngineStats reports it).
struct ProposerCounters {
  int64_t draft_passes = 0;      // forward passes of the draft model
  int64_t staged_guesses = 0;    // staged: n-gram guesses computed in those passes
  int64_t staged_confirmed = 0;  // ... that the draft's argmax confirmed
};

class Proposer {
 public:
  virtual ~Proposer() = default;
  // Appends at most `max_draft` tokens predicted to follow `tokens` (the sequence's prompt
  // then its generated tokens; the first num_prompt_tokens are the prompt) to `draft`,
  // which the caller cleared. Appending nothing is always allowed (no speculation this step).
  virtual void Propose(std::span<const int32_t> tokens, int32_t num_prompt_tokens, int32_t max_draft,
                       std::vector<int32_t>& draft) = 0;
  // Token trees (sched/draft_tree.h): appends at most max_nodes nodes, none deeper than
  // max_depth, to `draft` (tokens) and `parent` (parent[i] in [-1, i), -1: a child of the
  // last token; siblings distinct), both cleared by the caller. Default: Propose's chain
  // of up to min(max_depth, max_nodes) tokens.
  virtual void ProposeTree(std::span<const int32_t> tokens, int32_t num_prompt_tokens, int32_t max_depth,
                           int32_t max_nodes, std::vector<int32_t>& draft, std::vector<int32_t>& parent) {
    Propose(tokens, num_prompt_tokens, std::min(max_depth, max_nodes), draft);
    for (size_t i = 0; i < draft.size(); ++i) parent.push_back(static_cast<int32_t>(i) - 1);
  }
  // Drafts for several sequences at once (a model-backed proposer runs them as one
  // batch). Default: Propose for each.
  virtual void ProposeBatch(std::span<const DraftSlot> slots) {
    for (const DraftSlot& s : slots) Propose(s.tokens, s.num_prompt_tokens, s.max_draft, *s.draft);
  }
  // Token trees for several sequences at once (slot.parent and slot.max_nodes set; depth
  // slot.max_draft). Default: ProposeTree for each.
  virtual void ProposeTreeBatch(std::span<const DraftSlot> slots) {
    for (const DraftSlot& s : slots) {
      ProposeTree(s.tokens, s.num_prompt_tokens, s.max_draft, s.max_nodes, *s.draft, *s.parent);
    }
  }
  // True when ProposeBatch is worth calling once for all sequences (a model runs them as
  // one batch); false: the engine calls Propose per sequence, in turn.
  virtual bool drafts_in_batches() const { return false; }
  // The sequence `key` ended: forget what is kept for it. Default: nothing kept.
  virtual void Release(uint64_t key) { (void)key; }
  // KV cache of the proposer's own model, bytes per token (0: it has none). The engine
  // takes it out of the KV budget (EngineCore::Create) and gives the proposer as many
  // token slots as the target's cache has, with ReserveKv.
  virtual int64_t KvBytesPerToken() const { return 0; }
  virtual Status ReserveKv(int64_t num_blocks) {
    (void)num_blocks;
    return Status::Ok();
  }
  virtual ProposerCounters counters() const { return {}; }
  virtual std::string name() const = 0;
};

}  // namespace weft
