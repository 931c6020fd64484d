#include "server/openai_requests.h"

#include <gtest/gtest.h>

#include <random>

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

std::optional<ApiError> Completion(const std::string& text, OpenAIRequest* r) {
  Json body;
  if (auto e = ParseJsonBody(text, &body)) return e;
  return ParseCompletionRequest(body, r);
}

std::optional<ApiError> Chat(const std::string& text, OpenAIRequest* r) {
  Json body;
  if (auto e = ParseJsonBody(text, &body)) return e;
  return ParseChatRequest(body, r);
}

TEST(OpenAIRequests, CompletionFields) {
  OpenAIRequest r;
  auto e = Completion(R"({"model":"m","prompt":"hi","max_tokens":7,"temperature":0,"top_p":0.5,"top_k":3,
      "min_p":0.1,"n":2,"stop":["a","b"],"seed":42,"presence_penalty":0.5,"frequency_penalty":-0.5,
      "logit_bias":{"12":-100,"7":3.5},"logprobs":2,"user":"u","stream":true,
      "stream_options":{"include_usage":true},"unknown_field":{"x":1}})", &r);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_EQ(std::get<std::string>(r.prompts[0]), "hi");
  EXPECT_EQ(r.sampling.max_tokens, 7);
  EXPECT_TRUE(r.max_tokens_given);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_EQ(r.sampling.top_k, 3);
  EXPECT_EQ(r.sampling.n, 2);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.sampling.seed, 42u);
  ASSERT_EQ(r.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(r.sampling.logit_bias[0].first, 12);
  EXPECT_EQ(r.sampling.logprobs, 2);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u");
  EXPECT_EQ(r.unknown_fields, (std::vector<std::string>{"unknown_field"}));
}

TEST(OpenAIRequests, VllmFieldsAreActedOn) {
  OpenAIRequest r;
  auto e = Completion(R"({"prompt":"hi","stop_token_ids":[3,9],"include_stop_str_in_output":true,
      "skip_special_tokens":false,"add_special_tokens":false,"priority":-2})", &r);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(r.sampling.stop_token_ids, (std::vector<int32_t>{3, 9}));
  EXPECT_TRUE(r.sampling.include_stop_str_in_output);
  EXPECT_FALSE(r.sampling.skip_special_tokens);
  EXPECT_FALSE(r.add_special_tokens);
  EXPECT_EQ(r.priority, -2);
  EXPECT_TRUE(r.unknown_fields.empty());
  OpenAIRequest d;
  ASSERT_FALSE(Completion(R"({"prompt":"hi"})", &d));
  EXPECT_TRUE(d.add_special_tokens);
  EXPECT_TRUE(d.sampling.skip_special_tokens);
  EXPECT_FALSE(d.sampling.include_stop_str_in_output);

  OpenAIRequest c;
  e = Chat(R"({"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"Once"}],
      "continue_final_message":true,"add_generation_prompt":false,"chat_template_kwargs":{"enable_thinking":false}})",
           &c);
  ASSERT_FALSE(e) << e->message;
  EXPECT_TRUE(c.continue_final_message);
  EXPECT_FALSE(c.add_generation_prompt);
  EXPECT_EQ(c.chat_template_kwargs, (Json{{"enable_thinking", false}}));
  OpenAIRequest cd;
  ASSERT_FALSE(Chat(R"({"messages":[{"role":"user","content":"x"}]})", &cd));
  EXPECT_TRUE(cd.add_generation_prompt);
  EXPECT_FALSE(cd.continue_final_message);
  EXPECT_TRUE(cd.chat_template_kwargs.is_null());
}

TEST(OpenAIRequests, KvWindowFields) {
  OpenAIRequest r;
  auto e = Completion(R"({"prompt":"x","kv_sinks":4,"kv_window":256})", &r);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(r.kv_sinks, 4);
  EXPECT_EQ(r.kv_window, 256);
  EXPECT_TRUE(r.unknown_fields.empty());
  OpenAIRequest c;
  e = Chat(R"({"messages":[{"role":"user","content":"hi"}],"kv_window":0})", &c);
  ASSERT_FALSE(e) << e->message;
  EXPECT_FALSE(c.kv_sinks.has_value());
  EXPECT_EQ(c.kv_window, 0);
  OpenAIRequest none;
  ASSERT_FALSE(Completion(R"({"prompt":"x"})", &none));
  EXPECT_FALSE(none.kv_sinks.has_value() || none.kv_window.has_value());
}

