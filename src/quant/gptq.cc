#include "quant/gptq.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/isa_clones.h"
#include "quant/k_fit.h"
#include "quant/quant_math.h"
#include "quant/quant_rows.h"

namespace weft::quant {
namespace {

constexpr int kTileRows = 16;  // rows quantised together (each U row is read once per tile)

// The level grid of element e of a fitted block: value = d * l - m for an integer level
// l in [lo, hi].
struct Grid {
  float d = 0, m = 0;
  int lo = 0, hi = 0;
};

Grid GridAt(DType type, const uint8_t* blk, int e) {
  Grid g;
  switch (type) {
    case DType::kQ4_0: g = {LoadF16(blk), 0, -8, 7}; break;
    case DType::kQ4_1: g = {LoadF16(blk), -LoadF16(blk + 2), 0, 15}; break;
    case DType::kQ5_0: g = {LoadF16(blk), 0, -16, 15}; break;
    case DType::kQ5_1: g = {LoadF16(blk), -LoadF16(blk + 2), 0, 31}; break;
    case DType::kQ8_0: g = {LoadF16(blk), 0, -127, 127}; break;
    case DType::kQ2_K: {
      const uint8_t sc = blk[e / 16];
      g = {LoadF16(blk + 80) * static_cast<float>(sc & 0xF), LoadF16(blk + 82) * static_cast<float>(sc >> 4), 0, 3};
      break;
    }
    case DType::kQ3_K: {
      const uint8_t* packed = blk + 96;
      const int j = e / 16;
      const int low = j < 8 ? (packed[j] & 0xF) : (packed[j - 8] >> 4);
      const int sc = (low | (((packed[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      g = {LoadF16(blk + 108) * static_cast<float>(sc), 0, -4, 3};
      break;
    }
    case DType::kQ4_K:
    case DType::kQ5_K: {
      int sc, m;
      GetScaleMinK4(e / 32, blk + 4, &sc, &m);
      g = {LoadF16(blk) * static_cast<float>(sc), LoadF16(blk + 2) * static_cast<float>(m), 0,
           type == DType::kQ4_K ? 15 : 31};
      break;
    }
    case DType::kQ6_K:
      g = {LoadF16(blk + 208) * static_cast<float>(static_cast<int8_t>(blk[192 + e / 16])), 0, -32, 31};
      break;
    default: WEFT_CHECK(false, "gptq: no grid for {}", GetDTypeInfo(type).name);
  }
  return g;
}

inline void SetNibble(uint8_t* byte, bool high, int v) {
  *byte = high ? static_cast<uint8_t>((*byte & 0x0F) | (v << 4)) : static_cast<uint8_t>((*byte & 0xF0) | v);
}

inline void SetBits2(uint8_t* byte, int shift, int v) {
  *byte = static_cast<uint8_t>((*byte & ~(3 << shift)) | (v << shift));
}

// Writes level l (in [lo, hi] of GridAt) of element e into the block.
void SetLevel(DType type, uint8_t* blk, int e, int l) {
  switch (type) {
    case DType::kQ4_0: SetNibble(blk + 2 + e % 16, e >= 16, l + 8); break;
    case DType::kQ4_1: SetNibble(blk + 4 + e % 16, e >= 16, l); break;
    case DType::kQ5_0:
    case DType::kQ5_1: {
      const int s = type == DType::kQ5_0 ? l + 16 : l;
      uint8_t* qh = blk + (type == DType::kQ5_0 ? 2 : 4);
      uint8_t* qs = qh + 4;
      SetNibble(qs + e % 16, e >= 16, s & 0xF);
      uint32_t bits;
      std::memcpy(&bits, qh, 4);
      bits = (bits & ~(1u << e)) | (static_cast<uint32_t>(s >> 4) << e);
      std::memcpy(qh, &bits, 4);
      break;
    }
    case DType::kQ8_0: blk[2 + e] = static_cast<uint8_t>(static_cast<int8_t>(l)); break;
    case DType::kQ2_K: {
      const int h = e / 128, r = e % 128;
      SetBits2(blk + 16 + 32 * h + r % 32, 2 * (r / 32), l);
      break;
    }
    case DType::kQ3_K: {
      const int s = l + 4;
      uint8_t* hm = blk + e % 32;
      *hm = static_cast<uint8_t>((*hm & ~(1u << (e / 32))) | ((s >> 2) << (e / 32)));
      const int h = e / 128, r = e % 128;
      SetBits2(blk + 32 + 32 * h + r % 32, 2 * (r / 32), s & 3);
      break;
    }
    case DType::kQ4_K: {
      const int c = e / 64, r = e % 64;
      SetNibble(blk + 16 + 32 * c + r % 32, r >= 32, l);
      break;
    }
    case DType::kQ5_K: {
      const int c = e / 64, r = e % 64, i = r % 32, hi = r >= 32 ? 1 : 0;
      SetNibble(blk + 48 + 32 * c + i, hi != 0, l & 0xF);
      uint8_t* qh = blk + 16 + i;
      const int bit = 2 * c + hi;
      *qh = static_cast<uint8_t>((*qh & ~(1u << bit)) | ((l >> 4) << bit));
      break;
    }
    case DType::kQ6_K: {
      const int s = l + 32;
      const int h = e / 128, r = e % 128, p = r / 32, i = r % 32;
      SetNibble(blk + 64 * h + i + (p & 1) * 32, p >= 2, s & 0xF);
      SetBits2(blk + 128 + 32 * h + i, 2 * p, s >> 4);
      break;
    }
    default: WEFT_CHECK(false, "gptq: cannot write {}", GetDTypeInfo(type).name);
  }
}

// The hot loops, compiled for AVX-512 and AVX2 too (picked at load time). Eight
// independent partial sums in a fixed order: the same result on every ISA (this file is
// compiled with -ffp-contract=off, so no fused multiply-adds either).
#define WEFT_GPTQ_CLONES WEFT_ISA_CLONES

WEFT_GPTQ_CLONES double Dot(const double* a, const double* b, int64_t n) {
  double s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) s[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// y[0..n) -= a * x[0..n)
WEFT_GPTQ_CLONES void SubScaled(float* y, const float* x, float a, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] -= a * x[i];
}

// Lower Cholesky factor of a (row-major [k, k], lower triangle read and overwritten).
// False when a pivot is not positive.
bool CholeskyLower(double* a, int64_t k, ThreadPool& pool) {
  for (int64_t j = 0; j < k; ++j) {
    double* rj = a + j * k;
    const double s = rj[j] - Dot(rj, rj, j);
    if (!(s > 0)) return false;
    rj[j] = std::sqrt(s);
    const double inv = 1.0 / rj[j];
    const int64_t rest = k - j - 1;
    const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(1, j));
    auto rows = [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        double* ri = a + i * k;
        ri[j] = (ri[j] - Dot(ri, rj, j)) * inv;
      }
    };
    if (rest * j < 65536) {
      rows(j + 1, k);
    } else {
      pool.ParallelFor(j + 1, k, grain, rows);
    }
  }
  return true;
}

}  // namespace

bool GptqSupports(DType type) {
  switch (type) {
    case DType::kQ4_0: case DType::kQ4_1: case DType::kQ5_0: case DType::kQ5_1: case DType::kQ8_0:
    case DType::kQ2_K: case DType::kQ3_K: case DType::kQ4_K: case DType::kQ5_K: case DType::kQ6_K:
      return true;
    default: return false;
  }
}

StatusOr<GptqFactor> FactorHessian(const float* h, int64_t k, double percdamp, bool act_order, ThreadPool& pool) {
  GptqFactor f;
  f.k = k;
  f.diag.resize(static_cast<size_t>(k));
  double mean = 0;
  for (int64_t i = 0; i < k; ++i) {
    const float d = h[i * k + i];
    if (!(d >= 0) || !std::isfinite(d)) return InvalidArgumentError(fmt::format("gptq: H[{0}][{0}] = {1}", i, d));
    f.diag[static_cast<size_t>(i)] = d;
    if (d == 0) ++f.dead;
    mean += d == 0 ? 1.0 : d;
  }
  mean /= static_cast<double>(k);
  // Column order: natural, or by decreasing diag(H) (ties by index).
  std::vector<int32_t> order(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) order[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  if (act_order) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t x, int32_t y) { return f.diag[static_cast<size_t>(x)] > f.diag[static_cast<size_t>(y)]; });
    f.perm = order;
  }
  // a = R H' R (R reverses the processing order): a = M M^T gives H'^-1 = U^T U with
  // U = R M^-1 R, in processing order.
  std::vector<double> a(static_cast<size_t>(k * k));
  double damp = percdamp * mean;
  bool ok = false;
  for (int attempt = 0; attempt < 5 && !ok; ++attempt, damp *= 10) {
    pool.ParallelFor(0, k, 64, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t i = order[static_cast<size_t>(k - 1 - r)];
        for (int64_t c = 0; c <= r; ++c) {
          const int64_t j = order[static_cast<size_t>(k - 1 - c)];
          double v = h[std::min(i, j) * k + std::max(i, j)];
          if (i == j) v = (v == 0 ? 1.0 : v) + damp;
          a[static_cast<size_t>(r * k + c)] = v;
        }
      }
    });
    ok = CholeskyLower(a.data(), k, pool);
    f.damp = damp;
  }
  if (!ok) return InvalidArgumentError("gptq: the damped Hessian is not positive definite");
  // xt[c][t] = (M^-1)[t][c], column c of the lower inverse by forward substitution.
  std::vector<double> xt(static_cast<size_t>(k * k), 0.0);
  pool.ParallelFor(0, k, 8, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double* x = xt.data() + c * k;
      x[c] = 1.0 / a[static_cast<size_t>(c * k + c)];
      for (int64_t i = c + 1; i < k; ++i) {
        const double* mi = a.data() + i * k;
        x[i] = -Dot(mi + c, x + c, i - c) / mi[i];
      }
    }
  });
  a.clear();
  a.shrink_to_fit();
  // U[p][q] = (M^-1)[k-1-p][k-1-q] = xt[k-1-q][k-1-p], q >= p.
  f.u.assign(static_cast<size_t>(k * k), 0.0f);
  pool.ParallelFor(0, k, 64, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      float* up = f.u.data() + p * k;
      for (int64_t q = p; q < k; ++q) up[q] = static_cast<float>(xt[static_cast<size_t>((k - 1 - q) * k + (k - 1 - p))]);
    }
  });
  for (int64_t i = 0; i < k; ++i) f.diag[static_cast<size_t>(i)] += static_cast<float>(damp);
  return f;
}

