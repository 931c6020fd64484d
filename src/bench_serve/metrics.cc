#include "bench_serve/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>

#include "bench_serve/comma_list.h"

namespace weft::bench_serve {

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(idx)), hi = static_cast<size_t>(std::ceil(idx));
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

Distribution Summarize(const std::vector<double>& v) {
  Distribution d;
  d.count = static_cast<int64_t>(v.size());
  if (v.empty()) return d;
  double sum = 0;
  for (double x : v) sum += x;
  d.mean = sum / static_cast<double>(v.size());
  std::vector<double> s = v;
  std::sort(s.begin(), s.end());
  d.p50 = Percentile(s, 50);
  d.p90 = Percentile(s, 90);
  d.p99 = Percentile(s, 99);
  return d;
}

StatusOr<Slo> ParseSlo(const std::string& text) {
  Slo slo;
  const std::string form = "use NAME=VALUE[,NAME=VALUE], NAME one of ttft, tpot, itl, e2e, VALUE like 500ms or 1s";
  for (const std::string& item : SplitCommaList(text)) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return InvalidArgumentError("--slo: '" + item + "' is not NAME=VALUE: " + form);
    const std::string name = item.substr(0, eq), value = item.substr(eq + 1);
    char* unit = nullptr;
    const double v = std::strtod(value.c_str(), &unit);
    const std::string u = unit != nullptr ? unit : "";
    double scale = 0;
    if (u.empty() || u == "ms") scale = 1;
    else if (u == "s") scale = 1000;
    else if (u == "us") scale = 1e-3;
    if (value.empty() || unit == value.c_str() || scale == 0 || !std::isfinite(v) || v <= 0) {
      return InvalidArgumentError("--slo: '" + item + "' has no valid duration: " + form);
    }
    std::optional<double>* field = name == "ttft" ? &slo.ttft_ms
                                   : name == "tpot" ? &slo.tpot_ms
                                   : name == "itl"  ? &slo.itl_ms
                                   : name == "e2e"  ? &slo.e2e_ms
                                                    : nullptr;
    if (field == nullptr) return InvalidArgumentError("--slo: unknown metric '" + name + "': " + form);
    *field = v * scale;
  }
  return slo;
}

std::string SloString(const Slo& slo) {
  std::string s;
  auto add = [&](const char* name, const std::optional<double>& v) {
    if (!v) return;
    if (!s.empty()) s += ", ";
    s += fmt::format("{}<={:g}ms", name, *v);
  };
  add("ttft", slo.ttft_ms);
  add("tpot", slo.tpot_ms);
  add("itl", slo.itl_ms);
  add("e2e", slo.e2e_ms);
  return s;
}

bool MeetsSlo(const RequestResult& r, const Slo& slo) {
  if (!r.ok()) return false;
  if (slo.ttft_ms && r.ttft_ms > *slo.ttft_ms) return false;
  if (slo.tpot_ms && r.tpot_ms() > *slo.tpot_ms) return false;
  if (slo.e2e_ms && r.e2e_ms > *slo.e2e_ms) return false;
  if (slo.itl_ms) {
    for (double g : r.itl_ms) {
      if (g > *slo.itl_ms) return false;
    }
  }
  return true;
}

PassSummary SummarizePass(const PassResult& pass, const PassOptions& options, const Slo& slo) {
  PassSummary s;
  s.rate = options.rate;
  s.concurrency = options.concurrency;
  s.duration_s = pass.duration_s;
  s.client_cpu_s = pass.cpu_user_s + pass.cpu_sys_s;
  s.client_cpu_percent = pass.duration_s > 0 ? 100 * s.client_cpu_s / pass.duration_s : 0;
  std::vector<double> ttft, tpot, itl, e2e;
  bool usage = false, chunks = false;
  double busy_ms = 0;
  for (const RequestResult& r : pass.requests) {
    ++s.sent;
    if (r.error == ErrorClass::kCancelled) {
      ++s.cancelled;
      continue;
    }
    busy_ms += r.e2e_ms;
    if (!r.ok()) {
      ++s.failed;
      ++s.errors[ErrorClassName(r.error)];
      if (s.first_error.empty()) s.first_error = std::string(ErrorClassName(r.error)) + ": " + r.error_message;
      continue;
    }
    ++s.completed;
    (r.usage_reported ? usage : chunks) = true;
    s.prompt_tokens += std::max<int64_t>(0, r.prompt_tokens);
    s.output_tokens += r.output_tokens;
    ttft.push_back(r.ttft_ms);
    e2e.push_back(r.e2e_ms);
    if (r.output_tokens > 1) tpot.push_back(r.tpot_ms());
    itl.insert(itl.end(), r.itl_ms.begin(), r.itl_ms.end());
    if (MeetsSlo(r, slo)) ++s.slo_met;
  }
  s.token_counts = usage && chunks ? "mixed" : chunks ? "chunks" : "usage";
  if (s.duration_s > 0) {
    s.request_throughput = s.completed / s.duration_s;
    s.output_throughput = static_cast<double>(s.output_tokens) / s.duration_s;
    s.total_token_throughput = static_cast<double>(s.prompt_tokens + s.output_tokens) / s.duration_s;
    s.goodput = s.slo_met / s.duration_s;
    s.mean_in_flight = busy_ms / 1000 / s.duration_s;
  }
  s.ttft_ms = Summarize(ttft);
  s.tpot_ms = Summarize(tpot);
  s.itl_ms = Summarize(itl);
  s.e2e_ms = Summarize(e2e);
  return s;
}

}  // namespace weft::bench_serve