TEST(OpenAIRequests, PromptForms) {
  OpenAIRequest a, b, c;
  ASSERT_FALSE(Completion(R"({"prompt":["x","y"]})", &a));
  EXPECT_EQ(a.prompts.size(), 2u);
  ASSERT_FALSE(Completion(R"({"prompt":[1,2,3]})", &b));
  ASSERT_EQ(b.prompts.size(), 1u);
  EXPECT_EQ(std::get<std::vector<int32_t>>(b.prompts[0]), (std::vector<int32_t>{1, 2, 3}));
  ASSERT_FALSE(Completion(R"({"prompt":[[1],[2,3]],"stop":"s","max_tokens":null})", &c));
  EXPECT_EQ(c.prompts.size(), 2u);
  EXPECT_EQ(c.sampling.stop, (std::vector<std::string>{"s"}));
  EXPECT_FALSE(c.max_tokens_given);
}

TEST(OpenAIRequests, ErrorsNameTheField) {
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({"prompt":"x","max_tokens":"5"})", "max_tokens"},
      {R"({"prompt":"x","max_tokens":0})", "max_tokens"},
      {R"({"prompt":"x","temperature":"hot"})", "temperature"},
      {R"({"prompt":"x","n":1.5})", "n"},
      {R"({"prompt":"x","stop":[1]})", "stop"},
      {R"({"prompt":"x","seed":"s"})", "seed"},
      {R"({"prompt":"x","logit_bias":{"abc":1}})", "logit_bias"},
      {R"({"prompt":"x","logit_bias":{"5":1000}})", "logit_bias"},
      {R"({"prompt":"x","stream":"yes"})", "stream"},
      {R"({"prompt":"x","model":3})", "model"},
      {R"({"prompt":{"a":1}})", "prompt"},
      {R"({"prompt":[]})", "prompt"},
      {R"({"prompt":[1,"a"]})", "prompt"},
      {R"({"prompt":[-1]})", "prompt"},
      {R"({"max_tokens":3})", "prompt"},
      {R"({"prompt":"x","logprobs":true})", "logprobs"},
      {R"({"prompt":"x","stop_token_ids":5})", "stop_token_ids"},
      {R"({"prompt":"x","stop_token_ids":[-5]})", "stop_token_ids"},
      {R"({"prompt":"x","include_stop_str_in_output":1})", "include_stop_str_in_output"},
      {R"({"prompt":"x","skip_special_tokens":"no"})", "skip_special_tokens"},
      {R"({"prompt":"x","add_special_tokens":0})", "add_special_tokens"},
      {R"({"prompt":"x","priority":1.5})", "priority"},
      {R"({"prompt":"x","echo":true,"logprobs":1})", "echo"},
      {R"({"prompt":"x","kv_window":-1})", "kv_window"},
      {R"({"prompt":"x","kv_window":"big"})", "kv_window"},
      {R"({"prompt":"x","kv_sinks":-4,"kv_window":64})", "kv_sinks"},
      {R"({"prompt":"x","kv_sinks":2.5})", "kv_sinks"},
  };
  for (const Case& c : cases) {
    OpenAIRequest r;
    auto e = Completion(c.body, &r);
    ASSERT_TRUE(e) << c.body;
    EXPECT_EQ(e->http_status, 400) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body;
    EXPECT_NE(e->message.find(c.param), std::string::npos) << e->message;
  }
}

TEST(OpenAIRequests, MalformedAndHostileJson) {
  OpenAIRequest r;
  for (const char* body : {"", "{", "{bad", "[1,2", "null", "\"str\"", "[]", "{\"prompt\": \"x\"}}"}) {
    auto e = Completion(body, &r);
    ASSERT_TRUE(e) << body;
    EXPECT_EQ(e->http_status, 400);
  }
  auto deep = Completion(std::string(100000, '[') + std::string(100000, ']'), &r);
  ASSERT_TRUE(deep);
  EXPECT_NE(deep->message.find("nested"), std::string::npos);
  // Brackets inside strings do not count as nesting.
  OpenAIRequest ok;
  EXPECT_FALSE(Completion("{\"prompt\":\"" + std::string(1000, '[') + "\"}", &ok));
}

