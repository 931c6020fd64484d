#include "server/field_policy.h"

#include <string_view>

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

enum class Where : uint8_t { kBoth, kCompletions, kChat };

bool On(Where w, bool chat) { return w == Where::kBoth || (w == Where::kChat) == chat; }

// Fields weft acts on (openai_requests.cc parses them; priority is checked at admission).
struct Acted {
  const char* name;
  Where where;
};
constexpr Acted kActed[] = {
    {"model", Where::kBoth},
    {"prompt", Where::kCompletions},
    {"echo", Where::kCompletions},
    {"messages", Where::kChat},
    {"tools", Where::kChat},
    {"tool_choice", Where::kChat},
    {"parallel_tool_calls", Where::kChat},
    {"top_logprobs", Where::kChat},
    {"chat_template_kwargs", Where::kChat},
    {"continue_final_message", Where::kChat},
    {"add_generation_prompt", Where::kChat},
    {"max_tokens", Where::kBoth},
    {"max_completion_tokens", Where::kBoth},
    {"temperature", Where::kBoth},
    {"top_p", Where::kBoth},
    {"top_k", Where::kBoth},
    {"min_p", Where::kBoth},
    {"n", Where::kBoth},
    {"stop", Where::kBoth},
    {"stop_token_ids", Where::kBoth},
    {"include_stop_str_in_output", Where::kBoth},
    {"seed", Where::kBoth},
    {"presence_penalty", Where::kBoth},
    {"frequency_penalty", Where::kBoth},
    {"repetition_penalty", Where::kBoth},
    {"logit_bias", Where::kBoth},
    {"logprobs", Where::kBoth},
    {"min_tokens", Where::kBoth},
    {"ignore_eos", Where::kBoth},
    {"skip_special_tokens", Where::kBoth},
    {"add_special_tokens", Where::kBoth},
    {"stream", Where::kBoth},
    {"stream_options", Where::kBoth},
    {"priority", Where::kBoth},
    {"speculative_decoding", Where::kBoth},
    {"kv_sinks", Where::kBoth},
    {"kv_window", Where::kBoth},
    {"kv_budget", Where::kBoth},
    {"kv_policy", Where::kBoth},
    // Structured output (server/structured_request.cc).
    {"response_format", Where::kBoth},
    {"guided_json", Where::kBoth},
    {"guided_regex", Where::kBoth},
    {"guided_choice", Where::kBoth},
    {"guided_grammar", Where::kBoth},
    {"structured_outputs", Where::kBoth},
};

// Fields that change nothing about the answer weft gives: ignored.
constexpr const char* kHarmless[] = {
    "user", "metadata", "store", "service_tier", "request_id", "prediction",
    "spaces_between_special_tokens",  // only a slow-tokenizer detail in vLLM; weft adds no spaces
};

// The values of a refused field that ask for nothing (the default behaviour).
bool Never(const Json&, const Json&) { return false; }
bool IsFalse(const Json& v, const Json&) { return v.is_boolean() && !v.get<bool>(); }
bool IsOne(const Json& v, const Json&) { return v.is_number() && v.get<double>() == 1.0; }
bool IsEmptyString(const Json& v, const Json&) { return v.is_string() && v.get_ref<const std::string&>().empty(); }
bool IsTextOnly(const Json& v, const Json&) { return v == Json::array({"text"}); }
bool IsN(const Json& v, const Json& body) {
  auto n = body.find("n");
  const Json one = 1;
  const Json& want = n == body.end() || n->is_null() ? one : *n;
  return v.is_number_integer() && want.is_number_integer() && v.get<int64_t>() == want.get<int64_t>();
}

// Fields weft does not act on and that change the answer: a 400 unless `inert`.
struct Refused {
  const char* name;
  Where where;
  bool (*inert)(const Json& value, const Json& body);
  const char* why;
};
constexpr const char* kGuided = "this guided decoding option is not implemented (guided_json, guided_regex, guided_choice, guided_grammar are), so the answer would not follow it";
constexpr Refused kRefused[] = {
    {"guided_decoding_backend", Where::kBoth, Never, kGuided},
    {"guided_whitespace_pattern", Where::kBoth, Never, kGuided},
    {"best_of", Where::kBoth, IsN, "samples are not ranked on the server: best_of must equal n"},
    {"use_beam_search", Where::kBoth, IsFalse, "beam search is not implemented"},
    {"length_penalty", Where::kBoth, IsOne, "it applies to beam search, which is not implemented"},
    {"prompt_logprobs", Where::kBoth, Never, "prompt logprobs are not computed"},
    {"logits_processors", Where::kBoth, Never, "custom logits processors are not supported"},
    {"allowed_token_ids", Where::kBoth, Never, "token allow-lists are not implemented"},
    {"bad_words", Where::kBoth, Never, "bad-word lists are not implemented"},
    {"truncate_prompt_tokens", Where::kBoth, Never, "prompt truncation is not implemented"},
    {"return_tokens_as_token_ids", Where::kBoth, IsFalse, "tokens are returned as text"},
    {"return_token_ids", Where::kBoth, IsFalse, "token ids are not returned"},
    {"cache_salt", Where::kBoth, Never, "prefix-cache isolation is not implemented: requests would share cached prefixes"},
    {"kv_transfer_params", Where::kBoth, Never, "disaggregated KV transfer is not implemented"},
    {"vllm_xargs", Where::kBoth, Never, "vLLM extension arguments are not supported"},
    {"mm_processor_kwargs", Where::kBoth, Never, "multimodal input is not supported"},
    {"suffix", Where::kCompletions, IsEmptyString, "insertion (fill in the middle) is not implemented"},
    {"functions", Where::kChat, Never, "function calling is not implemented"},
    {"function_call", Where::kChat, Never, "function calling is not implemented"},
    {"echo", Where::kChat, IsFalse, "echoing the last message in chat is not implemented"},
    {"chat_template", Where::kChat, Never,
     "a per-request chat template is not supported; start the server with --chat-template FILE"},
    {"documents", Where::kChat, Never, "documents are not passed to the chat template"},
    {"reasoning_effort", Where::kChat, Never,
     "reasoning controls are not implemented (template variables can be set with chat_template_kwargs)"},
    {"modalities", Where::kChat, IsTextOnly, "only text output is supported"},
    {"audio", Where::kChat, Never, "audio output is not supported"},
    {"web_search_options", Where::kChat, Never, "web search is not available"},
};

const Refused* FindRefused(std::string_view name, bool chat) {
  for (const Refused& r : kRefused) {
    if (name == r.name && On(r.where, chat)) return &r;
  }
  return nullptr;
}

bool IsKnown(std::string_view name, bool chat) {
  for (const Acted& a : kActed) {
    if (name == a.name && On(a.where, chat)) return true;
  }
  for (const char* h : kHarmless) {
    if (name == h) return true;
  }
  return false;
}

}  // namespace

std::optional<ApiError> CheckFieldPolicy(const Json& body, bool chat, std::vector<std::string>* unknown) {
  if (!body.is_object()) return std::nullopt;  // the parser says what is wrong
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it->is_null()) continue;
    if (const Refused* r = FindRefused(it.key(), chat)) {
      if (r->inert(*it, body)) continue;
      return ApiError{400, "'" + it.key() + "' is not supported by weft: " + r->why, it.key(), "unsupported_parameter"};
    }
    if (!IsKnown(it.key(), chat)) unknown->push_back(it.key());
  }
  return std::nullopt;
}

}  // namespace weft::server
