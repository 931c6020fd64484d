// AVX2-level decoders of the GGUF quantised blocks into unsigned 8-bit lanes, shared by
// the avx2/ and avx512/ translation units. Include ONLY from those TUs (they are
// compiled with -mavx2 and up); everything here has internal linkage so that no
// out-of-line copy compiled with one TU's flags can be picked by the linker for another.
//
// Legacy blocks (32 values): x_j = dw * q_j + cw with q_j unsigned, except Q8_0 and
// IQ4_NL, whose q_j are signed (kSigned; IQ4_NL's are its codebook levels) and cw = 0. Then dot(x, a) over a block of quantised
// activations (scale da, values a_j, ds = da * sum a_j) is
//   dw * da * sum(q_j a_j) + cw * ds.
// K-quant super-blocks (256 values) are decoded per 32-value chunk c (values 32c..32c+31)
// into unsigned q; with per-16-value sub-block integer scales sc and corrections c:
//   dot = da * (d * sum_s sc[s] * sum(q a over s) - dcorr * sum_s c[s] * bsum[s]).
#pragma once

#if !defined(__AVX2__) || !defined(__F16C__)
#error "kernels/x86/quant_blocks.h needs -mavx2 -mf16c (include it only from avx2/ or avx512/)"
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "tensor/iq4_nl.h"

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

// Each legacy decoder: kBytes per block; the f16 scale dw at byte 0; kMinAt = byte
// offset of the f16 min (cw = min) or -1 (cw = kCwPerDw * dw); Quants = the 32 values.
struct Q4_0Dec {
  static constexpr int kBytes = 18, kMinAt = -1;
  static constexpr float kCwPerDw = -8.0f;
  static constexpr bool kSigned = false;
  static __m256i Quants(const uint8_t* b) { return Nibbles32(b + 2); }
};
struct Q4_1Dec {
  static constexpr int kBytes = 20, kMinAt = 2;
  static constexpr float kCwPerDw = 0.0f;
  static constexpr bool kSigned = false;
  static __m256i Quants(const uint8_t* b) { return Nibbles32(b + 4); }
};
struct Q5_0Dec {
  static constexpr int kBytes = 22, kMinAt = -1;
  static constexpr float kCwPerDw = -16.0f;
  static constexpr bool kSigned = false;
  static __m256i Quants(const uint8_t* b) {
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    return _mm256_or_si256(Nibbles32(b + 6), FifthBits(qh));
  }
};
struct Q5_1Dec {
  static constexpr int kBytes = 24, kMinAt = 2;
  static constexpr float kCwPerDw = 0.0f;
  static constexpr bool kSigned = false;
  static __m256i Quants(const uint8_t* b) {
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    return _mm256_or_si256(Nibbles32(b + 8), FifthBits(qh));
  }
};
struct Q8_0Dec {
  static constexpr int kBytes = 34, kMinAt = -1;
  static constexpr float kCwPerDw = 0.0f;
  static constexpr bool kSigned = true;  // values are int8
  static __m256i Quants(const uint8_t* b) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)); }
};

// IQ4_NL: each nibble is an index into the 16-level codebook (tensor/iq4_nl.h), looked
// up with one byte shuffle; the values are int8 in [-127, 113].
struct IQ4_NLDec {
  static constexpr int kBytes = 18, kMinAt = -1;
  static constexpr float kCwPerDw = 0.0f;
  static constexpr bool kSigned = true;
  static __m256i Quants(const uint8_t* b) {
    const __m128i levels = _mm_loadu_si128(reinterpret_cast<const __m128i*>(kIq4NlValues));
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(levels), Nibbles32(b + 2));
  }
};

// One block: its values, dw and cw.
template <class Dec>
inline __m256i LoadLegacy(const uint8_t* b, float* dw, float* cw) {
  *dw = F16At(b);
  *cw = Dec::kMinAt >= 0 ? F16At(b + (Dec::kMinAt >= 0 ? Dec::kMinAt : 0)) : Dec::kCwPerDw * *dw;
  return Dec::Quants(b);
}

// ---- K-quants --------------------------------------------------------------------------

// Scales of a K-quant super-block, all in registers: sc8[s] is the integer scale of
// 16-value sub-block s (signed int8), c8[s] its correction before the factor kCorrMul,
// d the factor of the main term, dcorr that of the correction term (kCorrMul folded in).
struct KScales {
  __m128i sc8, c8;
  float d, dcorr;
};

