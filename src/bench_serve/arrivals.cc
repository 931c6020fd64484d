#include "bench_serve/arrivals.h"

#include <cmath>
#include <cstdlib>
#include <random>

#include "bench_serve/comma_list.h"

namespace weft::bench_serve {

std::vector<double> PoissonArrivals(int n, double rate, uint64_t seed) {
  std::vector<double> t(static_cast<size_t>(std::max(0, n)), 0.0);
  if (!std::isfinite(rate)) return t;
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate);
  for (size_t i = 1; i < t.size(); ++i) t[i] = t[i - 1] + gap(rng);
  return t;
}

StatusOr<std::vector<double>> ParseSweep(const std::string& flag, const std::string& text, bool allow_inf,
                                         bool integral) {
  std::vector<double> out;
  for (const std::string& item : SplitCommaList(text)) {
    const std::string want = std::string(integral ? "positive integers" : "positive numbers") +
                             (allow_inf ? " or inf" : "") + ", comma-separated (e.g. 1,4,16)";
    if (allow_inf && (item == "inf" || item == "infinity")) {
      out.push_back(kInfiniteRate);
      continue;
    }
    char* stop = nullptr;
    const double v = item.empty() ? 0 : std::strtod(item.c_str(), &stop);
    const bool bad = item.empty() || *stop != '\0' || !std::isfinite(v) || v <= 0 ||
                     (integral && (v != std::floor(v) || v > 1e6));
    if (bad) return InvalidArgumentError(flag + ": '" + item + "' is not valid: use " + want);
    out.push_back(v);
  }
  return out;
}

}  // namespace weft::bench_serve
