// AVX2-level decoders of the GGUF quantised blocks into unsigned 8-bit lanes, shared by
// the avx2/ and avx512/ translation units. Include ONLY from those TUs (they are
// compiled with -mavx2 and up); everything here has internal linkage so that no
// out-of-line copy compiled with one TU's flags can be picked by the linker for another.
//
// Legacy blocks (32 values): x_j = dw * q_j + cw with q_j unsigned, except Q8_0, whose
// q_j is signed (kSigned) and cw = 0. Then dot(x, a) over a block of quantised
// activations (scale da, values a_j, ds = da * sum a_j) is
//   dw * da * sum(q_j a_j) + cw * ds.
// K-quant super-blocks (256 values) are decoded per 32-value chunk c (values 32c..32c+31)
// into unsigned q; with per-16-value sub-block integer scales sc16 and corrections c16:
//   dot = da * (d * sum_s sc16[s] * sum(q a over s) - dcorr * sum_s c16[s] * bsum[s]).
#pragma once

#if !defined(__AVX2__) || !defined(__F16C__)
#error "kernels/x86/quant_blocks.h needs -mavx2 -mf16c (include it only from avx2/ or avx512/)"
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>

namespace weft::kernels {
namespace {

inline float F16At(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

inline __m256i Nibbles32(const uint8_t* qs16) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs16));
  const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// 32 bits -> 32 bytes of 0x10 where the bit is set.
inline __m256i FifthBits(uint32_t qh) {
  const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(qh)), shuf);
  const __m256i bit = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ULL));
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

struct Q4_0Dec {
  static constexpr int kBytes = 18;
  static constexpr bool kSigned = false;
  static __m256i Load(const uint8_t* b, float* dw, float* cw) {
    *dw = F16At(b);
    *cw = -8.0f * *dw;
    return Nibbles32(b + 2);
  }
};
struct Q4_1Dec {
  static constexpr int kBytes = 20;
  static constexpr bool kSigned = false;
  static __m256i Load(const uint8_t* b, float* dw, float* cw) {
    *dw = F16At(b);
    *cw = F16At(b + 2);
    return Nibbles32(b + 4);
  }
};
struct Q5_0Dec {
  static constexpr int kBytes = 22;
  static constexpr bool kSigned = false;
  static __m256i Load(const uint8_t* b, float* dw, float* cw) {
    *dw = F16At(b);
    *cw = -16.0f * *dw;
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    return _mm256_or_si256(Nibbles32(b + 6), FifthBits(qh));
  }
};
struct Q5_1Dec {
  static constexpr int kBytes = 24;
  static constexpr bool kSigned = false;
  static __m256i Load(const uint8_t* b, float* dw, float* cw) {
    *dw = F16At(b);
    *cw = F16At(b + 2);
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    return _mm256_or_si256(Nibbles32(b + 8), FifthBits(qh));
  }
};
struct Q8_0Dec {
  static constexpr int kBytes = 34;
  static constexpr bool kSigned = true;
  static __m256i Load(const uint8_t* b, float* dw, float* cw) {
    *dw = F16At(b);
    *cw = 0.0f;
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
  }
};

// ---- K-quants --------------------------------------------------------------------------

struct KScales {
  alignas(32) int16_t sc16[16];  // per 16-value sub-block scale
  alignas(32) int16_t c16[16];   // per 16-value sub-block correction
  float d, dcorr;
};

inline __m256i Shr2(__m256i v, int s) { return _mm256_and_si256(_mm256_srli_epi16(v, s), _mm256_set1_epi8(3)); }
inline __m256i Load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

// Q4_K / Q5_K 6-bit scale and min of sub-block j (0..7) from 12 packed bytes.
inline void ScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

struct Q2_KDec {
  static constexpr int kBytes = 84;
  static void Scales(const uint8_t* b, KScales* s) {
    for (int j = 0; j < 16; ++j) {
      s->sc16[j] = b[j] & 0xF;
      s->c16[j] = b[j] >> 4;
    }
    s->d = F16At(b + 80);
    s->dcorr = F16At(b + 82);
  }
  static __m256i Chunk(const uint8_t* b, int c) { return Shr2(Load32(b + 16 + 32 * (c >> 2)), 2 * (c & 3)); }
};

struct Q3_KDec {
  static constexpr int kBytes = 110;
  static void Scales(const uint8_t* b, KScales* s) {
    const uint8_t* p = b + 96;
    for (int i = 0; i < 16; ++i) {
      const int low = (p[i % 8] >> (4 * (i / 8))) & 0xF;
      const int high = (p[8 + i % 4] >> (2 * (i / 4))) & 3;
      const int sc = (low | (high << 4)) - 32;
      s->sc16[i] = static_cast<int16_t>(sc);
      s->c16[i] = static_cast<int16_t>(4 * sc);
    }
    s->d = F16At(b + 108);
    s->dcorr = s->d;
  }
  static __m256i Chunk(const uint8_t* b, int c) {
    const int h = c >> 2, p = c & 3;
    const __m256i low = Shr2(Load32(b + 32 + 32 * h), 2 * p);
    const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(Load32(b), 4 * h + p), _mm256_set1_epi8(1));
    return _mm256_or_si256(low, _mm256_slli_epi16(hb, 2));
  }
};

struct Q4_KDec {
  static constexpr int kBytes = 144;
  static void Scales(const uint8_t* b, KScales* s) {
    for (int j = 0; j < 8; ++j) {
      int sc, m;
      ScaleMinK4(j, b + 4, &sc, &m);
      s->sc16[2 * j] = s->sc16[2 * j + 1] = static_cast<int16_t>(sc);
      s->c16[2 * j] = s->c16[2 * j + 1] = static_cast<int16_t>(m);
    }
    s->d = F16At(b);
    s->dcorr = F16At(b + 2);
  }
  static __m256i Chunk(const uint8_t* b, int c) {
    const __m256i v = Load32(b + 16 + 32 * (c >> 1));
    return _mm256_and_si256(_mm256_srli_epi16(v, 4 * (c & 1)), _mm256_set1_epi8(0x0F));
  }
};

struct Q5_KDec {
  static constexpr int kBytes = 176;
  static void Scales(const uint8_t* b, KScales* s) { Q4_KDec::Scales(b, s); }
  static __m256i Chunk(const uint8_t* b, int c) {
    const __m256i v = Load32(b + 48 + 32 * (c >> 1));
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(v, 4 * (c & 1)), _mm256_set1_epi8(0x0F));
    const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(Load32(b + 16), c), _mm256_set1_epi8(1));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hb, 4));
  }
};

struct Q6_KDec {
  static constexpr int kBytes = 210;
  static void Scales(const uint8_t* b, KScales* s) {
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    for (int j = 0; j < 16; ++j) {
      s->sc16[j] = sc[j];
      s->c16[j] = static_cast<int16_t>(32 * sc[j]);
    }
    s->d = F16At(b + 208);
    s->dcorr = s->d;
  }
  static __m256i Chunk(const uint8_t* b, int c) {
    const int h = c >> 2, j = c & 3;
    const __m256i ql = Load32(b + 64 * h + 32 * (j & 1));
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(ql, 4 * (j >> 1)), _mm256_set1_epi8(0x0F));
    const __m256i hi = Shr2(Load32(b + 128 + 32 * h), 2 * j);
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
  }
};

}  // namespace
}  // namespace weft::kernels
