#include "grammar/matcher.h"

#include <algorithm>

namespace weft::grammar {

size_t CompiledGrammar::VecHash::operator()(const std::vector<uint32_t>& v) const {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ v.size();
  for (uint32_t x : v) h = (h ^ x) * 0x100000001B3ull + (h >> 29);
  return static_cast<size_t>(h);
}

CompiledGrammar::CompiledGrammar(Grammar g) : g_(std::move(g)) {
  states_.emplace_back();  // kDeadState
  can_end_.push_back(false);
  first_bytes_.emplace_back();
  next_.emplace_back();
  state_index_.emplace(std::vector<uint32_t>{}, kDeadState);
  std::vector<uint32_t> start;
  bool end = false;
  for (uint32_t a : g_.rule_alts[g_.root]) {
    for (uint32_t n : Closure(InternNode(a, kNone))) {
      if (n == kNone) end = true; else start.push_back(n);
    }
  }
  if (end) start.push_back(kNone);
  initial_ = InternState(std::move(start));
}

uint32_t CompiledGrammar::InternNode(uint32_t pos, uint32_t parent) {
  const uint64_t key = (uint64_t{pos} << 32) | parent;
  auto [it, inserted] = node_index_.try_emplace(key, static_cast<uint32_t>(nodes_.size()));
  if (inserted) {
    nodes_.push_back(Node{pos, parent});
    closure_.emplace_back();
    closure_done_.push_back(false);
  }
  return it->second;
}

// The stacks `node` stands for once every rule reference on top is expanded and every
// finished alternative returned from: nodes whose top is a byte set, plus kNone when the
// whole sentence can end there. Terminates because Build() refused left recursion.
const std::vector<uint32_t>& CompiledGrammar::Closure(uint32_t node) {
  if (closure_done_[node]) return closure_[node];
  std::vector<uint32_t> out;
  const Node n = nodes_[node];
  const Element& el = g_.elements[n.pos];
  if (el.kind == Element::kBytes) {
    out.push_back(node);
  } else if (el.kind == Element::kEnd) {
    if (n.parent == kNone) out.push_back(kNone);
    else out = Closure(n.parent);
  } else {
    // Tail call: nothing follows the reference, so the callee returns straight to our parent.
    const uint32_t cont = g_.elements[n.pos + 1].kind == Element::kEnd ? n.parent : InternNode(n.pos + 1, n.parent);
    const uint32_t rule = el.index;
    for (size_t i = 0; i < g_.rule_alts[rule].size(); ++i) {
      const uint32_t a = g_.rule_alts[rule][i];
      std::vector<uint32_t> sub;
      if (g_.elements[a].kind == Element::kEnd) {  // empty alternative: straight to the continuation
        if (cont == kNone) sub.push_back(kNone);
        else sub = Closure(cont);
      } else {
        sub = Closure(InternNode(a, cont));
      }
      out.insert(out.end(), sub.begin(), sub.end());
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
  closure_[node] = std::move(out);
  closure_done_[node] = true;
  return closure_[node];
}

uint32_t CompiledGrammar::InternState(std::vector<uint32_t> nodes) {
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  bool end = false;
  if (!nodes.empty() && nodes.back() == kNone) {
    end = true;
    nodes.pop_back();
  }
  // The accept flag is part of the identity: encode it as a trailing kNone.
  std::vector<uint32_t> key = nodes;
  if (end) key.push_back(kNone);
  auto [it, inserted] = state_index_.try_emplace(std::move(key), static_cast<uint32_t>(states_.size()));
  if (inserted) {
    ByteSet first;
    for (uint32_t n : nodes) first.AddAll(g_.sets[g_.elements[nodes_[n].pos].index]);
    states_.push_back(std::move(nodes));
    can_end_.push_back(end);
    first_bytes_.push_back(first);
    next_.emplace_back();
  }
  return it->second;
}

uint32_t CompiledGrammar::NextLocked(uint32_t state, uint8_t byte) {
  if (!first_bytes_[state].Has(byte)) return kDeadState;
  auto& table = next_[state];
  if (table && (*table)[byte] != kNone) return (*table)[byte];
  std::vector<uint32_t> out;
  for (uint32_t n : states_[state]) {
    const Node node = nodes_[n];
    if (!g_.sets[g_.elements[node.pos].index].Has(byte)) continue;
    const std::vector<uint32_t>& c = Closure(InternNode(node.pos + 1, node.parent));
    out.insert(out.end(), c.begin(), c.end());
  }
  const uint32_t s = InternState(std::move(out));
  auto& t = next_[state];  // InternState may have grown next_
  if (!t) {
    t = std::make_unique<std::array<uint32_t, 256>>();
    t->fill(kNone);
  }
  (*t)[byte] = s;
  return s;
}

uint32_t CompiledGrammar::Advance(uint32_t state, std::string_view bytes) {
  auto l = Lock();
  for (char c : bytes) {
    state = NextLocked(state, static_cast<uint8_t>(c));
    if (state == kDeadState) break;
  }
  return state;
}

bool CompiledGrammar::CanContinue(uint32_t state) const {
  auto l = Lock();
  return !first_bytes_[state].Empty();
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<CompiledGrammar> g) : g_(std::move(g)) {
  history_.push_back(g_->initial_state());
}

bool GrammarMatcher::AcceptBytes(std::string_view bytes) {
  const uint32_t s = g_->Advance(state(), bytes);
  if (s == kDeadState) return false;
  history_.push_back(s);
  return true;
}

void GrammarMatcher::Rollback(int n) {
  n = std::clamp(n, 0, num_accepted());
  history_.resize(history_.size() - static_cast<size_t>(n));
}

}  // namespace weft::grammar
