// The transport's view of one HTTP exchange, independent of the library underneath:
// a parsed request in, a Reply out. A Reply is either complete (status, headers, body)
// or backed by a BodySource that produces the body later, off the request's call stack,
// so that no thread waits on a slow generation or a slow client.
//
// Thread-safety: HttpRequest/HttpResponse/Reply are plain values. A BodySource is called
// on its connection's strand only (one call at a time), except for the waker it is given,
// which may be called from any thread until Closed() has returned.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace weft::server::http {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent, e.g. "/v1/models?x=1"
  std::string path;    // target without the query
  int version = 11;    // 10 = HTTP/1.0, 11 = HTTP/1.1
  std::vector<std::pair<std::string, std::string>> headers;  // in arrival order
  std::string body;    // decoded (de-chunked) body

  // The first header named `name` (case-insensitive), "" when absent.
  std::string_view Header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
};

// Produces a response body over time. The transport calls Start once, then Poll whenever
// the waker fired or a write finished, and Closed exactly once at the end.
class BodySource {
 public:
  enum class State { kPending, kEnd };

  virtual ~BodySource() = default;
  // `wake` asks the transport to Poll again soon; thread-safe, cheap, coalesced. It must
  // not be called once Closed() has returned.
  virtual void Start(std::function<void()> wake) = 0;
  // Appends the bytes ready now to *out (maybe none); kEnd once the body is complete.
  virtual State Poll(std::string* out) = 0;
  // The exchange ended: `complete` = the whole body reached the socket; false = the
  // client went away, a timeout hit, or the server is stopping.
  virtual void Closed(bool complete) = 0;
};

struct Reply {
  HttpResponse response;                // with `source`: status and headers; body unused
  std::shared_ptr<BodySource> source;   // null: response.body is the whole body
  // With a source: true = bytes go out as produced (chunked on HTTP/1.1, delimited by
  // closing the connection on HTTP/1.0); false = gathered, then sent with Content-Length.
  bool stream = false;
};

using Handler = std::function<Reply(HttpRequest&& request)>;

}  // namespace weft::server::http
