#include "grammar/token_mask.h"

#include <algorithm>
#include <numeric>

namespace weft::grammar {

TokenTrie::TokenTrie(const std::vector<std::string>& token_bytes, std::vector<int32_t> end_tokens)
    : n_vocab_(static_cast<int32_t>(token_bytes.size())), bytes_(token_bytes), end_tokens_(std::move(end_tokens)) {
  std::vector<int32_t> order;
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (!bytes_[i].empty() && !IsEndToken(static_cast<int32_t>(i))) order.push_back(static_cast<int32_t>(i));
  }
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return bytes_[static_cast<size_t>(a)] < bytes_[static_cast<size_t>(b)] || (bytes_[static_cast<size_t>(a)] == bytes_[static_cast<size_t>(b)] && a < b);
  });
  // Preorder construction from the sorted list: the path of open nodes is a stack.
  nodes_.push_back(Node{0, 0, 0, 0, 0});
  std::vector<uint32_t> path = {0};  // node index per depth
  std::string cur;                   // bytes of the deepest open node
  for (int32_t id : order) {
    const std::string& b = bytes_[static_cast<size_t>(id)];
    size_t common = 0;
    while (common < cur.size() && common < b.size() && cur[common] == b[common]) ++common;
    while (path.size() > common + 1) {  // close nodes deeper than the common prefix
      nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
      path.pop_back();
    }
    cur.resize(common);
    for (size_t d = common; d < b.size(); ++d) {
      nodes_.push_back(Node{static_cast<uint8_t>(b[d]), static_cast<uint16_t>(d + 1), 0, 0, 0});
      path.push_back(static_cast<uint32_t>(nodes_.size() - 1));
      cur += b[d];
    }
    max_depth_ = std::max(max_depth_, b.size());
    Node& n = nodes_[path.back()];
    if (n.tok_begin == n.tok_end) n.tok_begin = n.tok_end = static_cast<uint32_t>(tokens_.size());
    tokens_.push_back(id);
    n.tok_end = static_cast<uint32_t>(tokens_.size());
  }
  while (!path.empty()) {
    nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
    path.pop_back();
  }
}

bool TokenTrie::IsEndToken(int32_t id) const {
  return std::find(end_tokens_.begin(), end_tokens_.end(), id) != end_tokens_.end();
}

GrammarMasker::GrammarMasker(std::shared_ptr<CompiledGrammar> grammar, std::shared_ptr<const TokenTrie> trie)
    : grammar_(std::move(grammar)), trie_(std::move(trie)) {}

void GrammarMasker::FillMask(uint32_t state, std::span<uint64_t> bits) {
  {
    std::lock_guard<std::mutex> l(mu_);
    auto it = cache_.find(state);
    if (it != cache_.end()) {
      std::copy(it->second.begin(), it->second.end(), bits.begin());
      return;
    }
  }
  {
    auto gl = grammar_->Lock();
    ComputeMaskLocked(state, bits);
  }
  std::lock_guard<std::mutex> l(mu_);
  if (cache_.size() >= kMaxCachedMasks) cache_.clear();
  cache_.emplace(state, std::vector<uint64_t>(bits.begin(), bits.begin() + static_cast<std::ptrdiff_t>(trie_->num_words())));
}

void GrammarMasker::ComputeMask(uint32_t state, std::span<uint64_t> bits) {
  auto gl = grammar_->Lock();
  ComputeMaskLocked(state, bits);
}

void GrammarMasker::ComputeMaskLocked(uint32_t state, std::span<uint64_t> bits) {
  std::fill(bits.begin(), bits.begin() + static_cast<std::ptrdiff_t>(trie_->num_words()), 0);
  CompiledGrammar& g = *grammar_;
  const auto& nodes = trie_->nodes();
  const auto& toks = trie_->node_tokens();
  walk_states_.resize(trie_->max_depth() + 1);
  walk_states_[0] = state;
  const uint32_t n = static_cast<uint32_t>(nodes.size());
  for (uint32_t i = 1; i < n;) {
    const TokenTrie::Node& nd = nodes[i];
    const uint32_t s = g.NextLocked(walk_states_[nd.depth - 1u], nd.byte);
    if (s == kDeadState) {
      i = nd.subtree_end;
      continue;
    }
    walk_states_[nd.depth] = s;
    for (uint32_t t = nd.tok_begin; t < nd.tok_end; ++t) {
      const auto id = static_cast<uint32_t>(toks[t]);
      bits[id >> 6] |= uint64_t{1} << (id & 63);
    }
    ++i;
  }
  if (g.CanEndLocked(state)) {
    for (int32_t id : trie_->end_tokens()) {
      if (id >= 0 && id < trie_->n_vocab()) bits[static_cast<uint32_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
  }
}

}  // namespace weft::grammar
