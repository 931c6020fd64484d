// CompiledGrammar: a Grammar run as a lazily built deterministic automaton over bytes.
//
// A matcher position is a set of parse stacks. A stack is a chain of interned nodes
// (grammar position, parent node): the top is the next byte-set element to match, the
// parents are return addresses; calls in tail position reuse the caller's frame, so
// right recursion (repetition) does not grow stacks. Every set of stacks reached is
// interned as a state id, and (state, byte) -> state transitions are memoised, so a
// position is one integer, advancing is a table lookup once seen, and rolling back is
// forgetting ids (GrammarMatcher keeps one per token).
//
// State 0 (kDeadState) is the empty set: no continuation matches.
//
// Thread-safety: CompiledGrammar is shared (GrammarCache) and grows its tables on use;
// every public member locks its mutex. Hot loops take the lock once with Lock() and call
// the *Locked variants.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"

namespace weft::grammar {

inline constexpr uint32_t kDeadState = 0;

class CompiledGrammar {
 public:
  explicit CompiledGrammar(Grammar g);
  CompiledGrammar(const CompiledGrammar&) = delete;
  CompiledGrammar& operator=(const CompiledGrammar&) = delete;

  const Grammar& grammar() const { return g_; }
  uint32_t initial_state() const { return initial_; }

  std::unique_lock<std::mutex> Lock() const { return std::unique_lock<std::mutex>(mu_); }
  // The state after `byte` from `state` (kDeadState if it does not match). Caller holds Lock().
  uint32_t NextLocked(uint32_t state, uint8_t byte);
  // Whether the input so far is a complete sentence. Caller holds Lock().
  bool CanEndLocked(uint32_t state) const { return can_end_[state]; }

  // A lower bound (at most `cap`) on u such that every run of at most u "plain" code
  // points (whole UTF-8 code points other than controls, DEL, '"' and '\\'; see
  // TokenTrie::PlainCodepoints) leads somewhere from `state`: 0 where some plain code
  // point does not match, `cap` in a free JSON string, the characters left in a
  // maxLength string. Found by least-fixed-point iteration over the states reached by
  // plain code points (sound for cycles), memoised per state. Caller holds Lock().
  int PlainRunLocked(uint32_t state, int cap);
  // An upper bound (at most `cap`; `cap` also stands for "cap or more") on the longest run
  // of plain code points that leads somewhere from `state`: a plain token longer than it
  // is rejected. Greatest-fixed-point iteration over the states some plain code point
  // reaches, memoised per state. Caller holds Lock().
  int PlainRunMaxLocked(uint32_t state, int cap);

  uint32_t Next(uint32_t state, uint8_t byte) { auto l = Lock(); return NextLocked(state, byte); }
  // The state after all of `bytes`, or kDeadState.
  uint32_t Advance(uint32_t state, std::string_view bytes);
  bool CanEnd(uint32_t state) const { auto l = Lock(); return can_end_[state]; }
  // Whether some byte continues `state` (false: only ending is possible, or nothing).
  bool CanContinue(uint32_t state) const;

  size_t num_states() const { auto l = Lock(); return states_.size(); }

 private:
  static constexpr uint32_t kNone = 0xFFFFFFFFu;  // no parent / accept marker / unknown
  struct Node {
    uint32_t pos;     // offset into g_.elements
    uint32_t parent;  // kNone at the bottom
  };
  struct VecHash {
    size_t operator()(const std::vector<uint32_t>& v) const;
  };

  uint32_t InternNode(uint32_t pos, uint32_t parent);
  const std::vector<uint32_t>& Closure(uint32_t node);
  uint32_t InternState(std::vector<uint32_t> nodes);
  // The states after one plain code point from `state` (sorted, unique); false if some
  // plain code point leads to kDeadState.
  // require_all false: the live states after some plain code point (never false).
  bool PlainSuccessorsLocked(uint32_t state, bool require_all, std::vector<uint32_t>* out);

  Grammar g_;
  mutable std::mutex mu_;
  std::vector<Node> nodes_;
  std::unordered_map<uint64_t, uint32_t> node_index_;
  std::vector<std::vector<uint32_t>> closure_;  // per node; kNone in it = the sentence can end
  std::vector<bool> closure_done_;
  std::vector<std::vector<uint32_t>> states_;   // sorted node ids (kNone excluded)
  std::vector<bool> can_end_;
  std::vector<ByteSet> first_bytes_;            // per state: bytes that do not lead to kDeadState
  std::unordered_map<std::vector<uint32_t>, uint32_t, VecHash> state_index_;
  std::vector<std::unique_ptr<std::array<uint32_t, 256>>> next_;
  uint32_t initial_ = kDeadState;
  std::vector<int32_t> plain_run_;  // per state: PlainRunLocked's bound, -1 unknown
  int plain_cap_ = -1;              // the cap plain_run_ was computed under
  std::vector<int32_t> plain_max_;  // per state: PlainRunMaxLocked's bound, -1 unknown
  int plain_max_cap_ = -1;
};

// One sequence's position in a CompiledGrammar, one state per accepted token, so that
// speculative decoding can roll back rejected tokens. Not thread-safe (one per sequence).
class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<CompiledGrammar> g);
  CompiledGrammar& compiled() const { return *g_; }
  uint32_t state() const { return history_.back(); }
  // Advances by the bytes of one token; false (and no change) if they do not match.
  bool AcceptBytes(std::string_view bytes);
  // Undoes the last n accepted tokens (n <= num_accepted()).
  void Rollback(int n);
  int num_accepted() const { return static_cast<int>(history_.size()) - 1; }
  bool CanEnd() const { return g_->CanEnd(state()); }
  bool CanContinue() const { return g_->CanContinue(state()); }

 private:
  std::shared_ptr<CompiledGrammar> g_;
  std::vector<uint32_t> history_;  // history_[0]: the initial state
};

}  // namespace weft::grammar
