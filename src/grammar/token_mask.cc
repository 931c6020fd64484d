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
  nodes_.push_back(Node{0, 0, 0, TokenTrie::kImpure, 0, 0, 0});
  std::vector<uint32_t> parent = {0};
  std::vector<uint32_t> path = {0};  // node index per depth
  std::string cur;                   // bytes of the deepest open node
  std::vector<int> plain(bytes_.size(), -1);
  for (int32_t id : order) {
    const std::string& b = bytes_[static_cast<size_t>(id)];
    plain[static_cast<size_t>(id)] = PlainCodepoints(b);
    size_t common = 0;
    while (common < cur.size() && common < b.size() && cur[common] == b[common]) ++common;
    while (path.size() > common + 1) {  // close nodes deeper than the common prefix
      nodes_[path.back()].subtree_end = static_cast<uint32_t>(nodes_.size());
      path.pop_back();
    }
    cur.resize(common);
    for (size_t d = common; d < b.size(); ++d) {
      nodes_.push_back(Node{static_cast<uint8_t>(b[d]), static_cast<uint16_t>(d + 1), 0, TokenTrie::kImpure, 0, 0, 0});
      parent.push_back(path.back());
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
  // plain_max: the node's own tokens, then folded into the parent (children follow parents).
  for (size_t i = nodes_.size(); i-- > 1;) {
    Node& n = nodes_[i];
    for (uint32_t t = n.tok_begin; t < n.tok_end; ++t) {
      const int c = plain[static_cast<size_t>(tokens_[t])];
      n.plain_max = (c < 0 || c >= kImpure) ? kImpure : std::max<uint16_t>(n.plain_max, static_cast<uint16_t>(c));
      if (c >= 0 && c < kImpure) n.plain_min = std::min<uint16_t>(n.plain_min, static_cast<uint16_t>(c));
    }
    Node& p = nodes_[parent[i]];
    p.plain_max = std::max(p.plain_max, n.plain_max);
    p.plain_min = std::min(p.plain_min, n.plain_min);
  }
  // Children in order of plain_max, largest (kImpure) first: a walk that skips a child
  // as all plain and short enough skips all its later siblings with it.
  {
    std::vector<std::vector<uint32_t>> kids(nodes_.size());
    for (size_t i = 1; i < nodes_.size(); ++i) kids[parent[i]].push_back(static_cast<uint32_t>(i));
    std::vector<Node> out;
    out.reserve(nodes_.size());
    std::vector<uint32_t> stack = {0};
    while (!stack.empty()) {
      const uint32_t old = stack.back();
      stack.pop_back();
      Node n = nodes_[old];
      const uint32_t size = n.subtree_end - old;  // sizes do not change with the order
      n.subtree_end = static_cast<uint32_t>(out.size()) + size;
      out.push_back(n);
      std::vector<uint32_t>& k = kids[old];
      std::stable_sort(k.begin(), k.end(), [&](uint32_t a, uint32_t b) { return nodes_[a].plain_max > nodes_[b].plain_max; });
      for (size_t j = k.size(); j-- > 0;) stack.push_back(k[j]);
    }
    nodes_ = std::move(out);
  }
  // Cumulative plain bitsets by code point count.
  for (int c : plain) if (c < kImpure) max_plain_ = std::max(max_plain_, c);
  const size_t words = num_words();
  plain_upto_.assign(static_cast<size_t>(max_plain_ + 1) * words, 0);
  for (size_t id = 0; id < plain.size(); ++id) {
    if (plain[id] > 0 && plain[id] < kImpure) plain_upto_[static_cast<size_t>(plain[id]) * words + (id >> 6)] |= uint64_t{1} << (id & 63);
  }
  for (int u = 1; u <= max_plain_; ++u) {
    const uint64_t* prev = &plain_upto_[static_cast<size_t>(u - 1) * words];
    uint64_t* row = &plain_upto_[static_cast<size_t>(u) * words];
    for (size_t w = 0; w < words; ++w) row[w] |= prev[w];
  }
}

std::span<const uint64_t> TokenTrie::plain_upto(int u) const {
  u = std::clamp(u, 0, max_plain_);
  return {plain_upto_.data() + static_cast<size_t>(u) * num_words(), num_words()};
}

int TokenTrie::PlainCodepoints(std::string_view b) {
  int n = 0;
  for (size_t i = 0; i < b.size();) {
    const auto c0 = static_cast<uint8_t>(b[i]);
    uint32_t cp;
    size_t len;
    if (c0 < 0x80) { cp = c0; len = 1; }
    else if (c0 >= 0xC2 && c0 <= 0xDF) { cp = c0 & 0x1Fu; len = 2; }
    else if (c0 >= 0xE0 && c0 <= 0xEF) { cp = c0 & 0x0Fu; len = 3; }
    else if (c0 >= 0xF0 && c0 <= 0xF4) { cp = c0 & 0x07u; len = 4; }
    else return -1;
    if (i + len > b.size()) return -1;
    for (size_t k = 1; k < len; ++k) {
      const auto c = static_cast<uint8_t>(b[i + k]);
      if ((c & 0xC0) != 0x80) return -1;
      cp = (cp << 6) | (c & 0x3Fu);
    }
    // Overlong forms, surrogates and code points past U+10FFFF are not UTF-8.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
    if (cp < 0x20 || cp == '"' || cp == '\\' || cp == 0x7F) return -1;
    i += len;
    ++n;
  }
  return n;
}

bool TokenTrie::IsEndToken(int32_t id) const {
  return std::find(end_tokens_.begin(), end_tokens_.end(), id) != end_tokens_.end();
}

GrammarMasker::GrammarMasker(std::shared_ptr<CompiledGrammar> grammar, std::shared_ptr<const TokenTrie> trie, Options options)
    : grammar_(std::move(grammar)), trie_(std::move(trie)), options_(options) {}

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
  CompiledGrammar& g = *grammar_;
  // The context-independent part: every plain token of at most `plain` code points.
  const int plain = options_.plain_shortcut ? g.PlainRunLocked(state, trie_->max_plain()) : 0;
  // Plain tokens longer than this are rejected (max_plain(): no bound).
  const int longest = options_.plain_shortcut ? g.PlainRunMaxLocked(state, trie_->max_plain()) : trie_->max_plain();
  last_plain_bound_ = plain;
  last_plain_max_ = longest;
  if (plain > 0) {
    const std::span<const uint64_t> pre = trie_->plain_upto(plain);
    std::copy(pre.begin(), pre.end(), bits.begin());
  } else {
    std::fill(bits.begin(), bits.begin() + static_cast<std::ptrdiff_t>(trie_->num_words()), 0);
  }
  const auto& nodes = trie_->nodes();
  const auto& toks = trie_->node_tokens();
  walk_states_.resize(trie_->max_depth() + 1);
  walk_ends_.resize(trie_->max_depth() + 1);
  walk_states_[0] = state;
  const uint32_t n = static_cast<uint32_t>(nodes.size());
  walk_ends_[0] = n;
  for (uint32_t i = 1; i < n;) {
    const TokenTrie::Node& nd = nodes[i];
    if (nd.plain_max <= plain) {
      // Every token below is plain and short enough (already set), and so are those of the
      // later siblings (children come in decreasing plain_max): on past the parent.
      i = walk_ends_[nd.depth - 1u];
      continue;
    }
    if (nd.plain_max != TokenTrie::kImpure && nd.plain_min > longest) {  // all plain and too long
      i = nd.subtree_end;
      continue;
    }
    const uint32_t s = g.NextLocked(walk_states_[nd.depth - 1u], nd.byte);
    if (s == kDeadState) {
      i = nd.subtree_end;
      continue;
    }
    walk_states_[nd.depth] = s;
    walk_ends_[nd.depth] = nd.subtree_end;
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
