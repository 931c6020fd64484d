// Staged speculation (--spec staged:MODEL[:K]; spec/draft_model_proposer.h): the draft
// model's own decoding carries n-gram guesses it verifies with its argmax. Checked:
//  - the drafts (chains, and trees with their runners-up) are identical to the unstaged
//    proposer's for the same contexts, alone and in one batch of several sequences, while
//    guesses were confirmed and fewer draft passes ran (a batch runs as many passes as
//    its slowest sequence needs, so the saving shows alone);
//  - greedy decoding through the engine is lossless (spec_test_util.h CheckLossless:
//    alone, a batch of 32, prefix hits, preemption, a tiny budget), for chains and trees;
//  - the flag parses and names itself.
#include "spec/draft_model_proposer.h"
#include "spec/spec_config.h"
#include "spec_test_util.h"

namespace weft {
namespace {

using namespace spec_test;  // NOLINT

SpecConfig Staged(const std::string& path, int k = 4) {
  SpecConfig s = Draft(path, k);
  s.staged = true;
  return s;
}

std::unique_ptr<DraftModelProposer> MakeProposer(const TestModel& m, bool staged, int k) {
  DraftModelOptions o;
  o.threads = 1;
  o.max_model_len = 512;
  o.max_seqs = 8;
  o.max_draft = k;
  o.staged = staged;
  auto p = DraftModelProposer::Create(m.model, staged ? "staged" : "draft", o);
  EXPECT_TRUE(p.ok()) << p.status().message();
  EXPECT_TRUE((*p)->ReserveKv(256).ok());
  return std::move(p).value();
}

TEST(EngineSpecStaged, DraftsAreTheUnstagedOnesInFewerPasses) {
  const TestModel& m = Stories();
  constexpr int kK = 8;
  auto plain = MakeProposer(m, false, kK);
  auto staged = MakeProposer(m, true, kK);
  // Contexts: each text's prefixes at several lengths (the drafting sequences of a
  // decode), three sequences per batch.
  std::vector<std::vector<int32_t>> texts;
  for (const std::string& t : kTexts) texts.push_back(m.tokenizer->Encode(t));
  for (bool tree : {false, true}) {
    SCOPED_TRACE(tree ? "trees" : "chains");
    for (size_t cut = 8; cut <= 40; cut += 8) {
      std::vector<std::vector<int32_t>> ctx;
      for (size_t i = 0; i < 3; ++i) {
        const auto& t = texts[i % texts.size()];
        ctx.emplace_back(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(std::min(t.size(), cut + i)));
      }
      std::vector<std::vector<int32_t>> da(3), db(3), pa(3), pb(3);
      std::vector<DraftSlot> sa, sb;
      for (size_t i = 0; i < 3; ++i) {
        sa.push_back({i + 1, ctx[i], 0, kK, &da[i]});
        sb.push_back({i + 1, ctx[i], 0, kK, &db[i]});
        if (tree) {
          sa.back().parent = &pa[i], sa.back().max_nodes = 20;
          sb.back().parent = &pb[i], sb.back().max_nodes = 20;
        }
      }
      // Each sequence alone (a batch runs as many passes as its slowest sequence needs),
      // then the three in one batch.
      for (size_t first : {size_t{0}, size_t{1}, size_t{2}, size_t{3}}) {
        const size_t count = first == 3 ? 3 : 1, begin = first == 3 ? 0 : first;
        for (size_t i = begin; i < begin + count; ++i) da[i].clear(), db[i].clear(), pa[i].clear(), pb[i].clear();
        const std::span<const DraftSlot> a(sa.data() + begin, count), b(sb.data() + begin, count);
        if (tree) {
          plain->ProposeTreeBatch(a);
          staged->ProposeTreeBatch(b);
        } else {
          plain->ProposeBatch(a);
          staged->ProposeBatch(b);
        }
        for (size_t i = begin; i < begin + count; ++i) {
          EXPECT_EQ(da[i], db[i]) << "cut " << cut << " sequence " << i << " of " << count;
          EXPECT_EQ(pa[i], pb[i]) << "cut " << cut << " sequence " << i << " of " << count;
          EXPECT_EQ(da[i].size(), tree ? 20u : static_cast<size_t>(kK));
        }
      }
    }
  }
  const ProposerCounters a = plain->counters(), b = staged->counters();
  EXPECT_EQ(a.staged_guesses, 0);
  EXPECT_GT(b.staged_confirmed, 0) << b.staged_guesses << " guesses";
  EXPECT_LE(b.staged_confirmed, b.staged_guesses);
  EXPECT_LT(b.draft_passes, a.draft_passes) << b.staged_confirmed << " of " << b.staged_guesses << " guesses confirmed";
}

TEST(EngineSpecStaged, GreedyIsLosslessWithTheQ8FileDraftingForStories260K) {
  const TestModel draft = testing::LoadTestModel(StoriesQ8Path());
  CheckLossless(Stories(), 40, Staged(StoriesQ8Path()), KvPerToken(draft));
}

TEST(EngineSpecStaged, TreesAreLosslessToo) {
  const TestModel draft = testing::LoadTestModel(StoriesQ8Path());
  CheckLossless(Stories(), 40, AsTree(Staged(StoriesQ8Path(), 6), 12), KvPerToken(draft));
}

TEST(EngineSpecStaged, TheFlagParsesAndNamesItself) {
  auto c = ParseSpecConfig("staged:m.gguf:3");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->method, SpecMethod::kDraft);
  EXPECT_TRUE(c->staged);
  EXPECT_EQ(c->draft_model, "m.gguf");
  EXPECT_EQ(c->num_draft, 3);
  EXPECT_EQ(SpecConfigName(*c), "staged:m.gguf:3");
  auto t = ParseSpecConfig("tree:staged:m.gguf:5:20");
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_TRUE(t->staged && t->tree);
  EXPECT_EQ(SpecConfigName(*t), "tree:staged:m.gguf:5:20");
  EXPECT_FALSE(ParseSpecConfig("draft:m.gguf:3").value().staged);
  const auto bad = ParseSpecConfig("staged:");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("staged:MODEL"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace weft
