// AVX-512 machine probes (kernels/machine_probe.h): zmm streaming loads, VNNI VPDPBUSD
// chains and FMA chains. Twelve independent accumulators per loop cover the latency of
// VPDPBUSD / VFMADD (4-5 cycles) at up to two issues per cycle.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "kernels/machine_probe.h"

namespace weft::kernels::avx512 {
namespace {

constexpr int kChains = 12;

uint64_t Read(const uint8_t* p, size_t n) {
  __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 256) {
    a0 = _mm512_xor_si512(a0, _mm512_load_si512(p + i));
    a1 = _mm512_xor_si512(a1, _mm512_load_si512(p + i + 64));
    a2 = _mm512_xor_si512(a2, _mm512_load_si512(p + i + 128));
    a3 = _mm512_xor_si512(a3, _mm512_load_si512(p + i + 192));
  }
  const __m512i x = _mm512_xor_si512(_mm512_xor_si512(a0, a1), _mm512_xor_si512(a2, a3));
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(x));
}

int64_t Int8Dot(int64_t rounds, int32_t seed) {
  const __m512i a = _mm512_set1_epi32(seed | 0x01010101);  // unsigned bytes
  const __m512i b = _mm512_set1_epi32(seed ^ 0x7f030201);  // signed bytes
  __m512i acc[kChains];
  for (auto& v : acc) v = _mm512_setzero_si512();
  for (int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
  }
  __m512i s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_xor_si512(s, acc[j]);
  return _mm512_reduce_add_epi32(s);
}

double Fp32Fma(int64_t rounds, float seed) {
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(seed);
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(static_cast<float>(j));
  for (int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, c);
  }
  __m512 s = acc[0];
  for (int j = 1; j < kChains; ++j) s = _mm512_add_ps(s, acc[j]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace

const ProbeKernels& Probes() {
  static const ProbeKernels k{"avx512-vnni", Read, Int8Dot, kChains * 64 * 2.0, Fp32Fma, kChains * 16 * 2.0};
  return k;
}

}  // namespace weft::kernels::avx512
