// HTTP/1.x response bytes: status line and headers, chunk framing. Pure functions, no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "server/http/http_message.h"

namespace weft::server::http {

// How the body after the head is delimited.
enum class Framing {
  kLength,   // Content-Length: the body follows in full
  kChunked,  // Transfer-Encoding: chunked (HTTP/1.1 only)
  kClose,    // no length: the body ends when the server closes (HTTP/1.0 streaming)
};

// "OK", "Not Found", ...; "Unknown" for codes this server never sends.
std::string_view ReasonPhrase(int status);

// Status line and headers (Content-Type, the framing header, Connection, then
// response.headers), ending with the blank line. `version` 10 or 11; `content_length`
// is used with Framing::kLength only.
std::string SerializeHead(const HttpResponse& response, int version, bool keep_alive, Framing framing,
                          size_t content_length);

// Appends `data` as one chunk (nothing for empty data: an empty chunk ends the body).
void AppendChunk(std::string* out, std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// True when `a` and `b` are equal ignoring ASCII case.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace weft::server::http
