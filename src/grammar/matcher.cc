#include "grammar/matcher.h"

#include <algorithm>

namespace weft::grammar {
namespace {
ByteSet Intersect(const ByteSet& a, const ByteSet& b) {
  ByteSet r;
  for (size_t i = 0; i < 4; ++i) r.w[i] = a.w[i] & b.w[i];
  return r;
}
}  // namespace

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
  // Every byte that the state's byte sets treat like `byte` (in exactly the same sets)
  // leads to the same state: fill them all now (inside a string that is ~90 printable
  // bytes, or the 64 continuation bytes of a code point, at the cost of one).
  ByteSet same = first_bytes_[state];
  for (uint32_t n : states_[state]) {
    const ByteSet& set = g_.sets[g_.elements[nodes_[n].pos].index];
    same = set.Has(byte) ? Intersect(same, set) : Intersect(same, set.Complement());
  }
  for (int w = 0; w < 4; ++w) {
    for (uint64_t x = same.w[static_cast<size_t>(w)]; x; x &= x - 1) (*t)[static_cast<size_t>(w * 64 + __builtin_ctzll(x))] = s;
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

bool CompiledGrammar::PlainSuccessorsLocked(uint32_t state, bool require_all, std::vector<uint32_t>* out) {
  out->clear();
  // `live`: whether to go on from `s` (require_all: a dead one ends the search with false).
  bool failed = false;
  auto live = [&](uint32_t s) {
    if (s != kDeadState) return true;
    if (require_all) failed = true;
    return false;
  };
  // One byte: printable ASCII but '"' and '\\'.
  for (int b = 0x20; b < 0x7F; ++b) {
    if (b == '"' || b == '\\') continue;
    const uint32_t s = NextLocked(state, static_cast<uint8_t>(b));
    if (!live(s)) { if (failed) return false; continue; }
    out->push_back(s);
  }
  // Multi-byte: (state after the lead byte, range of the second byte, continuation bytes
  // after it), deduplicated; the bytes after the second are any of 80..BF.
  struct Pending { uint32_t s; uint8_t lo, hi; int more; };
  std::vector<Pending> pend;
  auto lead = [&](int first, int last, uint8_t lo, uint8_t hi, int more) {
    for (int b = first; b <= last; ++b) {
      const uint32_t s = NextLocked(state, static_cast<uint8_t>(b));
      if (!live(s)) { if (failed) return false; continue; }
      bool seen = false;
      for (const Pending& p : pend) seen = seen || (p.s == s && p.lo == lo && p.hi == hi && p.more == more);
      if (!seen) pend.push_back(Pending{s, lo, hi, more});
    }
    return true;
  };
  if (!lead(0xC2, 0xDF, 0x80, 0xBF, 0) || !lead(0xE0, 0xE0, 0xA0, 0xBF, 1) || !lead(0xE1, 0xEC, 0x80, 0xBF, 1) ||
      !lead(0xED, 0xED, 0x80, 0x9F, 1) || !lead(0xEE, 0xEF, 0x80, 0xBF, 1) || !lead(0xF0, 0xF0, 0x90, 0xBF, 2) ||
      !lead(0xF1, 0xF3, 0x80, 0xBF, 2) || !lead(0xF4, 0xF4, 0x80, 0x8F, 2)) {
    return false;
  }
  // Expand level by level; states at the same remaining count are deduplicated.
  std::vector<std::pair<uint32_t, int>> level;  // (state, continuation bytes still to read)
  for (const Pending& p : pend) {
    for (int b = p.lo; b <= p.hi; ++b) {
      const uint32_t s = NextLocked(p.s, static_cast<uint8_t>(b));
      if (!live(s)) { if (failed) return false; continue; }
      level.emplace_back(s, p.more);
    }
  }
  while (!level.empty()) {
    std::sort(level.begin(), level.end());
    level.erase(std::unique(level.begin(), level.end()), level.end());
    std::vector<std::pair<uint32_t, int>> next;
    for (auto [s, more] : level) {
      if (more == 0) { out->push_back(s); continue; }
      for (int b = 0x80; b <= 0xBF; ++b) {
        const uint32_t t = NextLocked(s, static_cast<uint8_t>(b));
        if (!live(t)) { if (failed) return false; continue; }
        next.emplace_back(t, more - 1);
      }
    }
    level = std::move(next);
  }
  std::sort(out->begin(), out->end());
  out->erase(std::unique(out->begin(), out->end()), out->end());
  return true;
}

int CompiledGrammar::PlainRunLocked(uint32_t state, int cap) {
  if (cap <= 0) return 0;
  if (cap != plain_cap_) {  // another vocabulary's cap: start over
    plain_run_.clear();
    plain_cap_ = cap;
  }
  if (plain_run_.size() < states_.size()) plain_run_.resize(states_.size(), -1);
  if (plain_run_[state] >= 0) return plain_run_[state];
  // The states reached by plain code points within `cap` steps; those past the depth or
  // size limit, or already known, are fixed (unknown ones at 0: a sound lower bound).
  constexpr size_t kMaxStates = 4096;
  std::vector<uint32_t> reach = {state};
  std::unordered_map<uint32_t, uint32_t> index = {{state, 0}};
  std::vector<int> depth = {0};
  std::vector<std::vector<uint32_t>> succ(1);
  std::vector<bool> fixed = {false};
  std::vector<int> value = {0};
  std::vector<uint32_t> tmp;
  bool cut = false;  // some state was fixed at 0 without being known: bounds below it may be weak
  for (size_t i = 0; i < reach.size(); ++i) {
    const uint32_t s = reach[i];
    if (plain_run_.size() < states_.size()) plain_run_.resize(states_.size(), -1);
    if (i > 0 && plain_run_[s] >= 0) { fixed[i] = true; value[i] = plain_run_[s]; continue; }
    if (depth[i] >= cap || reach.size() >= kMaxStates) { fixed[i] = true; value[i] = 0; cut = true; continue; }
    if (!PlainSuccessorsLocked(s, true, &tmp)) {
      fixed[i] = true;
      value[i] = 0;
      if (plain_run_.size() < states_.size()) plain_run_.resize(states_.size(), -1);
      plain_run_[s] = 0;
      continue;
    }
    for (uint32_t t : tmp) {
      auto [it, inserted] = index.try_emplace(t, static_cast<uint32_t>(reach.size()));
      if (inserted) {
        reach.push_back(t);
        depth.push_back(depth[i] + 1);
        succ.emplace_back();
        fixed.push_back(false);
        value.push_back(0);
      }
      succ[i].push_back(it->second);
    }
  }
  // Least fixed point of value(s) = min(cap, 1 + min over successors), from 0 upwards.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = reach.size(); i-- > 0;) {
      if (fixed[i]) continue;
      int v = cap;
      for (uint32_t j : succ[i]) v = std::min(v, 1 + value[j]);
      if (v > value[i]) { value[i] = v; changed = true; }
    }
  }
  if (plain_run_.size() < states_.size()) plain_run_.resize(states_.size(), -1);
  // Every value is a sound lower bound; after a cut only the start state's (and the
  // capped ones) are kept, so that a state deeper in the cut-off region is asked afresh.
  for (size_t i = 0; i < reach.size(); ++i) {
    if (!fixed[i] && (!cut || i == 0 || value[i] == cap)) plain_run_[reach[i]] = value[i];
  }
  return value[0];
}

