// Fitting helpers shared by the K-quant quantisers, round-to-nearest (k_quants.cc) and
// importance-weighted (weighted_quants.cc). Float operations keep ggml's order (see
// k_quants.cc): the bytes written depend on it.
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

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

}  // namespace weft::quant
