// The JSON form of a benchmark's results: one object per pass with its summary and every
// request's timings. The HTML report and the stdout table are drawn from these objects,
// so that they show exactly the JSON file's numbers.
//
// A pass: {"label", "request_rate" (null = all at once), "concurrency", "summary": {...},
//          "requests": [{"index", "scheduled_s", "send_s", "ok", "error", "http_status",
//          "error_message", "ttft_ms", "tpot_ms", "e2e_ms", "itl_ms": [...],
//          "prompt_tokens", "output_tokens", "token_count": "usage"|"chunks",
//          "finish_reason"}]}
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "bench_serve/load_runner.h"
#include "bench_serve/metrics.h"

namespace weft::bench_serve {

using OrderedJson = nlohmann::ordered_json;

OrderedJson DistributionJson(const Distribution& d);
OrderedJson SummaryJson(const PassSummary& s);
OrderedJson RequestJson(const RequestResult& r);
// "concurrency 4", "rate 2/s", "rate 2/s, concurrency 8", "all at once".
std::string PassLabel(const PassOptions& pass, int num_requests);
OrderedJson PassJson(const PassOptions& pass, const PassResult& result, const PassSummary& summary, int num_requests);

}  // namespace weft::bench_serve
