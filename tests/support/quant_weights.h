// Shared inputs of the calibrated-quantisation tests (gptq_test, awq_test): the block
// types weft quantises to, and seeded Gaussian weights of a trained layer's scale.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tensor/dtype.h"

namespace weft::testing {

// Every block type weft quantises to (legacy and K types; IQ4_NL has no GPTQ path).
inline constexpr DType kQuantBlockTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                             DType::kQ2_K, DType::kQ3_K, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

// [rows, k] weights ~ N(0, 0.02^2), deterministic for a seed.
inline std::vector<float> GaussianWeights(int64_t rows, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(rows * k));
  for (auto& v : w) v = dist(rng);
  return w;
}

}  // namespace weft::testing
