#include "bench_serve/http_client.h"

#include <curl/curl.h>

#include <mutex>
#include <nlohmann/json.hpp>

#include "bench_serve/openai_stream.h"
#include "bench_serve/sse_parser.h"

namespace weft::bench_serve {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(t - t0).count();
}

// State of one streamed request, shared with libcurl's callbacks.
struct Transfer {
  CURL* curl = nullptr;
  const std::atomic<bool>* stop = nullptr;
  Clock::time_point sent;
  Clock::time_point last_chunk;
  RequestResult* r = nullptr;
  SseParser sse;
  bool status_known = false;
  bool done = false;         // "[DONE]" seen
  std::string error_body;    // the body of a non-2xx answer (bounded)
  std::string parse_error;   // why the stream was abandoned
};

std::string FirstLine(std::string s, size_t max = 300) {
  const size_t nl = s.find('\n');
  if (nl != std::string::npos) s.resize(nl);
  if (s.size() > max) s.resize(max);
  return s;
}

// The message of an OpenAI error body, else the body's first line.
std::string ErrorMessage(const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) return FirstLine(e["message"].get<std::string>());
    if (e.is_string()) return FirstLine(e.get<std::string>());
  }
  return FirstLine(body);
}

void HandleEvent(Transfer& t, const std::string& data, Clock::time_point now) {
  auto ev = ParseStreamEvent(data);
  if (!ev.ok()) {
    t.parse_error = ev.status().message();
    return;
  }
  RequestResult& r = *t.r;
  if (ev->done) {
    t.done = true;
    return;
  }
  if (!ev->error.empty()) {
    r.error = ErrorClass::kStreamError;
    r.error_message = FirstLine(ev->error);
    return;
  }
  if (!ev->text.empty()) {
    if (r.content_chunks == 0) {
      r.ttft_ms = MsSince(t.sent, now);
    } else {
      r.itl_ms.push_back(MsSince(t.last_chunk, now));
    }
    t.last_chunk = now;
    ++r.content_chunks;
  }
  if (!ev->finish_reason.empty()) r.finish_reason = ev->finish_reason;
  if (ev->has_usage) {
    r.usage_reported = true;
    r.prompt_tokens = ev->prompt_tokens;
    r.output_tokens = ev->completion_tokens;
  }
}

size_t OnData(char* data, size_t size, size_t n, void* user) {
  auto& t = *static_cast<Transfer*>(user);
  const auto now = Clock::now();
  const size_t bytes = size * n;
  if (!t.status_known) {
    long code = 0;
    curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &code);
    t.r->http_status = static_cast<int>(code);
    t.status_known = true;
  }
  if (t.r->http_status < 200 || t.r->http_status >= 300) {
    if (t.error_body.size() < 4096) t.error_body.append(data, std::min(bytes, 4096 - t.error_body.size()));
    return bytes;
  }
  auto events = t.sse.Feed(std::string_view(data, bytes));
  if (!events.ok()) {
    t.parse_error = events.status().message();
    return 0;  // abort: CURLE_WRITE_ERROR
  }
  for (const std::string& e : *events) {
    HandleEvent(t, e, now);
    if (!t.parse_error.empty()) return 0;
  }
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto& t = *static_cast<Transfer*>(user);
  return t.stop->load(std::memory_order_relaxed) ? 1 : 0;
}

ErrorClass CurlErrorClass(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return ErrorClass::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return ErrorClass::kTimeout;
    default:
      return ErrorClass::kIo;
  }
}

}  // namespace

const char* ErrorClassName(ErrorClass e) {
  switch (e) {
    case ErrorClass::kNone: return "";
    case ErrorClass::kConnect: return "connect";
    case ErrorClass::kHttp4xx: return "http_4xx";
    case ErrorClass::kHttp5xx: return "http_5xx";
    case ErrorClass::kTimeout: return "timeout";
    case ErrorClass::kStreamParse: return "stream_parse";
    case ErrorClass::kStreamError: return "stream_error";
    case ErrorClass::kIo: return "io";
    case ErrorClass::kCancelled: return "cancelled";
  }
  return "io";
}

void InitHttpClients() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

StreamingClient::StreamingClient(ClientOptions options) : opt_(std::move(options)), curl_(curl_easy_init()) {}

StreamingClient::~StreamingClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

RequestResult StreamingClient::Send(const std::string& path, const std::string& body, const std::atomic<bool>& stop) {
  RequestResult r;
  CURL* c = static_cast<CURL*>(curl_);
  Transfer t;
  t.curl = c;
  t.stop = &stop;
  t.r = &r;
  const std::string url = opt_.base_url + path;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/json");
  headers = curl_slist_append(headers, "Accept: text/event-stream");
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip on large bodies
  if (!opt_.api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + opt_.api_key).c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_reset(c);  // keeps the connection cache
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opt_.timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opt_.connect_timeout_s * 1000));
  t.sent = Clock::now();
  const CURLcode rc = curl_easy_perform(c);
  const auto end = Clock::now();
  curl_slist_free_all(headers);
  r.e2e_ms = MsSince(t.sent, end);
  if (rc == CURLE_OK || rc == CURLE_WRITE_ERROR) {
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    r.http_status = static_cast<int>(code);
  }
  if (!t.parse_error.empty()) {
    r.error = ErrorClass::kStreamParse;
    r.error_message = FirstLine(t.parse_error);
  } else if (rc == CURLE_ABORTED_BY_CALLBACK) {
    r.error = ErrorClass::kCancelled;
    r.error_message = "stopped by the user";
  } else if (rc != CURLE_OK) {
    r.error = CurlErrorClass(rc);
    r.error_message = FirstLine(errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc)));
  } else if (r.http_status >= 400) {
    r.error = r.http_status >= 500 ? ErrorClass::kHttp5xx : ErrorClass::kHttp4xx;
    r.error_message = "HTTP " + std::to_string(r.http_status) + ": " + ErrorMessage(t.error_body);
  } else if (r.http_status < 200 || r.http_status >= 300) {
    r.error = ErrorClass::kIo;
    r.error_message = "unexpected HTTP " + std::to_string(r.http_status);
  } else if (r.error == ErrorClass::kNone) {
    for (const std::string& e : t.sse.Finish()) HandleEvent(t, e, end);
    if (!t.parse_error.empty()) {
      r.error = ErrorClass::kStreamParse;
      r.error_message = FirstLine(t.parse_error);
    } else if (!t.done && r.finish_reason.empty()) {
      r.error = ErrorClass::kStreamParse;
      r.error_message = "the stream ended without a finish_reason or [DONE]";
    }
  }
  if (!r.usage_reported) r.output_tokens = r.content_chunks;
  return r;
}

StatusOr<HttpResponse> HttpGet(const std::string& url, const std::string& api_key, double timeout_s) {
  InitHttpClients();
  CURL* c = curl_easy_init();
  if (c == nullptr) return InternalError("libcurl failed to start");
  HttpResponse out;
  curl_slist* headers = nullptr;
  if (!api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key).c_str());
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
    auto* body = static_cast<std::string*>(u);
    if (body->size() < (1u << 20)) body->append(d, s * n);
    return s * n;
  });
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK) {
    const std::string why = errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    return UnavailableError("cannot reach " + url + " (" + FirstLine(why) + ")");
  }
  return out;
}

}  // namespace weft::bench_serve
