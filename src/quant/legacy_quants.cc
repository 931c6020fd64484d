// Round-to-nearest quantisers for the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1
// and Q8_0 (block layouts: tensor/dequantize.cc). Rules, as ggml applies them when it
// writes files (so that weft's bytes equal llama-quantize's):
//   symmetric (Q4_0, Q5_0): the element of largest magnitude, with its sign, maps to
//     the most negative level: d = that element / -2^(bits-1); q = trunc(x/d + 2^(bits-1) + 0.5)
//     capped at 2^bits - 1.
//   affine (Q4_1, Q5_1): d = (max - min) / (2^bits - 1), m = min,
//     q = trunc((x - min)/d + 0.5) (capped at 15 for 4 bits).
//   Q8_0: d = max|x| / 127, q = round-half-away(x/d).
// In all of them x/d is computed as x * (1/d) with d in float, before d is stored as fp16.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/quant_math.h"
#include "quant/quant_rows.h"

namespace weft::quant {
namespace {

constexpr int kQK = 32;

// Signed-max block scale for the symmetric types: the largest-magnitude element (the
// first one when several tie) divided by -levels_half.
float SymmetricScale(const float* x, float levels_half) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  return max / -levels_half;
}

void MinMax(const float* x, float* min, float* max) {
  float lo = 3.402823466e38f, hi = -3.402823466e38f;
  for (int j = 0; j < kQK; ++j) {
    if (x[j] < lo) lo = x[j];
    if (x[j] > hi) hi = x[j];
  }
  *min = lo;
  *max = hi;
}

// Truncation of a non-negative float to a small int, as a C cast does.
inline int Trunc(float v) { return static_cast<int>(static_cast<int8_t>(v)); }

}  // namespace

void QuantizeBlockQ4_0(const float* x, uint8_t* out) {
  const float d = SymmetricScale(x, 8.0f);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreF16(out, d);
  uint8_t* qs = out + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = std::min(15, Trunc(x[j] * id + 8.5f));
    const int hi = std::min(15, Trunc(x[j + kQK / 2] * id + 8.5f));
    qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void QuantizeBlockQ4_1(const float* x, uint8_t* out) {
  float min, max;
  MinMax(x, &min, &max);
  const float d = (max - min) / 15.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreF16(out, d);
  StoreF16(out + 2, min);
  uint8_t* qs = out + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = std::min(15, Trunc((x[j] - min) * id + 0.5f));
    const int hi = std::min(15, Trunc((x[j + kQK / 2] - min) * id + 0.5f));
    qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void QuantizeBlockQ5_0(const float* x, uint8_t* out) {
  const float d = SymmetricScale(x, 16.0f);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreF16(out, d);
  uint32_t qh = 0;
  uint8_t* qs = out + 6;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = std::min(31, Trunc(x[j] * id + 16.5f));
    const int hi = std::min(31, Trunc(x[j + kQK / 2] * id + 16.5f));
    qs[j] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
    qh |= static_cast<uint32_t>(lo >> 4) << j;
    qh |= static_cast<uint32_t>(hi >> 4) << (j + kQK / 2);
  }
  std::memcpy(out + 2, &qh, sizeof(qh));
}

void QuantizeBlockQ5_1(const float* x, uint8_t* out) {
  float min, max;
  MinMax(x, &min, &max);
  const float d = (max - min) / 31.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreF16(out, d);
  StoreF16(out + 2, min);
  uint32_t qh = 0;
  uint8_t* qs = out + 8;
  for (int j = 0; j < kQK / 2; ++j) {
    // No cap: (x - min) / d is at most 31 up to rounding, and +0.5 truncates to 31.
    const int lo = static_cast<uint8_t>((x[j] - min) * id + 0.5f);
    const int hi = static_cast<uint8_t>((x[j + kQK / 2] - min) * id + 0.5f);
    qs[j] = static_cast<uint8_t>((lo & 15) | ((hi & 15) << 4));
    qh |= static_cast<uint32_t>((lo >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((hi >> 4) & 1) << (j + kQK / 2);
  }
  std::memcpy(out + 4, &qh, sizeof(qh));
}

void QuantizeBlockQ8_0(const float* x, uint8_t* out) {
  float amax = 0.0f;
  for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  StoreF16(out, d);
  auto* qs = reinterpret_cast<int8_t*>(out + 2);
  for (int j = 0; j < kQK; ++j) qs[j] = static_cast<int8_t>(std::round(x[j] * id));
}

}  // namespace weft::quant
