#include "server/http/http_wire.h"

#include <fmt/format.h>

namespace weft::server::http {

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string SerializeHead(const HttpResponse& response, int version, bool keep_alive, Framing framing,
                          size_t content_length) {
  std::string out = fmt::format("HTTP/1.{} {} {}\r\n", version == 10 ? 0 : 1, response.status,
                                ReasonPhrase(response.status));
  if (!response.content_type.empty()) out += fmt::format("Content-Type: {}\r\n", response.content_type);
  switch (framing) {
    case Framing::kLength: out += fmt::format("Content-Length: {}\r\n", content_length); break;
    case Framing::kChunked: out += "Transfer-Encoding: chunked\r\n"; break;
    case Framing::kClose: break;
  }
  // HTTP/1.1 is persistent unless told otherwise; HTTP/1.0 only when asked for.
  if (!keep_alive) {
    out += "Connection: close\r\n";
  } else if (version == 10) {
    out += "Connection: keep-alive\r\n";
  }
  for (const auto& [name, value] : response.headers) out += fmt::format("{}: {}\r\n", name, value);
  out += "\r\n";
  return out;
}

void AppendChunk(std::string* out, std::string_view data) {
  if (data.empty()) return;
  *out += fmt::format("{:x}\r\n", data.size());
  out->append(data);
  *out += "\r\n";
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string_view HttpRequest::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoreCase(n, name)) return v;
  }
  return {};
}

}  // namespace weft::server::http
