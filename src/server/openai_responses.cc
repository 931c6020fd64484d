#include "server/openai_responses.h"

#include <random>

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
    bool made_calls = false;
    if (ctx.chat && ctx.tool_format != ToolCallFormat::kNone) {
      ParsedOutput p = ParseToolCalls(ctx.tool_format, c.text, ctx.tool_names, ctx.max_tool_calls);
      made_calls = !p.calls.empty();
      Json msg = Json{{"role", "assistant"}, {"content", p.content}};
      if (made_calls) {
        if (p.content.find_first_not_of(" \n\t\r") == std::string::npos) msg["content"] = nullptr;
        msg["tool_calls"] = ToolCallsJson(p.calls, ctx.tool_format, false);
      }
      ch["message"] = std::move(msg);
    } else if (ctx.chat) {
      ch["message"] = Json{{"role", "assistant"}, {"content", c.text}};
    } else {
      ch["text"] = c.text;
    }
    ch["logprobs"] = ctx.logprobs ? LogprobsJson(ctx, c.logprobs, 0) : Json();
    ch["finish_reason"] = ChoiceFinishReason(c.finish, made_calls);
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

std::string NewToolCallId(ToolCallFormat f) {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  static constexpr char kAlnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  if (f == ToolCallFormat::kMistral) {
    for (int i = 0; i < 9; ++i) id += kAlnum[rng() % 62];
    return id;
  }
  id = "call_";
  for (int i = 0; i < 24; ++i) id += kHex[rng() % 16];
  return id;
}

Json ToolCallsJson(const std::vector<ParsedToolCall>& calls, ToolCallFormat f, bool streaming) {
  Json arr = Json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    Json c;
    if (streaming) c["index"] = static_cast<int64_t>(i);
    c["id"] = NewToolCallId(f);
    c["type"] = "function";
    c["function"] = Json{{"name", calls[i].name}, {"arguments", calls[i].arguments}};
    arr.push_back(std::move(c));
  }
  return arr;
}

Json ToolCallPieceChunk(const ResponseContext& ctx, int index, const ToolCallPiece& piece, const std::string& id,
                        bool with_usage_null) {
  Json j = Header(ctx, "chat.completion.chunk");
  Json c;
  c["index"] = piece.index;
  Json fn = Json::object();
  if (!piece.name.empty()) {
    c["id"] = id;
    c["type"] = "function";
    fn["name"] = piece.name;
  }
  fn["arguments"] = piece.arguments;
  c["function"] = std::move(fn);
  Json ch;
  ch["index"] = index;
  ch["delta"] = Json{{"tool_calls", Json::array({std::move(c)})}};
  ch["logprobs"] = nullptr;
  ch["finish_reason"] = nullptr;
  j["choices"] = Json::array({std::move(ch)});
  if (with_usage_null) j["usage"] = nullptr;
  return j;
}

Json FinishChunk(const ResponseContext& ctx, int index, const char* reason, bool with_usage_null) {
  Json j = Header(ctx, ctx.chat ? "chat.completion.chunk" : "text_completion");
  Json ch;
  ch["index"] = index;
  if (ctx.chat) {
    ch["delta"] = Json::object();
  } else {
    ch["text"] = "";
  }
  ch["logprobs"] = nullptr;
  ch["finish_reason"] = reason;
  j["choices"] = Json::array({std::move(ch)});
  if (with_usage_null) j["usage"] = nullptr;
  return j;
}

const char* ChoiceFinishReason(RequestFinish f, bool made_calls) {
  return made_calls && f == RequestFinish::kStop ? "tool_calls" : FinishReason(f);
}

std::string SseEvent(const Json& j) { return "data: " + DumpJson(j) + "\n\n"; }

}  // namespace weft::server
