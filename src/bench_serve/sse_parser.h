// SseParser: splits a text/event-stream body, fed in arbitrary pieces as it arrives, into
// events (the WHATWG "server-sent events" framing): lines end in \n, \r\n or \r; a blank
// line ends an event; "data:" lines are joined with \n; ":" lines are comments; the
// "event", "id" and "retry" fields are ignored (OpenAI streams use data only).
//
//   SseParser p;
//   for (piece : body) for (const std::string& data : p.Feed(piece)) ...;
//   p.Finish();  // an event left unterminated at the end of the body, if any
//
// Bounded: a line longer than max_line_bytes makes Feed return an error (a stream that is
// not SSE, or a hostile one, cannot grow memory without end).
// Thread-safety: one thread per parser.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "weft/status.h"

namespace weft::bench_serve {

class SseParser {
 public:
  explicit SseParser(size_t max_line_bytes = 16u << 20) : max_line_(max_line_bytes) {}

  // The data of every event completed by `bytes` (possibly none), in order.
  StatusOr<std::vector<std::string>> Feed(std::string_view bytes);
  // The data of an event the body ended without a blank line after, if any.
  std::vector<std::string> Finish();

 private:
  void EndLine();

  size_t max_line_;
  std::string line_;
  std::string data_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
  std::vector<std::string> out_;
};

}  // namespace weft::bench_serve
