// AVX2 machine probes (kernels/machine_probe.h): ymm streaming loads, int8 dot products
// as VPMADDUBSW + VPMADDWD + VPADDD (what the AVX2 kernels use) and FMA chains.
#include <immintrin.h>

#include "kernels/machine_probe.h"

namespace weft::kernels::avx2 {
namespace {

constexpr int kInt8Chains = 6;   // each with its own second operand: 6 + 6 + 2 of 16 ymm
constexpr int kFmaChains = 12;

uint64_t Read(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i < n; i += 256) {
    a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
    a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 128)));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 160)));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 192)));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 224)));
  }
  const __m256i x = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return static_cast<uint64_t>(_mm256_extract_epi64(x, 0) ^ _mm256_extract_epi64(x, 1) ^ _mm256_extract_epi64(x, 2) ^
                               _mm256_extract_epi64(x, 3));
}

int64_t Int8Dot(int64_t rounds, int32_t seed) {
  __m256i a = _mm256_set1_epi32(seed | 0x01010101);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i b[kInt8Chains], acc[kInt8Chains];
  for (int j = 0; j < kInt8Chains; ++j) {
    b[j] = _mm256_set1_epi32(seed ^ (0x01020304 * (j + 1)));
    acc[j] = _mm256_setzero_si256();
  }
  for (int64_t r = 0; r < rounds; ++r) {
    // `a` is opaque to the compiler each round, so the products are not hoisted.
    __asm__ volatile("" : "+x"(a));
#pragma GCC unroll 6
    for (int j = 0; j < kInt8Chains; ++j) {
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b[j]), ones));
    }
  }
  __m256i s = acc[0];
  for (int j = 1; j < kInt8Chains; ++j) s = _mm256_xor_si256(s, acc[j]);
  return _mm256_extract_epi32(s, 0) + _mm256_extract_epi32(s, 7);
}

double Fp32Fma(int64_t rounds, float seed) {
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(seed);
  __m256 acc[kFmaChains];
  for (int j = 0; j < kFmaChains; ++j) acc[j] = _mm256_set1_ps(static_cast<float>(j));
  for (int64_t r = 0; r < rounds; ++r) {
#pragma GCC unroll 12
    for (int j = 0; j < kFmaChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, c);
  }
  __m256 s = acc[0];
  for (int j = 1; j < kFmaChains; ++j) s = _mm256_add_ps(s, acc[j]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

}  // namespace

const ProbeKernels& Probes() {
  static const ProbeKernels k{"avx2", Read, Int8Dot, kInt8Chains * 32 * 2.0, Fp32Fma, kFmaChains * 8 * 2.0};
  return k;
}

}  // namespace weft::kernels::avx2
