// Metrics: the server's Prometheus registry. Counters and histograms are updated by
// request handlers; gauges come from an EngineStats snapshot at scrape time.
// Names follow vLLM's (vllm:num_requests_running, vllm:time_to_first_token_seconds, ...,
// each with a model_name label) so that dashboards built for vLLM read weft; weft's own
// (weft_*) remain where vLLM has no equivalent.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/engine_config.h"

namespace weft::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  // Appends the _bucket/_sum/_count lines of `name` (with HELP and TYPE); `labels` is
  // "" or `key="value"` pairs joined by commas, added to every line.
  void Render(const std::string& name, const std::string& help, const std::string& labels, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket (not cumulative); last = +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

struct RequestRecord {
  int http_status = 200;
  std::string finished_reason;  // "stop", "length", "abort", "error"; "" when refused
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double ttft_s = -1, tpot_s = -1, e2e_s = -1, queue_s = -1;  // < 0: not measured
};

class Metrics {
 public:
  Metrics();
  void Record(const RequestRecord& r);
  // The whole exposition text, with the engine gauges from `stats`; `model_name` is the
  // served model id, the value of every vllm:* metric's model_name label.
  std::string Render(const EngineStats& stats, int64_t in_flight, const std::string& model_name) const;

 private:
  mutable std::mutex mu_;
  std::map<int, int64_t> requests_by_status_;            // guarded by mu_
  std::map<std::string, int64_t> success_by_reason_;     // guarded by mu_
  int64_t prompt_tokens_ = 0, generation_tokens_ = 0;    // guarded by mu_
  Histogram ttft_, tpot_, e2e_, queue_, prompt_len_, gen_len_;  // guarded by mu_
};

}  // namespace weft::server