TEST(OpenAIRequests, Chat) {
  OpenAIRequest r;
  auto e = Chat(R"({"messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},
      {"type":"text","text":"b"}]},{"role":"assistant"},{"role":"developer","content":"d"}],
      "max_completion_tokens":9,"logprobs":true,"top_logprobs":3})", &r);
  ASSERT_FALSE(e) << e->message;
  EXPECT_TRUE(r.chat);
  ASSERT_EQ(r.messages.size(), 4u);
  EXPECT_EQ(r.messages[1]["content"], "ab");
  EXPECT_TRUE(r.messages[2]["content"].is_null());
  EXPECT_EQ(r.messages[3]["role"], "system");
  EXPECT_EQ(r.sampling.max_tokens, 9);
  EXPECT_EQ(r.sampling.logprobs, 3);

  OpenAIRequest plain;
  ASSERT_FALSE(Chat(R"({"messages":[{"role":"user","content":"x"}]})", &plain));
  EXPECT_EQ(plain.sampling.logprobs, -1);
}

TEST(OpenAIRequests, ChatErrors) {
  struct Case {
    const char* body;
    const char* param;
  } cases[] = {
      {R"({})", "messages"},
      {R"({"messages":"hi"})", "messages"},
      {R"({"messages":[]})", "messages"},
      {R"({"messages":[{"content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"wizard","content":"x"}]})", "messages[0].role"},
      {R"({"messages":[{"role":"user"}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":5}]})", "messages[0].content"},
      {R"({"messages":[{"role":"user","content":"x"}],"top_logprobs":2})", "top_logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":50})", "top_logprobs"},
      {R"({"messages":[{"role":"user","content":"x"}],"chat_template_kwargs":[1]})", "chat_template_kwargs"},
      {R"({"messages":[{"role":"user","content":"x"}],"continue_final_message":"yes"})", "continue_final_message"},
      {R"({"messages":[{"role":"user","content":"x"}],"add_generation_prompt":1})", "add_generation_prompt"},
  };
  for (const Case& c : cases) {
    OpenAIRequest r;
    auto e = Chat(c.body, &r);
    ASSERT_TRUE(e) << c.body;
    EXPECT_EQ(e->param, c.param) << c.body << ": " << e->message;
  }
}

}  // namespace
}  // namespace weft::server

namespace weft::server {
namespace {

// A small fuzz pass: random byte edits of valid bodies never crash or throw; each
// result is either a parsed request or a 400.
TEST(OpenAIRequests, MutatedBodiesNeverCrash) {
  const std::string seeds[] = {
      R"({"model":"m","prompt":["a",[1,2]],"max_tokens":7,"temperature":0.5,"stop":["x"],"logit_bias":{"1":2},"n":2,"stream":true,"stream_options":{"include_usage":true},"logprobs":1})",
      R"({"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]},{"role":"assistant","content":null}],"logprobs":true,"top_logprobs":2,"seed":-5})",
  };
  std::mt19937 rng(7);
  const char alphabet[] = "{}[]\",:0123456789-.eE truefalsnul\\\x00\xff";
  for (int iter = 0; iter < 20000; ++iter) {
    std::string body = seeds[iter % 2];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits && !body.empty(); ++k) {
      const size_t pos = rng() % body.size();
      const char c = alphabet[rng() % (sizeof(alphabet) - 1)];
      switch (rng() % 3) {
        case 0: body[pos] = c; break;
        case 1: body.insert(body.begin() + static_cast<std::ptrdiff_t>(pos), c); break;
        default: body.erase(pos, 1 + rng() % 8); break;
      }
    }
    nlohmann::ordered_json j;
    OpenAIRequest r;
    std::optional<ApiError> e;
    ASSERT_NO_THROW({
      e = ParseJsonBody(body, &j);
      if (!e) e = (iter % 2) ? ParseChatRequest(j, &r) : ParseCompletionRequest(j, &r);
    }) << body;
    if (e) {
      EXPECT_EQ(e->http_status, 400) << body;
    }
  }
}

}  // namespace
}  // namespace weft::server
