#include "eval/imatrix_collector.h"

#include <fmt/format.h>

#include <cctype>

#include "base/check.h"

namespace weft {
namespace {

// "blk.0.ffn_up_exps.weight[3]" -> base "blk.0.ffn_up_exps.weight", index 3. "name[rows
// 0..n)" -> index -2 for the first slice of a fused tensor, -3 for a later one. Plain
// names: -1. Other suffixes (tensor-parallel parts): -4.
std::string SplitName(const std::string& name, int64_t* index) {
  *index = -1;
  const size_t open = name.find('[');
  if (open == std::string::npos || name.back() == '[') return name;
  const std::string base = name.substr(0, open);
  const std::string inner = name.substr(open + 1, name.size() - open - 2);
  if (!inner.empty() && std::isdigit(static_cast<unsigned char>(inner[0]))) {
    *index = std::stoll(inner);
  } else if (inner.rfind("rows 0..", 0) == 0 && name.back() == ')') {
    *index = -2;
  } else if (inner.rfind("rows ", 0) == 0 && name.back() == ')') {
    *index = -3;
  } else {
    *index = -4;
  }
  return base;
}

}  // namespace

ImatrixCollector::Stats& ImatrixCollector::Entry(const std::string& name, int64_t k, int64_t parts) {
  Stats& s = stats_[name];
  if (s.sum_sq.empty()) {
    s.k = k;
    s.sum_sq.assign(static_cast<size_t>(k * parts), 0.0);
    s.count.assign(static_cast<size_t>(parts), 0);
  }
  WEFT_CHECK(s.k == k && static_cast<int64_t>(s.count.size()) == parts, "imatrix: {} seen with {} columns, then {}",
             name, s.k, k);
  if (s.last_step != step_) {
    s.last_step = step_;
    ++s.ncall;
  }
  return s;
}

void ImatrixCollector::OnMatMul(const TensorView& w, const float* x, int64_t m, int64_t x_stride) {
  int64_t index;
  const std::string base = SplitName(w.name, &index);
  if (index == -3 || index == -4) return;
  if (!(base.rfind("blk.", 0) == 0 || (process_output_ && base == "output.weight"))) return;
  const int64_t k = w.ne[0];
  const bool expert = index >= 0;
  if (!expert && m < 16) return;
  if (expert) WEFT_CHECK(index < n_expert_, "imatrix: {} names expert {} of {}", w.name, index, n_expert_);
  Stats& s = Entry(base, k, expert ? n_expert_ : 1);
  const int64_t part = expert ? index : 0;
  double* acc = s.sum_sq.data() + part * k;
  for (int64_t r = 0; r < m; ++r) {
    const float* row = x + r * x_stride;
    for (int64_t j = 0; j < k; ++j) acc[j] += static_cast<double>(row[j]) * row[j];
  }
  s.count[static_cast<size_t>(part)] += m;
}

quant::Imatrix ImatrixCollector::Result(int32_t chunks, const std::string& dataset,
                                        std::vector<std::string>* skipped) const {
  quant::Imatrix out;
  out.chunks = chunks;
  out.dataset = dataset;
  for (const auto& [name, s] : stats_) {
    bool complete = true;
    for (int64_t c : s.count) complete = complete && c > 0;
    if (!complete) {
      if (skipped != nullptr) skipped->push_back(name);
      continue;
    }
    quant::ImatrixEntry e;
    e.ncall = s.ncall;
    e.values.resize(s.sum_sq.size());
    for (size_t i = 0; i < s.sum_sq.size(); ++i) {
      const auto rows = static_cast<double>(s.count[i / static_cast<size_t>(s.k)]);
      e.values[i] = static_cast<float>(s.sum_sq[i] / rows * s.ncall);
    }
    out.entries[name] = std::move(e);
  }
  return out;
}

}  // namespace weft
