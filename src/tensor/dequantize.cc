// Scalar reference dequantisers (DequantizeRow in tensor/dtype.h). Every other kernel is
// tested against these, so they favour plainness over speed and follow ggml's arithmetic
// order (scale products first, then times the quant) so results match it bit for bit.
//
// Block layouts (ggml block_* structs: packed, little-endian; f16 = IEEE half):
//   Q4_0 {f16 d; u8 qs[16]}            x[j] = ((qs[j] & 15) - 8) * d, x[j+16] uses qs[j] >> 4
//   Q4_1 {f16 d, m; u8 qs[16]}         x = q * d + m, same nibble order
//   Q5_0 {f16 d; u32 qh; u8 qs[16]}    q = nibble | (bit j of qh) << 4, x = (q - 16) * d
//   Q5_1 {f16 d, m; u32 qh; u8 qs[16]} x = q * d + m
//   Q8_0 {f16 d; i8 qs[32]}            x = q * d
//   Q8_1 {f16 d, s; i8 qs[32]}         x = q * d (s = d * sum(q) is only for dot products)
//   IQ4_NL {f16 d; u8 qs[16]}          x = d * codebook[nibble], Q4_0's order (iq4_nl.h)
// K-quants: a super-block of 256 elements (QK_K), walked in halves of 128 elements.
//   Q2_K {u8 scales[16]; u8 qs[64]; f16 d, dmin}
//        16 sub-blocks of 16; scales[i] = scale (low nibble) | min (high nibble).
//        In half h, 2-bit plane p (shift 2p) of qs[32h + l], l < 32, is element
//        128h + 32p + l, sub-block 8h + 2p + l/16. x = d*sc * q - dmin*m.
//   Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}
//        Same element order as Q2_K; third bit is bit (4h + p) of hmask[l]; q = low2 - 4
//        when that bit is clear. 16 six-bit scales: low 4 bits from scales[i % 8] nibble
//        i / 8, high 2 bits from scales[8 + i % 4] bits 2*(i / 4). x = d * (sc - 32) * q.
//   Q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]}
//        8 sub-blocks of 32 with 6-bit scale and min (get_scale_min_k4 packing below).
//        In each 64-element chunk c: low nibbles of qs[32c + l] are sub-block 2c, high
//        nibbles sub-block 2c+1. x = d*sc * q - dmin*m.
//   Q5_K {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}
//        As Q4_K plus a fifth bit: bit 2c of qh[l] for sub-block 2c, bit 2c+1 for 2c+1.
//   Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}
//        Per half h (ql += 64h, qh += 32h), l < 32: elements l, l+32, l+64, l+96 are the
//        low nibble of ql[l], of ql[l+32], high nibble of ql[l], of ql[l+32]; their top
//        two bits are bits 0-1, 2-3, 4-5, 6-7 of qh[l]. q - 32, times d * scales[sub].
//   Q8_K {f32 d; i8 qs[256]; i16 bsums[16]} x = q * d (bsums are for dot products)
#include <bit>
#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "base/half.h"
#include "tensor/dtype.h"
#include "tensor/iq4_nl.h"

