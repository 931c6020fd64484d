// quant/gptq.h: the factor of the damped inverse Hessian is right (U^T U (H + damp I) = I,
// in act-order's permuted order too); with strongly correlated inputs GPTQ's layer output
// error tr(D H D^T) (D = W - Ŵ) is under 0.7x round-to-nearest's for every type, at real
// widths (2048, 5632 (2816 in the sanitizer builds); act-order at 2048); with a diagonal H no error moves between
// columns and the bytes equal QuantizeRows's (natural order and act-order, whose
// permutation is then by the diagonal); a singular H (dead input columns, fewer samples
// than columns) is damped and quantised without NaNs, still beating round-to-nearest.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "quant/gptq.h"
#include "quant/quant_rows.h"
#include "support/quant_weights.h"
#include "tensor/dtype.h"

namespace weft::quant {
namespace {

const auto& kTypes = testing::kQuantBlockTypes;
using testing::GaussianWeights;

// Inputs x = z B + noise with z of `rank` dimensions and per-channel scales (some
// channels much louder): B is [rank, k]. H = B^T B + eps I (the expectation of x^T x for
// unit z and noise variance eps), upper triangle filled, dense.
struct Correlated {
  int64_t k, rank;
  float eps;
  std::vector<float> b;  // [rank, k]
  std::vector<float> h;  // [k, k]
};

Correlated MakeCorrelated(int64_t k, int64_t rank, float eps, uint32_t seed, ThreadPool& pool) {
  Correlated c{k, rank, eps, {}, {}};
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::lognormal_distribution<float> scale(0.0f, 1.0f);
  std::vector<float> s(static_cast<size_t>(k));
  for (auto& v : s) v = scale(rng);
  c.b.resize(static_cast<size_t>(rank * k));
  for (int64_t r = 0; r < rank; ++r) {
    for (int64_t j = 0; j < k; ++j) c.b[static_cast<size_t>(r * k + j)] = dist(rng) * s[static_cast<size_t>(j)];
  }
  c.h.assign(static_cast<size_t>(k * k), 0.0f);
  pool.ParallelFor(0, k, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t r = 0; r < rank; ++r) {
        const float bi = c.b[static_cast<size_t>(r * k + i)];
        const float* br = c.b.data() + r * k;
        float* hi = c.h.data() + i * k;
        for (int64_t j = i; j < k; ++j) hi[j] += bi * br[j];
      }
      c.h[static_cast<size_t>(i * k + i)] += eps;
    }
  });
  return c;
}

// tr(D H D^T) for D = w - dequant(q), with H = B^T B + eps I.
double OutputError(const Correlated& c, const std::vector<float>& w, const std::vector<uint8_t>& q, DType type,
                   int64_t rows) {
  const size_t row_bytes = BytesForElements(type, c.k);
  std::vector<float> d(static_cast<size_t>(c.k));
  double e = 0;
  for (int64_t r = 0; r < rows; ++r) {
    DequantizeRow(type, q.data() + r * row_bytes, d.data(), c.k);
    for (int64_t j = 0; j < c.k; ++j) d[static_cast<size_t>(j)] = w[static_cast<size_t>(r * c.k + j)] - d[static_cast<size_t>(j)];
    double sq = 0;
    for (float v : d) sq += static_cast<double>(v) * v;
    e += c.eps * sq;
    for (int64_t t = 0; t < c.rank; ++t) {
      double p = 0;
      for (int64_t j = 0; j < c.k; ++j) p += static_cast<double>(c.b[static_cast<size_t>(t * c.k + j)]) * d[static_cast<size_t>(j)];
      e += p * p;
    }
  }
  return e;
}

void ExpectBeatsRtn(int64_t k, int64_t rows, bool act_order = false) {
  ThreadPool pool(0);
  const Correlated c = MakeCorrelated(k, 64, 4.0f, 7, pool);
  auto f = FactorHessian(c.h.data(), k, 0.01, act_order, pool);
  ASSERT_TRUE(f.ok()) << f.status().message();
  const std::vector<float> w = GaussianWeights(rows, k, 11);
  for (DType type : kTypes) {
    const size_t bytes = BytesForElements(type, k) * rows;
    std::vector<uint8_t> rtn(bytes), gptq(bytes);
    QuantizeRows(type, w.data(), rtn.data(), rows, k);
    std::vector<float> work = w;
    GptqQuantizeRows(type, work.data(), rows, *f, GptqOptions{}, gptq.data(), pool);
    const double e_rtn = OutputError(c, w, rtn, type, rows);
    const double e_gptq = OutputError(c, w, gptq, type, rows);
    EXPECT_LT(e_gptq, 0.7 * e_rtn) << GetDTypeInfo(type).name << " k=" << k << " act_order=" << act_order;
    std::printf("k=%lld%s %-5s output error gptq/rtn = %.3f\n", static_cast<long long>(k), act_order ? " act-order" : "",
                std::string(GetDTypeInfo(type).name).c_str(),
                e_gptq / e_rtn);
  }
}

