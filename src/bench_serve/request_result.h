// RequestResult: what the client saw of one streamed request — when it was due and sent,
// when each piece of content arrived, the token counts, and how it failed if it did.
// Times are in milliseconds from the request's send unless named _s (seconds from the
// start of its pass). A value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace weft::bench_serve {

// Why a request failed. kCancelled is not a failure of the server: the run was stopped
// (Ctrl-C) while the request was in flight.
enum class ErrorClass { kNone, kConnect, kHttp4xx, kHttp5xx, kTimeout, kStreamParse, kStreamError, kIo, kCancelled };

// "connect", "http_4xx", "http_5xx", "timeout", "stream_parse", "stream_error" (an error
// event inside a 200 stream), "io" (the connection broke), "cancelled"; "" for kNone.
const char* ErrorClassName(ErrorClass e);

struct RequestResult {
  int index = 0;             // in the workload
  double scheduled_s = 0;    // when the arrival schedule wanted it sent
  double send_s = 0;         // when it was sent (later than scheduled when every connection was busy)
  double ttft_ms = 0;        // send -> first non-empty content delta (0 if none arrived)
  double e2e_ms = 0;         // send -> end of the stream
  std::vector<double> itl_ms;  // gaps between consecutive content chunks
  int64_t content_chunks = 0;  // events with non-empty content
  bool usage_reported = false;  // the final chunk carried usage (else counts are content chunks)
  int64_t prompt_tokens = -1;   // from usage; -1 when the server did not say
  int64_t output_tokens = 0;    // usage.completion_tokens, else content_chunks
  std::string finish_reason;
  ErrorClass error = ErrorClass::kNone;
  int http_status = 0;
  std::string error_message;  // the first line of what went wrong (server message, curl error)

  bool ok() const { return error == ErrorClass::kNone; }
  // (e2e - ttft) / (output_tokens - 1); 0 with fewer than two output tokens.
  double tpot_ms() const {
    return output_tokens > 1 ? (e2e_ms - ttft_ms) / static_cast<double>(output_tokens - 1) : 0.0;
  }
};

}  // namespace weft::bench_serve
