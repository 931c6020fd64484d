#include "kernels/kv_type.h"

#include <algorithm>
#include <cctype>
#include <cmath>

namespace weft::kernels {
namespace {

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

// The largest finite E4M3 magnitude (exponent field 15, mantissa 110; 1111 111 is NaN).
constexpr float kFp8Max = 448.0f;
constexpr float kQ8Max = 127.0f;

}  // namespace

std::string_view KvTypeName(KvType t) {
  switch (t) {
    case KvType::kF32: return "f32";
    case KvType::kF16: return "f16";
    case KvType::kBF16: return "bf16";
    case KvType::kQ8: return "q8";
    case KvType::kFp8: return "fp8";
    case KvType::kQ4: return "q4";
  }
  return "?";
}

std::optional<KvType> KvTypeFromName(std::string_view name) {
  for (KvType t : {KvType::kF32, KvType::kF16, KvType::kBF16, KvType::kQ8, KvType::kFp8, KvType::kQ4}) {
    if (EqualsIgnoreCase(name, KvTypeName(t))) return t;
  }
  if (EqualsIgnoreCase(name, "q8_0")) return KvType::kQ8;
  if (EqualsIgnoreCase(name, "fp8_e4m3") || EqualsIgnoreCase(name, "e4m3")) return KvType::kFp8;
  if (EqualsIgnoreCase(name, "q4_0")) return KvType::kQ4;
  return std::nullopt;
}

std::string KvTypeName(KvTypes t) {
  if (!t.Mixed()) return std::string(KvTypeName(t.k));
  return std::string(KvTypeName(t.k)) + "," + std::string(KvTypeName(t.v));
}

std::optional<KvTypes> KvTypesFromName(std::string_view name) {
  const size_t comma = name.find(',');
  if (comma == std::string_view::npos) {
    const std::optional<KvType> t = KvTypeFromName(name);
    if (!t) return std::nullopt;
    return KvTypes(*t);
  }
  const std::optional<KvType> k = KvTypeFromName(name.substr(0, comma));
  const std::optional<KvType> v = KvTypeFromName(name.substr(comma + 1));
  if (!k || !v) return std::nullopt;
  return KvTypes(*k, *v);
}

float Fp8E4M3ToFloat(uint8_t code) {
  const int e = (code >> 3) & 0xF, m = code & 7;
  const float mag = e == 0 ? std::ldexp(static_cast<float>(m), -9) : std::ldexp(1.0f + m / 8.0f, e - 7);
  return (code & 0x80) ? -mag : mag;
}

uint8_t FloatToFp8E4M3(float x) {
  if (std::isnan(x)) return 0;
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const float a = std::min(std::fabs(x), kFp8Max);
  // The quantum at a's binade: 2^-9 below 2^-6 (subnormals), else 2^(exp - 3).
  int exp;
  std::frexp(a, &exp);  // a = f * 2^exp, f in [0.5, 1): binade 2^(exp - 1)
  const int binade = std::max(exp - 1, -6);
  const float quantum = std::ldexp(1.0f, binade - 3);
  // a / quantum is exact (a power of two); rint rounds ties to even in the default mode.
  const float steps = std::rint(a / quantum);  // in [0, 16]: 16 is the next binade's 1.0
  const float q = steps * quantum;
  // Encode q (exact in E4M3 after the rounding): subnormal or normal.
  int qe;
  std::frexp(q, &qe);
  uint8_t bits;
  if (q == 0.0f) {
    bits = 0;
  } else if (qe - 1 < -6) {
    bits = static_cast<uint8_t>(std::ldexp(q, 9));  // mantissa of a subnormal
  } else {
    const int e = qe - 1 + 7;
    const int m = static_cast<int>(std::ldexp(q, -(qe - 1)) * 8.0f) - 8;
    bits = static_cast<uint8_t>((e << 3) | m);
  }
  return static_cast<uint8_t>(sign | bits);
}

namespace {

// kQ4 (kv_type.h): per group, scale = m / -8 for the value m of largest magnitude, stored
// as f16; codes round(x / scale) + 8 clamped to 0 .. 15 against the stored scale, packed
// two to a byte (even value low).
void QuantizeQ4Row(const float* x, int n, uint8_t* codes, uint16_t* scales, int64_t scale_stride) {
  const int group = KvQuantGroup(n);
  for (int g = 0; g * group < n; ++g) {
    const float* xg = x + g * group;
    float m = 0.0f, amax = 0.0f;
    for (int i = 0; i < group; ++i) {
      if (std::fabs(xg[i]) > amax) amax = std::fabs(xg[i]), m = xg[i];
    }
    const uint16_t sbits = FloatToFp16(std::clamp(m / -8.0f, -65504.0f, 65504.0f));
    scales[g * scale_stride] = sbits;
    const float s = Fp16ToFloat(sbits);
    const float inv = s != 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < group; i += 2) {
      const int lo = static_cast<int>(std::clamp(std::rint(xg[i] * inv) + 8.0f, 0.0f, 15.0f));
      const int hi = static_cast<int>(std::clamp(std::rint(xg[i + 1] * inv) + 8.0f, 0.0f, 15.0f));
      codes[(g * group + i) / 2] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

}  // namespace

void QuantizeKvRow(KvType t, const float* x, int n, uint8_t* codes, uint16_t* scales, int64_t scale_stride) {
  if (t == KvType::kQ4) return QuantizeQ4Row(x, n, codes, scales, scale_stride);
  const int group = KvQuantGroup(n);
  const float qmax = t == KvType::kQ8 ? kQ8Max : kFp8Max;
  for (int g = 0; g * group < n; ++g) {
    const float* xg = x + g * group;
    float amax = 0.0f;
    for (int i = 0; i < group; ++i) amax = std::max(amax, std::fabs(xg[i]));  // NaN-free input assumed
    // The scale is stored as f16; quantise against the stored value so that the error
    // bound (half a step of the scale actually used) holds. Clamped into f16's range.
    const uint16_t sbits = FloatToFp16(std::min(amax / qmax, 65504.0f));
    scales[g * scale_stride] = sbits;
    const float s = Fp16ToFloat(sbits);
    const float inv = s > 0.0f ? 1.0f / s : 0.0f;
    for (int i = 0; i < group; ++i) {
      const float y = xg[i] * inv;
      if (t == KvType::kQ8) {
        const float r = std::clamp(std::rint(y), -kQ8Max, kQ8Max);
        codes[g * group + i] = static_cast<uint8_t>(static_cast<int8_t>(r));
      } else {
        codes[g * group + i] = FloatToFp8E4M3(y);
      }
    }
  }
}

}  // namespace weft::kernels
