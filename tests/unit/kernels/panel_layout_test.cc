// The Panel16 weight layout: packing round-trips; MatMul / EmbeddingLookup on a packed
// matrix give bit-identical results to the row layout on every ISA for Q4_0 / Q8_0 (the
// AVX-512 table has its own Panel16 kernel; the others unpack), and for F16 / BF16 are
// within f32 rounding of it (the AVX-512 float kernel keeps one accumulator per output
// where the row kernel reduces 16 lanes); on packed weights every result is the same
// whatever m, the thread count and the column count (including a partial last group).
#include "kernels/panel_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "base/thread_pool.h"
#include "kernel_test_util.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;
using testing::MakeView;
using testing::RandomFloats;
using testing::RandomWeights;

const DType kTypes[] = {DType::kQ4_0, DType::kQ8_0, DType::kF16, DType::kBF16};

TEST(PanelLayoutTest, PackThenUnpackGivesTheRowsBack) {
  std::mt19937 rng(1);
  for (DType t : kTypes) {
    for (int64_t n : {1, 16, 37}) {
      const int64_t k = 96;
      const auto rows = RandomWeights(rng, t, n, k);
      const TensorView w = MakeView(t, k, n, rows);
      const PackedTensor p = PackTensor(w);
      EXPECT_EQ(p.view.layout, TensorLayout::kPanel16);
      EXPECT_EQ(p.view.nbytes, static_cast<size_t>(PanelGroups(n)) * PanelGroupBytes(t, k));
      // Same bytes per group of 16 rows as the file's layout.
      EXPECT_EQ(PanelGroupBytes(t, k), 16 * BytesForElements(t, k));
      std::vector<uint8_t> back(rows.size());
      UnpackPanelRows(t, p.view.data, k, 0, n, back.data());
      EXPECT_EQ(back, rows) << DTypeName(t) << " n=" << n;
      // A slice from the middle.
      const size_t rb = BytesForElements(t, k);
      std::vector<uint8_t> mid(rb * 2);
      UnpackPanelRows(t, p.view.data, k, n / 2, n / 2 + 1, mid.data());
      EXPECT_TRUE(std::equal(mid.begin(), mid.begin() + static_cast<long>(rb), rows.begin() + static_cast<long>(rb * (n / 2))));
    }
  }
}

TEST(PanelLayoutTest, LaneOfARowHoldsItsQuants) {
  // Row 3's block 1 of a Q8_0 matrix: vector t, bytes 12..15 = quants 4t..4t+3 + 128.
  std::mt19937 rng(2);
  const int64_t k = 64, n = 16;
  const auto rows = RandomWeights(rng, DType::kQ8_0, n, k);
  const PackedTensor p = PackTensor(MakeView(DType::kQ8_0, k, n, rows));
  const uint8_t* blk = rows.data() + 3 * 68 + 34;
  for (int t = 0; t < 8; ++t) {
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(p.view.data[(8 + t) * 64 + 12 + i], static_cast<uint8_t>(blk[2 + 4 * t + i] ^ 0x80));
    }
  }
  EXPECT_EQ(0, std::memcmp(p.view.data + PanelScalesOffset(DType::kQ8_0, k) + 32 + 6, blk, 2));
}

bool IsFloat(DType t) { return t == DType::kF16 || t == DType::kBF16; }