void ExpectFactor(bool act_order) {
  ThreadPool pool(2);
  const int64_t k = 96;
  const Correlated c = MakeCorrelated(k, 40, 0.5f, 3, pool);  // rank 40 + eps: positive definite
  auto f = FactorHessian(c.h.data(), k, 0.01, act_order, pool);
  ASSERT_TRUE(f.ok());
  double mean = 0;
  for (int64_t i = 0; i < k; ++i) mean += c.h[static_cast<size_t>(i * k + i)];
  mean /= static_cast<double>(k);
  EXPECT_NEAR(f->damp, 0.01 * mean, 1e-6 * mean);
  std::vector<int64_t> col(static_cast<size_t>(k));  // processing position -> column
  for (int64_t i = 0; i < k; ++i) col[static_cast<size_t>(i)] = act_order ? f->perm[static_cast<size_t>(i)] : i;
  if (act_order) {
    ASSERT_EQ(f->perm.size(), static_cast<size_t>(k));
    for (int64_t i = 1; i < k; ++i) {
      EXPECT_GE(c.h[static_cast<size_t>(col[i - 1] * k + col[i - 1])], c.h[static_cast<size_t>(col[i] * k + col[i])]);
    }
  } else {
    EXPECT_TRUE(f->perm.empty());
  }
  // (U^T U) (P (H + damp I) P^T) = I, U upper triangular with a positive diagonal.
  double worst = 0;
  for (int64_t i = 0; i < k; ++i) {
    EXPECT_GT(f->u[static_cast<size_t>(i * k + i)], 0.0f);
    for (int64_t j = 0; j < i; ++j) EXPECT_EQ(f->u[static_cast<size_t>(i * k + j)], 0.0f);
  }
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < k; ++j) {
      double s = 0;
      for (int64_t t = 0; t < k; ++t) {
        double inv = 0;  // (U^T U)[i][t]
        for (int64_t p = 0; p <= std::min(i, t); ++p) {
          inv += static_cast<double>(f->u[static_cast<size_t>(p * k + i)]) * f->u[static_cast<size_t>(p * k + t)];
        }
        const int64_t a = std::min(col[t], col[j]), b = std::max(col[t], col[j]);
        const double h = c.h[static_cast<size_t>(a * k + b)] + (t == j ? f->damp : 0.0);
        s += inv * h;
      }
      worst = std::max(worst, std::fabs(s - (i == j ? 1.0 : 0.0)));
    }
  }
  EXPECT_LT(worst, 1e-3);
}

TEST(Gptq, FactorIsCholeskyOfDampedInverse) { ExpectFactor(false); }

TEST(Gptq, ActOrderFactorIsOfThePermutedHessian) { ExpectFactor(true); }

// Diagonal H (identity, or a spread diagonal for act-order to sort): no error moves.
void ExpectDiagonalGivesRtnBytes(bool act_order) {
  ThreadPool pool(0);
  for (int64_t k : {512, 2048}) {
    std::vector<float> h(static_cast<size_t>(k * k), 0.0f);
    for (int64_t i = 0; i < k; ++i) h[static_cast<size_t>(i * k + i)] = act_order ? 1.0f + static_cast<float>((i * 37) % 101) : 1.0f;
    auto f = FactorHessian(h.data(), k, 0.01, act_order, pool);
    ASSERT_TRUE(f.ok());
    const int64_t rows = 24;
    const std::vector<float> w = GaussianWeights(rows, k, 5);
    for (DType type : kTypes) {
      const size_t bytes = BytesForElements(type, k) * rows;
      std::vector<uint8_t> rtn(bytes), gptq(bytes, 0xAB);
      QuantizeRows(type, w.data(), rtn.data(), rows, k);
      std::vector<float> work = w;
      GptqOptions o;
      o.weighted_fit = false;
      GptqQuantizeRows(type, work.data(), rows, *f, o, gptq.data(), pool);
      EXPECT_EQ(rtn, gptq) << GetDTypeInfo(type).name << " k=" << k << " act_order=" << act_order;
      // w ends holding the quantised values.
      std::vector<float> back(static_cast<size_t>(k));
      DequantizeRow(type, gptq.data(), back.data(), k);
      for (int64_t j = 0; j < k; ++j) ASSERT_NEAR(work[static_cast<size_t>(j)], back[static_cast<size_t>(j)], 1e-3f);
    }
  }
}

