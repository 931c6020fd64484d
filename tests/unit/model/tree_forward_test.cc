// Token-tree verification in one forward pass (ForwardBatch::tree_mask): after a cached
// prefix, the nodes of a draft tree go through ModelRunner::Execute as one sequence's
// step, each at position prefix + depth in its own KV slot, attending to the prefix and
// its ancestors only. Each node's logits must be those of a plain (causal) run of the
// prefix followed by the node's root-to-node path, in a fresh cache, within a share of
// the row's largest |logit|: 1e-4 and the same argmax on the scalar table (attention in
// double); on SIMD tables the tree row sums its softmax over KV spans with holes and a
// plain row over contiguous positions, so the float order differs: 2e-3 for F32 weights,
// 1.5e-2 where activations are rounded to int8 (Q4_0: an order-of-sums difference can
// flip a rounding, worth 1/127 of a block's largest value). So that the bar can fail, the
// same logits against the plain run of another node's path must miss it by 10x. Models: stories260K (F32) and TinyLLama-v0 (Q4_0), on every ISA; trees: a top-2
// tree of 15 nodes, a chain, two chains, a one-node tree; prefixes that end mid-block
// and mid-span; the tree in a batch beside a causal sequence.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/kernel_table.h"
#include "kv/kv_cache_storage.h"
#include "model/model_registry.h"
#include "model/model_runner.h"
#include "support/golden.h"

