// Token-tree speculative decoding end to end (--spec tree:ngram): the n-gram proposer
// drafts a tree from several earlier occurrences, the target verifies it in one pass
// (sched/scheduler.h: bit-identical rows), the engine follows the accepted children and
// moves an accepted branch's K/V into place (EngineCore::VerifyTree). Checked:
//  - greedy is lossless (spec_test_util.h CheckLossless: the same tokens, texts, finishes
//    and target logprobs as plain decoding on stories260K, TinyLLama-v0 and a synthetic
//    qwen2; alone, a batch of 32 mixed requests, prefix hits, preemption, a tiny budget);
//  - branches off the first-child chain are accepted on a copy-heavy workload (so the
//    K/V moves ran), for every KV type, with the output unchanged;
//  - sampling keeps the distribution at each position (CheckDistribution's chi-square);
//  - trees take fewer target passes than the chain of the same depth where the text has
//    several continuations.
#include "spec/spec_config.h"
#include "spec_test_util.h"

namespace weft {
namespace {

using namespace spec_test;  // NOLINT

SpecConfig Tree(int k = 4, int nodes = 16) {
  SpecConfig s = Ngram(k);
  s.tree = true;
  s.tree_nodes = nodes;
  return s;
}

TEST(EngineSpecTree, GreedyIsLosslessOnStories260K) { CheckLossless(Stories(), 40, Tree()); }
TEST(EngineSpecTree, GreedyIsLosslessOnTinyLlama) { CheckLossless(TinyLlama(), 40, Tree()); }
TEST(EngineSpecTree, GreedyIsLosslessOnASyntheticQwen2) { CheckLossless(SynthQwen(), 16, Tree()); }

// Prompts whose phrases go on in several ways: a chain drafts one continuation, a tree
// several.
const std::vector<std::string> kBranchy = {
    "The cat sat on the mat. The dog sat on the rug. The cat sat on the mat. The dog sat on the rug. The cat sat on "
    "the",
    "Lily had a red ball. Tom had a blue ball. Lily had a red ball. Tom had a blue ball. Lily had a",
    "Once upon a time there was a girl. Once upon a time there was a dog. Once upon a time there was a",
};

std::vector<GenerationRequest> Branchy(const TestModel& m, int max_tokens) {
  std::vector<GenerationRequest> rs;
  for (const std::string& t : kBranchy) {
    GenerationRequest r;
    r.prompt_tokens = m.tokenizer->Encode(t);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = max_tokens;
    r.sampling.ignore_eos = true;
    r.sampling.logprobs = 1;
    rs.push_back(r);
  }
  return rs;
}

TEST(EngineSpecTree, BranchesAreAcceptedAndMovedForEveryKvType) {
  const TestModel& m = Stories();
  for (const char* type : {"f16", "bf16", "f32", "q8", "fp8", "q4", "q8,q4"}) {
    SCOPED_TRACE(type);
    const auto rs = Branchy(m, 48);
    EngineConfig plain_config = Config(false);
    plain_config.kv_type = *kernels::KvTypesFromName(type);
    auto plain = MakeEngine(plain_config, m);
    std::vector<Output> reference;
    for (const auto& r : rs) reference.push_back(RunAll(*plain, {r})[0]);
    EngineConfig tree_config = Config(Tree());
    tree_config.kv_type = plain_config.kv_type;
    auto tree = MakeEngine(tree_config, m);
    std::vector<Output> alone;
    for (const auto& r : rs) alone.push_back(RunAll(*tree, {r})[0]);
    ExpectSame(reference, alone, "alone");
    ExpectSame(reference, RunAll(*tree, rs), "together");
    const EngineStats st = tree->Stats();
    EXPECT_GT(st.spec_tree_branch_tokens, 0) << "no accepted token came off the first-child chain";
    EXPECT_GT(st.spec_tree_kv_moves, 0);
    EXPECT_GT(st.spec_nodes_per_pass(), 1.0);
  }
}

TEST(EngineSpecTree, TakesFewerPassesThanTheChainWhereTextBranches) {
  const TestModel& m = Stories();
  const auto rs = Branchy(m, 64);
  auto chain = MakeEngine(Config(Ngram(4)), m);
  auto tree = MakeEngine(Config(Tree(4, 24)), m);
  for (const auto& r : rs) {
    ExpectSame(RunAll(*chain, {r}), RunAll(*tree, {r}), "chain vs tree");
  }
  const EngineStats c = chain->Stats(), t = tree->Stats();
  EXPECT_GT(t.spec_tokens_per_pass(), c.spec_tokens_per_pass())
      << "tree " << t.spec_accepted_tokens << "/" << t.spec_passes << " chain " << c.spec_accepted_tokens << "/"
      << c.spec_passes;
  EXPECT_LT(t.num_steps, c.num_steps);
}

TEST(EngineSpecTree, SampledTokensKeepTheDistributionAtEachPosition) { CheckDistribution(Stories(), Tree()); }

TEST(EngineSpecTree, TheFlagParsesAndNamesItself) {
  auto c = ParseSpecConfig("tree:ngram:5:24");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->tree);
  EXPECT_EQ(c->num_draft, 5);
  EXPECT_EQ(c->tree_nodes, 24);
  EXPECT_EQ(SpecConfigName(*c), "tree:ngram:5:24");
  auto d = ParseSpecConfig("tree:ngram");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(SpecConfigName(*d), "tree:ngram:4:16");
  EXPECT_FALSE(ParseSpecConfig("tree:ngram:4:64").ok());
  EXPECT_FALSE(ParseSpecConfig("tree:ngram:4:0").ok());
  auto draft = ParseSpecConfig("tree:draft:hf:owner/repo:5:12");
  ASSERT_TRUE(draft.ok()) << draft.status().message();
  EXPECT_EQ(draft->method, SpecMethod::kDraft);
  EXPECT_EQ(draft->draft_model, "hf:owner/repo");
  EXPECT_EQ(draft->num_draft, 5);
  EXPECT_EQ(draft->tree_nodes, 12);
  EXPECT_EQ(SpecConfigName(*draft), "tree:draft:hf:owner/repo:5:12");
  auto draft_k = ParseSpecConfig("tree:draft:m.gguf:3");
  ASSERT_TRUE(draft_k.ok());
  EXPECT_EQ(draft_k->draft_model, "m.gguf");
  EXPECT_EQ(draft_k->num_draft, 3);
  EXPECT_EQ(draft_k->tree_nodes, 16);
  auto self = ParseSpecConfig("tree:self:3,5-6:2:8");
  ASSERT_TRUE(self.ok()) << self.status().message();
  EXPECT_EQ(self->method, SpecMethod::kSelf);
  EXPECT_EQ(self->skip_layers, (std::vector<int64_t>{3, 5, 6}));
  EXPECT_EQ(SpecConfigName(*self), "tree:self:3,5,6:2:8");
  EXPECT_FALSE(ParseSpecConfig("tree:draft:m.gguf:4:64").ok());
  EXPECT_FALSE(ParseSpecConfig("tree:ngram:4:16:2").ok());
  EXPECT_FALSE(ParseSpecConfig("ngram:4:16").ok());  // a chain has no node budget
  const auto bad = ParseSpecConfig("tree:beam:4");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("tree:draft:MODEL"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace weft
