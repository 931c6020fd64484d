// eval/imatrix_collector.h: the statistics llama-imatrix collects, fed by hand through
// the MatMulObserver interface: per-column sums of squares over >= 16-row inputs,
// call counts per step, experts into one entry with per-expert counts, incomplete
// expert entries left out, fused-projection slices counted once, non-block weights
// ignored. The whole path (a model run, against llama-imatrix's file) is tested by
// tests/cli/quantize_imatrix.sh.
#include "eval/imatrix_collector.h"

#include <gtest/gtest.h>

#include <vector>

#include "support/weight_view.h"

namespace weft {
namespace {

TensorView Weight(const std::string& name, int64_t k, int64_t n) { return testing::WeightView(name, k, n); }

// Rows where x[r][j] = r + 1 + j (so that every column's sum differs).
std::vector<float> Input(int64_t m, int64_t k, int64_t stride) {
  std::vector<float> x(static_cast<size_t>(m * stride), -99.0f);
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < k; ++j) x[static_cast<size_t>(r * stride + j)] = static_cast<float>(r + 1 + j);
  }
  return x;
}

double SumSq(int64_t m, int64_t j) {
  double s = 0;
  for (int64_t r = 0; r < m; ++r) s += static_cast<double>(r + 1 + j) * (r + 1 + j);
  return s;
}

TEST(ImatrixCollectorTest, DenseSumsOverBatchesOfSixteenOrMore) {
  ImatrixCollector c(0, false);
  const int64_t k = 8, stride = 11;
  const TensorView q = Weight("blk.0.attn_q.weight", k, 4);
  const std::vector<float> x = Input(20, k, stride);
  c.BeginStep();
  c.OnMatMul(q, x.data(), 20, stride);
  c.BeginStep();
  c.OnMatMul(q, x.data(), 16, stride);
  c.BeginStep();
  c.OnMatMul(q, x.data(), 15, stride);  // fewer than 16 rows: skipped, as llama-imatrix does
  c.OnMatMul(Weight("output.weight", k, 4), x.data(), 20, stride);           // not collected by default
  c.OnMatMul(Weight("token_embd.weight", k, 4), x.data(), 20, stride);       // not a blk. weight
  const quant::Imatrix m = c.Result(3, "calib", nullptr);
  ASSERT_EQ(m.entries.size(), 1u);
  const quant::ImatrixEntry& e = m.entries.at("blk.0.attn_q.weight");
  EXPECT_EQ(e.ncall, 2);
  ASSERT_EQ(e.values.size(), static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) {
    const double mean = (SumSq(20, j) + SumSq(16, j)) / 36.0;
    EXPECT_NEAR(e.values[static_cast<size_t>(j)], mean * 2, 1e-4 * mean) << j;
  }
  EXPECT_EQ(m.chunks, 3);
  EXPECT_EQ(m.dataset, "calib");
}

TEST(ImatrixCollectorTest, OutputWithProcessOutputAndFusedSlicesOnce) {
  ImatrixCollector c(0, true);
  const int64_t k = 4;
  const std::vector<float> x = Input(16, k, k);
  c.BeginStep();
  c.OnMatMul(Weight("output.weight", k, 9), x.data(), 16, k);
  c.OnMatMul(Weight("blk.1.attn_qkv.weight[rows 0..8)", k, 8), x.data(), 16, k);
  c.OnMatMul(Weight("blk.1.attn_qkv.weight[rows 8..12)", k, 4), x.data(), 16, k);
  c.OnMatMul(Weight("blk.1.attn_qkv.weight[rows 12..16)", k, 4), x.data(), 16, k);
  const quant::Imatrix m = c.Result(1, "", nullptr);
  ASSERT_EQ(m.entries.size(), 2u);
  const quant::ImatrixEntry& qkv = m.entries.at("blk.1.attn_qkv.weight");
  EXPECT_EQ(qkv.ncall, 1);
  EXPECT_NEAR(qkv.values[0], SumSq(16, 0) / 16, 1e-3);
  EXPECT_TRUE(m.entries.count("output.weight"));
}

TEST(ImatrixCollectorTest, ExpertsShareOneEntryWithPerExpertCounts) {
  const int64_t k = 4, n_expert = 3;
  ImatrixCollector c(n_expert, false);
  const std::vector<float> x = Input(5, k, k);
  c.BeginStep();
  // Expert slices always count, whatever their row count.
  c.OnMatMul(Weight("blk.0.ffn_up_exps.weight[0]", k, 6), x.data(), 2, k);
  c.OnMatMul(Weight("blk.0.ffn_up_exps.weight[2]", k, 6), x.data(), 5, k);
  c.BeginStep();
  c.OnMatMul(Weight("blk.0.ffn_up_exps.weight[1]", k, 6), x.data(), 3, k);
  c.OnMatMul(Weight("blk.0.ffn_gate_exps.weight[1]", k, 6), x.data(), 3, k);  // experts 0, 2 never used
  std::vector<std::string> skipped;
  const quant::Imatrix m = c.Result(2, "", &skipped);
  ASSERT_EQ(m.entries.size(), 1u);
  ASSERT_EQ(skipped, std::vector<std::string>{"blk.0.ffn_gate_exps.weight"});
  const quant::ImatrixEntry& e = m.entries.at("blk.0.ffn_up_exps.weight");
  EXPECT_EQ(e.ncall, 2);
  ASSERT_EQ(e.values.size(), static_cast<size_t>(k * n_expert));
  EXPECT_NEAR(e.values[0], SumSq(2, 0) / 2 * 2, 1e-3);            // expert 0, column 0
  EXPECT_NEAR(e.values[k + 1], SumSq(3, 1) / 3 * 2, 1e-3);        // expert 1, column 1
  EXPECT_NEAR(e.values[2 * k + 3], SumSq(5, 3) / 5 * 2, 1e-3);    // expert 2, column 3
}

}  // namespace
}  // namespace weft