int CompiledGrammar::PlainRunMaxLocked(uint32_t state, int cap) {
  if (cap <= 0) return 0;
  if (cap != plain_max_cap_) {
    plain_max_.clear();
    plain_max_cap_ = cap;
  }
  auto grow = [&] { if (plain_max_.size() < states_.size()) plain_max_.resize(states_.size(), -1); };
  grow();
  if (plain_max_[state] >= 0) return plain_max_[state];
  // The states reached by some plain code point; past the limits they count as `cap` (a
  // sound upper bound), and then only the start state's bound is kept.
  constexpr size_t kMaxStates = 4096;
  std::vector<uint32_t> reach = {state};
  std::unordered_map<uint32_t, uint32_t> index = {{state, 0}};
  std::vector<int> depth = {0};
  std::vector<std::vector<uint32_t>> succ(1);
  std::vector<bool> fixed = {false};
  std::vector<int> value = {cap};
  std::vector<uint32_t> tmp;
  bool cut = false;
  for (size_t i = 0; i < reach.size(); ++i) {
    const uint32_t s = reach[i];
    grow();
    if (i > 0 && plain_max_[s] >= 0) { fixed[i] = true; value[i] = plain_max_[s]; continue; }
    if (depth[i] >= cap || reach.size() >= kMaxStates) { fixed[i] = true; value[i] = cap; cut = true; continue; }
    PlainSuccessorsLocked(s, false, &tmp);
    if (tmp.empty()) {  // no plain code point goes on: exact
      fixed[i] = true;
      value[i] = 0;
      grow();
      plain_max_[s] = 0;
      continue;
    }
    for (uint32_t t : tmp) {
      auto [it, inserted] = index.try_emplace(t, static_cast<uint32_t>(reach.size()));
      if (inserted) {
        reach.push_back(t);
        depth.push_back(depth[i] + 1);
        succ.emplace_back();
        fixed.push_back(false);
        value.push_back(cap);
      }
      succ[i].push_back(it->second);
    }
  }
  // Greatest fixed point of value(s) = min(cap, 1 + max over successors), from cap down.
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = 0; i < reach.size(); ++i) {
      if (fixed[i]) continue;
      int v = 0;
      for (uint32_t j : succ[i]) v = std::max(v, value[j]);
      v = std::min(cap, v + 1);
      if (v < value[i]) { value[i] = v; changed = true; }
    }
  }
  grow();
  for (size_t i = 0; i < reach.size(); ++i) {
    if (!fixed[i] && (!cut || i == 0)) plain_max_[reach[i]] = value[i];
  }
  return value[0];
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
