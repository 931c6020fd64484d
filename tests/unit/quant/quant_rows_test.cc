// quant/quant_rows.h: every writable type round-trips through the reference
// dequantiser (tensor/dtype.h) within its precision, reproduces values that lie on its
// grid exactly, and keeps all-zero blocks zero. Byte equality with llama-quantize is
// tested on whole models by tests/cli/quantize_llamacpp.sh.
#include "quant/quant_rows.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "tensor/dtype.h"
#include "tensor/iq4_nl.h"

namespace weft::quant {
namespace {

struct Case {
  DType type;
  double max_rel_rmse;  // reconstruction RMSE / RMS of the input (Gaussian rows with outliers),
                       // about 1.25x what the quantisers reach (each type's bits set it)
};

std::vector<float> GaussianRows(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) v = dist(rng);
  // A few outliers, as real weights have.
  for (int64_t i = 0; i < n; i += 997) x[static_cast<size_t>(i)] *= 12.0f;
  return x;
}

double RelRmse(const std::vector<float>& a, const std::vector<float>& b) {
  double err = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    err += (a[i] - b[i]) * static_cast<double>(a[i] - b[i]);
    ref += a[i] * static_cast<double>(a[i]);
  }
  return std::sqrt(err / ref);
}

class QuantRowsTest : public ::testing::TestWithParam<Case> {};

TEST_P(QuantRowsTest, RoundTripWithinPrecisionAtRealWidths) {
  const Case c = GetParam();
  for (int64_t width : {256, 2048, 4096, 5632}) {
    const int64_t rows = 8;
    const std::vector<float> x = GaussianRows(width * rows, static_cast<uint32_t>(width));
    std::vector<uint8_t> q(BytesForElements(c.type, width * rows));
    QuantizeRows(c.type, x.data(), q.data(), rows, width);
    std::vector<float> y(x.size());
    DequantizeRow(c.type, q.data(), y.data(), width * rows);
    const double e = RelRmse(x, y);
    EXPECT_LT(e, c.max_rel_rmse) << DTypeName(c.type) << " width " << width;
    EXPECT_GT(e, 0.0) << DTypeName(c.type) << " lost nothing: is it quantising?";
  }
}

TEST_P(QuantRowsTest, ZeroBlocksStayZero) {
  const Case c = GetParam();
  const int64_t n = 512;
  std::vector<float> x(n, 0.0f);
  std::vector<uint8_t> q(BytesForElements(c.type, n), 0xAB);
  QuantizeRows(c.type, x.data(), q.data(), 1, n);
  std::vector<float> y(n, 1.0f);
  DequantizeRow(c.type, q.data(), y.data(), n);
  for (float v : y) ASSERT_EQ(v, 0.0f) << DTypeName(c.type);
}

TEST_P(QuantRowsTest, RowsAreIndependent) {
  // Quantising rows one at a time gives the same bytes as all at once (the threads of
  // weft quantize split tensors by rows).
  const Case c = GetParam();
  const int64_t width = 2048, rows = 4;
  const std::vector<float> x = GaussianRows(width * rows, 7);
  const size_t row_bytes = BytesForElements(c.type, width);
  std::vector<uint8_t> all(row_bytes * rows), each(row_bytes * rows);
  QuantizeRows(c.type, x.data(), all.data(), rows, width);
  for (int64_t r = 0; r < rows; ++r) QuantizeRows(c.type, x.data() + r * width, each.data() + r * row_bytes, 1, width);
  EXPECT_EQ(all, each);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantRowsTest,
                         ::testing::Values(Case{DType::kQ8_0, 0.0085}, Case{DType::kQ6_K, 0.027},
                                           Case{DType::kQ5_0, 0.068}, Case{DType::kQ5_1, 0.052},
                                           Case{DType::kQ5_K, 0.05}, Case{DType::kQ4_0, 0.135},
                                           Case{DType::kQ4_1, 0.106}, Case{DType::kQ4_K, 0.097},
                                           Case{DType::kQ3_K, 0.2}, Case{DType::kQ2_K, 0.38},
                                           Case{DType::kIQ4_NL, 0.125},
                                           Case{DType::kF16, 0.0003}, Case{DType::kBF16, 0.0021}),
                         [](const auto& info) { return std::string(DTypeName(info.param.type)); });

