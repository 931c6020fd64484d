// The OpenAI request bodies of /v1/completions and /v1/chat/completions, parsed and
// checked: JSON text -> OpenAIRequest, or an ApiError (400) naming the field at fault.
// Fields weft does not act on follow the field policy (server/field_policy.h): refused
// with a 400 when dropping them would change the answer, else ignored (the unknown ones
// listed in OpenAIRequest::unknown_fields). Null counts as absent. Tokenizing the prompt,
// rendering the chat template and the limits of the engine (context, KV cache, n) are
// the later steps' (they need the model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "kv/kv_budget.h"
#include "sampling/sampling_params.h"
#include "server/errors.h"
#include "server/structured_request.h"
#include "server/tool_request.h"

namespace weft::server {

using PromptInput = std::variant<std::string, std::vector<int32_t>>;

struct OpenAIRequest {
  bool chat = false;
  std::string model;                      // "" when not given
  std::vector<PromptInput> prompts;       // completions: one entry per prompt
  nlohmann::ordered_json messages;        // chat: [{role, content(string), ...}]
  nlohmann::ordered_json tools;           // chat: as given, or null (what the template renders)
  ToolRequest tool;                       // chat: tools, tool_choice, parallel_tool_calls
  SamplingParams sampling;
  bool max_tokens_given = false;          // else: completions 16, chat up to the context
  bool stream = false;
  bool include_usage = false;             // stream_options.include_usage
  bool echo = false;                      // completions: prepend the prompt text
  std::string user;
  int32_t priority = 0;                   // vLLM: smaller first (needs the priority policy)
  bool speculative_decoding = true;        // weft: false turns speculative decoding off for this request
  std::optional<int32_t> kv_sinks, kv_window;  // weft: sinks + window for this request (kv/kv_window.h)
  std::optional<int32_t> kv_budget;            // weft: KV budget for this request (kv/kv_budget.h)
  std::optional<KvPolicy> kv_policy;           // weft: its policy: h2o, window or sinks
  // add_special_tokens; absent: completions add BOS/EOS as the vocabulary says, chat adds
  // BOS by BuildChatPrompt's rule. false: none (chat: only what the template writes).
  bool add_special_tokens = true;
  // Chat (vLLM): template rendering.
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  nlohmann::ordered_json chat_template_kwargs;  // object or null
  std::vector<std::string> unknown_fields;      // in no policy: ignored (the server logs them)
  std::optional<StructuredRequest> structured;  // response_format / guided_* / structured_outputs
};

// Deepest nesting of arrays/objects allowed in a body (hostile input guard).
inline constexpr int kMaxJsonDepth = 64;

// Parses JSON text; malformed JSON or nesting beyond kMaxJsonDepth is a 400.
std::optional<ApiError> ParseJsonBody(std::string_view body, nlohmann::ordered_json* out);

std::optional<ApiError> ParseCompletionRequest(const nlohmann::ordered_json& body, OpenAIRequest* out);
std::optional<ApiError> ParseChatRequest(const nlohmann::ordered_json& body, OpenAIRequest* out);

}  // namespace weft::server
