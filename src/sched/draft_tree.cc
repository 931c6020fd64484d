#include "sched/draft_tree.h"

#include <algorithm>

namespace weft {

int32_t FirstChildChainLength(std::span<const int32_t> parent, int32_t n) {
  if (parent.empty()) return n;
  int32_t c = 0;
  while (c < n && parent[static_cast<size_t>(c)] == c - 1) ++c;
  return c;
}

void DraftTreeDepths(std::span<const int32_t> parent, int32_t n, std::vector<int32_t>& depth) {
  depth.resize(static_cast<size_t>(n));
  for (int32_t i = 0; i < n; ++i) {
    const int32_t p = parent.empty() ? i - 1 : parent[static_cast<size_t>(i)];
    depth[static_cast<size_t>(i)] = p < 0 ? 1 : depth[static_cast<size_t>(p)] + 1;
  }
}

void NormalizeDraftTree(std::vector<int32_t>& tokens, std::vector<int32_t>& parent) {
  if (parent.empty()) return;
  const auto n = static_cast<int32_t>(std::min(tokens.size(), parent.size()));
  // Keep: parent kept (or the root) and no earlier kept sibling with the same token.
  std::vector<int32_t> new_index(static_cast<size_t>(n), -1);
  std::vector<int32_t> kept;
  for (int32_t i = 0; i < n; ++i) {
    const int32_t p = parent[static_cast<size_t>(i)];
    if (p < -1 || p >= i || (p >= 0 && new_index[static_cast<size_t>(p)] < 0)) continue;
    bool duplicate = false;
    for (int32_t j : kept) {
      if (parent[static_cast<size_t>(j)] == p && tokens[static_cast<size_t>(j)] == tokens[static_cast<size_t>(i)]) {
        duplicate = true;
        break;
      }
    }
    if (duplicate) continue;
    new_index[static_cast<size_t>(i)] = static_cast<int32_t>(kept.size());
    kept.push_back(i);
  }
  // The first-child chain: from the root, the first kept child each time.
  std::vector<char> on_chain(static_cast<size_t>(n), 0);
  std::vector<int32_t> order;
  for (int32_t at = -1;;) {
    int32_t next = -1;
    for (int32_t i : kept) {
      if (parent[static_cast<size_t>(i)] == at) {
        next = i;
        break;
      }
    }
    if (next < 0) break;
    on_chain[static_cast<size_t>(next)] = 1;
    order.push_back(next);
    at = next;
  }
  for (int32_t i : kept) {
    if (on_chain[static_cast<size_t>(i)] == 0) order.push_back(i);
  }
  std::vector<int32_t> pos(static_cast<size_t>(n), -1);
  for (size_t k = 0; k < order.size(); ++k) pos[static_cast<size_t>(order[k])] = static_cast<int32_t>(k);
  std::vector<int32_t> t2, p2;
  for (int32_t i : order) {
    t2.push_back(tokens[static_cast<size_t>(i)]);
    const int32_t p = parent[static_cast<size_t>(i)];
    p2.push_back(p < 0 ? -1 : pos[static_cast<size_t>(p)]);
  }
  tokens = std::move(t2);
  parent = std::move(p2);
}

void CutDraftTreeToChain(std::vector<int32_t>& tokens, std::vector<int32_t>& parent) {
  if (parent.empty()) return;
  tokens.resize(static_cast<size_t>(FirstChildChainLength(parent, static_cast<int32_t>(tokens.size()))));
  parent.clear();
}

}  // namespace weft