TEST(QuantRowsExact, ValuesOnTheGridAreReproduced) {
  // Q4_0: levels (q - 8) * d with d = max / -8. A block holding -8*d and every other
  // level is reproduced exactly.
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = 0.25f * static_cast<float>((i % 16) - 8);
  std::vector<uint8_t> q(BytesForElements(DType::kQ4_0, 32));
  QuantizeRows(DType::kQ4_0, x.data(), q.data(), 1, 32);
  std::vector<float> y(32);
  DequantizeRow(DType::kQ4_0, q.data(), y.data(), 32);
  EXPECT_EQ(x, y);
  // Q8_0: integers -127..127 times a power of two.
  for (int i = 0; i < 32; ++i) x[i] = 0.5f * static_cast<float>(i * 8 - 127 + (i == 31 ? 6 : 0));
  q.assign(BytesForElements(DType::kQ8_0, 32), 0);
  QuantizeRows(DType::kQ8_0, x.data(), q.data(), 1, 32);
  DequantizeRow(DType::kQ8_0, q.data(), y.data(), 32);
  EXPECT_EQ(x, y);
}

TEST(QuantRowsExact, Q8_0RoundsHalfAwayFromZero) {
  // amax 127 -> d = 1: 2.5 -> 3, -2.5 -> -3 (roundf), 1.5 -> 2.
  std::vector<float> x(32, 0.0f);
  x[0] = 127.0f;
  x[1] = 2.5f;
  x[2] = -2.5f;
  x[3] = 1.5f;
  std::vector<uint8_t> q(BytesForElements(DType::kQ8_0, 32));
  QuantizeRows(DType::kQ8_0, x.data(), q.data(), 1, 32);
  const auto* qs = reinterpret_cast<const int8_t*>(q.data() + 2);
  EXPECT_EQ(qs[0], 127);
  EXPECT_EQ(qs[1], 3);
  EXPECT_EQ(qs[2], -3);
  EXPECT_EQ(qs[3], 2);
}

TEST(QuantRowsExact, IQ4_NLReproducesItsCodebookAndStoresZeroAsLevel8) {
  // A block holding every codebook level twice, times a power of two: the signed max
  // (-127 * s) gives d = s, every value sits on its level, and the least-squares fit
  // keeps d = s; bytes are the indices in Q4_0's nibble order.
  const float s = 0.015625f;
  std::vector<float> x(32);
  for (int i = 0; i < 32; ++i) x[i] = s * static_cast<float>(kIq4NlValues[(i * 7) % 16]);
  std::vector<uint8_t> q(BytesForElements(DType::kIQ4_NL, 32));
  QuantizeRows(DType::kIQ4_NL, x.data(), q.data(), 1, 32);
  std::vector<float> y(32);
  DequantizeRow(DType::kIQ4_NL, q.data(), y.data(), 32);
  EXPECT_EQ(x, y);
  for (int j = 0; j < 16; ++j) {
    EXPECT_EQ(q[2 + j] & 15, (j * 7) % 16) << j;
    EXPECT_EQ(q[2 + j] >> 4, ((j + 16) * 7) % 16) << j;
  }
  // All zero: d = 0 and every index 8 (level +1, the one nearest 0 from above), as ggml.
  std::vector<float> z(32, 0.0f);
  QuantizeRows(DType::kIQ4_NL, z.data(), q.data(), 1, 32);
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 0);
  for (int j = 0; j < 16; ++j) EXPECT_EQ(q[2 + j], 0x88) << j;
}

}  // namespace
}  // namespace weft::quant
