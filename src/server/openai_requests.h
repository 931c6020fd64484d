// The OpenAI request bodies of /v1/completions and /v1/chat/completions, parsed and
// checked: JSON text -> OpenAIRequest, or an ApiError (400) naming the field at fault.
// Unknown fields are ignored; null counts as absent. Tokenizing the prompt and
// rendering the chat template are the server's job (they need the model).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sampling/sampling_params.h"
#include "server/errors.h"

namespace weft::server {

using PromptInput = std::variant<std::string, std::vector<int32_t>>;

struct OpenAIRequest {
  bool chat = false;
  std::string model;                      // "" when not given
  std::vector<PromptInput> prompts;       // completions: one entry per prompt
  nlohmann::ordered_json messages;        // chat: [{role, content(string), ...}]
  nlohmann::ordered_json tools;           // chat: as given, or null
  SamplingParams sampling;
  bool max_tokens_given = false;          // else: completions 16, chat up to the context
  bool stream = false;
  bool include_usage = false;             // stream_options.include_usage
  bool echo = false;                      // completions: prepend the prompt text
  std::string user;
};

// Deepest nesting of arrays/objects allowed in a body (hostile input guard).
inline constexpr int kMaxJsonDepth = 64;

// Parses JSON text; malformed JSON or nesting beyond kMaxJsonDepth is a 400.
std::optional<ApiError> ParseJsonBody(std::string_view body, nlohmann::ordered_json* out);

std::optional<ApiError> ParseCompletionRequest(const nlohmann::ordered_json& body, OpenAIRequest* out);
std::optional<ApiError> ParseChatRequest(const nlohmann::ordered_json& body, OpenAIRequest* out);

// SamplingParams::Validate against the vocabulary, as a 400 naming the field.
std::optional<ApiError> ValidateSampling(const SamplingParams& sampling, int64_t n_vocab);

}  // namespace weft::server
