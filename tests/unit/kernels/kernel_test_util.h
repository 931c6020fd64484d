// Helpers for the kernel tests: random data, random weight blocks of every type, and a
// context per available ISA.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
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
  std::uniform_real_distribution<float> u(0.5f, 1.5f);
  const DTypeInfo& info = GetDTypeInfo(type);
  for (size_t off = 0; off < bytes; off += static_cast<size_t>(info.block_bytes)) {
    uint8_t* b = w.data() + off;
    const float d = 0.004f * u(rng);
    switch (type) {
      case DType::kQ4_0: case DType::kQ5_0: case DType::kQ8_0: PutF16(b, d); break;
      case DType::kQ4_1: PutF16(b, d); PutF16(b + 2, -8.0f * d * u(rng)); break;
      case DType::kQ5_1: PutF16(b, d); PutF16(b + 2, -16.0f * d * u(rng)); break;
      case DType::kQ2_K: PutF16(b + 80, d); PutF16(b + 82, d * u(rng)); break;
      case DType::kQ3_K: PutF16(b + 108, d * 0.1f); break;
      case DType::kQ4_K: case DType::kQ5_K: PutF16(b, d * 0.1f); PutF16(b + 2, d * 0.1f * u(rng)); break;
      case DType::kQ6_K: PutF16(b + 208, d * 0.05f); break;
      default: ADD_FAILURE() << "no random weights for " << DTypeName(type);
    }
  }
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
                                           DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};
  return types;
}

}  // namespace weft::kernels::testing
