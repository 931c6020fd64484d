// MatMul at the shapes real models run: every weight type x both layouts (rows, Panel16)
// x every ISA x m (rows in the batch) in 1..33, 48, 64, 100, 128, 257, 512 x the (k, n)
// pairs of Llama 3.2 1B, TinyLlama 1.1B, Qwen2.5 0.5B, SmolLM2 135M and Llama 3 8B
// (FFN up and down projections, output heads with their vocabularies). Built to run in
// the ASan/UBSan build, where a write past a kernel's scratch buffer fails at once (the
// staged-prefill overflow at m = 4 that no tiny-shape test reached).
//
// Two tiers, so that it fits in minutes:
//  * MatMulShapes.SweepRows: the real k and a window of 88 output columns (five groups of
//    16 and a half group: whole passes of 2 and 4 groups, a lone group, a column tail),
//    every m. The m = 512 call is checked
//    against the scalar reference on a sample of rows (every row-group tail and both
//    ends); every smaller m must give the first m rows of it bit for bit (batch
//    invariance, ops.h), so a tail or chunk bug at any m shows as a mismatch.
//  * MatMulFullWidth: the whole real (k, n) for m = 1 (decode), 4 (the staged kernels'
//    smallest call) and 7, on two threads, with a sample of columns (both ends, every
//    thread split) checked against the scalar reference on those weight rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "base/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/panel_layout.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;
using testing::MakeView;
using testing::MatMulReference;
using testing::MatMulTypes;

struct ModelShape {
  const char* name;
  int64_t k, n;
};

// (k, n) of real models' weights: x[m, k] · W^T gives [m, n].
const ModelShape kShapes[] = {
    {"llama32_1b_up", 2048, 8192},     {"llama32_1b_down", 8192, 2048},   {"tinyllama_up", 2048, 5632},
    {"tinyllama_down", 5632, 2048},    {"qwen25_05b_up", 896, 4864},      {"qwen25_05b_down", 4864, 896},
    {"qwen25_05b_head", 896, 151936},  {"smollm2_135m_up", 576, 1536},    {"smollm2_135m_down", 1536, 576},
    {"smollm2_135m_head", 576, 49152}, {"llama3_8b_up", 4096, 14336},     {"llama3_8b_down", 14336, 4096},
    {"llama3_8b_head", 4096, 128256},  {"llama32_1b_head", 2048, 128256},
};

const int64_t kRows[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14,  15,  16,  17,  18,  19, 20,
                         21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 48, 64, 100, 128, 257, 512};
constexpr int64_t kMaxRows = 512;
constexpr int64_t kWindowCols = 88;

// Random weight bytes, fast enough for a 500 MB output head: 64-bit xorshift words, with
// the block scales set to sane values (SetRandomBlockScales) and no NaN / Inf in floats.
std::vector<uint8_t> FastRandomWeights(uint64_t seed, DType type, int64_t n, int64_t k) {
  const size_t bytes = BytesForElements(type, k) * static_cast<size_t>(n);
  std::vector<uint8_t> w(bytes);
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&s] {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return s;
  };
  if (type == DType::kF32 || type == DType::kF16 || type == DType::kBF16) {
    const size_t esz = type == DType::kF32 ? 4 : 2;
    for (size_t i = 0; i < bytes / esz; ++i) {
      // Uniform in [-0.1, 0.1): small, like trained weights.
      const float f = (static_cast<float>(next() >> 40) / static_cast<float>(1 << 24) - 0.5f) * 0.2f;
      if (type == DType::kF32) {
        std::memcpy(w.data() + 4 * i, &f, 4);
      } else {
        const uint16_t h = type == DType::kF16 ? FloatToFp16(f) : FloatToBf16(f);
        std::memcpy(w.data() + 2 * i, &h, 2);
      }
    }
    return w;
  }
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    const uint64_t v = next();
    std::memcpy(w.data() + i, &v, 8);
  }
  for (; i < bytes; ++i) w[i] = static_cast<uint8_t>(next());
  std::mt19937 rng(static_cast<uint32_t>(seed));
  testing::SetRandomBlockScales(rng, type, w);
  return w;
}

std::vector<float> FastRandomActivations(uint64_t seed, int64_t m, int64_t k) {
  std::vector<float> x(static_cast<size_t>(m * k));
  uint64_t s = seed * 0xD1B54A32D192ED03ull + 7;
  for (size_t i = 0; i < x.size(); ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    x[i] = (static_cast<float>(s >> 40) / static_cast<float>(1 << 24) - 0.5f) * 4.0f;
    if (i % 97 == 0) x[i] *= 6.0f;  // a few outliers, as activations have
  }
  return x;
}

