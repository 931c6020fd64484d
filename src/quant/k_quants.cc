// Round-to-nearest quantisers for the K-quant super-blocks (256 elements) Q2_K, Q3_K,
// Q4_K, Q5_K and Q6_K, without an importance matrix. Block layouts: tensor/dequantize.cc.
//
// Each super-block is cut into sub-blocks (16 elements for Q2_K, Q3_K, Q6_K; 32 for Q4_K,
// Q5_K). Every sub-block gets its own scale (and min, for the affine Q2_K/Q4_K/Q5_K) by a
// small search that minimises a weighted squared (or absolute) error; the sub-block
// scales are then quantised against one fp16 super-scale, and the elements are quantised
// again with the scales a reader will actually see. The searches, their weights and
// their step grids follow ggml's reference quantisers (the ones llama-quantize uses when
// no importance matrix is given) so that the bytes are the same:
//   Q2_K: affine 2-bit, weights |x|, absolute error, scale grid nmax-0.5 .. +1.0 by 0.1;
//         4-bit sub-block scale and min against d = max_scale/15, dmin = max_min/15.
//   Q3_K: symmetric 3-bit, levels -4..3, an iterative per-element refinement weighted by
//         x^2; 6-bit signed sub-block scales against d = max_scale / -32.
//   Q4_K: affine 4-bit, weights rms(x) + |x|, squared error, grid nmax-1.0 .. +1.0 by 0.1;
//         6-bit scale and min against max/63.
//   Q5_K: as Q4_K with 5 bits and grid nmax-0.5 .. +1.0.
//   Q6_K: symmetric 6-bit, levels -32..31, weights x^2, 19 trial scales; 8-bit signed
//         sub-block scales against d = max_scale / -128.
// Float operations happen in the order ggml does them (e.g. (w*l)*x, not w*(l*x)):
// float addition and multiplication are not associative, and a different order changes
// some roundings and therefore some bytes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/k_fit.h"
#include "quant/quant_math.h"
#include "quant/quant_rows.h"

namespace weft::quant {
namespace {

constexpr int kQKK = 256;

// Symmetric fit to levels -nmax..nmax-1 (stored biased by +nmax in L), weights x^2.
// Tries the spacing of the signed max and 18 others around it, keeping the best
// weighted least-squares scale. Used by Q6_K.
float FitSymmetricSearch(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = SignedMax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const float fnmax = static_cast<float>(nmax);
  float iscale = -fnmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = x[i] * x[i];
    const float fl = static_cast<float>(l);
    sumlx += w * x[i] * fl;
    suml2 += w * fl * fl;
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int k = -9; k <= 9; ++k) {
    if (k == 0) continue;
    iscale = -(fnmax + 0.1f * static_cast<float>(k)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const float fl = static_cast<float>(Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1));
      const float w = x[i] * x[i];
      sumlx += w * x[i] * fl;
      suml2 += w * fl * fl;
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

// Symmetric fit to levels -nmax..nmax-1 with a per-element refinement: each element in
// turn moves to the level that the least-squares scale of the others prefers, while
// that improves the weighted (x^2) fit; at most 5 sweeps. Used by Q3_K. L is biased by
// +nmax on return.
float FitSymmetricRefine(int n, int nmax, const float* x, int8_t* L) {
  float amax;
  const float max = SignedMax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    std::fill(L, L + n, int8_t{0});
    return 0.0f;
  }
  const float iscale = -static_cast<float>(nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = Clamp(NearestInt(iscale * x[i]), -nmax, nmax - 1);
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * static_cast<float>(l);
    suml2 += w * static_cast<float>(l) * static_cast<float>(l);
  }
  for (int sweep = 0; sweep < 5; ++sweep) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float li = static_cast<float>(L[i]);
      float slx = sumlx - w * x[i] * li;
      if (slx > 0) {
        float sl2 = suml2 - w * li * li;
        const int nl = Clamp(NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (nl != L[i]) {
          const float fnl = static_cast<float>(nl);
          slx += w * x[i] * fnl;
          sl2 += w * fnl * fnl;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(nl);
            sumlx = slx;
            suml2 = sl2;
            ++changed;
          }
        }
      }
    }
    if (changed == 0) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return sumlx / suml2;
}

// Shared part of Q4_K and Q5_K: fits the 8 sub-blocks of 32, writes d, dmin and the
// packed scales into `hdr` (4 + 12 bytes) and the final levels 0..nmax into L.
void AffineSuperBlock(const float* x, int nmax, float rmin, int nstep, uint8_t* hdr, uint8_t* L) {
  float scales[8], mins[8], w[32];
  uint8_t Laux[32];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; ++j) {
    const float* xs = x + 32 * j;
    float sum_x2 = 0;
    for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; ++l) w[l] = av_x + std::fabs(xs[l]);
    scales[j] = FitAffine(32, nmax, xs, w, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, false);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
  const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
  uint8_t* packed = hdr + 4;
  std::memset(packed, 0, 12);
  for (int j = 0; j < 8; ++j) {
    const int ls = std::min(63, static_cast<int>(static_cast<uint8_t>(NearestInt(inv_scale * scales[j]))));
    const int lm = std::min(63, static_cast<int>(static_cast<uint8_t>(NearestInt(inv_min * mins[j]))));
    PutScaleMinK4(j, ls, lm, packed);
  }
  StoreF16(hdr, max_scale / 63.f);
  StoreF16(hdr + 2, max_min / 63.f);
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

}  // namespace

