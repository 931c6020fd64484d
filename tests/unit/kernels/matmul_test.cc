// MatMul and EmbeddingLookup on every ISA this machine has, for every weight type,
// against the scalar reference (dequantise a row, dot in double).
//
// Tolerances (S = sum_i |w_i x_i| over the dot product):
//  * f32-activation paths (F32 / F16 / BF16 weights, and all of the scalar table):
//    |y - ref| <= 1e-5 * S + 1e-6 (f32 accumulation over k <= 2048 in 8-32 lanes).
//  * int8-activation paths (quantised weights on AVX2 / AVX-512): x is rounded to
//    d_b * q with d_b = max|x| / 127 over its block b, an error uniform in +-d_b / 2 per
//    value. Against the reference: |y - ref| <= 6 sigma + 1e-5 * S + 1e-6 with
//    sigma^2 = sum_i (w_i d_b(i))^2 / 12 (the standard deviation of that rounding).
//    And against the same quantised activations evaluated exactly in double (which checks
//    the integer arithmetic itself): |y - emul| <= 2e-5 * S + 1e-6.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "base/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/panel_layout.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;
using testing::MakeView;
using testing::MatMulReference;
using testing::MatMulTypes;
using testing::RandomFloats;
using testing::RandomWeights;

std::vector<int64_t> KChoices(DType type) {
  const int bs = GetDTypeInfo(type).block_size;
  if (bs == 256) return {256, 768, 2048};
  if (bs == 32) return {32, 96, 288, 2048};
  return {37, 256, 100, 2048};
}

struct Case {
  DType type;
  int64_t m, k, n;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (DType t : MatMulTypes()) {
    for (int64_t k : KChoices(t)) {
      for (int64_t m : {1, 3, 17, 64}) {
        if (k == 2048 && m > 3) continue;  // keeps the double reference fast
        cases.push_back({t, m, k, m == 64 ? 19 : 37});
      }
    }
  }
  return cases;
}

TEST(MatMulTest, EveryIsaEveryTypeMatchesReference) {
  IsaContexts ctxs;
  std::mt19937 rng(7);
  int checked = 0;
  for (const Case& c : Cases()) {
    const auto wbytes = RandomWeights(rng, c.type, c.n, c.k);
    const TensorView w = MakeView(c.type, c.k, c.n, wbytes);
    auto x = RandomFloats(rng, static_cast<size_t>(c.m * c.k));
    for (int64_t i = 0; i < c.m * c.k; i += 97) x[i] *= 6.0f;  // a few outliers
    const MatMulReference reference(ctxs, w, std::move(x), c.m);
    for (Isa isa : ctxs.isas) {
      if (isa == Isa::kScalar) continue;
      SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(c.type) << " m=" << c.m << " k=" << c.k
                                        << " n=" << c.n);
      reference.Check(ctxs, isa, w);
      if (HasFatalFailure()) return;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
}

TEST(MatMulTest, ScalarTableIsTheDoubleReference) {
  IsaContexts ctxs;
  std::mt19937 rng(3);
  for (DType t : MatMulTypes()) {
    const int64_t k = GetDTypeInfo(t).block_size == 256 ? 512 : 64, n = 5, m = 2;
    const auto wbytes = RandomWeights(rng, t, n, k);
    const TensorView w = MakeView(t, k, n, wbytes);
    const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
    std::vector<float> wf(static_cast<size_t>(n * k)), y(static_cast<size_t>(m * n));
    DequantizeTensor(w, wf.data());
    MatMul(ctxs.For(Isa::kScalar), x.data(), m, w, y.data());
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        double want = 0;
        for (int64_t i = 0; i < k; ++i) want += static_cast<double>(wf[j * k + i]) * x[r * k + i];
        EXPECT_EQ(y[r * n + j], static_cast<float>(want)) << DTypeName(t);
      }
    }
  }
}

