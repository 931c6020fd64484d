// Small arithmetic helpers shared by the quantisers (quant/*.cc). They reproduce the
// rounding that llama.cpp's ggml uses when it writes model files, so that weft's output
// is byte-identical to llama-quantize's:
//   NearestInt: round to nearest, ties to even, for |x| < 2^22 (ggml's nearest_int
//     adds 1.5 * 2^23 in float arithmetic, which rounds the same way).
//   StoreF16: IEEE half, round to nearest even (ggml's GGML_FP32_TO_FP16).
// The quant sources are compiled with -ffp-contract=off (src/CMakeLists.txt): a fused
// multiply-add would round differently from ggml's separate multiply and add.
// Thread-safety: pure functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/half.h"

namespace weft::quant {

// Adding 1.5 * 2^23 leaves x rounded (to nearest, ties to even, by the float addition
// itself) in the low mantissa bits, offset by 2^22. Much faster than nearbyint, which is a
// library call on baseline x86-64.
inline int NearestInt(float x) {
  const float shifted = x + 12582912.0f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007FFFFF) - 0x00400000;
}

inline void StoreF16(uint8_t* dst, float v) {
  const uint16_t h = FloatToFp16(v);
  std::memcpy(dst, &h, sizeof(h));
}

inline float LoadF16(const uint8_t* src) {
  uint16_t h;
  std::memcpy(&h, src, sizeof(h));
  return Fp16ToFloat(h);
}

// An fp16 round trip: what a reader of the block will see for v.
inline float RoundF16(float v) { return Fp16ToFloat(FloatToFp16(v)); }

template <typename T>
inline T Clamp(T v, T lo, T hi) { return v < lo ? lo : (v > hi ? hi : v); }

}  // namespace weft::quant
