// IQ4_NL quantiser (block layout and codebook: tensor/iq4_nl.h), byte-identical to what
// llama-quantize writes (ggml's quantize_iq4_nl, the path it takes with and without an
// importance matrix). Per block of 32:
//   weights w_j = x_j^2, or with an importance matrix qw_j * sqrt(sigma2 + x_j^2),
//     sigma2 = 2 * mean(x^2) over the block;
//   the element of largest magnitude (first on ties), `max`, with its sign, starts the
//     search: d = max / 127 (the codebook's extreme is -127), every x_j / d mapped to its
//     nearest level (ties to the higher one), then the weighted least-squares scale
//     d = sum(w q x) / sum(w q q) of that assignment;
//   15 more trial spacings, id = (t - 127) / max for t = -7..7, each with its own
//     assignment and least-squares scale; the best (largest sum(w q x)^2 / sum(w q q))
//     is kept;
//   d is stored as f16 and the indices are taken again from x_j / d (in float, before
//     the f16 rounding); a block of |x| < 1e-15 stores d = 0 and index 8 (level 1).
// Thread-safety: pure functions.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "quant/k_fit.h"
#include "quant/quant_math.h"
#include "quant/quant_rows.h"
#include "tensor/iq4_nl.h"

namespace weft::quant {
namespace {

constexpr int kQK = 32;
constexpr int kTrials = 7;  // trial spacings t = -7..7 around the signed max's

// Index of the codebook level nearest to v; between two levels, the upper one unless v
// is strictly closer to the lower.
int NearestLevel(float v) {
  const int8_t* L = kIq4NlValues;
  if (v <= L[0]) return 0;
  if (v >= L[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < L[mid]) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return v - L[hi - 1] < L[hi] - v ? hi - 1 : hi;
}

// sum(w q x) and sum(w q q) over the block for the assignment x_j * id -> nearest level.
void FitSums(const float* x, const float* w, float id, float* sumqx, float* sumq2) {
  float sx = 0.0f, s2 = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    const float q = kIq4NlValues[NearestLevel(id * x[j])];
    sx += w[j] * q * x[j];
    s2 += w[j] * q * q;
  }
  *sumqx = sx;
  *sumq2 = s2;
}

// The block's scale (see the file comment); qw may be null.
float BlockScale(const float* x, const float* qw) {
  float sigma2 = 0.0f;
  for (int j = 0; j < kQK; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.0f / kQK;
  float w[kQK];
  for (int j = 0; j < kQK; ++j) w[j] = qw != nullptr ? qw[j] * std::sqrt(sigma2 + x[j] * x[j]) : x[j] * x[j];
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK; ++j) {
    const float ax = std::fabs(x[j]);
    if (ax > amax) {
      amax = ax;
      max = x[j];
    }
  }
  if (amax < kGroupMaxEps) return 0.0f;
  const float first = -max / static_cast<float>(kIq4NlValues[0]);
  float sumqx, sumq2;
  FitSums(x, w, 1.0f / first, &sumqx, &sumq2);
  float d = sumqx / sumq2;
  float best = d * sumqx;
  for (int t = -kTrials; t <= kTrials; ++t) {
    const float id = static_cast<float>(t + kIq4NlValues[0]) / max;
    FitSums(x, w, id, &sumqx, &sumq2);
    if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

}  // namespace

void QuantizeBlockIQ4_NLWeighted(const float* x, const float* qw, uint8_t* out) {
  const float d = BlockScale(x, qw);
  StoreF16(out, d);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;  // NaN stays NaN, as in ggml
  uint8_t* qs = out + 2;
  for (int j = 0; j < kQK / 2; ++j) {
    const int lo = NearestLevel(id * x[j]);
    const int hi = NearestLevel(id * x[j + kQK / 2]);
    qs[j] = static_cast<uint8_t>(lo | (hi << 4));
  }
}

void QuantizeBlockIQ4_NL(const float* x, uint8_t* out) { QuantizeBlockIQ4_NLWeighted(x, nullptr, out); }

}  // namespace weft::quant