// The layouts a weight of `type` can be in: always rows, Panel16 where supported.
std::vector<TensorLayout> Layouts(DType type) {
  std::vector<TensorLayout> out = {TensorLayout::kRows};
  if (PanelLayoutSupports(type)) out.push_back(TensorLayout::kPanel16);
  return out;
}

// w_rows (row layout) as a weight in `layout`: itself, or a packed copy owned here.
struct WeightInLayout {
  PackedTensor packed;
  TensorView view;
  WeightInLayout(const TensorView& w_rows, TensorLayout layout) : view(w_rows) {
    if (layout == TensorLayout::kPanel16) {
      packed = PackTensor(w_rows);
      view = packed.view;
    }
  }
};

const char* LayoutName(TensorLayout l) { return l == TensorLayout::kPanel16 ? "panel16" : "rows"; }

// Rows [0, m) of the sample that the m = 512 result is checked on against the reference:
// both ends and the tails of every row grouping the kernels use (4, 6, 8).
std::vector<int64_t> SampleRows() { return {0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 255, 256, 257, 508, 509, 510, 511}; }

// A weight with the given rows [n_rows, k] of `full` (row layout), copied.
std::vector<uint8_t> PickRows(const std::vector<uint8_t>& full, DType type, int64_t k, const std::vector<int64_t>& rows) {
  const size_t rb = BytesForElements(type, k);
  std::vector<uint8_t> out(rb * rows.size());
  for (size_t i = 0; i < rows.size(); ++i) std::memcpy(out.data() + i * rb, full.data() + rb * rows[i], rb);
  return out;
}

struct SweepCase {
  DType type;
  ModelShape shape;
};

void PrintTo(const SweepCase& c, std::ostream* os) {
  *os << DTypeName(c.type) << " " << c.shape.name << " (k " << c.shape.k << ", n " << c.shape.n << ")";
}

std::string CaseName(const ::testing::TestParamInfo<SweepCase>& info) {
  return std::string(DTypeName(info.param.type)) + "_" + info.param.shape.name;
}

class MatMulShapes : public ::testing::TestWithParam<SweepCase> {};
class MatMulFullWidth : public ::testing::TestWithParam<SweepCase> {};

// The real k, 88 output columns, every m; see the file comment.
TEST_P(MatMulShapes, SweepRows) {
  const DType type = GetParam().type;
  const int64_t k = GetParam().shape.k, n = kWindowCols;
  IsaContexts ctxs;
  const auto wrows = FastRandomWeights(static_cast<uint64_t>(k) * 31 + static_cast<uint64_t>(type), type, n, k);
  const TensorView w_rows = MakeView(type, k, n, wrows);
  const auto x = FastRandomActivations(static_cast<uint64_t>(k), kMaxRows, k);
  // The reference on the sample rows.
  const std::vector<int64_t> sample = SampleRows();
  std::vector<float> xs;
  for (int64_t r : sample) xs.insert(xs.end(), x.begin() + r * k, x.begin() + (r + 1) * k);
  const MatMulReference reference(ctxs, w_rows, xs, static_cast<int64_t>(sample.size()));
  for (TensorLayout layout : Layouts(type)) {
    const WeightInLayout in_layout(w_rows, layout);
    const TensorView& w = in_layout.view;
    for (Isa isa : ctxs.isas) {
      if (isa == Isa::kScalar) continue;  // the reference (a plain loop per row and column)
      SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(type) << " " << LayoutName(layout)
                                        << " k=" << k << " n=" << n);
      const KernelContext ctx = ctxs.For(isa);
      std::vector<float> full(static_cast<size_t>(kMaxRows * n), NAN);
      MatMul(ctx, x.data(), kMaxRows, w, full.data());
      reference.Check(ctxs, isa, w);
      if (HasFatalFailure()) return;
      // The sample rows of the 512-row call are those of a call on the sample alone.
      std::vector<float> ys(sample.size() * static_cast<size_t>(n));
      MatMul(ctx, xs.data(), static_cast<int64_t>(sample.size()), w, ys.data());
      for (size_t i = 0; i < sample.size(); ++i) {
        ASSERT_EQ(0, std::memcmp(&ys[i * n], &full[sample[i] * n], sizeof(float) * n)) << "sample row " << sample[i];
      }
      for (int64_t m : kRows) {
        std::vector<float> y(static_cast<size_t>(m * n) + 16, NAN);
        MatMul(ctx, x.data(), m, w, y.data());
        for (int64_t r = 0; r < m; ++r) {
          for (int64_t j = 0; j < n; ++j) {
            ASSERT_EQ(y[r * n + j], full[r * n + j]) << "m=" << m << " row " << r << " col " << j;
          }
        }
        for (int j = 0; j < 16; ++j) ASSERT_TRUE(std::isnan(y[m * n + j])) << "m=" << m << " wrote past y";
      }
    }
  }
}

