// quant/awq.h: on inputs with a few loud channels (AWQ's premise) at real widths (2048;
// the FFN width 5632, 2816 in the sanitizer builds), the searched scales give a layer
// output error ||(W - Q(W s)/s) X^T||^2 below round-to-nearest's for every block type,
// measured independently of the search's Hessian-based score (from the inputs' low-rank
// generator), and the search's reported errors equal that measurement; alpha 0 is
// round-to-nearest exactly; tied columns (grouped-query attention) share their channel's
// scale; SmoothQuant's scales follow max|x|^a / max|w|^(1-a) per channel.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "quant/awq.h"
#include "quant/quant_rows.h"
#include "support/quant_weights.h"
#include "tensor/dtype.h"

namespace weft::quant {
namespace {

const auto& kAllTypes = testing::kQuantBlockTypes;
using testing::GaussianWeights;

// Inputs x = z B + e, z ~ N(0, I_rank), e ~ N(0, eps I): B [rank, k] with per-channel
// scales from a log-normal (a few channels much louder than the rest). Then
// E[x^T x] = B^T B + eps I (h = twice that, upper triangle) and mean |x_j| =
// sqrt(2/pi) sqrt(var_j).
struct Inputs {
  int64_t k, rank;
  float eps;
  std::vector<float> b, h, mean_abs;
};

Inputs MakeInputs(int64_t k, int64_t rank, float eps, uint32_t seed, ThreadPool& pool) {
  Inputs in{k, rank, eps, {}, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::lognormal_distribution<float> scale(0.0f, 1.2f);
  std::vector<float> s(static_cast<size_t>(k));
  for (auto& v : s) v = scale(rng);
  in.b.resize(static_cast<size_t>(rank * k));
  for (int64_t r = 0; r < rank; ++r) {
    for (int64_t j = 0; j < k; ++j) in.b[static_cast<size_t>(r * k + j)] = dist(rng) * s[static_cast<size_t>(j)];
  }
  in.h.assign(static_cast<size_t>(k * k), 0.0f);
  pool.ParallelFor(0, k, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* hi = in.h.data() + i * k;
      for (int64_t r = 0; r < rank; ++r) {
        const float bi = in.b[static_cast<size_t>(r * k + i)];
        const float* br = in.b.data() + r * k;
        for (int64_t j = i; j < k; ++j) hi[j] += 2.0f * bi * br[j];
      }
      hi[i] += 2.0f * eps;
    }
  });
  in.mean_abs.resize(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) {
    double var = eps;
    for (int64_t r = 0; r < rank; ++r) var += std::pow(in.b[static_cast<size_t>(r * k + j)], 2);
    in.mean_abs[static_cast<size_t>(j)] = static_cast<float>(std::sqrt(2.0 / M_PI * var));
  }
  return in;
}

// E[||D x^T||^2] = sum_r (||B d_r||^2 + eps ||d_r||^2) for D = w - Q(w s)/s, in double,
// from B (not from h).
double TrueError(const Inputs& in, const std::vector<float>& w, int64_t rows, DType type,
                 const std::vector<float>& col_scale) {
  const int64_t k = in.k;
  std::vector<float> ws(static_cast<size_t>(k));
  std::vector<uint8_t> q(BytesForElements(type, k));
  double e = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < k; ++j) ws[static_cast<size_t>(j)] = w[static_cast<size_t>(r * k + j)] * col_scale[static_cast<size_t>(j)];
    QuantizeRows(type, ws.data(), q.data(), 1, k);
    DequantizeRow(type, q.data(), ws.data(), k);
    std::vector<double> d(static_cast<size_t>(k));
    for (int64_t j = 0; j < k; ++j) {
      d[static_cast<size_t>(j)] = static_cast<double>(w[static_cast<size_t>(r * k + j)]) -
                                  static_cast<double>(ws[static_cast<size_t>(j)]) / col_scale[static_cast<size_t>(j)];
      e += in.eps * d[static_cast<size_t>(j)] * d[static_cast<size_t>(j)];
    }
    for (int64_t t = 0; t < in.rank; ++t) {
      double p = 0;
      for (int64_t j = 0; j < k; ++j) p += static_cast<double>(in.b[static_cast<size_t>(t * k + j)]) * d[static_cast<size_t>(j)];
      e += p * p;
    }
  }
  return e;
}

void ExpectBeatsRtn(int64_t k, int64_t rows, const std::vector<DType>& types) {
  ThreadPool pool(0);
  const Inputs in = MakeInputs(k, 64, 0.5f, 7, pool);
  const std::vector<float> w = GaussianWeights(rows, k, 11);
  ScaleGroup g;
  g.k = k;
  g.h = in.h.data();
  g.act = in.mean_abs.data();
  g.channels = k;
  const std::vector<float> ones(static_cast<size_t>(k), 1.0f);
  for (DType type : types) {
    const ScaleConsumer c{w.data(), rows, type};
    const AwqResult r = AwqSearch(g, std::span<const ScaleConsumer>(&c, 1), AwqOptions{}, pool);
    ASSERT_EQ(r.scales.size(), static_cast<size_t>(k));
    const double e_rtn = TrueError(in, w, rows, type, ones);
    const double e_awq = TrueError(in, w, rows, type, r.scales);
    const std::string name(GetDTypeInfo(type).name);
    // The search's Hessian-based scores are the true output errors.
    EXPECT_NEAR(r.rtn_error, e_rtn, 2e-3 * e_rtn) << name;
    EXPECT_NEAR(r.error, e_awq, 2e-3 * e_rtn) << name;
    EXPECT_GT(r.alpha, 0.0) << name << ": loud channels, yet no scaling was chosen";
    EXPECT_LT(e_awq, 0.9 * e_rtn) << name << " k=" << k;
    std::printf("k=%lld %-5s awq alpha %.2f, output error awq/rtn = %.3f\n", static_cast<long long>(k), name.c_str(), r.alpha,
                e_awq / e_rtn);
  }
}

