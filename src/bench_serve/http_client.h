// The benchmark's HTTP side, on libcurl. StreamingClient sends one streamed OpenAI
// request at a time over a kept-alive connection and times every content chunk as it
// arrives (SseParser + ParseStreamEvent); HttpGet is a plain GET for the pre-flight check.
//
// InitHttpClients() must run once before any client exists (libcurl's global init is not
// thread-safe); it is idempotent.
// Thread-safety: a StreamingClient belongs to one thread; different clients may run on
// different threads at once. `stop` may be set from any thread: an in-flight request is
// then aborted within about a second and comes back as ErrorClass::kCancelled.
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "bench_serve/request_result.h"
#include "weft/status.h"

namespace weft::bench_serve {

struct ClientOptions {
  std::string base_url;  // "http://host:port", no trailing slash
  std::string api_key;   // "" = no Authorization header
  double timeout_s = 600;         // a whole request
  double connect_timeout_s = 10;
};

void InitHttpClients();

class StreamingClient {
 public:
  explicit StreamingClient(ClientOptions options);
  ~StreamingClient();
  StreamingClient(const StreamingClient&) = delete;
  StreamingClient& operator=(const StreamingClient&) = delete;

  // POSTs `body` (JSON) to base_url + path and reads the event stream to its end. Fills
  // every field of the result but index / scheduled_s / send_s.
  RequestResult Send(const std::string& path, const std::string& body, const std::atomic<bool>& stop);

 private:
  ClientOptions opt_;
  void* curl_;  // CURL*
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

// A GET; an error only when no HTTP answer came (connection refused, timeout, bad URL),
// with a message naming the URL and the cause.
StatusOr<HttpResponse> HttpGet(const std::string& url, const std::string& api_key, double timeout_s);

}  // namespace weft::bench_serve
