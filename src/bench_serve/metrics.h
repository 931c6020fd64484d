// Metrics of a benchmark pass: latency distributions (mean, p50, p90, p99), throughput,
// goodput under service-level objectives, errors by class, the client's own CPU use.
//
// Conventions (those of vLLM's benchmark_serving): TTFT = send -> first non-empty
// content; TPOT = (e2e - TTFT) / (output tokens - 1), over requests with > 1 token;
// ITL = every gap between content chunks, pooled over requests; e2e = send -> end.
// Percentiles interpolate linearly between order statistics (numpy's default).
// Throughputs divide by the pass's duration; goodput counts successful requests that
// meet every SLO given. Cancelled requests (Ctrl-C) are neither successes nor errors.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bench_serve/load_runner.h"
#include "bench_serve/request_result.h"
#include "weft/status.h"

namespace weft::bench_serve {

// p in [0, 100]; 0 for an empty sample. Takes a copy to sort.
double Percentile(std::vector<double> values, double p);

struct Distribution {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;
};
Distribution Summarize(const std::vector<double>& values);

// Upper bounds in milliseconds; unset = no objective.
struct Slo {
  std::optional<double> ttft_ms, tpot_ms, itl_ms, e2e_ms;
  bool empty() const { return !ttft_ms && !tpot_ms && !itl_ms && !e2e_ms; }
};
// "ttft=1s,tpot=100ms,e2e=20s" (also itl=; units us, ms, s; a bare number is ms). An itl
// objective bounds every gap of a request. Errors name the bad item and the form.
StatusOr<Slo> ParseSlo(const std::string& text);
// "ttft<=1000ms, tpot<=100ms" ("" when empty).
std::string SloString(const Slo& slo);
bool MeetsSlo(const RequestResult& r, const Slo& slo);

struct PassSummary {
  double rate = 0;      // as asked (infinity = all at once)
  int concurrency = 0;  // as asked
  int sent = 0, completed = 0, failed = 0, cancelled = 0;
  std::map<std::string, int> errors;  // by ErrorClassName, failures only
  std::string first_error;            // one example message
  double duration_s = 0;
  int64_t prompt_tokens = 0, output_tokens = 0;  // over completed requests
  std::string token_counts;  // "usage" (as the server reported), "chunks" (counted), or "mixed"
  double request_throughput = 0, output_throughput = 0, total_token_throughput = 0;  // per second
  double goodput = 0;          // requests/s meeting every SLO (= request_throughput without SLOs)
  int slo_met = 0;             // completed requests meeting every SLO
  double mean_in_flight = 0;   // sum of e2e / duration: the concurrency the server saw
  Distribution ttft_ms, tpot_ms, itl_ms, e2e_ms;
  double client_cpu_s = 0;     // user + sys of this process
  double client_cpu_percent = 0;  // of one core, over the pass
};

PassSummary SummarizePass(const PassResult& pass, const PassOptions& options, const Slo& slo);

}  // namespace weft::bench_serve
