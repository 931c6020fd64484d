// Helpers for the kernel tests: random data, random weight blocks of every type, and a
// context per available ISA.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "base/half.h"
#include "kernels/kernel_table.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"
#include "tensor/tensor_view.h"

namespace weft::kernels::testing {

inline std::vector<float> RandomFloats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Every ISA this machine can run, each with its own scratch, as a KernelContext.
struct IsaContexts {
  std::vector<Isa> isas = AvailableIsas();
  std::vector<Scratch> scratch = std::vector<Scratch>(3);
  KernelContext For(Isa isa, ThreadPool* pool = nullptr) {
    return KernelContext{GetKernelTable(isa), pool, &scratch[static_cast<int>(isa)]};
  }
};

inline void PutF16(uint8_t* p, float v) {
  const uint16_t h = FloatToFp16(v);
  std::memcpy(p, &h, 2);
}

// Overwrites the f16 scale fields of every block of quantised `type` in w with sane
// random values (so that the random quants give values in a realistic range).
inline void SetRandomBlockScales(std::mt19937& rng, DType type, std::vector<uint8_t>& w) {
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  const DTypeInfo& info = GetDTypeInfo(type);
  for (size_t off = 0; off < w.size(); off += static_cast<size_t>(info.block_bytes)) {
    uint8_t* b = w.data() + off;
    const float d = 0.004f * u(rng);
    switch (type) {
      case DType::kQ4_0: case DType::kQ5_0: case DType::kQ8_0: case DType::kIQ4_NL: PutF16(b, d); break;
      case DType::kQ4_1: PutF16(b, d); PutF16(b + 2, -8.0f * d * u(rng)); break;
      case DType::kQ5_1: PutF16(b, d); PutF16(b + 2, -16.0f * d * u(rng)); break;
      case DType::kQ2_K: PutF16(b + 80, d); PutF16(b + 82, d * u(rng)); break;
      case DType::kQ3_K: PutF16(b + 108, d * 0.1f); break;
      case DType::kQ4_K: case DType::kQ5_K: PutF16(b, d * 0.1f); PutF16(b + 2, d * 0.1f * u(rng)); break;
      case DType::kQ6_K: PutF16(b + 208, d * 0.05f); break;
      default: ADD_FAILURE() << "no random weights for " << DTypeName(type);
    }
  }
}

// n rows of k values of `type` with random quants and sane scales (the f16 scale fields
// of the block are overwritten so that values stay in a realistic range).
inline std::vector<uint8_t> RandomWeights(std::mt19937& rng, DType type, int64_t n, int64_t k) {
  const size_t bytes = BytesForElements(type, k) * static_cast<size_t>(n);
  std::vector<uint8_t> w(bytes);
  if (type == DType::kF32 || type == DType::kF16 || type == DType::kBF16) {
    const auto f = RandomFloats(rng, static_cast<size_t>(n * k), 0.05f);
    for (size_t i = 0; i < f.size(); ++i) {
      if (type == DType::kF32) {
        std::memcpy(w.data() + 4 * i, &f[i], 4);
      } else {
        const uint16_t h = type == DType::kF16 ? FloatToFp16(f[i]) : FloatToBf16(f[i]);
        std::memcpy(w.data() + 2 * i, &h, 2);
      }
    }
    return w;
  }
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : w) b = static_cast<uint8_t>(byte(rng));
  SetRandomBlockScales(rng, type, w);
  return w;
}

inline TensorView MakeView(DType type, int64_t k, int64_t n, const std::vector<uint8_t>& bytes) {
  TensorView t;
  t.name = "w";
  t.type = type;
  t.n_dims = 2;
  t.ne = {k, n, 1, 1};
  t.data = bytes.data();
  t.nbytes = bytes.size();
  return t;
}

inline const std::vector<DType>& MatMulTypes() {
  static const std::vector<DType> types = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                                           DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ2_K, DType::kQ3_K,
                                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kIQ4_NL};
  return types;
}

// The scalar reference for y = x[m, k] · W^T (W in the row layout) and the accuracy check
// of another ISA's result against it, with the tolerances of matmul_test.cc (S = sum_i
// |w_i x_i|): f32-activation paths |y - ref| <= 1e-5 S + 1e-6; int8-activation paths
// |y - ref| <= 6 sigma + 1e-5 S + 1e-6 (sigma: the activation rounding's standard
// deviation) and, against the quantised activations evaluated exactly in double,
// |y - emul| <= 2e-5 S_q + 1e-6.
struct MatMulReference {
  int64_t m, k, n;
  std::vector<float> x, wf, ref;

  MatMulReference(IsaContexts& ctxs, const TensorView& w_rows, std::vector<float> x_in, int64_t m_in)
      : m(m_in), k(w_rows.ne[0]), n(w_rows.NumRows()), x(std::move(x_in)) {
    wf.resize(static_cast<size_t>(n * k));
    DequantizeTensor(w_rows, wf.data());
    ref.resize(static_cast<size_t>(m * n));
    MatMul(ctxs.For(Isa::kScalar), x.data(), m, w_rows, ref.data());
  }

  // `w` holds the same weights in any layout; ASSERTs (check HasFatalFailure after).
  void Check(IsaContexts& ctxs, Isa isa, const TensorView& w) const {
    std::vector<float> y(ref.size(), NAN);
    MatMul(ctxs.For(isa), x.data(), m, w, y.data());
    CheckResult(isa, w.type, y);
  }

  // y [m, n]: another ISA's result for these weights (of `type`), however it was computed.
  void CheckResult(Isa isa, DType type, const std::vector<float>& y) const {
    ASSERT_EQ(y.size(), ref.size());
    const int block = GetKernelTable(isa)->matmul_act_block(type);
    // The activations as the int8 path sees them.
    std::vector<float> xq = x, dq(x.size(), 0.0f);
    if (block != 0) {
      const QuantActLayout layout = QuantActLayout::For(block, k);
      std::vector<uint8_t> buf(layout.row_bytes * static_cast<size_t>(m) + 64);
      uint8_t* base = buf.data() + ((64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64);
      for (int64_t r = 0; r < m; ++r) {
        const QuantActRow row = layout.Row(base, r);
        ref::QuantizeActRow(x.data() + r * k, k, block, row);
        for (int64_t i = 0; i < k; ++i) {
          xq[r * k + i] = row.d[i / block] * row.q[i];
          dq[r * k + i] = row.d[i / block];
        }
      }
    }
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, sq = 0, emul = 0, var = 0;
        for (int64_t i = 0; i < k; ++i) {
          const double wi = wf[j * k + i];
          s += std::fabs(wi * x[r * k + i]);
          sq += std::fabs(wi * xq[r * k + i]);
          emul += wi * xq[r * k + i];
          var += (wi * dq[r * k + i]) * (wi * dq[r * k + i]) / 12.0;
        }
        const double got = y[r * n + j], want = ref[r * n + j];
        if (block == 0) {
          ASSERT_NEAR(got, want, 1e-5 * s + 1e-6) << "r=" << r << " j=" << j;
        } else {
          ASSERT_NEAR(got, emul, 2e-5 * sq + 1e-6) << "r=" << r << " j=" << j;
          ASSERT_NEAR(got, want, 6.0 * std::sqrt(var) + 1e-5 * s + 1e-6) << "r=" << r << " j=" << j;
        }
      }
    }
  }
};

}  // namespace weft::kernels::testing
