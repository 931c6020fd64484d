// Limits and timeouts of the HTTP transport; every one holds whatever the framing.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "server/http/http_message.h"

namespace weft::server::http {

struct TransportOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0 picks a free one
  int io_threads = 2;
  // Open connections at most; one more is answered 503 and closed.
  size_t max_connections = 4096;
  size_t max_header_bytes = 16 << 10;  // request line + headers; more is 431
  size_t max_header_count = 100;       // header fields; more is 431
  // Decoded body bytes (Content-Length or chunked alike), counted while reading: 413.
  // Content-Encoding other than identity is refused (415), so no body ever inflates.
  size_t max_body_bytes = 4u << 20;
  // Requests read ahead on one keep-alive connection while an earlier one is answered.
  size_t max_pipelined = 8;
  // The whole header must arrive within this of the connection becoming idle (a fresh
  // connection, or the previous response written); a trickling client is cut off.
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};   // whole body, from the end of the header
  std::chrono::milliseconds write_timeout{30'000};  // each write, i.e. a reader this stalled is dropped
  // The body of a transport-level error (413, 431, 503, ...); plain text when unset.
  std::function<HttpResponse(int status, std::string message)> error_response;
};

}  // namespace weft::server::http
