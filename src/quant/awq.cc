#include "quant/awq.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/check.h"
#include "base/isa_clones.h"
#include "quant/quant_rows.h"

namespace weft::quant {
namespace {

// Eight partial sums in a fixed order (the same result on every ISA).
WEFT_ISA_CLONES float DotF(const float* a, const float* b, int64_t n) {
  float s[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) s[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

int64_t ChannelOf(const ScaleGroup& g, int64_t j) { return g.channel == nullptr ? j : g.channel[j]; }

std::vector<float> ExpandToColumns(const ScaleGroup& g, const std::vector<float>& s) {
  std::vector<float> col(static_cast<size_t>(g.k));
  for (int64_t j = 0; j < g.k; ++j) col[static_cast<size_t>(j)] = s[static_cast<size_t>(ChannelOf(g, j))];
  return col;
}

}  // namespace

bool AwqScoresType(DType type) {
  const DTypeInfo& info = GetDTypeInfo(type);
  return info.block_size > 1 && CanQuantizeTo(type);
}

std::vector<float> AwqScales(const ScaleGroup& g, double alpha, const std::vector<float>* wmean) {
  std::vector<double> sum(static_cast<size_t>(g.channels), 0.0);
  std::vector<int> n(static_cast<size_t>(g.channels), 0);
  for (int64_t j = 0; j < g.k; ++j) {
    const auto c = static_cast<size_t>(ChannelOf(g, j));
    sum[c] += g.act[j];
    ++n[c];
  }
  std::vector<float> s(static_cast<size_t>(g.channels), 1.0f);
  if (alpha == 0 && wmean == nullptr) return s;
  double lo = std::numeric_limits<double>::max(), hi = 0;
  for (size_t c = 0; c < s.size(); ++c) {
    const double a = n[c] > 0 ? sum[c] / n[c] : 0.0;
    double v = std::pow(a, alpha);
    if (wmean != nullptr) v /= std::pow(std::max<double>((*wmean)[c], 1e-8), 1.0 - alpha);
    v = std::max(v, 1e-4);
    s[c] = static_cast<float>(v);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  const double norm = std::sqrt(lo * hi);
  for (float& v : s) v = static_cast<float>(v / norm);
  return s;
}

double ScaledQuantError(const ScaleGroup& g, const ScaleConsumer& c, const float* col_scale, ThreadPool& pool) {
  if (!AwqScoresType(c.type) || c.rows == 0) return 0;
  const int64_t k = g.k;
  const size_t row_bytes = BytesForElements(c.type, k);
  std::vector<double> per_row(static_cast<size_t>(c.rows), 0.0);
  pool.ParallelFor(0, c.rows, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> ws(static_cast<size_t>(k)), d(static_cast<size_t>(k));
    std::vector<uint8_t> q(row_bytes);
    for (int64_t r = r0; r < r1; ++r) {
      const float* w = c.w + r * k;
      for (int64_t j = 0; j < k; ++j) ws[static_cast<size_t>(j)] = w[j] * col_scale[j];
      QuantizeRows(c.type, ws.data(), q.data(), 1, k);
      DequantizeRow(c.type, q.data(), ws.data(), k);
      for (int64_t j = 0; j < k; ++j) d[static_cast<size_t>(j)] = w[j] - ws[static_cast<size_t>(j)] / col_scale[j];
      // d H d^T from the upper triangle: sum_i d_i (H_ii d_i + 2 sum_{j>i} H_ij d_j).
      double e = 0;
      for (int64_t i = 0; i < k; ++i) {
        const float di = d[static_cast<size_t>(i)];
        if (di == 0.0f) continue;
        const float* hi = g.h + i * k;
        const double off = DotF(hi + i + 1, d.data() + i + 1, k - i - 1);
        e += static_cast<double>(di) * (static_cast<double>(hi[i]) * di + 2.0 * off);
      }
      per_row[static_cast<size_t>(r)] = 0.5 * e;
    }
  });
  double total = 0;
  for (double v : per_row) total += v;
  return total;
}

AwqResult AwqSearch(const ScaleGroup& g, std::span<const ScaleConsumer> consumers, const AwqOptions& options,
                    ThreadPool& pool) {
  WEFT_CHECK(g.k > 0 && g.act != nullptr && g.channels > 0, "awq: empty group");
  AwqResult best;
  auto score = [&](const std::vector<float>& s) {
    const std::vector<float> col = ExpandToColumns(g, s);
    double e = 0;
    for (const ScaleConsumer& c : consumers) e += ScaledQuantError(g, c, col.data(), pool);
    return e;
  };
  if (options.fixed_alpha >= 0) {
    best.alpha = options.fixed_alpha;
    best.scales = AwqScales(g, best.alpha);
    if (g.h != nullptr) {
      best.rtn_error = score(AwqScales(g, 0));
      best.error = score(best.scales);
    }
    return best;
  }
  WEFT_CHECK(g.h != nullptr && options.grid >= 1, "awq: the search needs the Hessian and a grid");
  bool any = false;
  for (const ScaleConsumer& c : consumers) any = any || (AwqScoresType(c.type) && c.rows > 0);
  best.scales = AwqScales(g, 0);
  if (!any) return best;  // nothing is quantised: s = 1
  best.rtn_error = best.error = score(best.scales);
  // Duo form: the consumers' mean relative weight magnitude per channel.
  std::vector<float> wmean;
  if (options.duo) {
    std::vector<double> sum(static_cast<size_t>(g.channels), 0.0);
    int64_t n = 0;
    for (const ScaleConsumer& c : consumers) {
      for (int64_t r = 0; r < c.rows; ++r) {
        const float* w = c.w + r * g.k;
        float mx = 0;
        for (int64_t j = 0; j < g.k; ++j) mx = std::max(mx, std::fabs(w[j]));
        if (mx == 0) continue;
        for (int64_t j = 0; j < g.k; ++j) sum[static_cast<size_t>(ChannelOf(g, j))] += std::fabs(w[j]) / mx;
        ++n;
      }
    }
    if (n > 0) {
      std::vector<int> cols(static_cast<size_t>(g.channels), 0);
      for (int64_t j = 0; j < g.k; ++j) ++cols[static_cast<size_t>(ChannelOf(g, j))];
      wmean.resize(sum.size());
      for (size_t c = 0; c < sum.size(); ++c) {
        wmean[c] = cols[c] > 0 ? static_cast<float>(sum[c] / (static_cast<double>(n) * cols[c])) : 0.0f;
      }
    }
  }
  for (int i = 0; i < options.grid; ++i) {
    const double alpha = static_cast<double>(i) / options.grid;
    for (int duo = 0; duo < (wmean.empty() ? 1 : 2); ++duo) {
      if (i == 0 && duo == 0) continue;  // s = 1, scored above
      std::vector<float> s = AwqScales(g, alpha, duo != 0 ? &wmean : nullptr);
      const double e = score(s);
      if (e < best.error) {
        best.error = e;
        best.alpha = alpha;
        best.duo = duo != 0;
        best.scales = std::move(s);
      }
    }
  }
  return best;
}

std::vector<float> SmoothQuantScales(const ScaleGroup& g, std::span<const ScaleConsumer> consumers, double alpha) {
  std::vector<float> xmax(static_cast<size_t>(g.channels), 0.0f), wmax(static_cast<size_t>(g.channels), 0.0f);
  for (int64_t j = 0; j < g.k; ++j) {
    float& m = xmax[static_cast<size_t>(ChannelOf(g, j))];
    m = std::max(m, std::fabs(g.act[j]));
  }
  for (const ScaleConsumer& c : consumers) {
    for (int64_t r = 0; r < c.rows; ++r) {
      const float* w = c.w + r * g.k;
      for (int64_t j = 0; j < g.k; ++j) {
        float& m = wmax[static_cast<size_t>(ChannelOf(g, j))];
        m = std::max(m, std::fabs(w[j]));
      }
    }
  }
  std::vector<float> s(static_cast<size_t>(g.channels), 1.0f);
  for (size_t c = 0; c < s.size(); ++c) {
    if (!(xmax[c] > 0) || !(wmax[c] > 0)) continue;
    const double v = std::pow(static_cast<double>(xmax[c]), alpha) / std::pow(static_cast<double>(wmax[c]), 1.0 - alpha);
    if (std::isfinite(v) && v > 0) s[c] = static_cast<float>(std::clamp(v, 1e-5, 1e5));
  }
  return s;
}

}  // namespace weft::quant
