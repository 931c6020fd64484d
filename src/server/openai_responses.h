// OpenAI response bodies: engine outputs -> completion / chat.completion JSON, and the
// streamed chunks of either as SSE events ("data: {json}\n\n", "data: [DONE]\n\n").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "tokenizer/tokenizer.h"

namespace weft::server {

struct ResponseContext {
  std::string id;       // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
  bool chat = false;
  bool logprobs = false;  // the request asked for logprobs
  const Tokenizer* tokenizer = nullptr;
};

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0;
};

// One choice's accumulated output.
struct Choice {
  std::string text;
  std::vector<SampleResult> logprobs;
  RequestFinish finish = RequestFinish::kNone;
};

// "stop", "length", "abort" or "error".
const char* FinishReason(RequestFinish f);

nlohmann::ordered_json UsageJson(const Usage& u);
// Completions: {tokens, token_logprobs, top_logprobs, text_offset}; chat: {content: [...]}.
// `text_offset` is where the first token starts in the choice's text.
nlohmann::ordered_json LogprobsJson(const ResponseContext& ctx, const std::vector<SampleResult>& lps,
                                    int64_t text_offset);
nlohmann::ordered_json FullResponse(const ResponseContext& ctx, const std::vector<Choice>& choices, const Usage& u);
// A streamed delta of one choice; `first` adds the assistant role (chat); `finish` is
// kNone until the choice's last chunk. `with_usage_null` adds "usage": null.
nlohmann::ordered_json StreamChunk(const ResponseContext& ctx, int index, const std::string& delta,
                                   const std::vector<SampleResult>& lps, int64_t text_offset, bool first,
                                   RequestFinish finish, bool with_usage_null);
nlohmann::ordered_json UsageChunk(const ResponseContext& ctx, const Usage& u);

std::string SseEvent(const nlohmann::ordered_json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

}  // namespace weft::server
