// Internals shared by the tokenizer algorithms (not part of the public API): the token
// text index, the BPE merge engine, the regex pre-tokenizer, the per-call scratch space
// and the interface each algorithm implements.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer/flat_map.h"
#include "tokenizer/vocabulary.h"
#include "weft/status.h"

namespace weft::tokenizer_internal {

// Token text -> id (the lowest id when texts repeat). Views point into the Vocabulary.
class TokenIndex {
 public:
  explicit TokenIndex(const Vocabulary& v);
  int32_t Find(std::string_view text) const {
    auto it = map_.find(text);
    return it == map_.end() ? -1 : it->second;
  }

 private:
  std::unordered_map<std::string_view, int32_t> map_;
};

// A run of text: [begin, begin + len) of some buffer.
struct Span {
  uint32_t begin;
  uint32_t len;
};

// One symbol of a word being merged; symbols form a doubly linked list in text order.
struct Symbol {
  int32_t id;      // token id, or -1 for a piece with no token (yet)
  uint32_t begin;  // bytes [begin, begin + len) of the word's buffer; len 0 = merged away
  uint32_t len;
  int32_t prev;
  int32_t next;
};

struct MergeCandidate {
  float priority;  // higher merges first
  int32_t left;    // symbol indices
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  uint32_t len;  // left.len + right.len when made; a changed length means stale
};

// Scratch space for one Encode call: reused across words so the hot loop does not allocate.
struct Scratch {
  std::vector<Symbol> symbols;
  std::vector<MergeCandidate> heap;
  std::vector<Span> pieces;
  std::vector<Span> pieces_tmp;
  std::vector<std::pair<Span, bool>> marked;  // a piece's matches (true) and gaps (false), in order
  bool run_at_text_start = true;  // the run being encoded starts the input text
  std::string buffer;
  std::string word;
  std::string candidate;
};

// Pair of token ids -> the token they merge into and its priority.
class MergeTable {
 public:
  struct Rule {
    int32_t result = -1;
    float priority = 0;
  };
  void Reserve(size_t n) { pairs_.Reserve(n); }
  void Add(int32_t left, int32_t right, Rule rule) { pairs_.Insert(Key(left, right), rule); }
  const Rule* Find(int32_t left, int32_t right) const { return pairs_.Find(Key(left, right)); }
  size_t size() const { return pairs_.size(); }

 private:
  static uint64_t Key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  FlatMap64<Rule> pairs_;
};

// For SentencePiece merge-by-score: pieces without a token (-1) may still merge when the
// text of the pair is a token (its score is the priority).
struct TextPairLookup {
  const TokenIndex* index;
  const std::vector<float>* scores;
};

// Merges scratch.symbols (indices 0..n-1 linked in order, over `text`) until no rule
// applies: highest priority first, the leftmost pair among equals.
void MergeSymbols(const MergeTable& table, const TextPairLookup* text_pairs, std::string_view text,
                  Scratch& scratch);

// PCRE2 regexes applied in sequence; each splits every piece into matches and gaps and
// then keeps, drops or glues them as its rule's behaviour says.
class RegexSplitter {
 public:
  static StatusOr<std::unique_ptr<RegexSplitter>> Create(const std::vector<SplitRule>& rules);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;
  // Fills scratch.pieces with spans of `text` that cover it in order (no empty spans).
  void Split(std::string_view text, Scratch& scratch) const;
  bool empty() const { return codes_.empty(); }

 private:
  RegexSplitter() = default;
  std::vector<void*> codes_;  // pcre2_code_8*, one per rule
  std::vector<SplitRule> rules_;
};

// One tokenizer algorithm: turns a run of plain text (no special tokens in it) into ids.
class TokenizerModel {
 public:
  virtual ~TokenizerModel() = default;
  virtual void Encode(std::string_view text, Scratch& scratch, std::vector<int32_t>* out) const = 0;
};

StatusOr<std::unique_ptr<TokenizerModel>> MakeSentencePieceModel(const Vocabulary& v, const TokenIndex& index);
StatusOr<std::unique_ptr<TokenizerModel>> MakeByteLevelBpeModel(const Vocabulary& v, const TokenIndex& index);
StatusOr<std::unique_ptr<TokenizerModel>> MakeWordPieceModel(const Vocabulary& v, const TokenIndex& index);
StatusOr<std::unique_ptr<TokenizerModel>> MakeUnigramModel(const Vocabulary& v, const TokenIndex& index);

// SentencePiece escaping (BPE and Unigram): scratch.buffer = the optional "▁" prefix (by
// add_space_prefix / space_prefix_first_only and scratch.run_at_text_start), then text
// with every ' ' as "▁".
void EscapeSpaces(std::string_view text, const Vocabulary& v, Scratch& s);

// Builds merges from the vocabulary's rank-ordered merge list (priority = -rank).
// Merges naming a piece that is not a token are skipped (counted in *skipped).
MergeTable BuildRankedMergeTable(const Vocabulary& v, const TokenIndex& index, size_t* skipped);

}  // namespace weft::tokenizer_internal