inline __m256i Shr2(__m256i v, int s) { return _mm256_and_si256(_mm256_srli_epi16(v, s), _mm256_set1_epi8(3)); }
inline __m256i Load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline uint32_t U32At(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
// Each byte i of the result is byte i / 2 of v (a 32-value sub-block's scale used for
// both of its 16-value halves).
inline __m128i DupBytes(__m128i v) { return _mm_unpacklo_epi8(v, v); }

struct Q2_KDec {
  static constexpr int kBytes = 84;
  static KScales Scales(const uint8_t* b) {
    const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b));
    const __m128i lo = _mm_set1_epi8(0x0F);
    return {_mm_and_si128(p, lo), _mm_and_si128(_mm_srli_epi16(p, 4), lo), F16At(b + 80), F16At(b + 82)};
  }
  static __m256i Chunk(const uint8_t* b, int c) { return Shr2(Load32(b + 16 + 32 * (c >> 2)), 2 * (c & 3)); }
};

struct Q3_KDec {
  static constexpr int kBytes = 110;
  static KScales Scales(const uint8_t* b) {
    // Sub-block i: low 4 bits = nibble i / 8 of byte i % 8, high 2 bits = bits 2 (i / 4)
    // of byte 8 + i % 4; the scale is that 6-bit value minus 32.
    const uint32_t a0 = U32At(b + 96), a1 = U32At(b + 100), a2 = U32At(b + 104);
    const uint32_t m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
    const __m128i v = _mm_setr_epi32(static_cast<int>((a0 & m4) | ((a2 & m2) << 4)),
                                     static_cast<int>((a1 & m4) | (((a2 >> 2) & m2) << 4)),
                                     static_cast<int>(((a0 >> 4) & m4) | (((a2 >> 4) & m2) << 4)),
                                     static_cast<int>(((a1 >> 4) & m4) | (((a2 >> 6) & m2) << 4)));
    const __m128i sc = _mm_sub_epi8(v, _mm_set1_epi8(32));
    const float d = F16At(b + 108);
    return {sc, sc, d, 4.0f * d};  // x = d * sc * (q - 4)
  }
  static __m256i Chunk(const uint8_t* b, int c) {
    const int h = c >> 2, p = c & 3;
    const __m256i low = Shr2(Load32(b + 32 + 32 * h), 2 * p);
    const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(Load32(b), 4 * h + p), _mm256_set1_epi8(1));
    return _mm256_or_si256(low, _mm256_slli_epi16(hb, 2));
  }
};

// Q4_K / Q5_K: eight 6-bit scales and mins in 12 bytes. Bytes 0-3: scales 0-3 (low 6
// bits), bytes 4-7: mins 0-3; scales / mins 4-7 take their low 4 bits from the nibbles of
// bytes 8-11 and their high 2 bits from the top bits of bytes 0-3 / 4-7.
inline KScales Q45Scales(const uint8_t* b) {
  const uint32_t a0 = U32At(b + 4), a1 = U32At(b + 8), a2 = U32At(b + 12);
  const uint32_t m6 = 0x3F3F3F3Fu, m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
  const uint32_t sc_lo = a0 & m6, mn_lo = a1 & m6;
  const uint32_t sc_hi = (a2 & m4) | (((a0 >> 6) & m2) << 4);
  const uint32_t mn_hi = ((a2 >> 4) & m4) | (((a1 >> 6) & m2) << 4);
  const __m128i v = _mm_setr_epi32(static_cast<int>(sc_lo), static_cast<int>(sc_hi), static_cast<int>(mn_lo),
                                   static_cast<int>(mn_hi));
  return {DupBytes(v), DupBytes(_mm_srli_si128(v, 8)), F16At(b), F16At(b + 2)};
}

struct Q4_KDec {
  static constexpr int kBytes = 144;
  static KScales Scales(const uint8_t* b) { return Q45Scales(b); }
  static __m256i Chunk(const uint8_t* b, int c) {
    const __m256i v = Load32(b + 16 + 32 * (c >> 1));
    return _mm256_and_si256(_mm256_srli_epi16(v, 4 * (c & 1)), _mm256_set1_epi8(0x0F));
  }
};

struct Q5_KDec {
  static constexpr int kBytes = 176;
  static KScales Scales(const uint8_t* b) { return Q45Scales(b); }
  static __m256i Chunk(const uint8_t* b, int c) {
    const __m256i v = Load32(b + 48 + 32 * (c >> 1));
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(v, 4 * (c & 1)), _mm256_set1_epi8(0x0F));
    const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(Load32(b + 16), c), _mm256_set1_epi8(1));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hb, 4));
  }
};

struct Q6_KDec {
  static constexpr int kBytes = 210;
  static KScales Scales(const uint8_t* b) {
    const __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
    const float d = F16At(b + 208);
    return {sc, sc, d, 32.0f * d};  // x = d * sc * (q - 32)
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