// A row's result must not depend on which rows share the call, how many threads run it,
// or how the columns are split (batch invariance).
TEST(MatMulTest, BatchAndThreadInvariant) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(11);
  for (DType t : MatMulTypes()) {
    const int64_t k = GetDTypeInfo(t).block_size == 256 ? 512 : 96, n = 45, m = 17;
    const auto wbytes = RandomWeights(rng, t, n, k);
    const TensorView w = MakeView(t, k, n, wbytes);
    const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
    for (Isa isa : ctxs.isas) {
      SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t));
      std::vector<float> all(static_cast<size_t>(m * n)), threaded(all.size()), one(static_cast<size_t>(n));
      MatMul(ctxs.For(isa), x.data(), m, w, all.data());
      MatMul(ctxs.For(isa, &pool), x.data(), m, w, threaded.data());
      EXPECT_EQ(all, threaded);
      for (int64_t r = 0; r < m; ++r) {
        MatMul(ctxs.For(isa, &pool), x.data() + r * k, 1, w, one.data());
        for (int64_t j = 0; j < n; ++j) ASSERT_EQ(one[j], all[r * n + j]) << "row " << r << " col " << j;
      }
    }
  }
}

// MatMulMany: each output equals MatMul of its weight alone, bit for bit, whatever the
// mix of layouts and types (same activation format: one dispatch; mixed: one at a time).
TEST(MatMulTest, ManyEqualsOneAtATime) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(19);
  const int64_t k = 256;
  const std::vector<std::vector<DType>> mixes = {
      {DType::kQ4_0, DType::kQ8_0, DType::kQ4_0}, {DType::kQ4_K, DType::kQ6_K}, {DType::kF16, DType::kQ8_0}};
  for (const auto& mix : mixes) {
    std::vector<std::vector<uint8_t>> bytes;
    std::vector<TensorView> views;
    std::vector<PackedTensor> packed;
    packed.reserve(mix.size());
    for (size_t i = 0; i < mix.size(); ++i) {
      const int64_t n = 20 + 13 * static_cast<int64_t>(i);
      bytes.push_back(RandomWeights(rng, mix[i], n, k));
    }
    for (size_t i = 0; i < mix.size(); ++i) {
      views.push_back(MakeView(mix[i], k, 20 + 13 * static_cast<int64_t>(i), bytes[i]));
      if (i == 0 && PanelLayoutSupports(mix[i])) {  // the first one packed, the others rows
        packed.push_back(PackTensor(views.back()));
        views.back() = packed.back().view;
      }
    }
    for (int64_t m : {1, 6}) {
      const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
      for (Isa isa : ctxs.isas) {
        SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(mix[0]) << " m=" << m);
        std::vector<std::vector<float>> many(mix.size()), one(mix.size());
        std::vector<MatMulOutput> outs;
        for (size_t i = 0; i < mix.size(); ++i) {
          many[i].assign(static_cast<size_t>(m * views[i].NumRows()), NAN);
          one[i].assign(many[i].size(), NAN);
          outs.push_back({&views[i], many[i].data(), 0});
          MatMul(ctxs.For(isa), x.data(), m, views[i], one[i].data());
        }
        MatMulMany(ctxs.For(isa, &pool), x.data(), m, outs);
        for (size_t i = 0; i < mix.size(); ++i) {
          ASSERT_EQ(0, std::memcmp(many[i].data(), one[i].data(), many[i].size() * sizeof(float))) << "output " << i;
        }
      }
    }
  }
}

