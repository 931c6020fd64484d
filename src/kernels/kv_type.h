// KV cache element types (--kv-type): plain F32 / F16 / BF16, and three quantised ones
// that store codes plus an f16 scale per group of KvQuantGroup values of a token's row of
// one KV head (32, or the whole row when head_dim is not a multiple of 32):
//   kQ8   int8 codes, value = code * scale, scale = max|x| / 127 of the group (q8_0's numerics);
//   kFp8  FP8 E4M3 codes (1 sign, 4 exponent bits bias 7, 3 mantissa bits, no infinities,
//         max 448), value = e4m3(code) * scale, scale = max|x| / 448 of the group;
//   kQ4   4-bit codes n in 0..15, two to a byte (the even-numbered value of a pair in the low
//         nibble), value = (n - 8) * scale, scale = m / -8 where m is the group's value of
//         largest magnitude (q4_0's numerics: m lands on -8 exactly, the sixteenth level is
//         not wasted; the scale may be negative). 4.5 bits a value with groups of 32.
//         Why per (token, head, 32 values) and not one scale per (block, head): a token's K
//         and V are written once, when it is computed, and the cache is append-only, so a
//         scale shared with tokens not yet seen would force re-quantising the block as it
//         fills; and one outlier token or channel would cost a whole block its precision,
//         which 16 levels cannot afford. Same groups as q8 / fp8, so the paged layout is
//         shared (ops.h, KvCacheView); head_dim must be even.
// The cache layout that holds codes and scales is in ops.h (KvCacheView). The decoders here
// define the exact f32 value of a stored element; every kernel (scalar, AVX2, AVX-512,
// staged or in place) computes the same f32 product, so a query's result keeps not
// depending on the batch or the tile split.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "base/half.h"

