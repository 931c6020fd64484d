// Portable machine probes (kernels/machine_probe.h) for CPUs without AVX2: plain C++
// loops (which the compiler may vectorise with the baseline ISA). An empty asm statement
// per round makes the operands opaque, so no round can be hoisted or folded.
#include <cstring>

#include "kernels/machine_probe.h"

namespace weft::kernels::ref {
namespace {

constexpr int kLanes = 16;

uint64_t Read(const uint8_t* p, size_t n) {
  uint64_t acc[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n; i += 32) {
    for (int j = 0; j < 4; ++j) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * static_cast<size_t>(j), sizeof w);
      acc[j] ^= w;
    }
  }
  return acc[0] ^ acc[1] ^ acc[2] ^ acc[3];
}

int64_t Int8Dot(int64_t rounds, int32_t seed) {
  int8_t a[4 * kLanes], b[4 * kLanes];
  int32_t acc[kLanes] = {};
  for (int i = 0; i < 4 * kLanes; ++i) {
    a[i] = static_cast<int8_t>(seed + i);
    b[i] = static_cast<int8_t>(seed * 3 - i);
  }
  for (int64_t r = 0; r < rounds; ++r) {
    __asm__ volatile("" : : "r"(a), "r"(b), "r"(acc) : "memory");
    for (int i = 0; i < 4 * kLanes; ++i) acc[i % kLanes] += int32_t{a[i]} * int32_t{b[i]};
  }
  int64_t s = 0;
  for (int32_t v : acc) s += v;
  return s;
}

double Fp32Fma(int64_t rounds, float seed) {
  float acc[kLanes];
  for (int j = 0; j < kLanes; ++j) acc[j] = static_cast<float>(j);
  for (int64_t r = 0; r < rounds; ++r) {
    __asm__ volatile("" : : "r"(acc) : "memory");
    for (float& v : acc) v = v * 0.999999f + seed;
  }
  double s = 0;
  for (float v : acc) s += v;
  return s;
}

}  // namespace

const ProbeKernels& Probes() {
  static const ProbeKernels k{"scalar", Read, Int8Dot, 4 * kLanes * 2.0, Fp32Fma, kLanes * 2.0};
  return k;
}

}  // namespace weft::kernels::ref