namespace weft {
namespace {

namespace fs = std::filesystem;
using testing::SharedDir;

std::string FindModelFile(const std::string& name) {
  for (const auto& e : fs::recursive_directory_iterator(SharedDir() + "/models")) {
    if (e.path().filename() == name) return e.path().string();
  }
  return "";
}

// One sequence's part of a step: tokens at the given positions and slots.
struct Part {
  std::vector<int32_t> tokens, positions;
  std::vector<int64_t> slots;
  std::vector<uint64_t> masks;  // empty: causal
  int32_t seq_len = 0;
  int32_t block_base = 0;  // the sequence's blocks are [block_base, block_base + blocks)
};

// Runs the parts as one ForwardBatch (identity-offset block tables) and returns the
// logits of every token, [n_tokens][vocab].
std::vector<float> RunParts(ModelRunner& runner, KvCacheStorage& cache, const std::vector<Part>& parts) {
  const int bs = cache.shape().block_size;
  int max_blocks = 1;
  for (const Part& p : parts) max_blocks = std::max(max_blocks, (p.seq_len + bs - 1) / bs);
  std::vector<int32_t> tokens, positions, query_start{0}, seq_len, table, rows;
  std::vector<int64_t> slots;
  std::vector<uint64_t> masks;
  bool any_tree = false;
  for (const Part& p : parts) {
    tokens.insert(tokens.end(), p.tokens.begin(), p.tokens.end());
    positions.insert(positions.end(), p.positions.begin(), p.positions.end());
    for (int64_t s : p.slots) slots.push_back(s + static_cast<int64_t>(p.block_base) * bs);
    if (p.masks.empty()) {
      masks.insert(masks.end(), p.tokens.size(), 0);
    } else {
      masks.insert(masks.end(), p.masks.begin(), p.masks.end());
      any_tree = true;
    }
    query_start.push_back(static_cast<int32_t>(tokens.size()));
    seq_len.push_back(p.seq_len);
    for (int j = 0; j < max_blocks; ++j) table.push_back(p.block_base + j);
  }
  rows.resize(tokens.size());
  std::iota(rows.begin(), rows.end(), 0);
  ForwardBatch b;
  b.tokens = tokens;
  b.positions = positions;
  b.slot_mapping = slots;
  b.query_start = query_start;
  b.seq_len = seq_len;
  b.block_table = table;
  b.max_blocks_per_seq = max_blocks;
  b.logit_rows = rows;
  if (any_tree) b.tree_mask = masks;
  std::vector<float> logits(tokens.size() * static_cast<size_t>(runner.config().n_vocab));
  const Status st = runner.Execute(b, cache, logits.data());
  EXPECT_TRUE(st.ok()) << st.ToString();
  return logits;
}

// A causal run of `tokens` from position 0 (slots = positions).
Part Chain(const std::vector<int32_t>& tokens, int32_t from, int32_t block_base) {
  Part p;
  for (int32_t i = from; i < static_cast<int32_t>(tokens.size()); ++i) {
    p.tokens.push_back(tokens[static_cast<size_t>(i)]);
    p.positions.push_back(i);
    p.slots.push_back(i);
  }
  p.seq_len = static_cast<int32_t>(tokens.size());
  p.block_base = block_base;
  return p;
}

void CheckTrees(const std::string& model_name, bool int8_activations) {
  const std::string path = FindModelFile(model_name);
  ASSERT_FALSE(path.empty()) << model_name;
  auto file = OpenModelFile(path);
  ASSERT_TRUE(file.ok());
  auto model = BindModel(*file);
  ASSERT_TRUE(model.ok());
  // Parents of each node (-1: a root under the prefix), ancestors first.
  const std::vector<std::vector<int>> trees = {
      {-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6},  // top-2, depth 4
      {-1, 0, 1, 2, 3},                                // a chain (plain drafting)
      {-1, -1, 0, 1, 2, 3},                            // two chains, interleaved
      {-1},                                            // no draft: one node
  };
  const int prefixes[] = {1, 21, 61};  // 61 + 15 crosses a 64-position span and a block
  for (kernels::Isa isa : kernels::AvailableIsas()) {
    SCOPED_TRACE(kernels::IsaName(isa));
    RunnerOptions opt;
    opt.kernel_table = kernels::GetKernelTable(isa);
    opt.threads = 2;
    opt.max_tokens_per_step = 128;
    opt.max_logit_rows = 128;
    auto runner = ModelRunner::Create(*model, opt);
    ASSERT_TRUE(runner.ok());
    ModelRunner& r = **runner;
    const float tol = isa == kernels::Isa::kScalar ? 1e-4f : int8_activations ? 1.5e-2f : 2e-3f;
    const int32_t vocab = static_cast<int32_t>(r.config().n_vocab);
    constexpr int kBlock = 16, kSeqBlocks = 8;  // 128 slots per sequence
    auto cache = KvCacheStorage::Create(r.KvShape(3 * kSeqBlocks, kBlock, kernels::KvType::kF16));
    ASSERT_TRUE(cache.ok());
    std::mt19937 rng(7);
    // Pieces past the 256 byte tokens (llama2.c-style vocabularies: those are barely
    // trained, and paths ending in two of them would look alike to the control below).
    std::uniform_int_distribution<int32_t> tok(259, vocab - 1);
    for (int prefix_len : prefixes) {
      for (size_t ti = 0; ti < trees.size(); ++ti) {
        const std::vector<int>& parents = trees[ti];
        SCOPED_TRACE(::testing::Message() << "prefix " << prefix_len << " tree " << ti);
        std::vector<int32_t> prefix(static_cast<size_t>(prefix_len));
        for (auto& t : prefix) t = tok(rng);
        std::vector<int32_t> other(static_cast<size_t>(prefix_len + 3));  // a causal neighbour
        for (auto& t : other) t = tok(rng);
        // The prefixes (sequence 0: the tree's, blocks 0..; sequence 1: the neighbour's).
        RunParts(r, **cache, {Chain(prefix, 0, 0), Chain(other, 0, kSeqBlocks)});
        // The tree, beside the neighbour's next 3 tokens (a chunk of prefill).
        Part tree;
        std::vector<int> depth;
        for (size_t i = 0; i < parents.size(); ++i) {
          const int p = parents[i];
          const uint64_t m = (p >= 0 ? tree.masks[static_cast<size_t>(p)] : 0) | (uint64_t{1} << i);
          depth.push_back(p >= 0 ? depth[static_cast<size_t>(p)] + 1 : 0);
          tree.tokens.push_back(tok(rng));
          tree.positions.push_back(prefix_len + depth.back());
          tree.slots.push_back(prefix_len + static_cast<int64_t>(i));
          tree.masks.push_back(m);
        }
        tree.seq_len = prefix_len + static_cast<int32_t>(parents.size());
        std::vector<int32_t> other_more = other;
        for (int i = 0; i < 3; ++i) other_more.push_back(tok(rng));
        Part neighbour = Chain(other_more, static_cast<int32_t>(other.size()), kSeqBlocks);
        const std::vector<float> got = RunParts(r, **cache, {tree, neighbour});
        // Each node against a plain run of prefix + its path (sequence 2's blocks).
        std::vector<std::vector<float>> wants;
        for (size_t i = 0; i < parents.size(); ++i) {
          std::vector<int32_t> path;
          for (int n = static_cast<int>(i); n >= 0; n = parents[static_cast<size_t>(n)]) {
            path.push_back(tree.tokens[static_cast<size_t>(n)]);
          }
          std::vector<int32_t> plain = prefix;
          plain.insert(plain.end(), path.rbegin(), path.rend());
          const std::vector<float> want = RunParts(r, **cache, {Chain(plain, 0, 2 * kSeqBlocks)});
          wants.emplace_back(want.end() - vocab, want.end());
        }
        auto worst_of = [&](const float* g, const std::vector<float>& w, float* big) {
          float worst = 0;
          *big = 0;
          for (int32_t v = 0; v < vocab; ++v) {
            *big = std::max(*big, std::fabs(w[static_cast<size_t>(v)]));
            worst = std::max(worst, std::fabs(w[static_cast<size_t>(v)] - g[v]));
          }
          return worst;
        };
        for (size_t i = 0; i < parents.size(); ++i) {
          const float* g = got.data() + i * static_cast<size_t>(vocab);
          const std::vector<float>& w = wants[i];
          float big = 0;
          const float worst = worst_of(g, w, &big);
          EXPECT_LE(worst, tol * big) << "node " << i;
          if (isa == kernels::Isa::kScalar) {
            EXPECT_EQ(std::max_element(g, g + vocab) - g, std::max_element(w.begin(), w.end()) - w.begin()) << "node " << i;
          }
          if (i > 0) {  // another path's logits are far outside the bar
            float big_other = 0;
            EXPECT_GT(worst_of(g, wants[i - 1], &big_other), 10 * tol * big) << "node " << i << " vs node " << i - 1;
          }
        }
        // The neighbour's rows are a plain continuation of its prefix.
        const std::vector<float> want_n = RunParts(r, **cache, {Chain(other_more, 0, 2 * kSeqBlocks)});
        for (int j = 0; j < 3; ++j) {
          const float* w = want_n.data() + (other.size() + static_cast<size_t>(j)) * static_cast<size_t>(vocab);
          const float* g = got.data() + (parents.size() + static_cast<size_t>(j)) * static_cast<size_t>(vocab);
          for (int32_t v = 0; v < vocab; ++v) ASSERT_EQ(g[v], w[v]) << "neighbour row " << j << " logit " << v;
        }
      }
    }
  }
}

TEST(TreeForward, Stories260K) { CheckTrees("stories260K.gguf", false); }
TEST(TreeForward, TinyLlamaV0Q4_0) { CheckTrees("TinyLLama-v0.Q4_0.gguf", true); }

// Malformed trees are refused, not run.
TEST(TreeForward, BadMasksAreRefused) {
  auto file = OpenModelFile(FindModelFile("stories260K.gguf"));
  ASSERT_TRUE(file.ok());
  auto model = BindModel(*file);
  ASSERT_TRUE(model.ok());
  auto runner = ModelRunner::Create(*model, RunnerOptions{});
  ASSERT_TRUE(runner.ok());
  auto cache = KvCacheStorage::Create((*runner)->KvShape(4, 16, kernels::KvType::kF16));
  ASSERT_TRUE(cache.ok());
  const int32_t tokens[3] = {5, 6, 7}, query_start[2] = {0, 3}, seq_len[1] = {3}, table[1] = {0}, rows[1] = {2};
  const int64_t slots[3] = {0, 1, 2};
  std::vector<float> logits(static_cast<size_t>((*runner)->config().n_vocab));
  auto run = [&](const std::vector<int32_t>& positions, const std::vector<uint64_t>& masks) {
    ForwardBatch b;
    b.tokens = tokens;
    b.positions = positions;
    b.slot_mapping = slots;
    b.query_start = query_start;
    b.seq_len = seq_len;
    b.block_table = table;
    b.max_blocks_per_seq = 1;
    b.logit_rows = rows;
    b.tree_mask = masks;
    return (*runner)->Execute(b, **cache, logits.data());
  };
  EXPECT_TRUE(run({0, 1, 1}, {1, 3, 5}).ok());               // root, two children
  EXPECT_FALSE(run({0, 1, 2}, {1, 3, 5}).ok());              // a child's position is not its depth
  EXPECT_FALSE(run({0, 1, 1}, {1, 3, 2}).ok());              // row 2 does not see itself
  EXPECT_FALSE(run({0, 1, 1}, {1, 3, 9}).ok());              // row 2 sees a later row
  EXPECT_FALSE(run({0, 1, 1}, {1, 3}).ok());                 // a mask missing
}

}  // namespace
}  // namespace weft