// The whole (k, n) for a few m on two threads; sampled columns against the reference.
TEST_P(MatMulFullWidth, SampledColumns) {
  const DType type = GetParam().type;
  const int64_t k = GetParam().shape.k, n = GetParam().shape.n;
  IsaContexts ctxs;
  ThreadPool pool(2);
  const auto wrows = FastRandomWeights(static_cast<uint64_t>(n) + static_cast<uint64_t>(type), type, n, k);
  const TensorView w_rows = MakeView(type, k, n, wrows);
  // Columns: both ends, around the two-thread split and every 16-column group edge nearby.
  std::vector<int64_t> cols;
  for (int64_t c : {int64_t{0}, int64_t{1}, int64_t{15}, int64_t{16}, int64_t{31}, n / 2 - 17, n / 2 - 1, n / 2,
                    n / 2 + 15, n / 2 + 16, n - 33, n - 17, n - 16, n - 2, n - 1}) {
    if (c >= 0 && c < n && std::find(cols.begin(), cols.end(), c) == cols.end()) cols.push_back(c);
  }
  const auto wpick = PickRows(wrows, type, k, cols);
  const TensorView w_pick = MakeView(type, k, static_cast<int64_t>(cols.size()), wpick);
  for (int64_t m : {1, 4, 7}) {
    const auto x = FastRandomActivations(static_cast<uint64_t>(m * 1000 + k), m, k);
    const MatMulReference reference(ctxs, w_pick, x, m);
    for (TensorLayout layout : Layouts(type)) {
      const WeightInLayout in_layout(w_rows, layout);
      const TensorView& w = in_layout.view;
      for (Isa isa : ctxs.isas) {
        if (isa == Isa::kScalar) continue;  // the reference itself (and too slow at vocab width)
        // Panel16 weights meet only tables with their own panel kernel in weft (BindOptions);
        // the unpacking fallback for the others is covered by SweepRows.
        if (layout == TensorLayout::kPanel16 && !PanelTypeSetHas(GetKernelTable(isa)->panel_types, type)) continue;
        SCOPED_TRACE(::testing::Message() << IsaName(isa) << " " << DTypeName(type) << " " << LayoutName(layout)
                                          << " m=" << m << " k=" << k << " n=" << n);
        std::vector<float> y(static_cast<size_t>(m * n) + 16, NAN);
        MatMul(ctxs.For(isa, &pool), x.data(), m, w, y.data());
        for (int j = 0; j < 16; ++j) ASSERT_TRUE(std::isnan(y[m * n + j])) << "wrote past y";
        // The sampled columns against the reference on those weight rows.
        std::vector<float> got(static_cast<size_t>(m) * cols.size());
        for (int64_t r = 0; r < m; ++r) {
          for (size_t c = 0; c < cols.size(); ++c) got[r * cols.size() + c] = y[r * n + cols[c]];
        }
        reference.CheckResult(isa, type, got);
        if (HasFatalFailure()) return;
        if (layout == TensorLayout::kRows) {
          // Row layout: a column's result depends only on its own weight row, bit for bit.
          std::vector<float> pick(got.size());
          MatMul(ctxs.For(isa), x.data(), m, w_pick, pick.data());
          ASSERT_EQ(0, std::memcmp(got.data(), pick.data(), sizeof(float) * got.size()));
        }
      }
    }
  }
}

std::vector<SweepCase> AllCases() {
  std::vector<SweepCase> out;
  for (DType t : MatMulTypes()) {
    for (const ModelShape& s : kShapes) {
      // K-quants need k in whole 256-blocks: real files store such tensors (Qwen2.5 0.5B's
      // 896, SmolLM2's 576) in another type.
      if (s.k % GetDTypeInfo(t).block_size == 0) out.push_back({t, s});
    }
  }
  return out;
}

// Output heads (n over 100k) in the types GGUF files use there (the Panel16 ones): 13
// types x 500 MB heads would not fit the CI's time.
std::vector<SweepCase> FullWidthCases() {
  std::vector<SweepCase> out;
  for (const SweepCase& c : AllCases()) {
    if (c.shape.n < 100000 || PanelLayoutSupports(c.type)) out.push_back(c);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(RealModels, MatMulShapes, ::testing::ValuesIn(AllCases()), CaseName);
INSTANTIATE_TEST_SUITE_P(RealModels, MatMulFullWidth, ::testing::ValuesIn(FullWidthCases()), CaseName);

}  // namespace
}  // namespace weft::kernels
