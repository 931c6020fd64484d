// The Panel16 weight layout: packing round-trips, and MatMul / EmbeddingLookup on a
// packed matrix give bit-identical results to the row layout on every ISA (the AVX-512
// table has its own Panel16 kernel; the others unpack), for any m, thread count and
// column count (including a last, partial group of 16). K-quants: the AVX-512 Panel16
// kernel sums in another float order than the row kernel, so it is checked against the
// scalar reference (the row kernel's bounds) and for batch / thread / split invariance.
// F16 / BF16 likewise (the AVX-512 float kernel keeps one f32 accumulator per output where
// the row kernel reduces 16 lanes).
#include "kernels/panel_layout.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "base/thread_pool.h"
#include "kernel_test_util.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;
using testing::MakeView;
using testing::MatMulReference;
using testing::RandomFloats;
using testing::RandomWeights;

const DType kTypes[] = {DType::kQ4_0, DType::kQ8_0, DType::kQ4_K, DType::kQ6_K};
const DType kKQuants[] = {DType::kQ4_K, DType::kQ6_K};

bool IsKQuant(DType t) { return GetDTypeInfo(t).block_size == 256; }
// The smallest k of a few blocks for each type.
int64_t SmallK(DType t) { return IsKQuant(t) ? 512 : 96; }
// Whether `isa` runs a Panel16 weight of type t with a kernel of its own (not unpack + row
// kernel).
bool OwnPanelKernel(Isa isa, DType t) { return PanelTypeSetHas(GetKernelTable(isa)->panel_types, t); }