TEST(Gptq, IdentityHessianGivesRoundToNearestBytes) { ExpectDiagonalGivesRtnBytes(false); }

TEST(Gptq, ActOrderWithDiagonalHessianGivesRoundToNearestBytes) { ExpectDiagonalGivesRtnBytes(true); }

TEST(Gptq, BeatsRoundToNearestAt2048) { ExpectBeatsRtn(2048, 32); }

// The FFN input width of the 1B-class models (5632); the sanitizer builds take 2816
// (11 x 256, still not a power of two), as the O(k^3) factorisation at 5632 runs past
// their per-test time limit there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int64_t kFfnWidth = 2816;
#else
constexpr int64_t kFfnWidth = 5632;
#endif
TEST(Gptq, BeatsRoundToNearestAtTheFfnWidth) { ExpectBeatsRtn(kFfnWidth, 16); }

TEST(Gptq, ActOrderBeatsRoundToNearestAt2048) { ExpectBeatsRtn(2048, 32, true); }

TEST(Gptq, SingularHessianIsDamped) {
  ThreadPool pool(0);
  const int64_t k = 2048, m = 300;  // fewer samples than columns: rank <= 300
  std::mt19937 rng(9);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(m * k));
  for (auto& v : x) v = dist(rng);
  for (int64_t r = 0; r < m; ++r) {
    float* xr = x.data() + r * k;
    for (int64_t j = 1; j < k; j += 2) xr[j] = 0.8f * xr[j - 1] + 0.2f * xr[j];  // correlated pairs
    for (int64_t j = 3; j < k; j += 7) xr[j] = 0.0f;                           // dead input columns
  }
  std::vector<float> h(static_cast<size_t>(k * k), 0.0f);
  pool.ParallelFor(0, k, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      for (int64_t r = 0; r < m; ++r) {
        const float xi = x[static_cast<size_t>(r * k + i)];
        if (xi == 0.0f) continue;
        const float* xr = x.data() + r * k;
        for (int64_t j = i; j < k; ++j) h[static_cast<size_t>(i * k + j)] += 2.0f * xi * xr[j];
      }
    }
  });
  auto f = FactorHessian(h.data(), k, 0.01, false, pool);
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->dead, static_cast<int>((k - 3 + 6) / 7));
  for (float v : f->u) ASSERT_TRUE(std::isfinite(v));
  const int64_t rows = 16;
  const std::vector<float> w = GaussianWeights(rows, k, 13);
  for (DType type : {DType::kQ4_0, DType::kQ3_K, DType::kQ4_K}) {
    const size_t bytes = BytesForElements(type, k) * rows;
    std::vector<uint8_t> rtn(bytes), gptq(bytes);
    QuantizeRows(type, w.data(), rtn.data(), rows, k);
    std::vector<float> work = w;
    GptqQuantizeRows(type, work.data(), rows, *f, GptqOptions{}, gptq.data(), pool);
    std::vector<float> back(static_cast<size_t>(k));
    for (int64_t r = 0; r < rows; ++r) {
      DequantizeRow(type, gptq.data() + r * BytesForElements(type, k), back.data(), k);
      for (float v : back) ASSERT_TRUE(std::isfinite(v));
    }
    // Output error on the calibration inputs: ||X D^T||^2.
    auto err = [&](const std::vector<uint8_t>& q) {
      double e = 0;
      std::vector<float> d(static_cast<size_t>(k));
      for (int64_t r = 0; r < rows; ++r) {
        DequantizeRow(type, q.data() + r * BytesForElements(type, k), d.data(), k);
        for (int64_t j = 0; j < k; ++j) d[static_cast<size_t>(j)] = w[static_cast<size_t>(r * k + j)] - d[static_cast<size_t>(j)];
        for (int64_t s = 0; s < m; ++s) {
          double p = 0;
          for (int64_t j = 0; j < k; ++j) p += static_cast<double>(x[static_cast<size_t>(s * k + j)]) * d[static_cast<size_t>(j)];
          e += p * p;
        }
      }
      return e;
    };
    EXPECT_LT(err(gptq), 0.8 * err(rtn)) << GetDTypeInfo(type).name;
  }
}

}  // namespace
}  // namespace weft::quant
