#include "bench_serve/json_report.h"

#include <fmt/format.h>

#include <cmath>

namespace weft::bench_serve {

OrderedJson DistributionJson(const Distribution& d) {
  OrderedJson j;
  j["count"] = d.count;
  j["mean"] = d.mean;
  j["p50"] = d.p50;
  j["p90"] = d.p90;
  j["p99"] = d.p99;
  return j;
}

OrderedJson SummaryJson(const PassSummary& s) {
  OrderedJson j;
  j["sent"] = s.sent;
  j["completed"] = s.completed;
  j["failed"] = s.failed;
  j["cancelled"] = s.cancelled;
  j["errors"] = OrderedJson::object();
  for (const auto& [k, v] : s.errors) j["errors"][k] = v;
  j["first_error"] = s.first_error;
  j["duration_s"] = s.duration_s;
  j["prompt_tokens"] = s.prompt_tokens;
  j["output_tokens"] = s.output_tokens;
  j["token_counts"] = s.token_counts;
  j["request_throughput"] = s.request_throughput;
  j["output_throughput"] = s.output_throughput;
  j["total_token_throughput"] = s.total_token_throughput;
  j["goodput"] = s.goodput;
  j["slo_met"] = s.slo_met;
  j["mean_in_flight"] = s.mean_in_flight;
  j["ttft_ms"] = DistributionJson(s.ttft_ms);
  j["tpot_ms"] = DistributionJson(s.tpot_ms);
  j["itl_ms"] = DistributionJson(s.itl_ms);
  j["e2e_ms"] = DistributionJson(s.e2e_ms);
  j["client_cpu_s"] = s.client_cpu_s;
  j["client_cpu_percent"] = s.client_cpu_percent;
  return j;
}

OrderedJson RequestJson(const RequestResult& r) {
  OrderedJson j;
  j["index"] = r.index;
  j["scheduled_s"] = r.scheduled_s;
  j["send_s"] = r.send_s;
  j["ok"] = r.ok();
  j["error"] = ErrorClassName(r.error);
  j["http_status"] = r.http_status;
  j["error_message"] = r.error_message;
  j["ttft_ms"] = r.ttft_ms;
  j["tpot_ms"] = r.tpot_ms();
  j["e2e_ms"] = r.e2e_ms;
  j["itl_ms"] = r.itl_ms;
  j["prompt_tokens"] = r.prompt_tokens < 0 ? OrderedJson() : OrderedJson(r.prompt_tokens);
  j["output_tokens"] = r.output_tokens;
  j["token_count"] = r.usage_reported ? "usage" : "chunks";
  j["finish_reason"] = r.finish_reason;
  return j;
}

std::string PassLabel(const PassOptions& pass, int num_requests) {
  const bool paced = std::isfinite(pass.rate);
  if (!paced) return pass.concurrency >= num_requests ? "all at once" : fmt::format("concurrency {}", pass.concurrency);
  if (pass.concurrency >= num_requests) return fmt::format("rate {:g}/s", pass.rate);
  return fmt::format("rate {:g}/s, concurrency {}", pass.rate, pass.concurrency);
}

OrderedJson PassJson(const PassOptions& pass, const PassResult& result, const PassSummary& summary, int num_requests) {
  OrderedJson j;
  j["label"] = PassLabel(pass, num_requests);
  j["request_rate"] = std::isfinite(pass.rate) ? OrderedJson(pass.rate) : OrderedJson();
  j["concurrency"] = pass.concurrency;
  j["stopped_early"] = result.stopped;
  j["summary"] = SummaryJson(summary);
  OrderedJson reqs = OrderedJson::array();
  for (const RequestResult& r : result.requests) reqs.push_back(RequestJson(r));
  j["requests"] = std::move(reqs);
  return j;
}

}  // namespace weft::bench_serve
