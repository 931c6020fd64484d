// Importance-weighted quantisers: what llama-quantize writes when it is given an
// importance matrix (ggml's quantize_*_impl paths), so that weft's bytes equal its bytes
// for the same matrix. The importance qw[j] of a column (the calibration inputs' mean
// x[j]^2, from weft imatrix or llama-imatrix) enters each element's weight in the
// scale searches:
//   Q4_0, Q5_0, Q4_1, Q5_1: w = qw * sqrt(sigma2 + x^2), sigma2 = the row's mean x^2;
//     symmetric types: the signed-max scale and 18 others around it, best weighted
//     least-squares fit kept; affine types: 37 trial spacings with weighted
//     least-squares scale and offset (grid -0.9 .. +0.9 by 0.05).
//   Q2_K: per super-block sigma2 = mean x^2, affine 2-bit sub-blocks as above, then the
//     4-bit sub-block scales and mins fitted against the sub-blocks' weight sums
//     (FitPositive) instead of max/15.
//   Q3_K: sigma2 = 2 * mean x^2, symmetric 3-bit sub-blocks by the weighted search,
//     6-bit scales by the same search weighted with the sub-blocks' weight sums.
//   Q4_K, Q5_K: sigma2 = 2 * mean x^2, affine sub-blocks of 32, 6-bit scales and mins by
//     FitPositive.
//   Q6_K: the symmetric search weighted by qw alone; scales as without a matrix.
//   IQ4_NL: iq4_nl_quants.cc (the same search with or without a matrix).
// Q8_0 and the float types ignore the matrix (as ggml does).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "base/check.h"
#include "quant/k_fit.h"
#include "quant/quant_math.h"
#include "quant/quant_rows.h"

