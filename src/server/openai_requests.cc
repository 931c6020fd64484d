#include "server/openai_requests.h"

#include <cmath>
#include <limits>

#include "server/field_policy.h"
#include "server/json_body.h"

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

// The field if present and not null, else nullptr.
const Json* Field(const Json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<ApiError> TypeError(const std::string& name, const char* want) {
  return BadRequest("'" + name + "' must be " + want, name);
}

std::optional<ApiError> GetFloat(const Json& body, const char* name, float* out) {
  const Json* f = Field(body, name);
  if (!f) return std::nullopt;
  if (!f->is_number()) return TypeError(name, "a number");
  const double v = f->get<double>();
  if (!std::isfinite(v) || std::fabs(v) > 1e30) return BadRequest(std::string("'") + name + "' is out of range", name);
  *out = static_cast<float>(v);
  return std::nullopt;
}

std::optional<ApiError> GetInt(const Json& body, const char* name, int* out, int lo, int hi) {
  const Json* f = Field(body, name);
  if (!f) return std::nullopt;
  if (!f->is_number_integer()) return TypeError(name, "an integer");
  const int64_t v = f->get<int64_t>();
  if (v < lo || v > hi) {
    return BadRequest(std::string("'") + name + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                          "]: got " + std::to_string(v),
                      name);
  }
  *out = static_cast<int>(v);
  return std::nullopt;
}

std::optional<ApiError> GetBool(const Json& body, const char* name, bool* out) {
  const Json* f = Field(body, name);
  if (!f) return std::nullopt;
  if (!f->is_boolean()) return TypeError(name, "a boolean");
  *out = f->get<bool>();
  return std::nullopt;
}

std::optional<ApiError> ParseTokenArray(const Json& a, const std::string& name, std::vector<int32_t>* out) {
  for (const Json& t : a) {
    if (!t.is_number_integer()) return TypeError(name, "a string, an array of strings or an array of token ids");
    const int64_t v = t.get<int64_t>();
    if (v < 0 || v > std::numeric_limits<int32_t>::max()) return BadRequest("'" + name + "' has a token id out of range", name);
    out->push_back(static_cast<int32_t>(v));
  }
  return std::nullopt;
}

std::optional<ApiError> ParsePrompt(const Json& body, std::vector<PromptInput>* out) {
  const Json* p = Field(body, "prompt");
  if (!p) return BadRequest("'prompt' is required", "prompt");
  static const char* kWant = "a string, an array of strings, an array of token ids or an array of such arrays";
  if (p->is_string()) {
    out->push_back(p->get<std::string>());
    return std::nullopt;
  }
  if (!p->is_array()) return TypeError("prompt", kWant);
  if (p->empty()) return BadRequest("'prompt' is empty", "prompt");
  if ((*p)[0].is_number_integer()) {
    std::vector<int32_t> ids;
    if (auto e = ParseTokenArray(*p, "prompt", &ids)) return e;
    out->push_back(std::move(ids));
    return std::nullopt;
  }
  for (const Json& item : *p) {
    if (item.is_string()) {
      out->push_back(item.get<std::string>());
    } else if (item.is_array() && !item.empty()) {
      std::vector<int32_t> ids;
      if (auto e = ParseTokenArray(item, "prompt", &ids)) return e;
      out->push_back(std::move(ids));
    } else {
      return TypeError("prompt", kWant);
    }
  }
  return std::nullopt;
}

// The fields both endpoints share.
std::optional<ApiError> ParseCommon(const Json& body, OpenAIRequest* r) {
  if (!body.is_object()) return BadRequest("the request body must be a JSON object");
  if (const Json* m = Field(body, "model")) {
    if (!m->is_string()) return TypeError("model", "a string");
    r->model = m->get<std::string>();
  }
  SamplingParams& s = r->sampling;
  if (auto e = GetFloat(body, "temperature", &s.temperature)) return e;
  if (auto e = GetFloat(body, "top_p", &s.top_p)) return e;
  if (auto e = GetInt(body, "top_k", &s.top_k, -1, 1 << 20)) return e;
  if (s.top_k < 0) s.top_k = 0;  // vLLM: -1 = off
  if (auto e = GetFloat(body, "min_p", &s.min_p)) return e;
  if (auto e = GetFloat(body, "presence_penalty", &s.presence_penalty)) return e;
  if (auto e = GetFloat(body, "frequency_penalty", &s.frequency_penalty)) return e;
  if (auto e = GetFloat(body, "repetition_penalty", &s.repetition_penalty)) return e;
  if (auto e = GetInt(body, "n", &s.n, 1, 128)) return e;
  if (auto e = GetInt(body, "min_tokens", &s.min_tokens, 0, 1 << 24)) return e;
  if (auto e = GetBool(body, "ignore_eos", &s.ignore_eos)) return e;
  const char* max_name = Field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (Field(body, max_name)) {
    if (auto e = GetInt(body, max_name, &s.max_tokens, 1, 1 << 24)) return e;
    r->max_tokens_given = true;
  }
  if (const Json* seed = Field(body, "seed")) {
    if (!seed->is_number_integer()) return TypeError("seed", "an integer");
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
  }
  if (const Json* stop = Field(body, "stop")) {
    if (stop->is_string()) {
      if (!stop->get<std::string>().empty()) s.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > 16) return BadRequest("'stop' has more than 16 strings", "stop");
      for (const Json& x : *stop) {
        if (!x.is_string()) return TypeError("stop", "a string or an array of strings");
        if (!x.get<std::string>().empty()) s.stop.push_back(x.get<std::string>());
      }
    } else {
      return TypeError("stop", "a string or an array of strings");
    }
  }
  if (const Json* bias = Field(body, "logit_bias")) {
    if (!bias->is_object()) return TypeError("logit_bias", "an object mapping token ids to numbers");
    for (const auto& [key, value] : bias->items()) {
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end != '\0' || id < 0 || id > std::numeric_limits<int32_t>::max()) {
        return BadRequest("'logit_bias' key '" + key + "' is not a token id", "logit_bias");
      }
      if (!value.is_number()) return TypeError("logit_bias", "an object mapping token ids to numbers");
      const double v = value.get<double>();
      if (!(v >= -100 && v <= 100)) return BadRequest("'logit_bias' values must be in [-100, 100]", "logit_bias");
      s.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(v));
    }
  }
  if (auto e = GetBool(body, "stream", &r->stream)) return e;
  if (const Json* so = Field(body, "stream_options")) {
    if (!so->is_object()) return TypeError("stream_options", "an object");
    if (const Json* u = Field(*so, "include_usage")) {
      if (!u->is_boolean()) return TypeError("stream_options.include_usage", "a boolean");
      r->include_usage = u->get<bool>();
    }
  }
  if (const Json* u = Field(body, "user")) {
    if (!u->is_string()) return TypeError("user", "a string");
    r->user = u->get<std::string>();
  }
  if (const Json* ids = Field(body, "stop_token_ids")) {
    if (!ids->is_array()) return TypeError("stop_token_ids", "an array of token ids");
    if (auto e = ParseTokenArray(*ids, "stop_token_ids", &s.stop_token_ids)) return e;
  }
  if (auto e = GetBool(body, "include_stop_str_in_output", &s.include_stop_str_in_output)) return e;
  if (auto e = GetBool(body, "skip_special_tokens", &s.skip_special_tokens)) return e;
  if (auto e = GetBool(body, "add_special_tokens", &r->add_special_tokens)) return e;
  int priority = 0;
  if (auto e = GetInt(body, "priority", &priority, std::numeric_limits<int32_t>::min(),
                      std::numeric_limits<int32_t>::max())) {
    return e;
  }
  r->priority = priority;
  if (auto e = GetBool(body, "speculative_decoding", &r->speculative_decoding)) return e;
  for (const char* name : {"kv_sinks", "kv_window"}) {
    if (Field(body, name) == nullptr) continue;
    int v = 0;
    if (auto e = GetInt(body, name, &v, 0, std::numeric_limits<int32_t>::max())) return e;
    (std::string_view(name) == "kv_sinks" ? r->kv_sinks : r->kv_window) = v;
  }
  if (Field(body, "kv_budget") != nullptr) {
    int v = 0;
    if (auto e = GetInt(body, "kv_budget", &v, 0, std::numeric_limits<int32_t>::max())) return e;
    r->kv_budget = v;
  }
  if (const Json* p = Field(body, "kv_policy")) {
    if (!p->is_string()) return TypeError("kv_policy", "a string: \"h2o\", \"window\" or \"sinks\"");
    r->kv_policy = KvPolicyFromName(p->get<std::string>());
    if (!r->kv_policy) {
      return BadRequest("'kv_policy' must be \"h2o\" (heavy hitters), \"window\" or \"sinks\", not \"" +
                            p->get<std::string>() + "\"",
                        "kv_policy");
    }
  }
  if (auto e = ParseStructuredRequest(body, &r->structured)) return e;
  return CheckFieldPolicy(body, r->chat, &r->unknown_fields);
}