namespace weft::kernels {

enum class KvType : uint8_t { kF32, kF16, kBF16, kQ8, kFp8, kQ4 };

// "f32", "f16", "bf16", "q8", "fp8", "q4".
std::string_view KvTypeName(KvType t);
// Case-insensitive; also "q8_0" for kQ8, "fp8_e4m3" / "e4m3" for kFp8 and "q4_0" for kQ4.
std::optional<KvType> KvTypeFromName(std::string_view name);
// "f16|bf16|f32|q8|fp8|q4", for flag help and error messages.
inline constexpr std::string_view kKvTypeChoices = "f16|bf16|f32|q8|fp8|q4";

// The types of a cache's K and of its V (--kv-type T for both, --kv-type K,V apart). A
// single KvType converts to the pair of it.
struct KvTypes {
  KvType k = KvType::kF16;
  KvType v = KvType::kF16;
  constexpr KvTypes() = default;
  constexpr KvTypes(KvType t) : k(t), v(t) {}  // NOLINT: implicit on purpose
  constexpr KvTypes(KvType k_type, KvType v_type) : k(k_type), v(v_type) {}
  constexpr bool Mixed() const { return k != v; }
  friend constexpr bool operator==(const KvTypes&, const KvTypes&) = default;
};
// "q8" for a pair of equal types, "q8,q4" (K, V) for a mixed one.
std::string KvTypeName(KvTypes t);
// "T" or "K,V" of KvTypeFromName's names.
std::optional<KvTypes> KvTypesFromName(std::string_view name);

constexpr bool KvTypeQuantized(KvType t) { return t == KvType::kQ8 || t == KvType::kFp8 || t == KvType::kQ4; }
// Values packed in one code byte: 2 for kQ4, else 1 (a code takes one or more bytes).
constexpr int KvCodesPerByte(KvType t) { return t == KvType::kQ4 ? 2 : 1; }
// Bytes of one stored code unit: a value, or for kQ4 a pair of values (the scales come on
// top for quantised types). This is the stride between adjacent positions of K in a
// block (ops.h: K is dimension-major; for kQ4 each of its code rows holds two dimensions).
constexpr int KvElemBytes(KvType t) { return t == KvType::kF32 ? 4 : KvTypeQuantized(t) ? 1 : 2; }
// Values per scale of a quantised type's row of head_dim values.
constexpr int KvQuantGroup(int head_dim) { return head_dim % 32 == 0 ? 32 : head_dim; }
// Bytes of the codes of one token's K (or V) row of one KV head (head_dim even for kQ4).
constexpr int64_t KvRowCodeBytes(KvType t, int head_dim) {
  return int64_t{head_dim} / KvCodesPerByte(t) * KvElemBytes(t);
}
// Bytes that one token's K (or V) row of one KV head takes, scales included.
constexpr int64_t KvRowBytes(KvType t, int head_dim) {
  const int64_t codes = KvRowCodeBytes(t, head_dim);
  return KvTypeQuantized(t) ? codes + 2 * (head_dim / KvQuantGroup(head_dim)) : codes;
}
// Bytes that one token's K and V rows of one KV head take together, scales included.
constexpr int64_t KvRowBytes(KvTypes t, int head_dim) { return KvRowBytes(t.k, head_dim) + KvRowBytes(t.v, head_dim); }

// E4M3 code -> its value times 2^-8, through the f16 bit pattern it maps to exactly
// (sign to bit 15, exponent and mantissa shifted by 7: an f16 with exponent bias 15 instead
// of 7, subnormals included). The SIMD kernels do the same shift and vcvtph2ps.
inline uint16_t Fp8ToF16Bits(uint8_t code) {
  return static_cast<uint16_t>(((code & 0x80u) << 8) | ((code & 0x7Fu) << 7));
}
// The f32 factor a group's stored f16 scale contributes: the scale, times 2^8 for kFp8
// (undoing Fp8ToF16Bits' 2^-8).
inline float KvScaleFactor(KvType t, uint16_t scale_bits) {
  const float s = Fp16ToFloat(scale_bits);
  return t == KvType::kFp8 ? s * 256.0f : s;
}
// A quantised code as the kernels convert it before the scale: int8 exactly, E4M3 x 2^-8,
// or for kQ4 (code: one nibble, 0 .. 15) code - 8 exactly.
inline float KvCodeValue(KvType t, uint8_t code) {
  if (t == KvType::kQ4) return static_cast<float>(static_cast<int>(code & 15) - 8);
  return t == KvType::kQ8 ? static_cast<float>(static_cast<int8_t>(code)) : Fp16ToFloat(Fp8ToF16Bits(code));
}
// The code of value i of a run of packed codes whose code bytes lie `stride` bytes apart
// (a V row: 1; K's dimensions: KvCacheView::KDimBytes()): byte i / KvCodesPerByte, and for
// kQ4 its low nibble when i is even, its high nibble when odd.
inline uint8_t KvCodeAt(KvType t, const uint8_t* p, int i, int64_t stride) {
  if (t != KvType::kQ4) return p[i * stride];
  const uint8_t b = p[(i >> 1) * stride];
  return (i & 1) ? static_cast<uint8_t>(b >> 4) : static_cast<uint8_t>(b & 15);
}
// The stored value: code value x scale factor (one f32 rounding).
inline float KvDequant(KvType t, uint8_t code, uint16_t scale_bits) {
  return KvCodeValue(t, code) * KvScaleFactor(t, scale_bits);
}

// E4M3 value of a code (exact), and the nearest code to x (ties to even; |x| > 448
// saturates to +-448; NaN becomes 0).
float Fp8E4M3ToFloat(uint8_t code);
uint8_t FloatToFp8E4M3(float x);

// Quantises n values (a whole row of one KV head: n = head_dim) of `t` (kQ8, kFp8 or kQ4)
// into codes[0 .. KvRowCodeBytes(t, n)) (packed as KvCodeAt reads them with stride 1) and
// one f16 scale per KvQuantGroup(n) values into scales[g * scale_stride] (scale_stride in
// uint16 elements: 1 for a V row, block_size for K's dimension-major scales). kQ4: n even.
void QuantizeKvRow(KvType t, const float* x, int n, uint8_t* codes, uint16_t* scales, int64_t scale_stride);

}  // namespace weft::kernels
