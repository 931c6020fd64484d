#include "eval/hessian_collector.h"

#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/isa_clones.h"

namespace weft {
namespace {

uint64_t HashRows(const float* x, int64_t m, int64_t k, int64_t stride) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x + r * stride;
    for (int64_t j = 0; j < k; ++j) {
      uint32_t b;
      std::memcpy(&b, row + j, 4);
      h = (h ^ b) * 1099511628211ull;
    }
  }
  return h;
}

// Sixteen independent partial sums in a fixed order, compiled for AVX-512 and AVX2 too:
// the same result on every ISA (this file is compiled with -ffp-contract=off).
WEFT_ISA_CLONES float DotF(const float* a, const float* b, int64_t n) {
  float s[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int l = 0; l < 16; ++l) s[l] += a[i + l] * b[i + l];
  }
  for (; i < n; ++i) s[0] += a[i] * b[i];
  float t[8];
  for (int l = 0; l < 8; ++l) t[l] = s[l] + s[l + 8];
  return ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
}

}  // namespace

void HessianCollector::OnMatMul(const TensorView& w, const float* x, int64_t m, int64_t x_stride) {
  std::string name = w.name;
  const size_t open = name.find('[');
  if (open != std::string::npos) {
    // A fused projection's first row slice stands for the whole tensor; other slices
    // (later rows, experts, tensor-parallel parts) are not collected.
    if (name.compare(open, 9, "[rows 0..") != 0) return;
    name.resize(open);
  }
  if (name.rfind("blk.", 0) != 0 || m <= 0) return;
  const int64_t k = w.ne[0];
  const int64_t stride = x_stride == 0 ? k : x_stride;
  const uint64_t hash = HashRows(x, m, k, stride);
  const bool same_input = x == last_x_ && m == last_m_ && k == last_k_ && hash == last_hash_;
  auto it = by_weight_.find(name);
  std::shared_ptr<Group> g;
  if (it != by_weight_.end()) {
    g = it->second;
    if (same_input && g == last_group_) return;  // a sibling already added this input
  } else if (same_input && last_group_ != nullptr) {
    last_group_->weights.push_back(name);
    by_weight_[name] = last_group_;
    return;
  } else {
    g = std::make_shared<Group>();
    g->k = k;
    if (with_hessian_) g->h.assign(static_cast<size_t>(k * k), 0.0f);
    g->abs_sum.assign(static_cast<size_t>(k), 0.0);
    g->abs_max.assign(static_cast<size_t>(k), 0.0f);
    g->weights.push_back(name);
    by_weight_[name] = g;
    ++num_groups_;
  }
  WEFT_CHECK(g->k == k, "hessian: {} seen with {} columns, then {}", name, g->k, k);
  last_x_ = x;
  last_m_ = m;
  last_k_ = k;
  last_hash_ = hash;
  last_group_ = g;
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x + r * stride;
    for (int64_t j = 0; j < k; ++j) {
      const float a = std::fabs(row[j]);
      g->abs_sum[static_cast<size_t>(j)] += a;
      if (a > g->abs_max[static_cast<size_t>(j)]) g->abs_max[static_cast<size_t>(j)] = a;
    }
  }
  if (!with_hessian_) {
    g->rows += m;
    return;
  }
  // H[i][j] += 2 sum_r x[r][i] x[r][j] for j >= i, as dots of the transposed input's rows.
  xt_.resize(static_cast<size_t>(k * m));
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x + r * stride;
    for (int64_t j = 0; j < k; ++j) xt_[static_cast<size_t>(j * m + r)] = row[j];
  }
  float* h = g->h.data();
  const float* xt = xt_.data();
  auto body = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* xi = xt + i * m;
      float* hi = h + i * k;
      for (int64_t j = i; j < k; ++j) hi[j] += 2.0f * DotF(xi, xt + j * m, m);
    }
  };
  if (pool_ != nullptr && k * k * m > (1 << 20)) {
    pool_->ParallelFor(0, k, 16, body);
  } else {
    body(0, k);
  }
  g->rows += m;
}

}  // namespace weft
