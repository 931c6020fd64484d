// Token-level masks for a CompiledGrammar over a model's vocabulary.
//
// TokenTrie holds every token's bytes (what it decodes to) in a trie laid out in
// preorder, so a subtree is a contiguous range (children in decreasing plain_max, below). GrammarMasker walks it against a grammar
// state: a byte that leads nowhere skips the whole subtree, so the walk visits only
// prefixes the grammar can still extend. Masks are cached per grammar state (states are
// interned, so a state that comes back - inside a string, between members - costs a
// copy); the cache is bounded (kMaxCachedMasks, dropped wholesale when full).
//
// Tokens with no bytes (control tokens, unknown) are never allowed, except the end
// tokens (EOS / EOT), which are allowed exactly where the grammar can end.
//
// Plain-text shortcut (the context-independent part of a mask, decided once per
// vocabulary): a "plain" token is a run of whole UTF-8 code points none of which JSON
// must escape (no '"', '\\', control characters, DEL). The trie keeps, per vocabulary,
// cumulative bitsets plain_upto(u) = every plain token of at most u code points, and per
// node the most code points of any token in its subtree (kImpure if one is not plain).
// For a grammar state the grammar proves a lower bound u on how many plain code points
// any continuation may take (CompiledGrammar::PlainRunLocked: inside a free string it
// is unbounded, inside a maxLength string it is the characters left); the mask starts as
// plain_upto(u), copied by words, and the walk skips every subtree whose tokens are all
// plain and at most u long. Inside strings that leaves ~5-15 % of the trie to walk. An
// upper bound v on the plain run (CompiledGrammar::PlainRunMaxLocked: the characters left
// in a maxLength string) skips, as rejected, every subtree of plain tokens all longer than v.
//
// Thread-safety: TokenTrie is immutable. GrammarMasker is shared by every sequence
// using the same grammar and vocabulary; FillMask locks the grammar.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "grammar/matcher.h"

namespace weft::grammar {

class TokenTrie {
 public:
  // token_bytes[id]: the bytes token id decodes to ("" = never allowed by a grammar).
  // end_tokens: ids allowed where the grammar can end.
  TokenTrie(const std::vector<std::string>& token_bytes, std::vector<int32_t> end_tokens);

  int32_t n_vocab() const { return n_vocab_; }
  size_t num_words() const { return (static_cast<size_t>(n_vocab_) + 63) / 64; }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  const std::vector<int32_t>& end_tokens() const { return end_tokens_; }
  bool IsEndToken(int32_t id) const;
  size_t num_nodes() const { return nodes_.size(); }

  static constexpr uint16_t kImpure = 0xFFFF;
  struct Node {
    uint8_t byte;
    uint16_t depth;         // root = 0
    uint16_t plain_max;     // most code points of a token in the subtree; kImpure: some token is not plain
    uint16_t plain_min;     // fewest code points of a token in the subtree (when plain_max != kImpure)
    uint32_t subtree_end;   // one past the last node of its subtree
    uint32_t tok_begin, tok_end;  // range of tokens_ ending here
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int32_t>& node_tokens() const { return tokens_; }
  size_t max_depth() const { return max_depth_; }

  // Code points of the longest plain token (the cap of useful plain-run bounds).
  int max_plain() const { return max_plain_; }
  // num_words() words: the plain tokens of 1..u code points (u clamped to max_plain()).
  std::span<const uint64_t> plain_upto(int u) const;
  // Code points of token `bytes` if it is plain, else -1.
  static int PlainCodepoints(std::string_view bytes);

 private:
  int32_t n_vocab_;
  std::vector<std::string> bytes_;
  std::vector<int32_t> end_tokens_;
  std::vector<Node> nodes_;
  std::vector<int32_t> tokens_;
  size_t max_depth_ = 0;
  int max_plain_ = 0;
  std::vector<uint64_t> plain_upto_;  // (max_plain_ + 1) x num_words(), cumulative
};

class GrammarMasker {
 public:
  static constexpr size_t kMaxCachedMasks = 4096;

  struct Options {
    bool plain_shortcut = true;  // the plain-text shortcut above (off: walk the whole trie)
  };

  GrammarMasker(std::shared_ptr<CompiledGrammar> grammar, std::shared_ptr<const TokenTrie> trie)
      : GrammarMasker(std::move(grammar), std::move(trie), Options{}) {}
  GrammarMasker(std::shared_ptr<CompiledGrammar> grammar, std::shared_ptr<const TokenTrie> trie, Options options);
  const std::shared_ptr<CompiledGrammar>& grammar() const { return grammar_; }
  const TokenTrie& trie() const { return *trie_; }

  // Writes the allowed tokens at `state` into `bits` (trie().num_words() words).
  void FillMask(uint32_t state, std::span<uint64_t> bits);
  // The same without the cache (benchmarks of the walk itself).
  void ComputeMask(uint32_t state, std::span<uint64_t> bits);
  // The plain-run bound the last ComputeMask/FillMask miss used (tests: the shortcut fired).
  int last_plain_bound() const { return last_plain_bound_; }
  int last_plain_max() const { return last_plain_max_; }

 private:
  void ComputeMaskLocked(uint32_t state, std::span<uint64_t> bits);

  std::shared_ptr<CompiledGrammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  Options options_;
  int last_plain_bound_ = 0;  // under the grammar's lock
  int last_plain_max_ = 0;
  std::mutex mu_;  // guards cache_
  std::unordered_map<uint32_t, std::vector<uint64_t>> cache_;
  std::vector<uint32_t> walk_states_;  // scratch, under the grammar's lock: state per depth
  std::vector<uint32_t> walk_ends_;    // scratch: subtree end of the walk's node per depth
};

}  // namespace weft::grammar
