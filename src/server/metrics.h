// Metrics: the server's Prometheus registry. Counters and histograms are updated by
// request handlers; gauges come from an EngineStats snapshot at scrape time.
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
  // Appends the _bucket/_sum/_count lines of `name` (with HELP and TYPE).
  void Render(const std::string& name, const std::string& help, std::string* out) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket (not cumulative); last = +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

struct RequestRecord {
  int http_status = 200;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  double ttft_s = -1, tpot_s = -1, e2e_s = -1;  // < 0: not measured
};

class Metrics {
 public:
  Metrics();
  void Record(const RequestRecord& r);
  // The whole exposition text, with the engine gauges from `stats`.
  std::string Render(const EngineStats& stats, int64_t in_flight) const;

 private:
  mutable std::mutex mu_;
  std::map<int, int64_t> requests_by_status_;  // guarded by mu_
  int64_t prompt_tokens_ = 0, generation_tokens_ = 0;
  Histogram ttft_, tpot_, e2e_;
};

}  // namespace weft::server
