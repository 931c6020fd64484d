// Token-level masks for a CompiledGrammar over a model's vocabulary.
//
// TokenTrie holds every token's bytes (what it decodes to) in a trie laid out in
// preorder, so a subtree is a contiguous range. GrammarMasker walks it against a grammar
// state: a byte that leads nowhere skips the whole subtree, so the walk visits only
// prefixes the grammar can still extend. Masks are cached per grammar state (states are
// interned, so a state that comes back - inside a string, between members - costs a
// copy); the cache is bounded (kMaxCachedMasks, dropped wholesale when full).
//
// Tokens with no bytes (control tokens, unknown) are never allowed, except the end
// tokens (EOS / EOT), which are allowed exactly where the grammar can end.
//
// Thread-safety: TokenTrie is immutable. GrammarMasker is shared by every sequence
// using the same grammar and vocabulary; FillMask locks the grammar.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
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

  struct Node {
    uint8_t byte;
    uint16_t depth;         // root = 0
    uint32_t subtree_end;   // one past the last node of its subtree
    uint32_t tok_begin, tok_end;  // range of tokens_ ending here
  };
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int32_t>& node_tokens() const { return tokens_; }
  size_t max_depth() const { return max_depth_; }

 private:
  int32_t n_vocab_;
  std::vector<std::string> bytes_;
  std::vector<int32_t> end_tokens_;
  std::vector<Node> nodes_;
  std::vector<int32_t> tokens_;
  size_t max_depth_ = 0;
};

class GrammarMasker {
 public:
  static constexpr size_t kMaxCachedMasks = 4096;

  GrammarMasker(std::shared_ptr<CompiledGrammar> grammar, std::shared_ptr<const TokenTrie> trie);
  const std::shared_ptr<CompiledGrammar>& grammar() const { return grammar_; }
  const TokenTrie& trie() const { return *trie_; }

  // Writes the allowed tokens at `state` into `bits` (trie().num_words() words).
  void FillMask(uint32_t state, std::span<uint64_t> bits);
  // The same without the cache (benchmarks of the walk itself).
  void ComputeMask(uint32_t state, std::span<uint64_t> bits);

 private:
  void ComputeMaskLocked(uint32_t state, std::span<uint64_t> bits);

  std::shared_ptr<CompiledGrammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  std::mutex mu_;  // guards cache_
  std::unordered_map<uint32_t, std::vector<uint64_t>> cache_;
  std::vector<uint32_t> walk_states_;  // scratch, under the grammar's lock
};

}  // namespace weft::grammar
