// RmsNorm, Add, AddInPlace, SiluMul, Softmax, Scale and RoPE on every ISA, against naive
// double-precision implementations written here, plus kernel table selection.
//
// Tolerances: element-wise ops |got - want| <= 2e-6 * |want| + 1e-7 (f32 rounding of a
// few operations; the SIMD exp is a degree-7 polynomial, relative error ~1e-7).
// RoPE: SIMD vs scalar table within 1e-6 (same cos/sin table); scalar vs the double
// formulas within 4 * (1e-5 + 4e-7 * position) (angles are computed in f32 like
// llama.cpp, so an angle of ~pos radians carries ~pos * 2^-23 of rounding; |x| < ~4).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <numbers>
#include <random>

#include "base/thread_pool.h"
#include "kernel_test_util.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;
using testing::RandomFloats;

void ExpectClose(const std::vector<float>& got, const std::vector<double>& want, double rel, double abs,
                 const char* what) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], rel * std::fabs(want[i]) + abs) << what << " at " << i;
  }
}

const int64_t kLengths[] = {1, 7, 16, 33, 100, 257, 4099};

TEST(RowOpsTest, RmsNorm) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(1);
  for (int64_t dim : kLengths) {
    const int64_t rows = 5;
    const auto x = RandomFloats(rng, rows * dim, 3.0f);
    const auto w = RandomFloats(rng, dim);
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
      const double scale = 1.0 / std::sqrt(ss / dim + 1e-5);
      for (int64_t i = 0; i < dim; ++i) want[r * dim + i] = x[r * dim + i] * scale * w[i];
    }
    for (Isa isa : ctxs.isas) {
      SCOPED_TRACE(IsaName(isa));
      std::vector<float> out(x.size());
      RmsNorm(ctxs.For(isa, &pool), x.data(), w.data(), 1e-5f, rows, dim, out.data());
      ExpectClose(out, want, 2e-6, 1e-7, "rmsnorm");
      std::vector<float> inplace = x;  // out may alias x
      RmsNorm(ctxs.For(isa), inplace.data(), w.data(), 1e-5f, rows, dim, inplace.data());
      EXPECT_EQ(inplace, out);
    }
  }
}

TEST(RowOpsTest, AddScaleSiluMul) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(2);
  for (int64_t n : {1L, 15L, 64L, 1001L, 40000L}) {
    auto a = RandomFloats(rng, n, 4.0f), b = RandomFloats(rng, n, 4.0f);
    if (n > 10) a[3] = 95.0f, a[4] = -95.0f, a[5] = -200.0f;  // silu saturation
    std::vector<double> sum(n), scaled(n), silu(n);
    for (int64_t i = 0; i < n; ++i) {
      sum[i] = a[i] + b[i];  // f32 arithmetic: these two ops must be exact
      scaled[i] = a[i] * 0.37f;
      silu[i] = a[i] / (1.0 + std::exp(-static_cast<double>(a[i]))) * b[i];
    }
    for (Isa isa : ctxs.isas) {
      SCOPED_TRACE(::testing::Message() << IsaName(isa) << " n=" << n);
      const KernelContext ctx = ctxs.For(isa, &pool);
      std::vector<float> out(n);
      Add(ctx, a.data(), b.data(), out.data(), n);
      ExpectClose(out, sum, 0, 0, "add");  // exact
      std::vector<float> acc = a;
      AddInPlace(ctx, acc.data(), b.data(), n);
      EXPECT_EQ(acc, out);
      std::vector<float> s = a;
      Scale(ctx, s.data(), 0.37f, n);
      ExpectClose(s, scaled, 0, 0, "scale");
      SiluMul(ctx, a.data(), b.data(), out.data(), n);
      ExpectClose(out, silu, 2e-6, 1e-7, "silu_mul");
    }
  }
}

TEST(RowOpsTest, Softmax) {
  IsaContexts ctxs;
  std::mt19937 rng(3);
  for (int64_t n : kLengths) {
    const int64_t rows = 3;
    auto x = RandomFloats(rng, rows * n, 5.0f);
    x[0] = 80.0f;  // large values must not overflow
    std::vector<double> want(x.size());
    for (int64_t r = 0; r < rows; ++r) {
      double mx = -INFINITY, sum = 0;
      for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(x[r * n + i]));
      for (int64_t i = 0; i < n; ++i) sum += std::exp(x[r * n + i] - mx);
      for (int64_t i = 0; i < n; ++i) want[r * n + i] = std::exp(x[r * n + i] - mx) / sum;
    }
    for (Isa isa : ctxs.isas) {
      std::vector<float> y = x;
      Softmax(ctxs.For(isa), y.data(), rows, n);
      ExpectClose(y, want, 2e-6, 1e-9, IsaName(isa));
    }
  }
}

