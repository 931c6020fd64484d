// quant/quant_rows.h QuantizeRowsWeighted: with an importance matrix that makes some
// columns matter far more than others, every type's importance-weighted error is lower
// than round-to-nearest's (at real widths), the output still round-trips within the
// type's precision, and a null matrix gives exactly the round-to-nearest bytes. Byte
// equality with llama-quantize --imatrix is tested on whole models by
// tests/cli/quantize_imatrix.sh.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "quant/quant_rows.h"
#include "tensor/dtype.h"

namespace weft::quant {
namespace {

std::vector<float> Rows(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  for (int64_t i = 0; i < n; i += 997) x[static_cast<size_t>(i)] *= 12.0f;
  return x;
}

// Activation statistics with heavy-tailed columns: a few channels 100x the rest.
std::vector<float> Importance(int64_t width, uint32_t seed) {
  std::mt19937 rng(seed);
  std::lognormal_distribution<float> dist(0.0f, 1.5f);
  std::vector<float> w(static_cast<size_t>(width));
  for (auto& v : w) v = dist(rng);
  for (int64_t j = 0; j < width; j += 61) w[static_cast<size_t>(j)] *= 100.0f;
  return w;
}

double WeightedError(const std::vector<float>& x, const std::vector<float>& y, const std::vector<float>& w) {
  double e = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double d = x[i] - y[i];
    e += w[i % w.size()] * d * d;
  }
  return e;
}

class WeightedQuantsTest : public ::testing::TestWithParam<DType> {};

TEST_P(WeightedQuantsTest, BeatsRoundToNearestOnTheWeightedError) {
  const DType type = GetParam();
  ASSERT_TRUE(UsesImportance(type));
  for (int64_t width : {2048, 4096, 5632}) {
    const int64_t rows = 16;
    const std::vector<float> x = Rows(width * rows, static_cast<uint32_t>(width) + 1);
    const std::vector<float> qw = Importance(width, static_cast<uint32_t>(width));
    const size_t bytes = BytesForElements(type, width * rows);
    std::vector<uint8_t> rtn(bytes), imx(bytes);
    QuantizeRows(type, x.data(), rtn.data(), rows, width);
    QuantizeRowsWeighted(type, x.data(), imx.data(), rows, width, qw.data());
    std::vector<float> y_rtn(x.size()), y_imx(x.size());
    DequantizeRow(type, rtn.data(), y_rtn.data(), width * rows);
    DequantizeRow(type, imx.data(), y_imx.data(), width * rows);
    const double e_rtn = WeightedError(x, y_rtn, qw), e_imx = WeightedError(x, y_imx, qw);
    EXPECT_LT(e_imx, 0.95 * e_rtn) << DTypeName(type) << " width " << width;
    // Still a faithful quantisation in the plain sense.
    const std::vector<float> ones(static_cast<size_t>(width), 1.0f);
    EXPECT_LT(WeightedError(x, y_imx, ones), 2.0 * WeightedError(x, y_rtn, ones)) << DTypeName(type);
  }
}

TEST_P(WeightedQuantsTest, NullMatrixIsRoundToNearest) {
  const DType type = GetParam();
  const int64_t width = 4096, rows = 4;
  const std::vector<float> x = Rows(width * rows, 7);
  const size_t bytes = BytesForElements(type, width * rows);
  std::vector<uint8_t> a(bytes), b(bytes);
  QuantizeRows(type, x.data(), a.data(), rows, width);
  QuantizeRowsWeighted(type, x.data(), b.data(), rows, width, nullptr);
  EXPECT_EQ(a, b);
}

TEST_P(WeightedQuantsTest, ZeroRowsStayZero) {
  const DType type = GetParam();
  const int64_t width = 2048;
  const std::vector<float> x(static_cast<size_t>(width), 0.0f);
  const std::vector<float> qw = Importance(width, 3);
  std::vector<uint8_t> q(BytesForElements(type, width));
  QuantizeRowsWeighted(type, x.data(), q.data(), 1, width, qw.data());
  std::vector<float> y(x.size(), 1.0f);
  DequantizeRow(type, q.data(), y.data(), width);
  for (float v : y) ASSERT_EQ(v, 0.0f) << DTypeName(type);
}

INSTANTIATE_TEST_SUITE_P(Types, WeightedQuantsTest,
                         ::testing::Values(DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ2_K,
                                           DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL),
                         [](const auto& info) { return std::string(DTypeName(info.param)); });

}  // namespace
}  // namespace weft::quant
