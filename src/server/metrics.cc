#include "server/metrics.h"

#include <fmt/format.h>

namespace weft::server {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::Render(const std::string& name, const std::string& help, std::string* out) const {
  *out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  int64_t cumulative = 0;
  for (size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    *out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  cumulative += counts_.back();
  *out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, cumulative, name, sum_, name, count_);
}

Metrics::Metrics()
    : ttft_({0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80}),
      tpot_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5}),
      e2e_({0.01, 0.05, 0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240}) {}

void Metrics::Record(const RequestRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_by_status_[r.http_status];
  prompt_tokens_ += r.prompt_tokens;
  generation_tokens_ += r.generated_tokens;
  if (r.ttft_s >= 0) ttft_.Observe(r.ttft_s);
  if (r.tpot_s >= 0) tpot_.Observe(r.tpot_s);
  if (r.e2e_s >= 0) e2e_.Observe(r.e2e_s);
}

std::string Metrics::Render(const EngineStats& s, int64_t in_flight) const {
  std::string out;
  auto gauge = [&](const char* name, const char* help, double v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
  };
  auto counter = [&](const char* name, const char* help, int64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
  };
  gauge("weft_num_requests_running", "Sequence groups running in the engine.", s.num_running);
  gauge("weft_num_requests_waiting", "Sequence groups waiting for admission.", s.num_waiting);
  gauge("weft_num_requests_in_flight", "HTTP generation requests being served.", static_cast<double>(in_flight));
  gauge("weft_kv_cache_usage_perc", "Fraction of KV cache blocks in use (0..1).", s.kv_usage);
  gauge("weft_kv_cache_blocks", "KV cache blocks in total.", s.num_blocks);
  counter("weft_prefix_cache_hits_total", "Prompt tokens served from the prefix cache.", s.prefix_hit_tokens);
  counter("weft_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.", s.prefix_queried_tokens);
  counter("weft_num_preemptions_total", "Sequences preempted (recomputed) for lack of KV blocks.", s.num_preemptions);
  counter("weft_engine_steps_total", "Engine steps run.", s.num_steps);
  std::lock_guard<std::mutex> lock(mu_);
  counter("weft_prompt_tokens_total", "Prompt tokens of served requests.", prompt_tokens_);
  counter("weft_generation_tokens_total", "Tokens generated for served requests.", generation_tokens_);
  out += "# HELP weft_http_requests_total Generation requests answered, by HTTP status.\n"
         "# TYPE weft_http_requests_total counter\n";
  for (const auto& [code, n] : requests_by_status_) out += fmt::format("weft_http_requests_total{{code=\"{}\"}} {}\n", code, n);
  ttft_.Render("weft_time_to_first_token_seconds", "Time from arrival to the first token.", &out);
  tpot_.Render("weft_time_per_output_token_seconds", "Mean time between output tokens of a request.", &out);
  e2e_.Render("weft_e2e_request_latency_seconds", "Time from arrival to the last token.", &out);
  return out;
}

}  // namespace weft::server
