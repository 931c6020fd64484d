// Routing of the mixture-of-experts block (model/moe_block.h): the top k by probability,
// best first, ties to the lower expert index, weights renormalised or not. The block's
// numbers are held to the float64 pass and llama.cpp in cli.arch_reference and
// golden_logits_test; its batch invariance in engine_real_width_test (mixs2).
#include "model/moe_block.h"

#include <gtest/gtest.h>

#include <vector>

namespace weft {
namespace {

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

}  // namespace
}  // namespace weft
