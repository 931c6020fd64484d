// OpenAI response bodies: engine outputs -> completion / chat.completion JSON, and the
// streamed chunks of either as SSE events ("data: {json}\n\n", "data: [DONE]\n\n").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "server/tool_call_format.h"
#include "tokenizer/tokenizer.h"

namespace weft::server {

struct ResponseContext {
  std::string id;       // "cmpl-..." / "chatcmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
  bool chat = false;
  bool logprobs = false;  // the request asked for logprobs
  const Tokenizer* tokenizer = nullptr;
  // Chat with tool calls on (tool_choice other than none): each choice's text is parsed
  // for calls in this format (kNone: never); calls must name one of tool_names;
  // max_tool_calls > 0 keeps the first ones (parallel_tool_calls false: 1).
  ToolCallFormat tool_format = ToolCallFormat::kNone;
  std::vector<std::string> tool_names;
  int max_tool_calls = 0;
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

// A new tool call id: "call_" and 24 hex digits; Mistral's templates want 9 letters/digits.
std::string NewToolCallId(ToolCallFormat f);
// message.tool_calls (streaming: each with its "index", as delta.tool_calls).
nlohmann::ordered_json ToolCallsJson(const std::vector<ParsedToolCall>& calls, ToolCallFormat f, bool streaming);
// One piece of a streamed call: delta {"tool_calls": [{"index", and on the first piece
// "id" (`id`), "type" and "function.name"; "function.arguments": the fragment}]}.
nlohmann::ordered_json ToolCallPieceChunk(const ResponseContext& ctx, int index, const ToolCallPiece& piece,
                                          const std::string& id, bool with_usage_null);
// The last chunk of a choice: an empty delta and `reason`.
nlohmann::ordered_json FinishChunk(const ResponseContext& ctx, int index, const char* reason, bool with_usage_null);
// "tool_calls" when a choice that stopped made calls, else FinishReason(f).
const char* ChoiceFinishReason(RequestFinish f, bool made_calls);

std::string SseEvent(const nlohmann::ordered_json& j);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

}  // namespace weft::server