namespace weft {
namespace {

static_assert(std::endian::native == std::endian::little, "block loads assume a little-endian host");

constexpr int kQK = 32;    // elements per block of the legacy quants
constexpr int kQKK = 256;  // elements per K-quant super-block

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

float LoadF16(const uint8_t* p) { return Fp16ToFloat(Load<uint16_t>(p)); }

// ---- plain types (block size 1) --------------------------------------------------------

void F32Block(const uint8_t* b, float* y) { *y = Load<float>(b); }
void F16Block(const uint8_t* b, float* y) { *y = LoadF16(b); }
void Bf16Block(const uint8_t* b, float* y) { *y = Bf16ToFloat(Load<uint16_t>(b)); }
void F64Block(const uint8_t* b, float* y) { *y = static_cast<float>(Load<double>(b)); }
void I8Block(const uint8_t* b, float* y) { *y = static_cast<float>(Load<int8_t>(b)); }
void I16Block(const uint8_t* b, float* y) { *y = static_cast<float>(Load<int16_t>(b)); }
void I32Block(const uint8_t* b, float* y) { *y = static_cast<float>(Load<int32_t>(b)); }

// ---- legacy quants (blocks of 32) ------------------------------------------------------

void Q4_0Block(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
    y[j + kQK / 2] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void IQ4_NLBlock(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = d * static_cast<float>(kIq4NlValues[qs[j] & 0xF]);
    y[j + kQK / 2] = d * static_cast<float>(kIq4NlValues[qs[j] >> 4]);
  }
}

void Q4_1Block(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const float m = LoadF16(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < kQK / 2; ++j) {
    y[j] = static_cast<float>(qs[j] & 0xF) * d + m;
    y[j + kQK / 2] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Fifth bits: bit j of qh belongs to element j (0..31).
int Q5Quant(const uint8_t* qs, uint32_t qh, int j) {
  const int low = j < kQK / 2 ? (qs[j] & 0xF) : (qs[j - kQK / 2] >> 4);
  return low | static_cast<int>(((qh >> j) & 1u) << 4);
}

void Q5_0Block(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const uint32_t qh = Load<uint32_t>(b + 2);
  const uint8_t* qs = b + 6;
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(Q5Quant(qs, qh, j) - 16) * d;
}

void Q5_1Block(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const float m = LoadF16(b + 2);
  const uint32_t qh = Load<uint32_t>(b + 4);
  const uint8_t* qs = b + 8;
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(Q5Quant(qs, qh, j)) * d + m;
}

void Q8_0Block(const uint8_t* b, float* y) {
  const float d = LoadF16(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

void Q8_1Block(const uint8_t* b, float* y) {
  const float d = LoadF16(b);  // b + 2 holds s = d * sum(qs), not needed here
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 4);
  for (int j = 0; j < kQK; ++j) y[j] = static_cast<float>(qs[j]) * d;
}

// ---- K-quants (super-blocks of 256) ----------------------------------------------------

void Q2_KBlock(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* qs = b + 16;
  const float d = LoadF16(b + 80);
  const float dmin = LoadF16(b + 82);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* q = qs + 32 * half;
    for (int plane = 0; plane < 4; ++plane) {
      const int shift = 2 * plane;
      for (int l = 0; l < 32; ++l) {
        const uint8_t sc = scales[8 * half + 2 * plane + l / 16];
        const float dl = d * static_cast<float>(sc & 0xF);
        const float ml = dmin * static_cast<float>(sc >> 4);
        *y++ = dl * static_cast<float>((q[l] >> shift) & 3) - ml;
      }
    }
  }
}

// Sub-block i's 6-bit scale (0..63, used as sc - 32) from the 12 packed bytes.
int Q3_KScale(const uint8_t* packed, int i) {
  const int low = (packed[i % 8] >> (4 * (i / 8))) & 0xF;
  const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
  return low | (high << 4);
}

void Q3_KBlock(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* qs = b + 32;
  const uint8_t* scales = b + 96;
  const float d = LoadF16(b + 108);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* q = qs + 32 * half;
    for (int plane = 0; plane < 4; ++plane) {
      const int shift = 2 * plane;
      const uint8_t hbit = static_cast<uint8_t>(1u << (4 * half + plane));
      for (int l = 0; l < 32; ++l) {
        const float dl = d * static_cast<float>(Q3_KScale(scales, 8 * half + 2 * plane + l / 16) - 32);
        const int quant = ((q[l] >> shift) & 3) - ((hmask[l] & hbit) ? 0 : 4);
        *y++ = dl * static_cast<float>(quant);
      }
    }
  }
}

// Q4_K / Q5_K: sub-block j (0..7) scale and min, 6 bits each, in 12 bytes. Bytes 0-3
// hold scales 0-3 and bytes 4-7 mins 0-3 (low 6 bits); for j >= 4 the low 4 bits come
// from the nibbles of bytes 8-11 and the high 2 bits from the top bits of bytes 0-7.
void ScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Shared by Q4_K (qh == nullptr) and Q5_K.
void Q45_KBlock(const uint8_t* scales, const uint8_t* qh, const uint8_t* qs, float d, float dmin, float* y) {
  for (int chunk = 0; chunk < 4; ++chunk) {
    const uint8_t* q = qs + 32 * chunk;
    for (int nib = 0; nib < 2; ++nib) {
      const int sub = 2 * chunk + nib;
      int sc, m;
      ScaleMinK4(sub, scales, &sc, &m);
      const float dl = d * static_cast<float>(sc);
      const float ml = dmin * static_cast<float>(m);
      for (int l = 0; l < 32; ++l) {
        int quant = (q[l] >> (4 * nib)) & 0xF;
        if (qh != nullptr && ((qh[l] >> sub) & 1)) quant += 16;
        *y++ = dl * static_cast<float>(quant) - ml;
      }
    }
  }
}

void Q4_KBlock(const uint8_t* b, float* y) { Q45_KBlock(b + 4, nullptr, b + 16, LoadF16(b), LoadF16(b + 2), y); }

void Q5_KBlock(const uint8_t* b, float* y) { Q45_KBlock(b + 4, b + 16, b + 48, LoadF16(b), LoadF16(b + 2), y); }

void Q6_KBlock(const uint8_t* b, float* y) {
  const float d = LoadF16(b + 208);
  for (int half = 0; half < 2; ++half) {
    const uint8_t* ql = b + 64 * half;
    const uint8_t* qh = b + 128 + 32 * half;
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192) + 8 * half;
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l + 0] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
    y += 128;
  }
}

void Q8_KBlock(const uint8_t* b, float* y) {
  const float d = Load<float>(b);
  const int8_t* qs = reinterpret_cast<const int8_t*>(b + 4);
  for (int j = 0; j < kQKK; ++j) y[j] = d * static_cast<float>(qs[j]);
}

using BlockFn = void (*)(const uint8_t* block, float* out);

BlockFn BlockFnFor(DType type) {
  switch (type) {
    case DType::kF32: return F32Block;
    case DType::kF16: return F16Block;
    case DType::kBF16: return Bf16Block;
    case DType::kF64: return F64Block;
    case DType::kI8: return I8Block;
    case DType::kI16: return I16Block;
    case DType::kI32: return I32Block;
    case DType::kQ4_0: return Q4_0Block;
    case DType::kQ4_1: return Q4_1Block;
    case DType::kQ5_0: return Q5_0Block;
    case DType::kQ5_1: return Q5_1Block;
    case DType::kQ8_0: return Q8_0Block;
    case DType::kQ8_1: return Q8_1Block;
    case DType::kQ2_K: return Q2_KBlock;
    case DType::kQ3_K: return Q3_KBlock;
    case DType::kQ4_K: return Q4_KBlock;
    case DType::kQ5_K: return Q5_KBlock;
    case DType::kQ6_K: return Q6_KBlock;
    case DType::kQ8_K: return Q8_KBlock;
    case DType::kIQ4_NL: return IQ4_NLBlock;
    case DType::kI64: break;
  }
  return nullptr;
}

}  // namespace

void DequantizeRow(DType type, const void* src, float* dst, int64_t n) {
  const DTypeInfo& info = GetDTypeInfo(type);
  const BlockFn fn = BlockFnFor(type);
  WEFT_CHECK(info.dequantizable && fn != nullptr, "DequantizeRow: {} is not dequantizable", info.name);
  WEFT_CHECK(n >= 0 && n % info.block_size == 0, "DequantizeRow: {} elements is not a whole number of {} blocks of {}",
             n, info.name, info.block_size);
  const auto* block = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; i += info.block_size) {
    fn(block, dst + i);
    block += info.block_bytes;
  }
}

}  // namespace weft
