// The n-gram (prompt lookup) proposer and the --spec parser.
#include "spec/ngram_proposer.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "spec/spec_config.h"

namespace weft {
namespace {

std::vector<int32_t> Propose(NgramProposer& p, const std::vector<int32_t>& tokens, int32_t k) {
  std::vector<int32_t> d;
  p.Propose(tokens, static_cast<int32_t>(tokens.size()), k, d);
  return d;
}

TEST(NgramProposer, CopiesWhatFollowedTheMostRecentLongestMatch) {
  NgramProposer p;
  // "... 5 6 7 8 9 ... 5 6 7" -> 8 9 ...
  EXPECT_EQ(Propose(p, {1, 5, 6, 7, 8, 9, 10, 2, 5, 6, 7}, 3), (std::vector<int32_t>{8, 9, 10}));
  // Capped by k.
  EXPECT_EQ(Propose(p, {1, 5, 6, 7, 8, 9, 10, 2, 5, 6, 7}, 1), (std::vector<int32_t>{8}));
  // Capped by k; past the end of the sequence the repetition continues (period 4).
  EXPECT_EQ(Propose(p, {5, 6, 7, 8, 5, 6, 7}, 8), (std::vector<int32_t>{8, 5, 6, 7, 8, 5, 6, 7}));
  EXPECT_EQ(Propose(p, {1, 9, 9, 9}, 4), (std::vector<int32_t>{9, 9, 9, 9}));
  EXPECT_EQ(Propose(p, {3, 1, 2, 1, 2, 1}, 5), (std::vector<int32_t>{2, 1, 2, 1, 2}));
  // The longest n-gram wins over a more recent shorter one: "3 4" matched at the start,
  // though "4" alone occurs later followed by 9.
  EXPECT_EQ(Propose(p, {3, 4, 1, 2, 4, 9, 3, 4}, 2), (std::vector<int32_t>{1, 2}));
  // Of equal matches the most recent one.
  EXPECT_EQ(Propose(p, {7, 1, 7, 2, 7}, 1), (std::vector<int32_t>{2}));
}

TEST(NgramProposer, ProposesNothingWithoutAMatch) {
  NgramProposer p;
  EXPECT_TRUE(Propose(p, {1, 2, 3, 4}, 4).empty());
  EXPECT_TRUE(Propose(p, {1}, 4).empty());
  EXPECT_TRUE(Propose(p, {1, 2, 1}, 0).empty());
  NgramProposerOptions o;
  o.min_ngram = 2;
  NgramProposer two(o);
  EXPECT_TRUE(Propose(two, {7, 1, 7, 2, 7}, 3).empty());  // only 1-gram matches
  o.window = 3;
  NgramProposer near(o);
  EXPECT_TRUE(Propose(near, {5, 6, 1, 2, 3, 5, 6}, 3).empty());  // the match is out of the window
}

TEST(NgramProposer, RealSizes) {
  // A 128k-token history: the proposer scans the window only.
  std::vector<int32_t> t(131072);
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int32_t>((i * 2654435761u) % 151936);
  t.push_back(t[100000]);
  t.push_back(t[100001]);
  t.push_back(t[100002]);
  NgramProposerOptions o;
  o.window = 1 << 20;
  NgramProposer p(o);
  EXPECT_EQ(Propose(p, t, 3), (std::vector<int32_t>{t[100003], t[100004], t[100005]}));
}

TEST(SpecConfig, Parses) {
  auto c = ParseSpecConfig("ngram");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->method, SpecMethod::kNgram);
  EXPECT_EQ(c->num_draft, 4);
  EXPECT_EQ(SpecConfigName(*c), "ngram:4");
  c = ParseSpecConfig("ngram:7");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->num_draft, 7);
  EXPECT_NE(MakeProposer(*c), nullptr);
  c = ParseSpecConfig("off");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->enabled());
  EXPECT_EQ(MakeProposer(*c), nullptr);
  for (const char* bad : {"ngram:0", "ngram:17", "ngram:x", "ngram:3x", "medusa", "draft:"}) {
    const auto b = ParseSpecConfig(bad);
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_NE(b.status().message().find("--spec"), std::string::npos) << b.status().message();
  }
}

// Token trees: several earlier occurrences give several branches; the first-child chain
// is exactly what Propose drafts; the budget, the depth and distinct siblings hold.
TEST(NgramProposer, TreeMergesSeveralOccurrences) {
  NgramProposer p;
  // "7 8" was followed by 1 2, by 3 4 and (most recently) by 5 6.
  const std::vector<int32_t> tokens = {7, 8, 1, 2, 9, 7, 8, 3, 4, 9, 7, 8, 5, 6, 9, 7, 8};
  std::vector<int32_t> chain, draft, parent;
  p.Propose(tokens, 3, 2, chain);
  p.ProposeTree(tokens, 3, 2, 16, draft, parent);
  ASSERT_EQ(draft.size(), parent.size());
  // The most recent continuation is the first-child chain; the other two are branches.
  ASSERT_GE(draft.size(), 6u);
  EXPECT_EQ(std::vector<int32_t>(draft.begin(), draft.begin() + 2), chain);
  EXPECT_EQ(parent[0], -1);
  EXPECT_EQ(parent[1], 0);
  std::vector<int32_t> roots;
  for (size_t i = 0; i < draft.size(); ++i) {
    EXPECT_LT(parent[i], static_cast<int32_t>(i));
    if (parent[i] == -1) roots.push_back(draft[i]);
    // Depth at most 2.
    if (parent[i] >= 0) {
      EXPECT_EQ(parent[static_cast<size_t>(parent[i])], -1);
    }
  }
  std::sort(roots.begin(), roots.end());
  EXPECT_EQ(roots, (std::vector<int32_t>{1, 3, 5}));
  // The node budget.
  draft.clear();
  parent.clear();
  p.ProposeTree(tokens, 3, 2, 3, draft, parent);
  EXPECT_EQ(draft.size(), 3u);
  EXPECT_EQ(std::vector<int32_t>(draft.begin(), draft.begin() + 2), chain);
  // Shared prefixes merge: "5 1 2" and "5 1 3" give 1 -> {2, 3}.
  const std::vector<int32_t> shared = {5, 1, 3, 0, 5, 1, 2, 0, 5};
  draft.clear();
  parent.clear();
  p.ProposeTree(shared, 1, 2, 16, draft, parent);
  EXPECT_EQ(draft, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(parent, (std::vector<int32_t>{-1, 0, 0}));
  // Nothing to match: nothing drafted.
  draft.clear();
  parent.clear();
  p.ProposeTree(std::vector<int32_t>{1, 2, 3}, 3, 4, 16, draft, parent);
  EXPECT_TRUE(draft.empty());
}

}  // namespace
}  // namespace weft