namespace weft::quant {
namespace {

constexpr int kQKK = 256;

// Symmetric fit of n values to levels -nmax..nmax-1 (returned biased by +nmax in L)
// minimising sum w (x - scale*l)^2: the signed max's spacing and 18 others
// (nmax +- 0.1k), each with its least-squares scale. All-zero input: L = 0, scale 0.
float FitSymmetricWeighted(int n, int nmax, const float* x, const float* w, int8_t* L) {
  float amax;
  const float max = SignedMax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = -fnmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l + nmax);
    const float fl = static_cast<float>(l);
    sumlx += w[i] * x[i] * fl;
    suml2 += w[i] * fl * fl;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(fnmax + 0.1f * static_cast<float>(k)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const float fl = static_cast<float>(Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
      sumlx += w[i] * x[i] * fl;
      suml2 += w[i] * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        L[i] = static_cast<int8_t>(nmax + Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Fit of n non-negative values (sub-block scales or mins) to levels 0..nmax with one
// scale, minimising sum w (x - scale*l)^2: max/nmax and 8 neighbouring spacings
// (nmax +- 0.1k), then up to 5 sweeps moving single levels while the least-squares fit
// improves. Returns the scale (0 for all-zero input, L = 0).
float FitPositive(int n, int nmax, const float* x, uint8_t* L, const float* w) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
  if (max == 0) {
    std::memset(L, 0, static_cast<size_t>(n));
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = fnmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(NearestInt(iscale * x[i]));
  const float scale0 = 1 / iscale;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale0 * static_cast<float>(L[i]);
    best += w[i] * diff * diff;
  }
  for (int k = -4; k <= 4; ++k) {
    if (k == 0) continue;
    const float iscale_k = (0.1f * static_cast<float>(k) + fnmax) / max;
    const float scale_k = 1 / iscale_k;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, NearestInt(iscale_k * x[i]));
      const float diff = x[i] - scale_k * static_cast<float>(l);
      mse += w[i] * diff * diff;
    }
    if (mse < best) {
      best = mse;
      iscale = iscale_k;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, NearestInt(iscale * x[i]));
    L[i] = static_cast<uint8_t>(l);
    const float fl = static_cast<float>(l);
    sumlx += w[i] * x[i] * fl;
    suml2 += w[i] * fl * fl;
  }
  for (int sweep = 0; sweep < 5; ++sweep) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float li = static_cast<float>(L[i]);
      float slx = sumlx - w[i] * x[i] * li;
      float sl2 = suml2 - w[i] * li * li;
      if (slx > 0 && sl2 > 0) {
        const int nl = std::min(nmax, NearestInt(x[i] * sl2 / slx));
        if (nl != L[i]) {
          const float fnl = static_cast<float>(nl);
          slx += w[i] * x[i] * fnl;
          sl2 += w[i] * fnl * fnl;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (changed == 0) break;
  }
  return sumlx / suml2;
}

float MeanSquare(const float* x, int64_t n) {
  float s = 0;
  for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
  return s / static_cast<float>(n);
}

// ---- 32-element block types: one row of n_per_row ----

void RowQ4_0(const float* x, int64_t n_per_row, const float* qw, uint8_t* out) {
  const float sigma2 = MeanSquare(x, n_per_row);
  float w[32];
  int8_t L[32];
  for (int64_t b = 0; b < n_per_row / 32; ++b, out += 18) {
    const float* xb = x + 32 * b;
    const float* q = qw + 32 * b;
    for (int j = 0; j < 32; ++j) w[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    StoreF16(out, FitSymmetricWeighted(32, 8, xb, w, L));
    for (int j = 0; j < 16; ++j) out[2 + j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void RowQ5_0(const float* x, int64_t n_per_row, const float* qw, uint8_t* out) {
  const float sigma2 = MeanSquare(x, n_per_row);
  float w[32];
  int8_t L[32];
  for (int64_t b = 0; b < n_per_row / 32; ++b, out += 22) {
    const float* xb = x + 32 * b;
    const float* q = qw + 32 * b;
    for (int j = 0; j < 32; ++j) w[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    StoreF16(out, FitSymmetricWeighted(32, 16, xb, w, L));
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const auto lo = static_cast<uint8_t>(L[j]), hi = static_cast<uint8_t>(L[j + 16]);
      out[6 + j] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
      qh |= static_cast<uint32_t>((lo & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((hi & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(out + 2, &qh, sizeof(qh));
  }
}

// Q4_1 (nmax 15) and Q5_1 (nmax 31).
void RowAffine32(const float* x, int64_t n_per_row, const float* qw, int nmax, uint8_t* out) {
  const float sigma2 = MeanSquare(x, n_per_row);
  const bool five = nmax == 31;
  const int block_bytes = five ? 24 : 20;
  float w[32];
  uint8_t L[32], Laux[32];
  for (int64_t b = 0; b < n_per_row / 32; ++b, out += block_bytes) {
    const float* xb = x + 32 * b;
    const float* q = qw + 32 * b;
    for (int j = 0; j < 32; ++j) w[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = FitAffine(32, nmax, xb, w, L, &min, Laux, -0.9f, 0.05f, 36, false);
    StoreF16(out, d);
    StoreF16(out + 2, -min);
    if (!five) {
      for (int j = 0; j < 16; ++j) out[4 + j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
      continue;
    }
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      out[8 + j] = static_cast<uint8_t>((L[j] & 0xF) | ((L[j + 16] & 0xF) << 4));
      qh |= static_cast<uint32_t>((L[j] & 0x10u) >> 4) << j;
      qh |= static_cast<uint32_t>((L[j + 16] & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(out + 4, &qh, sizeof(qh));
  }
}

// ---- K-quant super-blocks of 256 ----

void BlockQ2_K(const float* x, const float* qw, uint8_t* out) {
  uint8_t* scales_out = out;  // 16 bytes
  uint8_t L[kQKK], Laux[16], Ls[16], Lm[16];
  float w[16], sw[16], mins[16], scales[16];
  float sumx2 = 0;
  for (int j = 0; j < kQKK; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = sumx2 / static_cast<float>(kQKK);
  for (int j = 0; j < 16; ++j) {
    const float* q = qw + 16 * j;
    for (int l = 0; l < 16; ++l) w[l] = q[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
    float s = 0;
    for (int l = 0; l < 16; ++l) s += w[l];
    sw[j] = s;
    scales[j] = FitAffine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float dm = FitPositive(16, 15, scales, Ls, sw);
  const float mm = FitPositive(16, 15, mins, Lm, sw);
  StoreF16(out + 80, dm);
  StoreF16(out + 82, mm);
  const float d_all = LoadF16(out + 80), dmin_all = LoadF16(out + 82);
  for (int j = 0; j < 16; ++j) scales_out[j] = static_cast<uint8_t>(Ls[j] | (Lm[j] << 4));
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(scales_out[j] & 0xF);
    if (d == 0.0f) continue;
    const float m = dmin_all * static_cast<float>(scales_out[j] >> 4);
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = static_cast<uint8_t>(Clamp(NearestInt((x[16 * j + i] + m) / d), 0, 3));
    }
  }
  Pack2Bit(L, out + 16);
}

void BlockQ3_K(const float* x, const float* qw, uint8_t* out) {
  uint8_t* hmask = out;        // 32 bytes
  uint8_t* packed = out + 96;  // 12 bytes of 6-bit scales
  int8_t L[kQKK], Ls[16];
  float w[16], sw[16], scales[16];
  float sumx2 = 0;
  for (int j = 0; j < kQKK; ++j) sumx2 += x[j] * x[j];
  const float sigma2 = 2 * sumx2 / static_cast<float>(kQKK);
  for (int j = 0; j < 16; ++j) {
    const float* q = qw + 16 * j;
    for (int l = 0; l < 16; ++l) w[l] = q[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
    float s = 0;
    for (int l = 0; l < 16; ++l) s += w[l];
    sw[j] = s;
    scales[j] = FitSymmetricWeighted(16, 4, x + 16 * j, w, L + 16 * j);
  }
  std::memset(packed, 0, 12);
  const float d_block = FitSymmetricWeighted(16, 32, scales, sw, Ls);
  for (int j = 0; j < 16; ++j) {
    int l = Ls[j];
    if (j < 8) {
      packed[j] = static_cast<uint8_t>(l & 0xF);
    } else {
      packed[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
    }
    l >>= 4;
    packed[8 + j % 4] |= static_cast<uint8_t>(l << (2 * (j / 4)));
  }
  StoreF16(out + 108, d_block);
  const float d_all = LoadF16(out + 108);
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
    const int sc = static_cast<int8_t>((low | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = static_cast<int8_t>(Clamp(NearestInt(x[16 * j + i] / d), -4, 3) + 4);
    }
  }
  std::memset(hmask, 0, 32);
  uint8_t low2[kQKK];
  for (int j = 0; j < kQKK; ++j) {
    int l = L[j];
    if (l > 3) {
      hmask[j % 32] |= static_cast<uint8_t>(1u << (j / 32));
      l -= 4;
    }
    low2[j] = static_cast<uint8_t>(l);
  }
  Pack2Bit(low2, out + 32);
}

// Q4_K (nmax 15) and Q5_K (nmax 31): header (d, dmin, 12 scale bytes) and levels.
void AffineSuperBlockWeighted(const float* x, const float* qw, int nmax, uint8_t* hdr, uint8_t* L) {
  float w[32], sw[8], mins[8], scales[8];
  uint8_t Laux[32], Ls[8], Lm[8];
  float sum_x2 = 0;
  for (int l = 0; l < kQKK; ++l) sum_x2 += x[l] * x[l];
  const float sigma2 = 2 * sum_x2 / static_cast<float>(kQKK);
  for (int j = 0; j < 8; ++j) {
    const float* q = qw + 32 * j;
    for (int l = 0; l < 32; ++l) w[l] = q[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
    float s = 0;
    for (int l = 0; l < 32; ++l) s += w[l];
    sw[j] = s;
    scales[j] = FitAffine(32, nmax, x + 32 * j, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
  }
  const float d_block = FitPositive(8, 63, scales, Ls, sw);
  const float m_block = FitPositive(8, 63, mins, Lm, sw);
  uint8_t* packed = hdr + 4;
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) PutScaleMinK4(j, std::min<int>(63, Ls[j]), std::min<int>(63, Lm[j]), packed);
  StoreF16(hdr, d_block);
  StoreF16(hdr + 2, m_block);
  const float d_all = LoadF16(hdr), dmin_all = LoadF16(hdr + 2);
  for (int j = 0; j < 8; ++j) {
    int sc, m;
    GetScaleMinK4(j, packed, &sc, &m);
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.0f) continue;
    const float dm = dmin_all * static_cast<float>(m);
    for (int i = 0; i < 32; ++i) {
      L[32 * j + i] = static_cast<uint8_t>(Clamp(NearestInt((x[32 * j + i] + dm) / d), 0, nmax));
    }
  }
}

void BlockQ4_K(const float* x, const float* qw, uint8_t* out) {
  uint8_t L[kQKK];
  AffineSuperBlockWeighted(x, qw, 15, out, L);
  PackQ4_KLevels(L, out);
}

void BlockQ5_K(const float* x, const float* qw, uint8_t* out) {
  uint8_t L[kQKK];
  AffineSuperBlockWeighted(x, qw, 31, out, L);
  PackQ5_KLevels(L, out);
}

void BlockQ6_K(const float* x, const float* qw, uint8_t* out) {
  int8_t L[kQKK];
  float scales[16];
  for (int j = 0; j < 16; ++j) scales[j] = FitSymmetricWeighted(16, 32, x + 16 * j, qw + 16 * j, L + 16 * j);
  PackQ6_K(x, scales, L, out);
}

using SuperBlockFn = void (*)(const float*, const float*, uint8_t*);

SuperBlockFn SuperBlockFnFor(DType type) {
  switch (type) {
    case DType::kQ2_K: return BlockQ2_K;
    case DType::kQ3_K: return BlockQ3_K;
    case DType::kQ4_K: return BlockQ4_K;
    case DType::kQ5_K: return BlockQ5_K;
    case DType::kQ6_K: return BlockQ6_K;
    default: return nullptr;
  }
}

}  // namespace

bool UsesImportance(DType type) {
  switch (type) {
    case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kIQ4_NL: return true;
    default: return SuperBlockFnFor(type) != nullptr;
  }
}

void QuantizeRowsWeighted(DType type, const float* src, void* dst, int64_t nrows, int64_t n_per_row,
                          const float* qw) {
  if (qw == nullptr || !UsesImportance(type)) return QuantizeRows(type, src, dst, nrows, n_per_row);
  const DTypeInfo& info = GetDTypeInfo(type);
  WEFT_CHECK(n_per_row % info.block_size == 0, "QuantizeRowsWeighted: row of {} is not a whole number of {} blocks",
             n_per_row, info.name);
  const size_t row_bytes = static_cast<size_t>(n_per_row / info.block_size) * info.block_bytes;
  auto* out = static_cast<uint8_t*>(dst);
  const SuperBlockFn sb = SuperBlockFnFor(type);
  for (int64_t r = 0; r < nrows; ++r, src += n_per_row, out += row_bytes) {
    switch (type) {
      case DType::kQ4_0: RowQ4_0(src, n_per_row, qw, out); break;
      case DType::kQ5_0: RowQ5_0(src, n_per_row, qw, out); break;
      case DType::kQ4_1: RowAffine32(src, n_per_row, qw, 15, out); break;
      case DType::kQ5_1: RowAffine32(src, n_per_row, qw, 31, out); break;
      case DType::kIQ4_NL:
        for (int64_t b = 0; b < n_per_row / 32; ++b) QuantizeBlockIQ4_NLWeighted(src + 32 * b, qw + 32 * b, out + 18 * b);
        break;
      default:
        for (int64_t b = 0; b < n_per_row / kQKK; ++b) sb(src + b * kQKK, qw + b * kQKK, out + b * info.block_bytes);
    }
  }
}

}  // namespace weft::quant
