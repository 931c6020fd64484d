// Draft token trees (SpecInfer, Miao et al. 2024): a proposer may draft several
// continuations at once as a tree; the target scores every node in one pass (each node
// attends to the prefix and its ancestors) and the engine accepts one root-to-node path.
//
// Representation, shared by proposers, the scheduler and the engine: nodes 0..n-1 with
// tokens[i] and parent[i] in [-1, i) (-1: the node follows the sequence's last token, the
// tree's root; so every node comes after its ancestors). A chain is the degenerate tree
// parent[i] = i - 1 (an empty parent list also means a chain). Siblings carry distinct
// tokens (the multi-candidate acceptance rule, sampling/sampler.h VerifyCandidates,
// assumes distinct deterministic candidates). The engine lays the tree out so that the
// first-child chain (root's first child, its first child, ...) is nodes 0..c-1: those
// nodes take the KV slots right after the prefix, which is where an accepted path along
// the chain must end up, so the common case moves no KV.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace weft {

// The c of the layout above: the largest c with parent[i] == i - 1 for every i < c
// (n for an empty parent list: a chain of n nodes).
int32_t FirstChildChainLength(std::span<const int32_t> parent, int32_t n);

// Depth of each node (1 for a child of the root); an empty parent list: a chain.
void DraftTreeDepths(std::span<const int32_t> parent, int32_t n, std::vector<int32_t>& depth);

// Makes `tokens`/`parent` a well-formed tree in the engine's layout: drops a node whose
// parent is out of range or whose token repeats an earlier sibling's (with its subtree),
// then orders the first-child chain first, the other nodes after it in their order (so
// ancestors still come first). An empty parent list is a chain and stays as it is.
void NormalizeDraftTree(std::vector<int32_t>& tokens, std::vector<int32_t>& parent);

// Keeps the first-child chain only (parent cleared: a chain).
void CutDraftTreeToChain(std::vector<int32_t>& tokens, std::vector<int32_t>& parent);

}  // namespace weft
