// Routing of the mixture-of-experts block (model/moe_block.h): the top k by probability,
// best first, ties to the lower expert index, weights renormalised or not, scaled;
// DeepSeek's selection bias (choice only) and group-limited routing (max or top-2 sum). The block's
// numbers are held to the float64 pass and llama.cpp in cli.arch_reference and
// golden_logits_test; its batch invariance in engine_real_width_test (mixs2).
#include "model/moe_block.h"

#include <gtest/gtest.h>

#include <vector>

namespace weft {
namespace {

RoutingRule Rule(int64_t n_expert, int64_t k, bool renormalize) {
  RoutingRule r;
  r.n_expert = n_expert;
  r.k = k;
  r.renormalize = renormalize;
  return r;
}

void RouteTokens(const float* probs, int64_t n_tokens, int64_t n_expert, int64_t k, bool renormalize, int32_t* chosen,
                 float* w) {
  weft::RouteTokens(probs, n_tokens, Rule(n_expert, k, renormalize), chosen, w);
}

TEST(RouteTokens, TopKBestFirstWithWeights) {
  // Two tokens over 5 experts.
  const std::vector<float> probs = {0.10f, 0.40f, 0.05f, 0.30f, 0.15f,   // token 0
                                    0.25f, 0.05f, 0.25f, 0.20f, 0.25f};  // token 1: a three-way tie
  std::vector<int32_t> chosen(4);
  std::vector<float> w(4);
  RouteTokens(probs.data(), 2, 5, 2, /*renormalize=*/false, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{1, 3, 0, 2}));
  EXPECT_FLOAT_EQ(w[0], 0.40f);
  EXPECT_FLOAT_EQ(w[1], 0.30f);
  EXPECT_FLOAT_EQ(w[2], 0.25f);
  EXPECT_FLOAT_EQ(w[3], 0.25f);
  RouteTokens(probs.data(), 2, 5, 2, /*renormalize=*/true, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{1, 3, 0, 2}));
  EXPECT_FLOAT_EQ(w[0], 0.40f / 0.70f);
  EXPECT_FLOAT_EQ(w[1], 0.30f / 0.70f);
  EXPECT_FLOAT_EQ(w[2], 0.5f);
  EXPECT_FLOAT_EQ(w[3], 0.5f);
}

TEST(RouteTokens, AllExpertsAndOne) {
  const std::vector<float> probs = {0.2f, 0.5f, 0.3f};
  std::vector<int32_t> chosen(3);
  std::vector<float> w(3);
  RouteTokens(probs.data(), 1, 3, 3, true, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{1, 2, 0}));
  EXPECT_FLOAT_EQ(w[0] + w[1] + w[2], 1.0f);
  RouteTokens(probs.data(), 1, 3, 1, true, chosen.data(), w.data());
  EXPECT_EQ(chosen[0], 1);
  EXPECT_FLOAT_EQ(w[0], 1.0f);
}

TEST(RouteTokens, ScaleAfterRenormalisation) {
  const std::vector<float> probs = {0.2f, 0.5f, 0.3f};
  std::vector<int32_t> chosen(2);
  std::vector<float> w(2);
  RoutingRule r = Rule(3, 2, true);
  r.scale = 16.0f;  // DeepSeek-V2's routed_scaling_factor
  weft::RouteTokens(probs.data(), 1, r, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{1, 2}));
  EXPECT_FLOAT_EQ(w[0], 16.0f * 0.5f / 0.8f);
  EXPECT_FLOAT_EQ(w[1], 16.0f * 0.3f / 0.8f);
}

TEST(RouteTokens, SelectionBiasChoosesButDoesNotWeigh) {
  const std::vector<float> scores = {0.9f, 0.6f, 0.5f, 0.1f};  // sigmoid scores
  const std::vector<float> bias = {-0.5f, 0.0f, 0.2f, 0.0f};   // biased: 0.4 0.6 0.7 0.1
  std::vector<int32_t> chosen(2);
  std::vector<float> w(2);
  RoutingRule r = Rule(4, 2, false);
  r.selection_bias = bias.data();
  weft::RouteTokens(scores.data(), 1, r, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{2, 1}));
  EXPECT_FLOAT_EQ(w[0], 0.5f);  // the unbiased scores
  EXPECT_FLOAT_EQ(w[1], 0.6f);
}

TEST(RouteTokens, GroupLimitedByBestExpert) {
  // 8 experts in 4 groups of 2; the best 2 groups by their best expert: {0,1} (0.30) and
  // {6,7} (0.25); group {2,3} (0.20 + 0.20) would win on a top-2 sum but not on the max.
  const std::vector<float> p = {0.30f, 0.01f, 0.20f, 0.20f, 0.02f, 0.02f, 0.25f, 0.0f};
  std::vector<int32_t> chosen(3);
  std::vector<float> w(3);
  RoutingRule r = Rule(8, 3, false);
  r.n_group = 4;
  r.group_used = 2;
  weft::RouteTokens(p.data(), 1, r, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{0, 6, 1}));  // expert 2 (0.20) is in a group left out
  r.top2_group_score = true;                           // sums: 0.31, 0.40, 0.04, 0.25
  weft::RouteTokens(p.data(), 1, r, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{0, 2, 3}));
  r.n_group = 0;  // without groups: the best three overall
  weft::RouteTokens(p.data(), 1, r, chosen.data(), w.data());
  EXPECT_EQ(chosen, (std::vector<int32_t>{0, 6, 2}));
}

}  // namespace
}  // namespace weft
