// Small AVX-512 vector helpers shared by the avx512/ translation units: tail masks, a
// vector exp, and loads of KV-cache rows (F32 / F16 / BF16) as f32. Include only from
// avx512/*.cc (compiled with the AVX-512 flags). Pure functions.
#pragma once

#include <immintrin.h>

#include "kernels/kv_type.h"

#include <cstdint>

#include "tensor/dtype.h"

namespace weft::kernels::avx512 {

inline __mmask16 TailMask(int64_t left) {
  return left >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << left) - 1);
}

// exp(x) by 2^n * P(r), r = x - n ln2 in [-ln2/2, ln2/2], P the degree-7 Taylor polynomial
// (relative error < 1e-8 before rounding); scalef handles overflow and underflow.
inline __m512 Exp(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

// Masked loads of 16 lanes (lanes outside m are 0), plain loads when m holds all 16. On
// AMD Zen 5, decode attention reading the KV cache from DRAM with masked loads ran at half
// the speed of the same reads as plain loads when software prefetch was off (kernels_bench
// DecodeAtDepth f16, 2 threads: 8.5-15 against 5.5-7 ms), as if masked loads that miss
// trained no hardware prefetcher.
inline __m512 LoadLanesF32(const float* p, __mmask16 m) {
  return m == __mmask16(0xFFFF) ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(m, p);
}
inline __m256i LoadLanes16(const void* p, __mmask16 m) {
  return m == __mmask16(0xFFFF) ? _mm256_loadu_si256(static_cast<const __m256i*>(p)) : _mm256_maskz_loadu_epi16(m, p);
}
inline __m128i LoadLanes8(const void* p, __mmask16 m) {
  return m == __mmask16(0xFFFF) ? _mm_loadu_si128(static_cast<const __m128i*>(p)) : _mm_maskz_loadu_epi8(m, p);
}

// Values i .. i + 15 of a KV row of `type` (F32, F16 or BF16) as f32; lanes outside m are 0.
inline __m512 LoadKv(const void* p, DType type, int i, __mmask16 m) {
  if (type == DType::kF32) return LoadLanesF32(static_cast<const float*>(p) + i, m);
  const __m256i h = LoadLanes16(static_cast<const uint16_t*>(p) + i, m);
  if (type == DType::kF16) return _mm512_cvtph_ps(h);
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// 16 values (masked) from i of a KV cache row of `type`, as f32: the stored value for
// F32 / F16 / BF16; for the quantised types the code value before its scale
// (kv_type.h, KvCodeValue: int8 exactly, E4M3 x 2^-8 through its f16 pattern).
inline __m512 LoadKv(const void* p, KvType type, int i, __mmask16 m) {
  switch (type) {
    case KvType::kF32: return LoadKv(p, DType::kF32, i, m);
    case KvType::kF16: return LoadKv(p, DType::kF16, i, m);
    case KvType::kBF16: return LoadKv(p, DType::kBF16, i, m);
    case KvType::kQ8:
      return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(LoadLanes8(static_cast<const int8_t*>(p) + i, m)));
    case KvType::kFp8: {
      const __m256i x = _mm256_cvtepi8_epi16(LoadLanes8(static_cast<const int8_t*>(p) + i, m));
      return _mm512_cvtph_ps(_mm256_and_si256(_mm256_slli_epi16(x, 7), _mm256_set1_epi16(static_cast<short>(0xBF80))));
    }
    case KvType::kQ4: {
      // Values i .. i + 15 (i even; m a tail mask) are the nibbles of the bytes from i / 2,
      // low first; only the bytes that hold live values are read.
      const int live = __builtin_popcount(m);
      const __mmask16 bytes = static_cast<__mmask16>((1u << ((live + 1) / 2)) - 1);
      const uint8_t* at = static_cast<const uint8_t*>(p) + i / 2;
      const __m128i b = live == 16 ? _mm_loadl_epi64(reinterpret_cast<const __m128i*>(at)) : _mm_maskz_loadu_epi8(bytes, at);
      const __m128i nib = _mm_set1_epi8(15);
      const __m128i lo = _mm_and_si128(b, nib), hi = _mm_and_si128(_mm_srli_epi16(b, 4), nib);
      const __m512i n = _mm512_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
      return _mm512_maskz_cvtepi32_ps(m, _mm512_sub_epi32(n, _mm512_set1_epi32(8)));
    }
  }
  return _mm512_setzero_ps();
}

// Dimension i of the 16 K positions (lanes m) whose dimension 0 is at col, col + 1, ..
// (one block; K's code rows lie k_dim_bytes apart, ops.h), as LoadKv converts it, before
// any scale. kQ4: code row i / 2, its low nibbles for even i, high for odd.
inline __m512 LoadKCol(const uint8_t* col, int64_t k_dim_bytes, KvType type, int i, __mmask16 m) {
  if (type != KvType::kQ4) return LoadKv(col + i * k_dim_bytes, type, 0, m);
  const __m512i b = _mm512_cvtepu8_epi32(LoadLanes8(col + (i >> 1) * k_dim_bytes, m));
  const __m512i n = (i & 1) ? _mm512_srli_epi32(b, 4) : _mm512_and_si512(b, _mm512_set1_epi32(15));
  return _mm512_maskz_cvtepi32_ps(m, _mm512_sub_epi32(n, _mm512_set1_epi32(8)));
}

// 16 f16 scales (masked) as the f32 factors they contribute (kv_type.h, KvScaleFactor).
inline __m512 LoadKvScales(const void* p, KvType type, __mmask16 m) {
  const __m512 s = _mm512_cvtph_ps(LoadLanes16(p, m));
  return type == KvType::kFp8 ? _mm512_mul_ps(s, _mm512_set1_ps(256.0f)) : s;
}

}  // namespace weft::kernels::avx512
