// KV cache element types (--kv-type): plain F32 / F16 / BF16, and two quantised ones that
// store one byte per value plus an f16 scale per group of kKvQuantGroup values of a
// token's row of one KV head (KvQuantGroup: 32, or the whole row when head_dim is not a
// multiple of 32):
//   kQ8   int8 codes, value = code * scale, scale = max|x| / 127 of the group (q8_0's numerics);
//   kFp8  FP8 E4M3 codes (1 sign, 4 exponent bits bias 7, 3 mantissa bits, no infinities,
//         max 448), value = e4m3(code) * scale, scale = max|x| / 448 of the group.
// The cache layout that holds codes and scales is in ops.h (KvCacheView). The decoders here
// define the exact f32 value of a stored element; every kernel (scalar, AVX2, AVX-512,
// staged or in place) computes the same f32 product, so a query's result keeps not
// depending on the batch or the tile split.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "base/half.h"

namespace weft::kernels {

enum class KvType : uint8_t { kF32, kF16, kBF16, kQ8, kFp8 };

// "f32", "f16", "bf16", "q8", "fp8".
std::string_view KvTypeName(KvType t);
// Case-insensitive; also "q8_0" for kQ8 and "fp8_e4m3" / "e4m3" for kFp8.
std::optional<KvType> KvTypeFromName(std::string_view name);
// "f16|bf16|f32|q8|fp8", for flag help and error messages.
inline constexpr std::string_view kKvTypeChoices = "f16|bf16|f32|q8|fp8";

constexpr bool KvTypeQuantized(KvType t) { return t == KvType::kQ8 || t == KvType::kFp8; }
// Bytes of one stored code (the scales come on top for quantised types).
constexpr int KvElemBytes(KvType t) { return t == KvType::kF32 ? 4 : KvTypeQuantized(t) ? 1 : 2; }
// Values per scale of a quantised type's row of head_dim values.
constexpr int KvQuantGroup(int head_dim) { return head_dim % 32 == 0 ? 32 : head_dim; }
// Bytes that one token's K (or V) row of one KV head takes, scales included.
constexpr int64_t KvRowBytes(KvType t, int head_dim) {
  const int64_t codes = int64_t{head_dim} * KvElemBytes(t);
  return KvTypeQuantized(t) ? codes + 2 * (head_dim / KvQuantGroup(head_dim)) : codes;
}

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
// A quantised code as the kernels convert it before the scale: int8 exactly, or E4M3 x 2^-8.
inline float KvCodeValue(KvType t, uint8_t code) {
  return t == KvType::kQ8 ? static_cast<float>(static_cast<int8_t>(code)) : Fp16ToFloat(Fp8ToF16Bits(code));
}
// The stored value: code value x scale factor (one f32 rounding).
inline float KvDequant(KvType t, uint8_t code, uint16_t scale_bits) {
  return KvCodeValue(t, code) * KvScaleFactor(t, scale_bits);
}

// E4M3 value of a code (exact), and the nearest code to x (ties to even; |x| > 448
// saturates to +-448; NaN becomes 0).
float Fp8E4M3ToFloat(uint8_t code);
uint8_t FloatToFp8E4M3(float x);

// Quantises n values (a whole row of one KV head: n = head_dim) of `t` (kQ8 or kFp8) into
// codes[0 .. n) and one f16 scale per KvQuantGroup(n) values into scales[g * scale_stride]
// (scale_stride in uint16 elements: 1 for a V row, block_size for K's dimension-major
// scales).
void QuantizeKvRow(KvType t, const float* x, int n, uint8_t* codes, uint16_t* scales, int64_t scale_stride);

}  // namespace weft::kernels