// RoPE straight from the formulas, in double.
std::vector<double> NaiveRope(const std::vector<float>& x, int64_t n_tokens, int n_heads, int head_dim,
                              const std::vector<int32_t>& pos, const RopeParams& p) {
  std::vector<double> out(x.begin(), x.end());
  const int rd = p.rope_dim, half = rd / 2;
  double freq_scale = 1.0, mscale = p.attn_factor, low = 0, high = 0;
  if (p.scaling != RopeScaling::kNone) freq_scale = 1.0 / p.factor;
  if (p.scaling == RopeScaling::kYarn) {
    auto corr = [&](double beta) {
      return rd * std::log(p.original_context / (beta * 2 * std::numbers::pi)) / (2 * std::log(p.theta));
    };
    low = std::max(0.0, std::floor(corr(p.beta_fast)));
    high = std::min(rd - 1.0, std::ceil(corr(p.beta_slow)));
    mscale *= 1.0 + 0.1 * std::log(p.factor);
  }
  for (int64_t t = 0; t < n_tokens; ++t) {
    for (int h = 0; h < n_heads; ++h) {
      double* v = out.data() + (t * n_heads + h) * head_dim;
      for (int i = 0; i < half; ++i) {
        const double ff = p.freq_factors != nullptr ? p.freq_factors[i] : 1.0;
        const double extrap = pos[t] * std::pow(static_cast<double>(p.theta), -2.0 * i / rd) / ff;
        double theta = extrap * freq_scale;
        if (p.scaling == RopeScaling::kYarn) {
          const double ramp = 1.0 - std::clamp((i - low) / std::max(0.001, high - low), 0.0, 1.0);
          theta = theta * (1 - ramp) + extrap * ramp;
        }
        const double c = std::cos(theta) * mscale, s = std::sin(theta) * mscale;
        const int i0 = p.style == RopeStyle::kNeox ? i : 2 * i;
        const int i1 = p.style == RopeStyle::kNeox ? i + half : 2 * i + 1;
        const double x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
      }
    }
  }
  return out;
}

TEST(RopeTest, AllStylesAndScalings) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(4);
  const int64_t n_tokens = 9;
  const std::vector<int32_t> pos = {0, 1, 2, 17, 100, 511, 1000, 2047, 4000};
  struct P {
    int head_dim, rope_dim;
    RopeStyle style;
    RopeScaling scaling;
    bool freq_factors = false;  // Llama 3.1-style per-pair divisors
  };
  const P params[] = {
      {64, 64, RopeStyle::kInterleaved, RopeScaling::kNone}, {64, 64, RopeStyle::kNeox, RopeScaling::kNone},
      {80, 48, RopeStyle::kNeox, RopeScaling::kLinear},       {80, 48, RopeStyle::kInterleaved, RopeScaling::kLinear},
      {128, 128, RopeStyle::kNeox, RopeScaling::kYarn},       {96, 64, RopeStyle::kInterleaved, RopeScaling::kYarn},
      {40, 40, RopeStyle::kNeox, RopeScaling::kNone},
      {64, 64, RopeStyle::kInterleaved, RopeScaling::kNone, true}, {80, 48, RopeStyle::kNeox, RopeScaling::kYarn, true},
  };
  for (const P& pp : params) {
    RopeParams p;
    p.rope_dim = pp.rope_dim;
    p.style = pp.style;
    p.scaling = pp.scaling;
    p.theta = pp.scaling == RopeScaling::kYarn ? 1000000.0f : 10000.0f;
    p.factor = pp.scaling == RopeScaling::kNone ? 1.0f : 4.0f;
    p.original_context = 1024;
    std::vector<float> factors(static_cast<size_t>(pp.rope_dim / 2));
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 7.0f * static_cast<float>(i) / factors.size();
    if (pp.freq_factors) p.freq_factors = factors.data();
    const int n_heads = 3;
    const auto x = RandomFloats(rng, n_tokens * n_heads * pp.head_dim);
    const auto want = NaiveRope(x, n_tokens, n_heads, pp.head_dim, pos, p);
    std::vector<float> ref = x;
    Rope(ctxs.For(Isa::kScalar), ref.data(), n_tokens, n_heads, pp.head_dim, pos.data(), p);
    SCOPED_TRACE(::testing::Message() << "head_dim " << pp.head_dim << " rope_dim " << pp.rope_dim << " style "
                                      << static_cast<int>(pp.style) << " scaling " << static_cast<int>(pp.scaling)
                                      << " freq_factors " << pp.freq_factors);
    for (size_t i = 0; i < x.size(); ++i) {
      // f32 angles (like llama.cpp): the angle itself is off by ~pos * a few ulp.
      const double pos_i = pos[i / (n_heads * pp.head_dim)];
      ASSERT_NEAR(ref[i], want[i], (1e-5 + 4e-7 * pos_i) * 4.0) << i;
      if (static_cast<int>(i % pp.head_dim) >= pp.rope_dim) {
        ASSERT_EQ(ref[i], x[i]) << "dims past rope_dim moved";
      }
    }
    for (Isa isa : ctxs.isas) {
      std::vector<float> y = x;
      Rope(ctxs.For(isa, &pool), y.data(), n_tokens, n_heads, pp.head_dim, pos.data(), p);
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(y[i], ref[i], 1e-6 * (std::fabs(ref[i]) + 1.0)) << IsaName(isa);
    }
  }
}

TEST(KernelTableTest, SelectionHonoursWeftIsa) {
  const char* saved = std::getenv("WEFT_ISA");
  const std::string restore = saved ? saved : "";
  unsetenv("WEFT_ISA");
  auto best = SelectKernelTable();
  ASSERT_TRUE(best.ok());
  EXPECT_EQ((*best)->isa, AvailableIsas().back());
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    setenv("WEFT_ISA", IsaName(isa), 1);
    auto t = SelectKernelTable();
    if (GetKernelTable(isa) != nullptr) {
      ASSERT_TRUE(t.ok()) << t.status().message();
      EXPECT_EQ((*t)->isa, isa);
    } else {
      EXPECT_FALSE(t.ok());
      EXPECT_NE(t.status().message().find("does not support"), std::string::npos);
    }
  }
  setenv("WEFT_ISA", "sse9", 1);
  auto bad = SelectKernelTable();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown"), std::string::npos);
  if (restore.empty()) {
    unsetenv("WEFT_ISA");
  } else {
    setenv("WEFT_ISA", restore.c_str(), 1);
  }
  EXPECT_NE(GetKernelTable(Isa::kScalar), nullptr);
  for (Isa isa : AvailableIsas()) std::printf("available: %s\n", IsaName(isa));
}

}  // namespace
}  // namespace weft::kernels
