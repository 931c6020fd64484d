#include "server/openai_responses.h"

#include "server/errors.h"

namespace weft::server {

using Json = nlohmann::ordered_json;

const char* FinishReason(RequestFinish f) {
  switch (f) {
    case RequestFinish::kStop: return "stop";
    case RequestFinish::kLength: return "length";
    case RequestFinish::kAbort: return "abort";
    case RequestFinish::kError: return "error";
    default: return "stop";
  }
}

Json UsageJson(const Usage& u) {
  Json j;
  j["prompt_tokens"] = u.prompt_tokens;
  j["completion_tokens"] = u.completion_tokens;
  j["total_tokens"] = u.prompt_tokens + u.completion_tokens;
  return j;
}

namespace {

std::string TokenText(const ResponseContext& ctx, int32_t id) {
  return std::string(ctx.tokenizer->TokenBytes(id, /*skip_special=*/false));
}

Json Bytes(const std::string& s) {
  Json a = Json::array();
  for (unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

Json Header(const ResponseContext& ctx, const char* object) {
  Json j;
  j["id"] = ctx.id;
  j["object"] = object;
  j["created"] = ctx.created;
  j["model"] = ctx.model;
  return j;
}

}  // namespace

Json LogprobsJson(const ResponseContext& ctx, const std::vector<SampleResult>& lps, int64_t text_offset) {
  if (ctx.chat) {
    Json content = Json::array();
    for (const SampleResult& r : lps) {
      Json t;
      const std::string text = TokenText(ctx, r.token);
      t["token"] = text;
      t["logprob"] = r.logprob;
      t["bytes"] = Bytes(text);
      Json top = Json::array();
      for (const TokenLogprob& alt : r.top_logprobs) {
        const std::string at = TokenText(ctx, alt.token);
        top.push_back(Json{{"token", at}, {"logprob", alt.logprob}, {"bytes", Bytes(at)}});
      }
      t["top_logprobs"] = std::move(top);
      content.push_back(std::move(t));
    }
    return Json{{"content", std::move(content)}};
  }
  Json tokens = Json::array(), token_lps = Json::array(), tops = Json::array(), offsets = Json::array();
  for (const SampleResult& r : lps) {
    const std::string text = TokenText(ctx, r.token);
    tokens.push_back(text);
    token_lps.push_back(r.logprob);
    Json top = Json::object();
    for (const TokenLogprob& alt : r.top_logprobs) top[TokenText(ctx, alt.token)] = alt.logprob;
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += static_cast<int64_t>(text.size());
  }
  Json j;
  j["tokens"] = std::move(tokens);
  j["token_logprobs"] = std::move(token_lps);
  j["top_logprobs"] = std::move(tops);
  j["text_offset"] = std::move(offsets);
  return j;
}

Json FullResponse(const ResponseContext& ctx, const std::vector<Choice>& choices, const Usage& u) {
  Json j = Header(ctx, ctx.chat ? "chat.completion" : "text_completion");
  Json arr = Json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    const Choice& c = choices[i];
    Json ch;
    ch["index"] = static_cast<int64_t>(i);
    if (ctx.chat) {
      ch["message"] = Json{{"role", "assistant"}, {"content", c.text}};
    } else {
      ch["text"] = c.text;
    }
    ch["logprobs"] = ctx.logprobs ? LogprobsJson(ctx, c.logprobs, 0) : Json();
    ch["finish_reason"] = FinishReason(c.finish);
    arr.push_back(std::move(ch));
  }
  j["choices"] = std::move(arr);
  j["usage"] = UsageJson(u);
  return j;
}

Json StreamChunk(const ResponseContext& ctx, int index, const std::string& delta, const std::vector<SampleResult>& lps,
                 int64_t text_offset, bool first, RequestFinish finish, bool with_usage_null) {
  Json j = Header(ctx, ctx.chat ? "chat.completion.chunk" : "text_completion");
  Json ch;
  ch["index"] = index;
  if (ctx.chat) {
    Json d = Json::object();
    if (first) d["role"] = "assistant";
    if (!delta.empty() || first) d["content"] = delta;
    ch["delta"] = std::move(d);
  } else {
    ch["text"] = delta;
  }
  ch["logprobs"] = ctx.logprobs && !lps.empty() ? LogprobsJson(ctx, lps, text_offset) : Json();
  ch["finish_reason"] = finish == RequestFinish::kNone ? Json() : Json(FinishReason(finish));
  j["choices"] = Json::array({std::move(ch)});
  if (with_usage_null) j["usage"] = nullptr;
  return j;
}

Json UsageChunk(const ResponseContext& ctx, const Usage& u) {
  Json j = Header(ctx, ctx.chat ? "chat.completion.chunk" : "text_completion");
  j["choices"] = Json::array();
  j["usage"] = UsageJson(u);
  return j;
}

std::string SseEvent(const Json& j) { return "data: " + DumpJson(j) + "\n\n"; }

}  // namespace weft::server
