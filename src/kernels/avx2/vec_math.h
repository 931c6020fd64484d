// Small AVX2 vector helpers shared by the avx2/ translation units: tail masks and masked
// loads/stores, a vector exp, horizontal sum/max, and loads of KV-cache rows (F32 / F16 /
// BF16) as f32. Include only from avx2/*.cc (compiled with the AVX2 flags). Pure functions.
#pragma once

#include <immintrin.h>

#include "kernels/kv_type.h"

#include <cstdint>
#include <cstring>

#include "tensor/dtype.h"

namespace weft::kernels::avx2 {

// All-ones in the lanes i < left.
inline __m256i TailMask(int64_t left) {
  const int l = left >= 8 ? 8 : static_cast<int>(left);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(l), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
inline __m256 Load(const float* p, int64_t left) {
  return left >= 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, TailMask(left));
}
inline void Store(float* p, int64_t left, __m256 v) {
  if (left >= 8) {
    _mm256_storeu_ps(p, v);
  } else {
    _mm256_maskstore_ps(p, TailMask(left), v);
  }
}

// exp(x) = 2^n * P(r), r = x - n ln2, P the degree-7 Taylor polynomial; x clamped to the
// normal range.
inline __m256 Exp(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f)), _mm256_set1_ps(-87.3365478515625f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  // n in [-126, 128); 2^n built in two halves so that n = 128 (x near the top) is fine.
  const __m256i ni = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(ni, 1);
  const __m256i n2 = _mm256_sub_epi32(ni, n1);
  const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, _mm256_set1_epi32(127)), 23));
  const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, _mm256_set1_epi32(127)), 23));
  return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

inline float Hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline float Hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

inline __m256 LoadKv8(const void* p, DType type, int64_t i) {
  if (type == DType::kF32) return _mm256_loadu_ps(static_cast<const float*>(p) + i);
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + i));
  if (type == DType::kF16) return _mm256_cvtph_ps(h);
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

inline float LoadKv1(const void* p, DType type, int64_t i) {
  if (type == DType::kF32) return static_cast<const float*>(p)[i];
  const uint16_t h = static_cast<const uint16_t*>(p)[i];
  if (type == DType::kF16) return _cvtsh_ss(h);
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// 8 values from i of a KV cache row of `type` as f32: the stored value for F32 / F16 /
// BF16, the code value before its scale for the quantised types (kv_type.h, KvCodeValue).
inline __m256 LoadKv8(const void* p, KvType type, int64_t i) {
  switch (type) {
    case KvType::kF32: return LoadKv8(p, DType::kF32, i);
    case KvType::kF16: return LoadKv8(p, DType::kF16, i);
    case KvType::kBF16: return LoadKv8(p, DType::kBF16, i);
    case KvType::kQ8:
      return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(p) + i))));
    case KvType::kFp8: {
      const __m128i x = _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(static_cast<const int8_t*>(p) + i)));
      return _mm256_cvtph_ps(_mm_and_si128(_mm_slli_epi16(x, 7), _mm_set1_epi16(static_cast<short>(0xBF80))));
    }
    case KvType::kQ4: {
      // Values i .. i + 7 (i even) are the nibbles of bytes i / 2 .. i / 2 + 3, low first.
      int32_t w;
      std::memcpy(&w, static_cast<const uint8_t*>(p) + i / 2, 4);
      const __m128i b = _mm_cvtsi32_si128(w);
      const __m128i nib = _mm_set1_epi8(15);
      const __m128i lo = _mm_and_si128(b, nib), hi = _mm_and_si128(_mm_srli_epi16(b, 4), nib);
      const __m256i n = _mm256_cvtepu8_epi32(_mm_unpacklo_epi8(lo, hi));
      return _mm256_cvtepi32_ps(_mm256_sub_epi32(n, _mm256_set1_epi32(8)));
    }
  }
  return _mm256_setzero_ps();
}

// Dimension i of the 8 K positions whose dimension 0 is at col, col + 1, .. (one block;
// K's code rows lie k_dim_bytes apart, ops.h): as LoadKv8 converts it, before any scale.
// kQ4: code row i / 2, its low nibbles for even i, high for odd.
inline __m256 LoadKCol8(const uint8_t* col, int64_t k_dim_bytes, KvType type, int i) {
  if (type != KvType::kQ4) return LoadKv8(col + i * k_dim_bytes, type, 0);
  const __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(col + (i >> 1) * k_dim_bytes)));
  const __m256i n = (i & 1) ? _mm256_srli_epi32(b, 4) : _mm256_and_si256(b, _mm256_set1_epi32(15));
  return _mm256_cvtepi32_ps(_mm256_sub_epi32(n, _mm256_set1_epi32(8)));
}

inline float LoadKv1(const void* p, KvType type, int64_t i) {
  switch (type) {
    case KvType::kF32: return LoadKv1(p, DType::kF32, i);
    case KvType::kF16: return LoadKv1(p, DType::kF16, i);
    case KvType::kBF16: return LoadKv1(p, DType::kBF16, i);
    default: return KvCodeValue(type, KvCodeAt(type, static_cast<const uint8_t*>(p), static_cast<int>(i), 1));
  }
}

// 8 f16 scales as the f32 factors they contribute (kv_type.h, KvScaleFactor).
inline __m256 LoadKvScales8(const void* p, KvType type) {
  const __m256 s = _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p)));
  return type == KvType::kFp8 ? _mm256_mul_ps(s, _mm256_set1_ps(256.0f)) : s;
}

}  // namespace weft::kernels::avx2