TEST(PanelLayoutTest, PackThenUnpackGivesTheRowsBack) {
  std::mt19937 rng(1);
  for (DType t : kTypes) {
    for (int64_t n : {1, 16, 37}) {
      const int64_t k = SmallK(t);
      const auto rows = RandomWeights(rng, t, n, k);
      const TensorView w = MakeView(t, k, n, rows);
      const PackedTensor p = PackTensor(w);
      EXPECT_EQ(p.view.layout, TensorLayout::kPanel16);
      EXPECT_EQ(p.view.nbytes, static_cast<size_t>(PanelGroups(n)) * PanelGroupBytes(t, k));
      // Same bytes per group of 16 rows as the file's layout (K-quants: within 3%).
      if (IsKQuant(t)) {
        EXPECT_LE(PanelGroupBytes(t, k), 16 * BytesForElements(t, k) * 103 / 100);
      } else {
        EXPECT_EQ(PanelGroupBytes(t, k), 16 * BytesForElements(t, k));
      }
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

// Decodes value j of row p from a K-quant record by the format in panel_layout.h and
// compares with the reference dequantiser (same float operations, so exactly).
TEST(PanelLayoutTest, KQuantRecordsFollowTheDocumentedFormat) {
  std::mt19937 rng(6);
  const int64_t k = 512, n = 20;
  for (DType t : kKQuants) {
    const auto rows = RandomWeights(rng, t, n, k);
    const TensorView w = MakeView(t, k, n, rows);
    const PackedTensor packed = PackTensor(w);
    std::vector<float> want(static_cast<size_t>(n * k));
    DequantizeTensor(w, want.data());
    const size_t rec_bytes = t == DType::kQ4_K ? PanelQ4K::kRecord : PanelQ6K::kRecord;
    for (int64_t r = 0; r < n; ++r) {
      const int p = static_cast<int>(r % 16);
      for (int64_t b = 0; b < k / 256; ++b) {
        const uint8_t* rec = packed.view.data + static_cast<size_t>(r / 16) * PanelGroupBytes(t, k) + b * rec_bytes;
        for (int j = 0; j < 256; ++j) {
          float x;
          if (t == DType::kQ4_K) {
            const int c = j / 64, nib = (j % 64) / 32, l = j % 32, s = j / 32;
            const int q = (rec[64 * (8 * c + l / 4) + 4 * p + l % 4] >> (4 * nib)) & 15;
            const float d = Fp16ToFloat(static_cast<uint16_t>(rec[PanelQ4K::kD + 2 * p] | rec[PanelQ4K::kD + 2 * p + 1] << 8));
            const float dmin =
                Fp16ToFloat(static_cast<uint16_t>(rec[PanelQ4K::kDmin + 2 * p] | rec[PanelQ4K::kDmin + 2 * p + 1] << 8));
            const int sc = rec[PanelQ4K::kScales + 16 * s + p], mn = rec[PanelQ4K::kMins + 32 * (s / 2) + 2 * p + s % 2];
            x = d * static_cast<float>(sc) * static_cast<float>(q) - dmin * static_cast<float>(mn);
          } else {
            const int s = j / 16, u = (j % 16) / 4, i = j % 4;
            const int lo = (rec[192 * s + 64 * (u % 2) + 4 * p + i] >> (4 * (u / 2))) & 15;
            const int hi = (rec[192 * s + 128 + 4 * p + i] >> (2 * u)) & 3;
            const float d = Fp16ToFloat(static_cast<uint16_t>(rec[PanelQ6K::kD + 2 * p] | rec[PanelQ6K::kD + 2 * p + 1] << 8));
            const auto sc = static_cast<int8_t>(rec[PanelQ6K::kScales + 16 * s + p]);
            x = d * static_cast<float>(sc) * static_cast<float>((lo | hi << 4) - 32);
          }
          ASSERT_EQ(x, want[r * k + 256 * b + j]) << DTypeName(t) << " row " << r << " value " << 256 * b + j;
        }
      }
    }
  }
}

TEST(PanelLayoutTest, MatMulEqualsTheRowLayoutBitForBit) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(3);
  for (DType t : kTypes) {
    for (auto [n, k] : {std::pair<int64_t, int64_t>{16, 256}, {45, 256}, {80, 256}, {100, 256}, {45, 1280}}) {
      // k = 1280: several k chunks in the prefill kernels.
      const auto rows = RandomWeights(rng, t, n, k);
      const TensorView w = MakeView(t, k, n, rows);
      const PackedTensor p = PackTensor(w);
      for (int64_t m : {1, 2, 5, 7, 8, 9, 70}) {  // prefill row-group tails of every length
        const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
        for (Isa isa : ctxs.isas) {
          if (IsKQuant(t) && OwnPanelKernel(isa, t)) continue;  // see KQuantMatMulMatchesTheReference
          SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t) << " n=" << n << " m=" << m);
          std::vector<float> want(static_cast<size_t>(m * n)), got(want.size(), NAN), threaded(want.size(), NAN);
          MatMul(ctxs.For(isa), x.data(), m, w, want.data());
          MatMul(ctxs.For(isa), x.data(), m, p.view, got.data());
          MatMul(ctxs.For(isa, &pool), x.data(), m, p.view, threaded.data());
          ASSERT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
          ASSERT_EQ(0, std::memcmp(want.data(), threaded.data(), want.size() * sizeof(float)));
        }
      }
    }
  }
}

TEST(PanelLayoutTest, MatMulLeavesColumnsPastNAlone) {
  IsaContexts ctxs;
  std::mt19937 rng(4);
  const int64_t n = 19, m = 3, ys = 40;
  for (DType t : kTypes) {
    const int64_t k = IsKQuant(t) ? 256 : 64;
    const auto rows = RandomWeights(rng, t, n, k);
    const PackedTensor p = PackTensor(MakeView(t, k, n, rows));
    const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
    for (Isa isa : ctxs.isas) {
      std::vector<float> y(static_cast<size_t>(m * ys), -1.0f);
      MatMul(ctxs.For(isa), x.data(), m, p.view, y.data(), 0, ys);
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = n; j < ys; ++j) ASSERT_EQ(y[r * ys + j], -1.0f) << IsaName(isa) << " " << DTypeName(t) << " wrote past n";
      }
    }
  }
}