void GptqQuantizeRows(DType type, float* w, int64_t rows, const GptqFactor& f, const GptqOptions& options,
                      uint8_t* out, ThreadPool& pool) {
  WEFT_CHECK(GptqSupports(type), "gptq: cannot write {}", GetDTypeInfo(type).name);
  const DTypeInfo& info = GetDTypeInfo(type);
  const int64_t k = f.k;
  const int qb = static_cast<int>(info.block_size);
  const int lb = options.lazy_batch;
  WEFT_CHECK(k % qb == 0, "gptq: width {} is not a whole number of {} blocks", k, info.name);
  WEFT_CHECK(lb > 0 && lb % 32 == 0 && (qb <= lb ? lb % qb == 0 : qb % lb == 0),
             "gptq: lazy batch {} does not fit blocks of {}", lb, qb);
  const size_t row_bytes = static_cast<size_t>(k / qb) * info.block_bytes;
  const float* u = f.u.data();
  const float* fit_w = options.weighted_fit ? f.diag.data() : nullptr;
  const bool act_order = !f.perm.empty();
  const int32_t* perm = f.perm.data();

  // Fits block `b` of row r (x: its qb current weights) and keeps its dequantised values
  // and the weights it was fitted to (deq, xfit: the row's k values, original order).
  auto fit = [&](int64_t r, int64_t b, const float* x, float* deq, float* xfit) {
    uint8_t* blk = out + static_cast<size_t>(r) * row_bytes + b * info.block_bytes;
    if (fit_w != nullptr) {
      QuantizeRowsWeighted(type, x, blk, 1, qb, fit_w + b * qb);
    } else {
      QuantizeRows(type, x, blk, 1, qb);
    }
    DequantizeRow(type, blk, deq + b * qb, qb);
    std::copy(x, x + qb, xfit + b * qb);
  };

  pool.ParallelFor(0, rows, kTileRows, [&](int64_t t0, int64_t t1) {
    std::vector<float> err(static_cast<size_t>(kTileRows * lb));
    std::vector<float> deq(static_cast<size_t>(kTileRows * k)), xfit(static_cast<size_t>(kTileRows * k));
    std::vector<float> wp(act_order ? static_cast<size_t>(kTileRows * k) : 0);  // rows in processing order
    for (int64_t r0 = t0; r0 < t1; r0 += kTileRows) {
      const int64_t nr = std::min<int64_t>(kTileRows, t1 - r0);
      // The weights being updated, in processing order: the rows themselves, or (act-order)
      // a permuted copy, whose block scales are all fitted now, to the original weights
      // (a block's columns are spread over the whole order).
      float* work = act_order ? wp.data() : w + r0 * k;
      if (act_order) {
        for (int64_t r = 0; r < nr; ++r) {
          const float* wr = w + (r0 + r) * k;
          for (int64_t b = 0; b < k / qb; ++b) fit(r0 + r, b, wr + b * qb, deq.data() + r * k, xfit.data() + r * k);
          for (int64_t i = 0; i < k; ++i) wp[static_cast<size_t>(r * k + i)] = wr[perm[i]];
        }
      }
      for (int64_t b0 = 0; b0 < k; b0 += lb) {
        const int64_t b1 = std::min<int64_t>(b0 + lb, k);
        for (int64_t i = b0; i < b1; ++i) {
          const int64_t o = act_order ? perm[i] : i;  // the column's original index
          const int e = static_cast<int>(o % qb);
          const int64_t blk_index = o / qb;
          if (!act_order && e == 0) {  // a new block: fit its scales to the current weights
            for (int64_t r = 0; r < nr; ++r) {
              fit(r0 + r, blk_index, work + r * k + i, deq.data() + r * k, xfit.data() + r * k);
            }
          }
          const float* ui = u + i * k;
          const float inv_d = 1.0f / ui[i];
          for (int64_t r = 0; r < nr; ++r) {
            float* wr = work + r * k;
            const float x = wr[i];
            float q = deq[static_cast<size_t>(r * k + o)];
            if (x != xfit[static_cast<size_t>(r * k + o)]) {  // moved by earlier errors: round again
              uint8_t* blk = out + static_cast<size_t>(r0 + r) * row_bytes + blk_index * info.block_bytes;
              const Grid g = GridAt(type, blk, e);
              if (g.d != 0.0f) {
                float v = (x + g.m) / g.d;
                if (!(v >= static_cast<float>(g.lo))) v = static_cast<float>(g.lo);  // NaN too
                if (v > static_cast<float>(g.hi)) v = static_cast<float>(g.hi);
                const int l = Clamp(NearestInt(v), g.lo, g.hi);
                SetLevel(type, blk, e, l);
                q = g.d * static_cast<float>(l) - g.m;
              }
            }
            const float ev = (x - q) * inv_d;
            err[static_cast<size_t>(r * lb + (i - b0))] = ev;
            wr[i] = q;
            SubScaled(wr + i + 1, ui + i + 1, ev, b1 - i - 1);
          }
        }
        if (b1 == k) continue;
        for (int64_t t = b0; t < b1; ++t) {  // the batch's errors on the columns after it
          const float* ut = u + t * k;
          for (int64_t r = 0; r < nr; ++r) {
            const float ev = err[static_cast<size_t>(r * lb + (t - b0))];
            if (ev == 0.0f) continue;
            SubScaled(work + r * k + b1, ut + b1, ev, k - b1);
          }
        }
      }
      if (act_order) {
        for (int64_t r = 0; r < nr; ++r) {
          for (int64_t i = 0; i < k; ++i) w[(r0 + r) * k + perm[i]] = wp[static_cast<size_t>(r * k + i)];
        }
      }
    }
  });
}

}  // namespace weft::quant
