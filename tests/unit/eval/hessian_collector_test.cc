// eval/hessian_collector.h: weights that read the same input in a step (q/k/v, gate/up)
// share one Hessian, which equals 2 X^T X over every input row of every step (checked
// against a double-precision sum, at width 2048 and at a small one); an input with other
// contents at the same address starts its own Hessian; expert slices and non-blk
// weights are not collected; a fused projection's first row slice stands for it; the
// per-column sum and max of |x| (AWQ, SmoothQuant) are kept, with or without the Hessian.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "eval/hessian_collector.h"
#include "support/weight_view.h"

namespace weft {
namespace {

TensorView Weight(const std::string& name, int64_t k, int64_t n) { return testing::WeightView(name, k, n); }

std::vector<float> Input(int64_t m, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto& v : x) v = dist(rng);
  return x;
}

void ExpectGram(const HessianCollector::Group& g, const std::vector<std::vector<float>>& inputs, int64_t k) {
  double worst = 0, scale = 0;
  for (int64_t i = 0; i < k; i += (k > 64 ? 37 : 1)) {
    for (int64_t j = i; j < k; j += (k > 64 ? 13 : 1)) {
      double want = 0;
      for (const auto& x : inputs) {
        for (size_t r = 0; r < x.size() / static_cast<size_t>(k); ++r) {
          want += 2.0 * x[r * k + i] * x[r * k + j];
        }
      }
      worst = std::max(worst, std::fabs(want - g.h[static_cast<size_t>(i * k + j)]));
      scale = std::max(scale, std::fabs(want));
    }
  }
  EXPECT_LT(worst, 1e-4 * scale);
}

void RunLayer(int64_t k, int64_t m) {
  ThreadPool pool(2);
  HessianCollector c(&pool);
  std::vector<std::vector<float>> attn_inputs, o_inputs;
  for (int step = 0; step < 2; ++step) {
    std::vector<float> x = Input(m, k, 10 + step);
    for (const char* n : {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"}) {
      c.OnMatMul(Weight(n, k, 8), x.data(), m, 0);
    }
    attn_inputs.push_back(x);
    // Same buffer, new contents: attn_output's input is another Hessian.
    std::vector<float> y = Input(m, k, 20 + step);
    std::copy(y.begin(), y.end(), x.begin());
    c.OnMatMul(Weight("blk.0.attn_output.weight", k, 8), x.data(), m, 0);
    o_inputs.push_back(y);
    c.OnMatMul(Weight("token_embd.weight", k, 8), x.data(), m, 0);       // not a blk.* weight
    c.OnMatMul(Weight("blk.0.ffn_up_exps.weight[3]", k, 8), x.data(), m, 0);  // an expert slice
  }
  ASSERT_EQ(c.num_groups(), 2u);
  const auto& groups = c.groups();
  ASSERT_EQ(groups.size(), 4u);
  const auto& q = *groups.at("blk.0.attn_q.weight");
  EXPECT_EQ(groups.at("blk.0.attn_k.weight").get(), &q);
  EXPECT_EQ(groups.at("blk.0.attn_v.weight").get(), &q);
  EXPECT_EQ(q.rows, 2 * m);
  EXPECT_EQ(q.weights.size(), 3u);
  ExpectGram(q, attn_inputs, k);
  const auto& o = *groups.at("blk.0.attn_output.weight");
  EXPECT_NE(&o, &q);
  ExpectGram(o, o_inputs, k);
}

TEST(HessianCollector, SharedInputsShareOneHessianSmall) { RunLayer(48, 5); }

TEST(HessianCollector, SharedInputsShareOneHessianAt2048) { RunLayer(2048, 40); }

TEST(HessianCollector, FusedSliceStandsForTheTensorAndStridesAreRespected) {
  HessianCollector c(nullptr);
  const int64_t k = 16, m = 3, stride = 20;
  std::vector<float> x = Input(m, stride, 3);
  c.OnMatMul(Weight("blk.1.attn_qkv.weight[rows 0..32)", k, 32), x.data(), m, stride);
  c.OnMatMul(Weight("blk.1.attn_qkv.weight[rows 32..48)", k, 16), x.data(), m, stride);
  ASSERT_EQ(c.groups().size(), 1u);
  const auto& g = *c.groups().at("blk.1.attn_qkv.weight");
  EXPECT_EQ(g.rows, m);
  std::vector<float> packed;
  for (int64_t r = 0; r < m; ++r) packed.insert(packed.end(), x.begin() + r * stride, x.begin() + r * stride + k);
  ExpectGram(g, {packed}, k);
}

// AWQ's and SmoothQuant's statistics: the sum and max of |x_j| over every input row, once
// per shared input; without the Hessian (with_hessian false) the same statistics, no H.
TEST(HessianCollector, ColumnAbsStatisticsWithAndWithoutHessian) {
  for (bool with_h : {true, false}) {
    HessianCollector c(nullptr, with_h);
    const int64_t k = 40, m = 6, stride = 48;
    std::vector<float> x1 = Input(m, stride, 5), x2 = Input(m, stride, 6);
    for (const auto* x : {&x1, &x2}) {
      for (const char* n : {"blk.0.ffn_gate.weight", "blk.0.ffn_up.weight"}) c.OnMatMul(Weight(n, k, 8), x->data(), m, stride);
    }
    const auto& g = *c.groups().at("blk.0.ffn_up.weight");
    EXPECT_EQ(c.groups().at("blk.0.ffn_gate.weight").get(), &g);
    EXPECT_EQ(g.rows, 2 * m);
    EXPECT_EQ(g.h.size(), with_h ? static_cast<size_t>(k * k) : 0u);
    for (int64_t j = 0; j < k; ++j) {
      double sum = 0;
      float mx = 0;
      for (const auto* x : {&x1, &x2}) {
        for (int64_t r = 0; r < m; ++r) {
          const float a = std::fabs((*x)[static_cast<size_t>(r * stride + j)]);
          sum += a;
          mx = std::max(mx, a);
        }
      }
      EXPECT_NEAR(g.abs_sum[static_cast<size_t>(j)], sum, 1e-9 * (1 + sum)) << j;
      EXPECT_EQ(g.abs_max[static_cast<size_t>(j)], mx) << j;
    }
  }
}

}  // namespace
}  // namespace weft
