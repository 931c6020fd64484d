// The BPE merge loop shared by the SentencePiece and byte-level tokenizers, and the
// token text index.
#include <algorithm>

#include "tokenizer/tokenizer_internal.h"

namespace weft::tokenizer_internal {

TokenIndex::TokenIndex(const Vocabulary& v) {
  map_.reserve(v.tokens.size() * 2);
  for (int32_t i = 0; i < v.size(); ++i) {
    if (v.tokens[i].empty()) continue;
    map_.emplace(std::string_view(v.tokens[i]), i);  // keeps the lowest id
  }
}

namespace {

// Max-heap order: higher priority first, then the leftmost pair.
struct CandidateLess {
  bool operator()(const MergeCandidate& a, const MergeCandidate& b) const {
    if (a.priority != b.priority) return a.priority < b.priority;
    return a.left > b.left;
  }
};

inline void TryAddPair(const MergeTable& table, const TextPairLookup* text_pairs, std::string_view text,
                       Scratch& s, int32_t left, int32_t right) {
  if (left < 0 || right < 0) return;
  const Symbol& l = s.symbols[left];
  const Symbol& r = s.symbols[right];
  float priority;
  if (l.id >= 0 && r.id >= 0) {
    const MergeTable::Rule* rule = table.Find(l.id, r.id);
    if (!rule) return;
    priority = rule->priority;
  } else {
    if (!text_pairs) return;
    // Symbols are contiguous in the text, so the pair's text is one view.
    int32_t id = text_pairs->index->Find(text.substr(l.begin, l.len + r.len));
    if (id < 0) return;
    priority = text_pairs->scores->empty() ? 0.0f : (*text_pairs->scores)[id];
  }
  s.heap.push_back(MergeCandidate{priority, left, right, l.id, r.id, l.len + r.len});
  std::push_heap(s.heap.begin(), s.heap.end(), CandidateLess());
}

}  // namespace

void MergeSymbols(const MergeTable& table, const TextPairLookup* text_pairs, std::string_view text,
                  Scratch& s) {
  s.heap.clear();
  const int32_t n = static_cast<int32_t>(s.symbols.size());
  for (int32_t i = 0; i + 1 < n; ++i) TryAddPair(table, text_pairs, text, s, i, i + 1);
  while (!s.heap.empty()) {
    std::pop_heap(s.heap.begin(), s.heap.end(), CandidateLess());
    MergeCandidate c = s.heap.back();
    s.heap.pop_back();
    Symbol& l = s.symbols[c.left];
    Symbol& r = s.symbols[c.right];
    if (l.len == 0 || r.len == 0 || l.next != c.right || l.id != c.left_id || r.id != c.right_id ||
        l.len + r.len != c.len)
      continue;  // stale: one side has merged since
    int32_t merged;
    if (l.id >= 0 && r.id >= 0) {
      merged = table.Find(l.id, r.id)->result;
    } else {
      merged = text_pairs->index->Find(text.substr(l.begin, c.len));
    }
    l.id = merged;
    l.len = c.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) s.symbols[r.next].prev = c.left;
    TryAddPair(table, text_pairs, text, s, l.prev, c.left);
    TryAddPair(table, text_pairs, text, s, c.left, l.next);
  }
}

MergeTable BuildRankedMergeTable(const Vocabulary& v, const TokenIndex& index, size_t* skipped) {
  MergeTable table;
  table.Reserve(v.merges.size());
  *skipped = 0;
  std::string joined;
  for (size_t rank = 0; rank < v.merges.size(); ++rank) {
    const auto& [a, b] = v.merges[rank];
    int32_t ia = index.Find(a), ib = index.Find(b);
    joined.assign(a).append(b);
    int32_t ir = index.Find(joined);
    if (ia < 0 || ib < 0 || ir < 0) {
      ++*skipped;
      continue;
    }
    table.Add(ia, ib, MergeTable::Rule{ir, -static_cast<float>(rank)});  // first rank wins on repeats
  }
  return table;
}

}  // namespace weft::tokenizer_internal
