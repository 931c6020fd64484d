// Fitting helpers shared by the K-quant quantisers, round-to-nearest (k_quants.cc) and
// importance-weighted (weighted_quants.cc). Float operations keep ggml's order (see
// k_quants.cc): the bytes written depend on it.
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/quant_math.h"

namespace weft::quant {

constexpr float kGroupMaxEps = 1e-15f;

// Affine fit of n values to levels 0..nmax: x ~ scale * l - min_out (min_out >= 0 is
// returned through *min_out). Starts from the min/max grid, then tries nstep+1 other
// level spacings (nmax + rmin + rdelta*k over the range) and keeps the least weighted
// error, refitting scale and offset by weighted least squares each time.
inline float FitAffine(int n, int nmax, const float* x, const float* w, uint8_t* L, float* min_out, uint8_t* Laux,
                float rmin, float rdelta, int nstep, bool abs_error) {
  float lo = x[0], hi = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (lo > 0) lo = 0;
  if (hi == lo) {
    std::fill(L, L + n, uint8_t{0});
    *min_out = -lo;
    return 0.0f;
  }
  auto err = [abs_error](float diff) { return abs_error ? std::fabs(diff) : diff * diff; };
  float iscale = static_cast<float>(nmax) / (hi - lo);
  float scale = 1 / iscale;
  float min = lo;
  float best = 0;
  for (int i = 0; i < n; ++i) {
    const int l = NearestInt(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(Clamp(l, 0, nmax));
    best += w[i] * err(scale * L[i] + min - x[i]);
  }
  if (nstep < 1) {
    *min_out = -min;
    return scale;
  }
  for (int step = 0; step <= nstep; ++step) {
    // The range and offset are the best fit's so far (ggml updates them as it goes).
    iscale = (rmin + rdelta * static_cast<float>(step) + static_cast<float>(nmax)) / (hi - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = Clamp(NearestInt(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      sum_l += w[i] * fl;
      sum_l2 += w[i] * fl * fl;
      sum_xl += w[i] * fl * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float e = 0;
      for (int i = 0; i < n; ++i) e += w[i] * err(this_scale * Laux[i] + this_min - x[i]);
      if (e < best) {
        std::copy(Laux, Laux + n, L);
        best = e;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *min_out = -min;
  return scale;
}

// Largest-magnitude element of x[0..n) with its sign (the first when several tie) and
// its magnitude.
inline float SignedMax(int n, const float* x, float* amax_out) {
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  *amax_out = amax;
  return max;
}

// Packs 256 2-bit values: byte 32h + l holds elements 128h + l + 32p in bits 2p..2p+1.
inline void Pack2Bit(const uint8_t* L, uint8_t* qs) {
  for (int h = 0; h < 2; ++h) {
    const uint8_t* l = L + 128 * h;
    for (int i = 0; i < 32; ++i) {
      qs[32 * h + i] = static_cast<uint8_t>(l[i] | (l[i + 32] << 2) | (l[i + 64] << 4) | (l[i + 96] << 6));
    }
  }
}

// Q4_K/Q5_K: the 6-bit scale and min of sub-block j into the 12 packed bytes.
inline void PutScaleMinK4(int j, int sc, int m, uint8_t* q) {
  if (j < 4) {
    q[j] = static_cast<uint8_t>(sc);
    q[j + 4] = static_cast<uint8_t>(m);
  } else {
    q[j + 4] = static_cast<uint8_t>((sc & 0xF) | ((m & 0xF) << 4));
    q[j - 4] |= static_cast<uint8_t>((sc >> 4) << 6);
    q[j] |= static_cast<uint8_t>((m >> 4) << 6);
  }
}

inline void GetScaleMinK4(int j, const uint8_t* q, int* sc, int* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K / Q5_K: levels L[256] (0..15 / 0..31) into the block after its 16-byte header
// (d, dmin, packed scales), in ggml's interleaved order.
inline void PackQ4_KLevels(const uint8_t* L, uint8_t* out) {
  uint8_t* qs = out + 16;
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) qs[32 * c + l] = static_cast<uint8_t>(L[64 * c + l] | (L[64 * c + l + 32] << 4));
  }
}

inline void PackQ5_KLevels(const uint8_t* L, uint8_t* out) {
  uint8_t* qh = out + 16;  // 32 bytes
  uint8_t* qs = out + 48;  // 128 bytes
  std::memset(qh, 0, 32);
  for (int c = 0; c < 4; ++c) {
    for (int l = 0; l < 32; ++l) {
      int lo = L[64 * c + l], hi = L[64 * c + l + 32];
      if (lo > 15) {
        lo -= 16;
        qh[l] |= static_cast<uint8_t>(1u << (2 * c));
      }
      if (hi > 15) {
        hi -= 16;
        qh[l] |= static_cast<uint8_t>(1u << (2 * c + 1));
      }
      qs[32 * c + l] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

// Q6_K after the per-group fit (plain or importance-weighted): the 16 group scales
// quantised to int8 under one F16 scale, the levels refitted to them, and the 210-byte
// block packed (ql 128 | qh 64 | scales 16 | d). L: [256], overwritten.
inline void PackQ6_K(const float* x, const float* scales, int8_t* L, uint8_t* out) {
  uint8_t* ql = out;          // 128 bytes
  uint8_t* qh = out + 128;    // 64 bytes
  auto* sc = reinterpret_cast<int8_t*>(out + 192);  // 16 bytes
  float max_scale = 0, max_abs = 0;
  for (int j = 0; j < 16; ++j) {
    const float a = std::fabs(scales[j]);
    if (a > max_abs) {
      max_abs = a;
      max_scale = scales[j];
    }
  }
  if (max_abs < kGroupMaxEps) {
    std::memset(out, 0, 210);
    return;
  }
  const float iscale = -128.f / max_scale;
  StoreF16(out + 208, 1 / iscale);
  for (int j = 0; j < 16; ++j) sc[j] = static_cast<int8_t>(std::min(127, NearestInt(iscale * scales[j])));
  const float d_all = LoadF16(out + 208);
  for (int j = 0; j < 16; ++j) {
    const float d = d_all * static_cast<float>(sc[j]);
    if (d == 0.0f) continue;
    for (int i = 0; i < 16; ++i) {
      L[16 * j + i] = static_cast<int8_t>(Clamp(NearestInt(x[16 * j + i] / d), -32, 31) + 32);
    }
  }
  for (int h = 0; h < 2; ++h) {
    const int8_t* l = L + 128 * h;
    for (int i = 0; i < 32; ++i) {
      const int q1 = l[i], q2 = l[i + 32], q3 = l[i + 64], q4 = l[i + 96];
      ql[64 * h + i] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
      ql[64 * h + i + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
      qh[32 * h + i] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
    }
  }
}

}  // namespace weft::quant