TEST(PanelLayoutTest, MatMulEqualsTheRowLayout) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(3);
  for (DType t : kTypes) {
    for (int64_t n : {16, 45, 100}) {
      const int64_t k = 256;
      const auto rows = RandomWeights(rng, t, n, k);
      const TensorView w = MakeView(t, k, n, rows);
      std::vector<float> wf(static_cast<size_t>(n * k));
      DequantizeTensor(w, wf.data());
      const PackedTensor p = PackTensor(w);
      for (int64_t m : {1, 2, 5, 70}) {
        const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
        for (Isa isa : ctxs.isas) {
          SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t) << " n=" << n << " m=" << m);
          std::vector<float> want(static_cast<size_t>(m * n)), got(want.size(), NAN), threaded(want.size(), NAN);
          MatMul(ctxs.For(isa), x.data(), m, w, want.data());
          MatMul(ctxs.For(isa), x.data(), m, p.view, got.data());
          MatMul(ctxs.For(isa, &pool), x.data(), m, p.view, threaded.data());
          ASSERT_EQ(0, std::memcmp(got.data(), threaded.data(), want.size() * sizeof(float)));
          if (!IsFloat(t)) {
            ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
            continue;
          }
          for (int64_t r = 0; r < m; ++r) {
            for (int64_t j = 0; j < n; ++j) {
              double s = 0;
              for (int64_t i = 0; i < k; ++i) s += std::fabs(static_cast<double>(wf[j * k + i]) * x[r * k + i]);
              ASSERT_NEAR(got[r * n + j], want[r * n + j], 2e-6 * s + 1e-7) << "r=" << r << " j=" << j;
            }
          }
        }
      }
    }
  }
}

TEST(PanelLayoutTest, PackedResultsDoNotDependOnTheBatch) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(6);
  for (DType t : kTypes) {
    const int64_t k = 1024, n = 150, m = 21;  // k spans several k chunks of the prefill paths
    const auto rows = RandomWeights(rng, t, n, k);
    const PackedTensor p = PackTensor(MakeView(t, k, n, rows));
    const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
    for (Isa isa : ctxs.isas) {
      SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t));
      std::vector<float> all(static_cast<size_t>(m * n)), part(static_cast<size_t>(3 * n));
      MatMul(ctxs.For(isa, &pool), x.data(), m, p.view, all.data());
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t rows_in_call : {1, 2, 3}) {
          if (r + rows_in_call > m) continue;
          MatMul(ctxs.For(isa), x.data() + r * k, rows_in_call, p.view, part.data());
          ASSERT_EQ(0, std::memcmp(part.data(), all.data() + r * n, static_cast<size_t>(rows_in_call * n) * sizeof(float)))
              << "row " << r << " in a call of " << rows_in_call;
        }
      }
    }
  }
}

TEST(PanelLayoutTest, MatMulLeavesColumnsPastNAlone) {
  IsaContexts ctxs;
  std::mt19937 rng(4);
  const int64_t k = 64, n = 19, m = 3, ys = 40;
  const auto rows = RandomWeights(rng, DType::kQ4_0, n, k);
  const PackedTensor p = PackTensor(MakeView(DType::kQ4_0, k, n, rows));
  const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
  for (Isa isa : ctxs.isas) {
    std::vector<float> y(static_cast<size_t>(m * ys), -1.0f);
    MatMul(ctxs.For(isa), x.data(), m, p.view, y.data(), 0, ys);
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = n; j < ys; ++j) ASSERT_EQ(y[r * ys + j], -1.0f) << IsaName(isa) << " wrote past n";
    }
  }
}

TEST(PanelLayoutTest, EmbeddingLookupReadsPackedRows) {
  IsaContexts ctxs;
  std::mt19937 rng(5);
  const int64_t vocab = 37, k = 128;
  const std::vector<int32_t> ids = {0, 36, 16, 15, 17};
  for (DType t : kTypes) {
    const auto rows = RandomWeights(rng, t, vocab, k);
    const TensorView table = MakeView(t, k, vocab, rows);
    const PackedTensor p = PackTensor(table);
    for (Isa isa : ctxs.isas) {
      std::vector<float> want(ids.size() * k), got(ids.size() * k);
      EmbeddingLookup(ctxs.For(isa), table, ids.data(), static_cast<int64_t>(ids.size()), want.data());
      EmbeddingLookup(ctxs.For(isa), p.view, ids.data(), static_cast<int64_t>(ids.size()), got.data());
      EXPECT_EQ(want, got) << IsaName(isa) << " " << DTypeName(t);
    }
  }
}

}  // namespace
}  // namespace weft::kernels