TEST(MatMulTest, RowStrides) {
  IsaContexts ctxs;
  std::mt19937 rng(5);
  const int64_t k = 256, n = 9, m = 5, xs = 300, ys = 16;
  for (DType t : {DType::kQ4_0, DType::kQ6_K, DType::kF16}) {
    const auto wbytes = RandomWeights(rng, t, n, k);
    const TensorView w = MakeView(t, k, n, wbytes);
    const auto x = RandomFloats(rng, static_cast<size_t>(m * xs));
    std::vector<float> packed(static_cast<size_t>(m * k));
    for (int64_t r = 0; r < m; ++r) std::copy_n(x.begin() + r * xs, k, packed.begin() + r * k);
    for (Isa isa : ctxs.isas) {
      std::vector<float> y(static_cast<size_t>(m * ys), -1.0f), yp(static_cast<size_t>(m * n));
      MatMul(ctxs.For(isa), x.data(), m, w, y.data(), xs, ys);
      MatMul(ctxs.For(isa), packed.data(), m, w, yp.data());
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = 0; j < n; ++j) EXPECT_EQ(y[r * ys + j], yp[r * n + j]);
        for (int64_t j = n; j < ys; ++j) EXPECT_EQ(y[r * ys + j], -1.0f) << "wrote past n";
      }
    }
  }
}

TEST(MatMulTest, ActivationQuantisationIsIdenticalOnEveryIsa) {
  std::mt19937 rng(13);
  for (int block : {32, 256}) {
    const int64_t k = 1024;
    auto x = RandomFloats(rng, k);
    for (int i = 0; i < block; ++i) x[i] = 0.0f;                         // an all-zero block
    for (int i = 0; i < 16; ++i) x[block + i] = 0.5f * static_cast<float>(i - 8);  // exact ties
    x[block + 16] = 127.0f;
    const QuantActLayout layout = QuantActLayout::For(block, k);
    std::vector<uint8_t> a(layout.row_bytes + 64), b(layout.row_bytes + 64);
    auto align = [](std::vector<uint8_t>& v) { return v.data() + ((64 - reinterpret_cast<uintptr_t>(v.data()) % 64) % 64); };
    ref::QuantizeActRow(x.data(), k, block, layout.Row(align(a), 0));
    for (Isa isa : AvailableIsas()) {
      std::fill(b.begin(), b.end(), 0);
      GetKernelTable(isa)->quantize_act(x.data(), k, block, layout.Row(align(b), 0));
      EXPECT_EQ(0, std::memcmp(align(a), align(b), layout.row_bytes)) << IsaName(isa) << " block " << block;
    }
    const QuantActRow row = layout.Row(align(a), 0);
    EXPECT_EQ(row.d[0], 0.0f);
    EXPECT_EQ(row.q[block + 16], 127);
  }
}

TEST(MatMulDeathTest, RowsThatSplitBlocksAreRejected) {
  IsaContexts ctxs;
  std::vector<uint8_t> bytes(BytesForElements(DType::kQ8_0, 172 * 32 / 4 * 4));  // 172 x 32 values
  TensorView w = MakeView(DType::kQ8_0, 172, 32, bytes);
  std::vector<float> x(172), y(32);
  EXPECT_DEATH(MatMul(ctxs.For(ctxs.isas.back()), x.data(), 1, w, y.data()), "not whole");
}

TEST(EmbeddingLookupTest, RowsEqualTheReferenceDequantisation) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(17);
  const int64_t vocab = 23, k = 512;
  const std::vector<int32_t> ids = {0, 22, 5, 5, 17, 3, 9};
  for (DType t : MatMulTypes()) {
    const auto bytes = RandomWeights(rng, t, vocab, k);
    const TensorView table = MakeView(t, k, vocab, bytes);
    std::vector<float> want(static_cast<size_t>(vocab * k));
    DequantizeTensor(table, want.data());
    for (Isa isa : ctxs.isas) {
      std::vector<float> out(ids.size() * k);
      EmbeddingLookup(ctxs.For(isa, &pool), table, ids.data(), static_cast<int64_t>(ids.size()), out.data());
      for (size_t i = 0; i < ids.size(); ++i) {
        ASSERT_EQ(0, std::memcmp(out.data() + i * k, want.data() + ids[i] * k, k * sizeof(float)))
            << IsaName(isa) << " " << DTypeName(t) << " id " << ids[i];
      }
    }
  }
}

}  // namespace
}  // namespace weft::kernels
