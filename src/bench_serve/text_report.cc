#include "bench_serve/text_report.h"

#include <fmt/format.h>

namespace weft::bench_serve {
namespace {

using Json = nlohmann::ordered_json;

double D(const Json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}
long long I(const Json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<long long>() : 0;
}

std::string Row(const char* name, const Json& d) {
  return fmt::format("{:<22} mean {:9.2f}  p50 {:9.2f}  p90 {:9.2f}  p99 {:9.2f}\n", name, D(d, "mean"), D(d, "p50"),
                     D(d, "p90"), D(d, "p99"));
}

}  // namespace

std::string PassText(const Json& pass, const std::string& slo) {
  const Json& s = pass.at("summary");
  std::string t = fmt::format("== {} ==\n", pass.at("label").get<std::string>());
  t += fmt::format("requests               {} completed, {} failed, {} cancelled of {} sent in {:.2f} s\n",
                   I(s, "completed"), I(s, "failed"), I(s, "cancelled"), I(s, "sent"), D(s, "duration_s"));
  t += fmt::format("request throughput     {:.2f} req/s (mean {:.2f} in flight)\n", D(s, "request_throughput"),
                   D(s, "mean_in_flight"));
  t += fmt::format("output tokens/s        {:.2f}  ({} tokens, counted from {})\n", D(s, "output_throughput"),
                   I(s, "output_tokens"), s.at("token_counts").get<std::string>());
  t += fmt::format("total tokens/s         {:.2f}  ({} prompt tokens)\n", D(s, "total_token_throughput"),
                   I(s, "prompt_tokens"));
  if (!slo.empty()) {
    t += fmt::format("goodput                {:.2f} req/s ({} of {} met {})\n", D(s, "goodput"), I(s, "slo_met"),
                     I(s, "completed"), slo);
  }
  t += Row("TTFT (ms)", s.at("ttft_ms"));
  t += Row("TPOT (ms)", s.at("tpot_ms"));
  t += Row("ITL (ms)", s.at("itl_ms"));
  t += Row("end-to-end (ms)", s.at("e2e_ms"));
  std::string errs;
  for (const auto& [k, v] : s.at("errors").items()) errs += fmt::format("{}{} {}", errs.empty() ? "" : ", ", k, v.get<int>());
  t += fmt::format("errors                 {}\n", errs.empty() ? "none" : errs);
  if (!errs.empty()) t += fmt::format("first error            {}\n", s.at("first_error").get<std::string>());
  t += fmt::format("client CPU             {:.2f} s ({:.2f}% of one core)\n", D(s, "client_cpu_s"),
                   D(s, "client_cpu_percent"));
  return t;
}

std::string SweepTable(const Json& passes) {
  std::string t = fmt::format("{:<24} {:>6} {:>6} {:>8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>6}\n", "pass",
                              "done", "errors", "req/s", "out tok/s", "goodput", "TTFT p50", "TTFT p99", "TPOT p50",
                              "TPOT p99", "E2E p99", "CPU %");
  for (const Json& p : passes) {
    const Json& s = p.at("summary");
    t += fmt::format("{:<24} {:>6} {:>6} {:>8.2f} {:>9.2f} {:>8.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f} {:>6.2f}\n",
                     p.at("label").get<std::string>(), I(s, "completed"), I(s, "failed"), D(s, "request_throughput"),
                     D(s, "output_throughput"), D(s, "goodput"), D(s.at("ttft_ms"), "p50"), D(s.at("ttft_ms"), "p99"),
                     D(s.at("tpot_ms"), "p50"), D(s.at("tpot_ms"), "p99"), D(s.at("e2e_ms"), "p99"),
                     D(s, "client_cpu_percent"));
  }
  return t;
}

}  // namespace weft::bench_serve