void QuantizeBlockQ2_K(const float* x, uint8_t* out) {
  uint8_t* scales_out = out;  // 16 bytes
  uint8_t* qs = out + 16;     // 64 bytes
  uint8_t L[kQKK], Laux[16];
  float w[16], mins[16], scales[16];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 16; ++j) {
    for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * j + l]);
    scales[j] = FitAffine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  if (max_scale > 0) {
    const float iscale = 15.f / max_scale;
    for (int j = 0; j < 16; ++j) scales_out[j] = static_cast<uint8_t>(NearestInt(iscale * scales[j]));
    StoreF16(out + 80, max_scale / 15.f);
  } else {
    std::memset(scales_out, 0, 16);
    StoreF16(out + 80, 0.f);
  }
  if (max_min > 0) {
    const float iscale = 15.f / max_min;
    for (int j = 0; j < 16; ++j) scales_out[j] |= static_cast<uint8_t>(NearestInt(iscale * mins[j]) << 4);
    StoreF16(out + 82, max_min / 15.f);
  } else {
    StoreF16(out + 82, 0.f);
  }
  const float d_all = LoadF16(out + 80), dmin_all = LoadF16(out + 82);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(scales_out[j] & 0xF);
    if (d == 0.0f) continue;
    const float dm = dmin_all * static_cast<float>(scales_out[j] >> 4);
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = static_cast<uint8_t>(Clamp(NearestInt((x[16 * j + i] + dm) / d), 0, 3));
    }
  }
  Pack2Bit(L, qs);
}

void QuantizeBlockQ3_K(const float* x, uint8_t* out) {
  uint8_t* hmask = out;         // 32 bytes
  uint8_t* qs = out + 32;       // 64 bytes
  uint8_t* packed = out + 96;   // 12 bytes of 6-bit scales
  int8_t L[kQKK];
  float scales[16];
  float amax = 0, max_scale = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j] = FitSymmetricRefine(16, 4, x + 16 * j, L + 16 * j);
    const float a = std::fabs(scales[j]);
    if (a > amax) {
      amax = a;
      max_scale = scales[j];
    }
  }
  std::memset(packed, 0, 12);
  if (max_scale != 0.0f) {
    const float iscale = -32.f / max_scale;
    for (int j = 0; j < 16; ++j) {
      const int l = Clamp(static_cast<int>(static_cast<int8_t>(NearestInt(iscale * scales[j]))), -32, 31) + 32;
      if (j < 8) {
        packed[j] = static_cast<uint8_t>(l & 0xF);
      } else {
        packed[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
      }
      packed[8 + j % 4] |= static_cast<uint8_t>((l >> 4) << (2 * (j / 4)));
    }
    StoreF16(out + 108, 1 / iscale);
  } else {
    StoreF16(out + 108, 0.f);
  }
  const float d_all = LoadF16(out + 108);
  for (int j = 0; j < 16; ++j) {
    const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
    const int sc = (low | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
    const float d = d_all * static_cast<float>(sc);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = static_cast<int8_t>(Clamp(NearestInt(x[16 * j + i] / d), -4, 3) + 4);
    }
  }
  // High bit of level j (element j = 32*b + m) goes to bit b of hmask[m].
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
  Pack2Bit(low2, qs);
}

void QuantizeBlockQ4_K(const float* x, uint8_t* out) {
  uint8_t L[kQKK];
  AffineSuperBlock(x, 15, -1.f, 20, out, L);
  PackQ4_KLevels(L, out);
}

void QuantizeBlockQ5_K(const float* x, uint8_t* out) {
  uint8_t L[kQKK];
  AffineSuperBlock(x, 31, -0.5f, 15, out, L);
  PackQ5_KLevels(L, out);
}

void QuantizeBlockQ6_K(const float* x, uint8_t* out) {
  int8_t L[kQKK];
  float scales[16];
  for (int j = 0; j < 16; ++j) scales[j] = FitSymmetricSearch(16, 32, x + 16 * j, L + 16 * j);
  PackQ6_K(x, scales, L, out);
}

}  // namespace weft::quant
