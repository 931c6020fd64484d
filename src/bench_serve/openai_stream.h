// ParseStreamEvent: what one SSE data payload of an OpenAI streaming response says, for
// /v1/completions (choices[].text) and /v1/chat/completions (choices[].delta.content),
// as weft, vLLM, llama-server and OpenAI send them: a content delta, a finish reason,
// the usage of the final chunk (stream_options.include_usage), the "[DONE]" sentinel, or
// an error object sent in the stream.
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "weft/status.h"

namespace weft::bench_serve {

struct StreamEvent {
  bool done = false;          // "[DONE]"
  std::string text;           // content of choices[0] ("" for role-only or usage chunks)
  std::string finish_reason;  // "" while generating
  bool has_usage = false;     // a non-null "usage" object
  int64_t prompt_tokens = 0, completion_tokens = 0;
  std::string error;  // an {"error": {...}} event: its message
};

// An error when the payload is not JSON or not an object.
StatusOr<StreamEvent> ParseStreamEvent(std::string_view data);

}  // namespace weft::bench_serve