// The sanitizer builds (10-20x slower) score fewer rows, and the FFN case at 2816
// (11 x 256, still not a power of two) instead of 5632, inside their 300 s limit.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int64_t kFfnWidth = 2816, kRows = 6;
#else
constexpr int64_t kFfnWidth = 5632, kRows = 16;
#endif

TEST(Awq, BeatsRoundToNearestAt2048) {
  ExpectBeatsRtn(2048, kRows, std::vector<DType>(std::begin(kAllTypes), std::end(kAllTypes)));
}

TEST(Awq, BeatsRoundToNearestAtTheFfnWidth) {
  ExpectBeatsRtn(kFfnWidth, 6, {DType::kQ4_0, DType::kQ2_K, DType::kQ3_K, DType::kQ4_K});
}

TEST(Awq, AlphaZeroIsRoundToNearest) {
  ThreadPool pool(2);
  const int64_t k = 256, rows = 8;
  const Inputs in = MakeInputs(k, 16, 0.5f, 3, pool);
  ScaleGroup g{k, in.h.data(), in.mean_abs.data(), nullptr, k};
  EXPECT_EQ(AwqScales(g, 0.0), std::vector<float>(static_cast<size_t>(k), 1.0f));
  const std::vector<float> w = GaussianWeights(rows, k, 5);
  const ScaleConsumer c{w.data(), rows, DType::kQ4_K};
  AwqOptions o;
  o.fixed_alpha = 0;
  const AwqResult r = AwqSearch(g, std::span<const ScaleConsumer>(&c, 1), o, pool);
  EXPECT_EQ(r.error, r.rtn_error);
  // Scales are normalised: max * min = 1.
  const std::vector<float> s = AwqScales(g, 0.5);
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  EXPECT_NEAR(static_cast<double>(*lo) * *hi, 1.0, 1e-5);
  // A float target loses nothing: the search keeps s = 1.
  const ScaleConsumer f{w.data(), rows, DType::kF16};
  const AwqResult rf = AwqSearch(g, std::span<const ScaleConsumer>(&f, 1), AwqOptions{}, pool);
  EXPECT_EQ(rf.alpha, 0.0);
}

TEST(Awq, TiedColumnsShareTheirChannelsScale) {
  // 4 query heads of 8 read 2 value heads: column j -> channel (j / 8) / 2 * 8 + j % 8.
  const int64_t k = 32, hd = 8, channels = 16;
  std::vector<int32_t> channel(static_cast<size_t>(k));
  std::vector<float> act(static_cast<size_t>(k));
  for (int64_t j = 0; j < k; ++j) {
    channel[static_cast<size_t>(j)] = static_cast<int32_t>((j / hd) / 2 * hd + j % hd);
    act[static_cast<size_t>(j)] = 1.0f + static_cast<float>(j);
  }
  ScaleGroup g{k, nullptr, act.data(), channel.data(), channels};
  const std::vector<float> s = AwqScales(g, 1.0);
  ASSERT_EQ(s.size(), static_cast<size_t>(channels));
  // Channel c's statistic is the mean over its columns: c (head 0) <- j = c, c + 8.
  const double a0 = (1.0 + 9.0) / 2, a15 = (24.0 + 32.0) / 2;  // channel 0; channel 15 <- j = 23, 31
  EXPECT_NEAR(static_cast<double>(s[15]) / s[0], a15 / a0, 1e-5);
}

TEST(SmoothQuant, ScalesFollowThePaper) {
  const int64_t k = 4, rows = 2;
  const std::vector<float> xmax = {8.0f, 1.0f, 0.0f, 2.0f};
  const std::vector<float> w = {0.5f, -2.0f, 1.0f, 0.0f,  //
                                -1.0f, 1.0f, 3.0f, 0.0f};
  ScaleGroup g{k, nullptr, xmax.data(), nullptr, k};
  const ScaleConsumer c{w.data(), rows, DType::kQ8_0};
  const std::vector<float> s = SmoothQuantScales(g, std::span<const ScaleConsumer>(&c, 1), 0.5);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_NEAR(s[0], std::sqrt(8.0) / std::sqrt(1.0), 1e-5);
  EXPECT_NEAR(s[1], std::sqrt(1.0) / std::sqrt(2.0), 1e-5);
  EXPECT_EQ(s[2], 1.0f);  // no activation: left alone
  EXPECT_EQ(s[3], 1.0f);  // no weight: left alone
  const std::vector<float> s75 = SmoothQuantScales(g, std::span<const ScaleConsumer>(&c, 1), 0.75);
  EXPECT_NEAR(s75[0], std::pow(8.0, 0.75) / std::pow(1.0, 0.25), 1e-4);
}

}  // namespace
}  // namespace weft::quant
