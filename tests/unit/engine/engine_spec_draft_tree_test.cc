// Token trees from a model-backed proposer (--spec tree:draft:MODEL, tree:self:LAYERS):
// the draft's greedy chain is the tree's first-child chain and the draft's runners-up at
// each depth are leaves beside it (spec/draft_model_proposer.h), drafted for all
// sequences in one batch (Proposer::ProposeTreeBatch). Checked:
//  - greedy is lossless (spec_test_util.h CheckLossless: alone, a batch of 32 mixed
//    requests, prefix hits, preemption, a tiny budget) with stories260K's Q8_0 file
//    drafting for the F32 one and with TinyLLama-v0 skipping two layers;
//  - where the draft's first choice misses (TinyLLama-v0 skipping layers), a runner-up is
//    accepted (tokens off the first-child chain) and a tree pass yields more tokens than a
//    chain pass of the same proposer and depth, with the same outputs;
//  - the tree's shape: at most the node budget, depth at most K, every side node a leaf
//    whose parent is on the chain, siblings distinct;
//  - sampling keeps the target's distribution at each position (chi-square, as for chains).
#include <algorithm>
#include <tuple>

#include "spec/draft_model_proposer.h"
#include "spec/spec_config.h"
#include "spec_test_util.h"

namespace weft {
namespace {

using namespace spec_test;  // NOLINT

TEST(EngineSpecDraftTree, GreedyIsLosslessWithTheQ8FileDraftingForStories260K) {
  const TestModel draft = testing::LoadTestModel(StoriesQ8Path());
  CheckLossless(Stories(), 40, AsTree(Draft(StoriesQ8Path()), 12), KvPerToken(draft));
}

TEST(EngineSpecDraftTree, GreedyIsLosslessOnTinyLlamaSkippingLayers) {
  CheckLossless(TinyLlama(), 40, AsTree(Self({3, 5}), 12), KvPerToken(TinyLlama(), 6));
}

TEST(EngineSpecDraftTree, RunnersUpAreAcceptedWhereTheDraftMisses) {
  const TestModel& m = TinyLlama();
  const auto rs = Mixed(m, 40);
  auto chain = MakeEngine(Config(Self({3, 5})), m);
  auto tree = MakeEngine(Config(AsTree(Self({3, 5}), 16)), m);
  ExpectSame(RunAll(*chain, rs), RunAll(*tree, rs), "chain vs tree");
  const EngineStats c = chain->Stats(), t = tree->Stats();
  EXPECT_GT(t.spec_tree_branch_tokens, 0) << "no runner-up was ever accepted";
  EXPECT_GT(t.spec_tree_kv_moves, 0);
  EXPECT_GT(t.spec_tokens_per_pass(), c.spec_tokens_per_pass())
      << "tree " << t.spec_accepted_tokens << "/" << t.spec_passes << " chain " << c.spec_accepted_tokens << "/"
      << c.spec_passes;
}

TEST(EngineSpecDraftTree, TreesHaveTheChainThenLeavesWithinTheBudget) {
  const TestModel& m = Stories();
  DraftModelOptions o;
  o.threads = 1;
  o.max_model_len = 256;
  o.max_seqs = 4;
  o.max_draft = 4;
  auto p = DraftModelProposer::Create(m.model, "self", o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  ASSERT_TRUE((*p)->ReserveKv(64).ok());
  const std::vector<int32_t> a = m.tokenizer->Encode(kTexts[0]), b = m.tokenizer->Encode(kTexts[1]);
  for (int32_t nodes : {1, 3, 4, 7, 16}) {
    SCOPED_TRACE(nodes);
    std::vector<int32_t> chain_a, chain_b, draft_a, draft_b, parent_a, parent_b;
    // The chain alone (ProposeBatch), then the trees (ProposeTreeBatch) of both sequences in one batch.
    std::vector<DraftSlot> chains = {{1, a, 0, 4, &chain_a}, {2, b, 0, 4, &chain_b}};
    (*p)->ProposeBatch(chains);
    std::vector<DraftSlot> trees = {{1, a, 0, 4, &draft_a}, {2, b, 0, 4, &draft_b}};
    trees[0].parent = &parent_a, trees[0].max_nodes = nodes;
    trees[1].parent = &parent_b, trees[1].max_nodes = nodes;
    (*p)->ProposeTreeBatch(trees);
    for (auto [draft, parent, chain] :
         {std::tuple{&draft_a, &parent_a, &chain_a}, std::tuple{&draft_b, &parent_b, &chain_b}}) {
      ASSERT_EQ(draft->size(), parent->size());
      const size_t depth = std::min<size_t>(4, static_cast<size_t>(nodes));
      ASSERT_EQ(chain->size(), 4u);
      // The first `depth` nodes are the chain (a prefix of the chain drafted alone).
      ASSERT_GE(draft->size(), depth);
      for (size_t i = 0; i < depth; ++i) {
        EXPECT_EQ((*draft)[i], (*chain)[i]) << i;
        EXPECT_EQ((*parent)[i], static_cast<int32_t>(i) - 1) << i;
      }
      // The rest: leaves beside chain nodes, shallow depths first, within the budget.
      const size_t expected = std::min<size_t>(static_cast<size_t>(nodes), depth * (1 + DraftModelProposer::kMaxSiblings));
      EXPECT_EQ(draft->size(), expected);
      int32_t last_parent = -1;
      for (size_t i = depth; i < draft->size(); ++i) {
        const int32_t q = (*parent)[i];
        EXPECT_GE(q, last_parent) << "side nodes go by depth";
        last_parent = q;
        EXPECT_LT(q + 1, static_cast<int32_t>(depth));
        EXPECT_NE((*draft)[i], (*draft)[static_cast<size_t>(q + 1)]) << "a runner-up equals the chain's token";
        for (size_t j = depth; j < i; ++j) {
          if ((*parent)[j] == q) {
            EXPECT_NE((*draft)[j], (*draft)[i]) << "siblings repeat";
          }
        }
      }
    }
  }
}

TEST(EngineSpecDraftTree, SampledTokensKeepTheDistributionAtEachPosition) {
  CheckDistribution(Stories(), AsTree(Self({2}), 12));
}

}  // namespace
}  // namespace weft