TEST(PanelLayoutTest, EmbeddingLookupReadsPackedRows) {
  IsaContexts ctxs;
  std::mt19937 rng(5);
  const int64_t vocab = 37;
  const std::vector<int32_t> ids = {0, 36, 16, 15, 17};
  for (DType t : kTypes) {
    const int64_t k = IsKQuant(t) ? 256 : 128;
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

TEST(PanelLayoutTest, KQuantMatMulMatchesTheReference) {
  IsaContexts ctxs;
  std::mt19937 rng(8);
  for (DType t : kKQuants) {
    for (int64_t k : {256, 768, 2048}) {
      for (int64_t n : {16, 37, 100}) {
        for (int64_t m : {1, 3, 17, 64}) {
          if (k * m * n > 2048 * 3 * 100) continue;  // keeps the double reference fast
          const auto rows = RandomWeights(rng, t, n, k);
          const TensorView w = MakeView(t, k, n, rows);
          const PackedTensor p = PackTensor(w);
          auto x = RandomFloats(rng, static_cast<size_t>(m * k));
          for (int64_t i = 0; i < m * k; i += 97) x[i] *= 6.0f;  // a few outliers
          const MatMulReference reference(ctxs, w, std::move(x), m);
          for (Isa isa : ctxs.isas) {
            if (isa == Isa::kScalar) continue;
            SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t) << " m=" << m << " k=" << k
                                              << " n=" << n);
            reference.Check(ctxs, isa, p.view);
            if (HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

// The Panel16 kernel of a table called directly on columns [n0, n1) (n0 a multiple of 16)
// of all m rows, as ops.cc would for one chunk.
void PanelKernelColumns(const KernelTable& table, const TensorView& w, const std::vector<float>& x, int64_t m,
                        int64_t n0, int64_t n1, float* y) {
  const int64_t k = w.ne[0], n = w.NumRows();
  MatMulArgs a;
  a.x = x.data();
  a.x_stride = k;
  a.m = m;
  a.k = k;
  a.type = w.type;
  a.w = w.data;
  a.w_row_bytes = BytesForElements(w.type, k);
  a.w_group_bytes = PanelGroupBytes(w.type, k);
  a.w_scales_offset = PanelScalesOffset(w.type, k);
  a.y = y;
  a.y_stride = n;
  a.xq_layout = QuantActLayout::For(table.matmul_act_block(w.type), k);
  std::vector<uint8_t> buf(a.xq_layout.row_bytes * static_cast<size_t>(m) + 64);
  a.xq = buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64);
  for (int64_t r = 0; r < m; ++r) table.quantize_act(x.data() + r * k, k, a.xq_layout.block, a.xq_layout.Row(a.xq, r));
  table.matmul_panel(a, n0, n1);
}

// A row's result must not depend on which rows share the call, how many threads run it,
// or how the columns are split (batch invariance).
TEST(PanelLayoutTest, MatMulIsBatchThreadAndSplitInvariant) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(9);
  for (DType t : kTypes) {
    const int64_t k = 512, n = 83, m = 17;
    const auto rows = RandomWeights(rng, t, n, k);
    const PackedTensor p = PackTensor(MakeView(t, k, n, rows));
    const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
    for (Isa isa : ctxs.isas) {
      SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t));
      std::vector<float> all(static_cast<size_t>(m * n)), threaded(all.size());
      MatMul(ctxs.For(isa), x.data(), m, p.view, all.data());
      MatMul(ctxs.For(isa, &pool), x.data(), m, p.view, threaded.data());
      EXPECT_EQ(all, threaded);
      for (int64_t r0 = 0; r0 < m;) {  // runs of 1 to 5 rows
        const int64_t rows_here = std::min<int64_t>(m - r0, r0 % 7 == 0 ? 1 : r0 % 5 + 1);
        std::vector<float> part(static_cast<size_t>(rows_here * n));
        MatMul(ctxs.For(isa, &pool), x.data() + r0 * k, rows_here, p.view, part.data());
        for (int64_t r = 0; r < rows_here; ++r) {
          for (int64_t j = 0; j < n; ++j) ASSERT_EQ(part[r * n + j], all[(r0 + r) * n + j]) << "row " << r0 + r << " col " << j;
        }
        r0 += rows_here;
      }
      if (!OwnPanelKernel(isa, t)) continue;
      for (int64_t mm : {int64_t{1}, int64_t{3}, m}) {  // the decode, verification and prefill paths
        std::vector<float> split(static_cast<size_t>(mm * n), NAN);
        const std::vector<float> xs(x.begin(), x.begin() + mm * k);
        for (auto [n0, n1] : {std::pair<int64_t, int64_t>{0, 16}, {16, 48}, {48, 64}, {64, n}}) {
          PanelKernelColumns(*GetKernelTable(isa), p.view, xs, mm, n0, n1, split.data());
        }
        for (int64_t r = 0; r < mm; ++r) {
          for (int64_t j = 0; j < n; ++j) ASSERT_EQ(split[r * n + j], all[r * n + j]) << "m=" << mm << " row " << r << " col " << j;
        }
      }
    }
  }
}

// The vocabulary-parallel lookup (--tp): each part (rows cut at 64-row bounds, packed or
// the file's rows) gives its rows and zeros for the others, so the rank-order sum of
// the parts is the whole lookup exactly, at a real width (2048) and several rank counts.
TEST(PanelLayoutTest, EmbeddingLookupPartsSumToTheWholeLookup) {
  IsaContexts ctxs;
  std::mt19937 rng(6);
  const int64_t vocab = 300, k = 2048;
  const std::vector<int32_t> ids = {0, 299, 63, 64, 127, 128, 200, 5, 64};
  for (DType t : kTypes) {
    const auto rows = RandomWeights(rng, t, vocab, k);
    const TensorView table = MakeView(t, k, vocab, rows);
    const size_t row_bytes = rows.size() / static_cast<size_t>(vocab);
    for (const int tp : {2, 3, 4}) {
      for (Isa isa : ctxs.isas) {
        const auto n = static_cast<int64_t>(ids.size());
        std::vector<float> want(ids.size() * k), sum(ids.size() * k, 0.0f), part(ids.size() * k, -1.0f);
        EmbeddingLookup(ctxs.For(isa), table, ids.data(), n, want.data());
        int64_t first = 0;
        for (int r = 0; r < tp; ++r) {
          // VocabSlice's cut (model/bind_options.h): 64-row bounds, the last rank the rest.
          const int64_t chunk = ((vocab + tp - 1) / tp + 63) / 64 * 64;
          const int64_t end = r == tp - 1 ? vocab : std::min(vocab, chunk * (r + 1));
          TensorView slice = table;
          slice.ne[1] = end - first;
          slice.data = table.data + row_bytes * static_cast<size_t>(first);
          slice.nbytes = row_bytes * static_cast<size_t>(end - first);
          const PackedTensor packed = PackTensor(slice);
          for (const TensorView* v : {static_cast<const TensorView*>(&slice), &packed.view}) {
            std::fill(part.begin(), part.end(), -1.0f);
            EmbeddingLookupPart(ctxs.For(isa), *v, first, vocab, ids.data(), n, part.data());
            for (int64_t i = 0; i < n; ++i) {
              const bool mine = ids[i] >= first && ids[i] < end;
              for (int64_t j = 0; j < k; ++j) {
                const float got = part[i * k + j];
                ASSERT_EQ(got, mine ? want[i * k + j] : 0.0f) << DTypeName(t) << " tp " << tp << " rank " << r;
              }
            }
          }
          for (size_t e = 0; e < sum.size(); ++e) sum[e] += part[e];
          first = end;
        }
        // Equal as numbers (a -0.0 may come back +0.0: 0 + -0 = +0, which no later step can tell).
        for (size_t e = 0; e < sum.size(); ++e) ASSERT_EQ(sum[e], want[e]) << DTypeName(t) << " tp " << tp << " at " << e;
      }
    }
  }
}

// ---- float types (F16, BF16) ------------------------------------------------------------

const DType kFloats[] = {DType::kF16, DType::kBF16};

TEST(PanelLayoutTest, FloatPackRoundTripsAndEmbeddingReadsIt) {
  IsaContexts ctxs;
  std::mt19937 rng(21);
  for (DType t : kFloats) {
    for (int64_t n : {1, 16, 37}) {
      const int64_t k = 40;
      const auto rows = RandomWeights(rng, t, n, k);
      const TensorView w = MakeView(t, k, n, rows);
      const PackedTensor p = PackTensor(w);
      EXPECT_EQ(PanelGroupBytes(t, k), 16 * BytesForElements(t, k));
      std::vector<uint8_t> back(rows.size());
      UnpackPanelRows(t, p.view.data, k, 0, n, back.data());
      EXPECT_EQ(back, rows) << DTypeName(t) << " n=" << n;
      const std::vector<int32_t> ids = {0, static_cast<int32_t>(n - 1), static_cast<int32_t>(n / 2)};
      for (Isa isa : ctxs.isas) {
        std::vector<float> want(ids.size() * k), got(ids.size() * k);
        EmbeddingLookup(ctxs.For(isa), w, ids.data(), 3, want.data());
        EmbeddingLookup(ctxs.For(isa), p.view, ids.data(), 3, got.data());
        EXPECT_EQ(want, got) << IsaName(isa) << " " << DTypeName(t);
      }
    }
  }
}

TEST(PanelLayoutTest, FloatMatMulMatchesTheReference) {
  IsaContexts ctxs;
  std::mt19937 rng(22);
  for (DType t : kFloats) {
    for (int64_t n : {16, 45}) {
      for (int64_t m : {1, 3, 17}) {
        const int64_t k = 300;  // spans a k chunk of the prefill path (256)
        const auto rows = RandomWeights(rng, t, n, k);
        const TensorView w = MakeView(t, k, n, rows);
        const PackedTensor p = PackTensor(w);
        const MatMulReference reference(ctxs, w, RandomFloats(rng, static_cast<size_t>(m * k)), m);
        for (Isa isa : ctxs.isas) {
          SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t) << " m=" << m << " n=" << n);
          reference.Check(ctxs, isa, p.view);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(PanelLayoutTest, FloatMatMulIsBatchAndThreadInvariant) {
  IsaContexts ctxs;
  ThreadPool pool(2);
  std::mt19937 rng(23);
  for (DType t : kFloats) {
    const int64_t k = 600, n = 150, m = 21;
    const auto rows = RandomWeights(rng, t, n, k);
    const PackedTensor p = PackTensor(MakeView(t, k, n, rows));
    const auto x = RandomFloats(rng, static_cast<size_t>(m * k));
    for (Isa isa : ctxs.isas) {
      SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(t));
      std::vector<float> all(static_cast<size_t>(m * n)), part(static_cast<size_t>(13 * n));
      MatMul(ctxs.For(isa, &pool), x.data(), m, p.view, all.data());
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t rows_in_call : {1, 2, 3, 4, 9, 13}) {  // decode path, then prefill runs and tails
          if (r + rows_in_call > m) continue;
          MatMul(ctxs.For(isa), x.data() + r * k, rows_in_call, p.view, part.data());
          ASSERT_EQ(0, std::memcmp(part.data(), all.data() + r * n, static_cast<size_t>(rows_in_call * n) * sizeof(float)))
              << "row " << r << " in a call of " << rows_in_call;
        }
      }
    }
  }
}

}  // namespace
}  // namespace weft::kernels