// Content as the template wants it: a string (text parts joined) or null.
std::optional<ApiError> NormalizeContent(Json* content, const std::string& name) {
  if (content->is_null() || content->is_string()) return std::nullopt;
  if (!content->is_array()) return TypeError(name, "a string or an array of content parts");
  std::string text;
  for (const Json& part : *content) {
    if (!part.is_object()) return TypeError(name, "a string or an array of content parts");
    const Json* type = Field(part, "type");
    if (!type || !type->is_string() || type->get<std::string>() != "text") {
      return BadRequest("'" + name + "': only text content parts are supported", name);
    }
    const Json* t = Field(part, "text");
    if (!t || !t->is_string()) return TypeError(name + ".text", "a string");
    text += t->get<std::string>();
  }
  *content = text;
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ParseJsonBody(std::string_view body, Json* out) {
  JsonLimits limits;
  limits.max_depth = kMaxJsonDepth;
  return ParseJsonLimited(body, limits, out);
}

std::optional<ApiError> ParseCompletionRequest(const Json& body, OpenAIRequest* out) {
  out->chat = false;
  if (auto e = ParseCommon(body, out)) return e;
  if (auto e = ParsePrompt(body, &out->prompts)) return e;
  if (Field(body, "logprobs")) {
    if (auto e = GetInt(body, "logprobs", &out->sampling.logprobs, 0, 20)) return e;
  }
  if (auto e = GetBool(body, "echo", &out->echo)) return e;
  if (out->echo && out->sampling.logprobs >= 0) {
    return BadRequest("'echo' with 'logprobs' is not supported by weft: the prompt's logprobs are not computed",
                      "echo");
  }
  return std::nullopt;
}

std::optional<ApiError> ParseChatRequest(const Json& body, OpenAIRequest* out) {
  out->chat = true;
  if (auto e = ParseCommon(body, out)) return e;
  const Json* msgs = Field(body, "messages");
  if (!msgs) return BadRequest("'messages' is required", "messages");
  if (!msgs->is_array()) return TypeError("messages", "an array of messages");
  if (msgs->empty()) return BadRequest("'messages' is empty", "messages");
  out->messages = Json::array();
  for (size_t i = 0; i < msgs->size(); ++i) {
    const std::string name = "messages[" + std::to_string(i) + "]";
    Json m = (*msgs)[i];
    if (!m.is_object()) return TypeError(name, "an object");
    const Json* role = Field(m, "role");
    if (!role || !role->is_string()) return BadRequest("'" + name + ".role' is required and must be a string", name + ".role");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "tool" && r != "developer") {
      return BadRequest("'" + name + ".role' must be system, user, assistant, tool or developer: got '" + r + "'",
                        name + ".role");
    }
    if (r == "developer") m["role"] = "system";
    auto it = m.find("content");
    if (it == m.end()) {
      if (r != "assistant") return BadRequest("'" + name + ".content' is required", name + ".content");
      m["content"] = nullptr;
    } else if (auto e = NormalizeContent(&*it, name + ".content")) {
      return e;
    }
    if (auto e = NormalizeToolMessage(&m, name)) return e;
    out->messages.push_back(std::move(m));
  }
  if (auto e = ParseToolRequest(body, &out->tool)) return e;
  out->tools = out->tool.tools;
  if (out->tool.active() && out->structured) {
    return BadRequest("'" + out->structured->field + "' cannot be combined with tool calls (tool_choice " +
                          (out->tool.choice == ToolRequest::Choice::kAuto ? "auto" : "required or named") +
                          "); set tool_choice to none",
                      out->structured->field);
  }
  bool logprobs = false;
  if (auto e = GetBool(body, "logprobs", &logprobs)) return e;
  int top = 0;
  if (auto e = GetInt(body, "top_logprobs", &top, 0, 20)) return e;
  if (Field(body, "top_logprobs") && !logprobs) {
    return BadRequest("'top_logprobs' needs 'logprobs' set to true", "top_logprobs");
  }
  if (logprobs) out->sampling.logprobs = top;
  if (auto e = GetBool(body, "add_generation_prompt", &out->add_generation_prompt)) return e;
  if (auto e = GetBool(body, "continue_final_message", &out->continue_final_message)) return e;
  if (const Json* k = Field(body, "chat_template_kwargs")) {
    if (!k->is_object()) return TypeError("chat_template_kwargs", "an object");
    out->chat_template_kwargs = *k;
  }
  return std::nullopt;
}

}  // namespace weft::server
