// The field policy: fields that would change the answer are refused with a 400 naming
// them (unless their value asks for nothing), harmless ones are ignored, unknown ones
// are reported for the log. Through the parsers, as the server uses them.
#include "server/field_policy.h"

#include <gtest/gtest.h>

#include "server/openai_requests.h"

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

std::optional<ApiError> Parse(const std::string& text, bool chat, OpenAIRequest* r) {
  Json body;
  if (auto e = ParseJsonBody(text, &body)) return e;
  return chat ? ParseChatRequest(body, r) : ParseCompletionRequest(body, r);
}

// One field of a chat (chat = true) or completions request, with its value as JSON text.
struct FieldCase {
  bool chat;
  const char* name;
  const char* value;
};

std::string WithField(bool chat, const std::string& name, const std::string& value) {
  const std::string base = chat ? R"({"messages":[{"role":"user","content":"x"}])" : R"({"prompt":"x")";
  return base + ",\"" + name + "\":" + value + "}";
}

TEST(FieldPolicy, FieldsThatChangeTheAnswerAreRefusedByName) {
  const FieldCase cases[] = {
      {false, "best_of", "3"},
      {false, "suffix", R"("the end")"},
      {false, "prompt_logprobs", "0"},
      {true, "prompt_logprobs", "1"},
      {false, "use_beam_search", "true"},
      {false, "length_penalty", "0.5"},
      {false, "logits_processors", R"(["x"])"},
      {false, "allowed_token_ids", "[1,2]"},
      {true, "bad_words", R"(["no"])"},
      {false, "truncate_prompt_tokens", "10"},
      {false, "cache_salt", R"("tenant")"},
      {true, "functions", R"([{"name":"f"}])"},
      {true, "chat_template", R"("{{ messages }}")"},
      {true, "echo", "true"},
      {true, "reasoning_effort", R"("high")"},
      {true, "modalities", R"(["text","audio"])"},
  };
  for (const FieldCase& c : cases) {
    OpenAIRequest r;
    const std::string body = WithField(c.chat, c.name, c.value);
    auto e = Parse(body, c.chat, &r);
    ASSERT_TRUE(e) << body;
    EXPECT_EQ(e->http_status, 400) << body;
    EXPECT_EQ(e->param, c.name) << body;
    EXPECT_EQ(e->code, "unsupported_parameter") << body;
    EXPECT_NE(e->message.find(std::string("'") + c.name + "' is not supported"), std::string::npos) << e->message;
  }
}

// Structured output is acted on (server/structured_request.cc): parsed into
// OpenAIRequest::structured, with the field it came from; malformed values are 400s naming it.
TEST(FieldPolicy, StructuredOutputFieldsAreParsed) {
  const struct {
    bool chat;
    const char* name;
    const char* value;
    grammar::StructuredOutputSpec::Kind kind;
    const char* field;
  } cases[] = {
      {false, "response_format", R"({"type":"json_object"})", grammar::StructuredOutputSpec::Kind::kJsonObject, "response_format"},
      {true, "response_format", R"({"type":"json_schema","json_schema":{"name":"a","schema":{"type":"string"}}})",
       grammar::StructuredOutputSpec::Kind::kJsonSchema, "response_format.json_schema.schema"},
      {false, "guided_json", R"({"type":"object"})", grammar::StructuredOutputSpec::Kind::kJsonSchema, "guided_json"},
      {true, "guided_regex", R"("a+")", grammar::StructuredOutputSpec::Kind::kRegex, "guided_regex"},
      {false, "guided_grammar", R"("root ::= \"a\"")", grammar::StructuredOutputSpec::Kind::kGrammar, "guided_grammar"},
      {true, "guided_choice", R"(["a","b"])", grammar::StructuredOutputSpec::Kind::kChoice, "guided_choice"},
      {true, "structured_outputs", R"({"regex":"a"})", grammar::StructuredOutputSpec::Kind::kRegex, "structured_outputs.regex"},
  };
  for (const auto& c : cases) {
    OpenAIRequest r;
    const std::string body = WithField(c.chat, c.name, c.value);
    auto e = Parse(body, c.chat, &r);
    ASSERT_FALSE(e) << body << ": " << e->message;
    ASSERT_TRUE(r.structured.has_value()) << body;
    EXPECT_EQ(r.structured->spec.kind, c.kind) << body;
    EXPECT_EQ(r.structured->field, c.field) << body;
  }
  const struct {
    const char* body;
    const char* param;
  } bad[] = {
      {R"({"prompt":"x","response_format":{"type":"xml"}})", "response_format.type"},
      {R"({"prompt":"x","response_format":{"type":"json_schema"}})", "response_format.json_schema"},
      {R"({"prompt":"x","guided_choice":[]})", "guided_choice"},
      {R"({"prompt":"x","guided_regex":3})", "guided_regex"},
      {R"({"prompt":"x","guided_json":"{not json"})", "guided_json"},
      {R"({"prompt":"x","guided_regex":"b","guided_choice":["a"]})", "guided_choice"},  // the second one parsed
      {R"({"prompt":"x","structured_outputs":{"structural_tag":"x"}})", "structured_outputs.structural_tag"},
      {R"({"prompt":"x","guided_grammar":{"root":"x"}})", "guided_grammar"},
  };
  for (const auto& b : bad) {
    OpenAIRequest r;
    auto e = Parse(b.body, false, &r);
    ASSERT_TRUE(e) << b.body;
    EXPECT_EQ(e->http_status, 400) << b.body;
    EXPECT_EQ(e->param, b.param) << b.body << ": " << e->message;
  }
}

TEST(FieldPolicy, ValuesThatAskForNothingAndNullPass) {
  const FieldCase cases[] = {
      {false, "response_format", R"({"type":"text"})"},
      {true, "response_format", "null"},
      {true, "tool_choice", "null"},
      {true, "tool_choice", R"("none")"},
      {true, "parallel_tool_calls", "false"},
      {false, "best_of", "1"},
      {false, "suffix", R"("")"},
      {false, "use_beam_search", "false"},
      {false, "length_penalty", "1"},
      {true, "echo", "false"},
      {true, "modalities", R"(["text"])"},
      {false, "return_tokens_as_token_ids", "false"},
  };
  for (const FieldCase& c : cases) {
    OpenAIRequest r;
    const std::string body = WithField(c.chat, c.name, c.value);
    auto e = Parse(body, c.chat, &r);
    EXPECT_FALSE(e) << body << ": " << e->message;
    EXPECT_TRUE(r.unknown_fields.empty()) << body;
  }
  OpenAIRequest r;
  EXPECT_FALSE(Parse(R"({"prompt":"x","n":3,"best_of":3})", false, &r));
  EXPECT_TRUE(Parse(R"({"prompt":"x","n":3,"best_of":4})", false, &r));
}

TEST(FieldPolicy, HarmlessFieldsAreIgnoredAndUnknownOnesReported) {
  OpenAIRequest r;
  auto e = Parse(R"({"messages":[{"role":"user","content":"x"}],"user":"u","metadata":{"a":"b"},"store":false,
      "service_tier":"auto","parallel_tool_calls":true,"frobnicate":1,"prompt":"not for chat","suffix":"s"})",
                 true, &r);
  ASSERT_FALSE(e) << e->message;
  // A field of the other endpoint is unknown here.
  EXPECT_EQ(r.unknown_fields, (std::vector<std::string>{"frobnicate", "prompt", "suffix"}));
}

}  // namespace
}  // namespace weft::server
