// Tool calling: the request fields (tools, tool_choice, parallel_tool_calls, tool calls in
// the history), the format read from real chat templates, the grammar that forces calls
// (required / named) accepting exactly the valid calls, and reading calls back out of the
// text, whole and streamed byte by byte.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include <fstream>
#include <sstream>

#include "grammar/json_schema.h"
#include "grammar/matcher.h"
#include "jinja/chat_template.h"
#include "server/openai_requests.h"
#include "server/tool_call_format.h"
#include "server/tool_request.h"
#include "support/golden.h"

namespace weft::server {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::ordered_json;

std::string ReadTemplate(const std::string& name) {
  std::ifstream f(testing::SharedDir() + "/models/chat-templates/" + name);
  EXPECT_TRUE(f.good()) << name;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

const Json kTools = Json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
                   "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"], "additionalProperties": false}}},
  {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
    "properties": {"a": {"$ref": "#/$defs/small"}, "b": {"$ref": "#/$defs/small"}}, "required": ["a", "b"],
    "additionalProperties": false, "$defs": {"small": {"type": "integer", "minimum": 0, "maximum": 99}}}}}
])");

std::optional<ApiError> ParseChat(Json body, OpenAIRequest* r) {
  if (!body.contains("messages")) body["messages"] = Json::array({{{"role", "user"}, {"content", "hi"}}});
  return ParseChatRequest(body, r);
}

TEST(ToolCallFormat, DetectedFromRealTemplates) {
  EXPECT_EQ(DetectToolCallFormat(ReadTemplate("Qwen-Qwen2.5-7B-Instruct.jinja")), ToolCallFormat::kHermes);
  EXPECT_EQ(DetectToolCallFormat(ReadTemplate("NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja")),
            ToolCallFormat::kHermes);
  EXPECT_EQ(DetectToolCallFormat(ReadTemplate("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja")),
            ToolCallFormat::kHermes);
  for (const char* t : {"meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja",
                        "meta-llama-Llama-3.3-70B-Instruct.jinja"}) {
    EXPECT_EQ(DetectToolCallFormat(ReadTemplate(t)), ToolCallFormat::kLlama3) << t;
  }
  EXPECT_EQ(DetectToolCallFormat(ReadTemplate("mistralai-Mistral-Nemo-Instruct-2407.jinja")), ToolCallFormat::kMistral);
  EXPECT_EQ(DetectToolCallFormat(ReadTemplate("google-gemma-2-2b-it.jinja")), ToolCallFormat::kNone);
  EXPECT_EQ(ParseToolCallFormat("mistral"), ToolCallFormat::kMistral);
  EXPECT_EQ(ParseToolCallFormat("auto"), std::nullopt);
}

TEST(ToolRequest, ChoicesAndRefusals) {
  OpenAIRequest r;
  ASSERT_FALSE(ParseChat({{"tools", kTools}}, &r));
  EXPECT_EQ(r.tool.choice, ToolRequest::Choice::kAuto);  // tools given: auto by default
  EXPECT_EQ(r.tool.names, (std::vector<std::string>{"get_weather", "add"}));
  EXPECT_EQ(r.tools, kTools);

  OpenAIRequest n;
  ASSERT_FALSE(ParseChat({{"tools", kTools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "add"}}}}},
                          {"parallel_tool_calls", false}}, &n));
  EXPECT_EQ(n.tool.choice, ToolRequest::Choice::kNamed);
  EXPECT_EQ(n.tool.named, "add");
  EXPECT_FALSE(n.tool.parallel);

  OpenAIRequest none;
  ASSERT_FALSE(ParseChat({{"tools", kTools}, {"tool_choice", "none"}}, &none));
  EXPECT_FALSE(none.tool.active());
  ASSERT_FALSE(ParseChat({{"tool_choice", "none"}}, &none));

  struct Bad { Json body; std::string param; std::string msg; };
  const std::vector<Bad> bad = {
      {{{"tool_choice", "required"}}, "tool_choice", "needs 'tools'"},
      {{{"tools", kTools}, {"tool_choice", "sometimes"}}, "tool_choice", "got 'sometimes'"},
      {{{"tools", kTools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}},
       "tool_choice.function.name", "no tool is named 'nope'"},
      {{{"tools", Json::array({{{"type", "code_interpreter"}}})}}, "tools[0].type", "only tool type"},
      {{{"tools", Json::array({{{"type", "function"}, {"function", {{"name", "a b"}}}}})}}, "tools[0].function.name", "a-z"},
      {{{"tools", Json::array({{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", "x"}}}}})}},
       "tools[0].function.parameters", "JSON schema"},
      {{{"tools", kTools}, {"parallel_tool_calls", 1}}, "parallel_tool_calls", "boolean"},
      {{{"tools", kTools}, {"tool_choice", "required"}, {"response_format", {{"type", "json_object"}}}},
       "response_format", "cannot be combined with tool calls"},
      {{{"messages", Json::array({{{"role", "assistant"}, {"tool_calls", Json::array({{{"type", "function"},
          {"function", {{"name", "f"}, {"arguments", "{not json"}}}}})}}})}},
       "messages[0].tool_calls[0].function.arguments", "not valid JSON"},
      {{{"messages", Json::array({{{"role", "tool"}, {"content", "1"}}})}}, "messages[0].tool_call_id", "required"},
  };
  for (const Bad& b : bad) {
    OpenAIRequest x;
    auto e = ParseChat(b.body, &x);
    ASSERT_TRUE(e) << b.body.dump();
    EXPECT_EQ(e->http_status, 400);
    EXPECT_EQ(e->param, b.param) << b.body.dump();
    EXPECT_THAT(e->message, HasSubstr(b.msg)) << b.body.dump();
  }
}

// A conversation with a call and its result, as an OpenAI client sends it.
Json History() {
  return Json::parse(R"([
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "abcDEF123", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"c\"}"}}]},
    {"role": "tool", "tool_call_id": "abcDEF123", "content": "18 degrees"}
  ])");
}

TEST(ToolRequest, HistoryRenderedByRealTemplates) {
  OpenAIRequest r;
  ASSERT_FALSE(ParseChat({{"messages", History()}, {"tools", kTools}}, &r));
  // The arguments string became the object the templates index.
  EXPECT_TRUE(r.messages[1]["tool_calls"][0]["function"]["arguments"].is_object());
  struct Case { const char* file; std::vector<std::string> want; };
  const std::vector<Case> cases = {
      {"Qwen-Qwen2.5-7B-Instruct.jinja",
       {"<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}}\n</tool_call>",
        "<tool_response>\n18 degrees\n</tool_response>", "\"name\": \"add\""}},
      {"meta-llama-Llama-3.1-8B-Instruct.jinja",
       {"{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"unit\": \"c\"}}", "18 degrees",
        "\"name\": \"add\""}},
      {"mistralai-Mistral-Nemo-Instruct-2407.jinja",
       {"[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"c\"}, \"id\": \"abcDEF123\"}]",
        "[TOOL_RESULTS]{\"content\": 18 degrees, \"call_id\": \"abcDEF123\"}[/TOOL_RESULTS]", "[AVAILABLE_TOOLS]"}},
  };
  for (const Case& c : cases) {
    auto t = ChatTemplate::Parse(ReadTemplate(c.file));
    ASSERT_TRUE(t.ok()) << c.file;
    ChatTemplate::ChatInputs in;
    in.messages = r.messages;
    in.tools = r.tools;
    in.add_generation_prompt = true;
    in.bos_token = "<s>";
    in.eos_token = "</s>";
    auto out = t->RenderChat(in);
    ASSERT_TRUE(out.ok()) << c.file << ": " << out.status().ToString();
    for (const std::string& w : c.want) EXPECT_THAT(*out, HasSubstr(w)) << c.file;
  }
}

bool Accepts(grammar::CompiledGrammar& g, const std::string& text) {
  const uint32_t s = g.Advance(g.initial_state(), text);
  return s != grammar::kDeadState && g.CanEnd(s);
}

std::shared_ptr<grammar::CompiledGrammar> ConstraintGrammar(const Json& body, ToolCallFormat f) {
  OpenAIRequest r;
  auto e = ParseChat(body, &r);
  EXPECT_FALSE(e) << e->message;
  auto spec = ToolCallConstraint(r.tool, f);
  EXPECT_TRUE(spec.ok());
  auto g = grammar::CompileJsonSchemaSequence(Json::parse(spec->text), *spec->sequence);
  EXPECT_TRUE(g.ok()) << g.status().ToString();
  return std::make_shared<grammar::CompiledGrammar>(std::move(g).value());
}

TEST(ToolCallConstraint, AcceptsExactlyValidCalls) {
  const std::string weather = R"({"name":"get_weather","arguments":{"city":"Paris","unit":"c"}})";
  const std::string add = R"({"name":"add","arguments":{"a":3,"b":99}})";
  const std::string bad_enum = R"({"name":"get_weather","arguments":{"city":"Paris","unit":"k"}})";
  const std::string bad_ref = R"({"name":"add","arguments":{"a":3,"b":100}})";  // $defs/small: max 99
  const std::string missing = R"({"name":"add","arguments":{"a":3}})";
  const std::string unknown = R"({"name":"sub","arguments":{"a":3,"b":1}})";
  auto hermes = [](const std::string& v) { return "<tool_call>\n" + v + "\n</tool_call>"; };

  auto req = ConstraintGrammar({{"tools", kTools}, {"tool_choice", "required"}}, ToolCallFormat::kHermes);
  EXPECT_TRUE(Accepts(*req, hermes(weather)));
  EXPECT_TRUE(Accepts(*req, hermes(add)));
  EXPECT_TRUE(Accepts(*req, hermes(add) + "\n" + hermes(weather)));  // parallel calls
  std::string eight = hermes(add), nine;
  for (int i = 1; i < kMaxParallelToolCalls; ++i) eight += "\n" + hermes(add);
  nine = eight + "\n" + hermes(add);
  EXPECT_TRUE(Accepts(*req, eight));
  EXPECT_FALSE(Accepts(*req, nine));  // bounded, so that a forced generation ends
  for (const auto& v : {bad_enum, bad_ref, missing, unknown}) EXPECT_FALSE(Accepts(*req, hermes(v))) << v;
  EXPECT_FALSE(Accepts(*req, ""));  // required: at least one call
  EXPECT_FALSE(Accepts(*req, weather));

  auto one = ConstraintGrammar({{"tools", kTools}, {"tool_choice", "required"}, {"parallel_tool_calls", false}},
                               ToolCallFormat::kHermes);
  EXPECT_TRUE(Accepts(*one, hermes(add)));
  EXPECT_FALSE(Accepts(*one, hermes(add) + "\n" + hermes(weather)));

  const Json named = {{"tools", kTools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "add"}}}}}};
  auto nh = ConstraintGrammar(named, ToolCallFormat::kHermes);
  EXPECT_TRUE(Accepts(*nh, hermes(add)));
  EXPECT_FALSE(Accepts(*nh, hermes(weather)));

  auto ll = ConstraintGrammar(named, ToolCallFormat::kLlama3);
  EXPECT_TRUE(Accepts(*ll, R"({"name":"add","parameters":{"a":3,"b":99}})"));
  EXPECT_FALSE(Accepts(*ll, add));  // Llama 3 says "parameters"

  auto mi = ConstraintGrammar({{"tools", kTools}, {"tool_choice", "required"}}, ToolCallFormat::kMistral);
  EXPECT_TRUE(Accepts(*mi, "[TOOL_CALLS][" + add + "]"));
  EXPECT_TRUE(Accepts(*mi, "[TOOL_CALLS][" + add + "," + weather + "]"));
  EXPECT_FALSE(Accepts(*mi, "[TOOL_CALLS][]"));
  EXPECT_FALSE(Accepts(*mi, "[" + add + "]"));
}

TEST(ToolCallConstraint, UnsupportedParameterKeywordIsNamed) {
  OpenAIRequest r;
  const Json tools = Json::array({{{"type", "function"}, {"function", {{"name", "f"},
      {"parameters", {{"type", "object"}, {"properties", {{"x", {{"not", {{"type", "string"}}}}}}}}}}}}});
  ASSERT_FALSE(ParseChat({{"tools", tools}, {"tool_choice", "required"}}, &r));
  auto spec = ToolCallConstraint(r.tool, ToolCallFormat::kHermes);
  ASSERT_TRUE(spec.ok());
  auto g = grammar::CompileJsonSchemaSequence(Json::parse(spec->text), *spec->sequence);
  ASSERT_FALSE(g.ok());
  EXPECT_THAT(g.status().message(), HasSubstr("'not'"));
}

const std::vector<std::string> kNames = {"get_weather", "add"};

TEST(ParseToolCalls, Formats) {
  auto h = ParseToolCalls(ToolCallFormat::kHermes,
                          "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
                          "\"unit\": \"c\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, "
                          "\"b\": 2}}\n</tool_call>",
                          kNames);
  ASSERT_EQ(h.calls.size(), 2u);
  EXPECT_EQ(h.content, "Let me check.\n");
  EXPECT_EQ(h.calls[0].name, "get_weather");
  EXPECT_EQ(h.calls[0].arguments, R"({"city":"Paris","unit":"c"})");
  EXPECT_EQ(h.calls[1].arguments, R"({"a":1,"b":2})");
  EXPECT_EQ(ParseToolCalls(ToolCallFormat::kHermes, h.content + "<tool_call>{\"name\":\"add\",\"arguments\":{}}", kNames, 0)
                .calls.size(), 1u);  // stopped before the closing tag
  EXPECT_EQ(ParseToolCalls(ToolCallFormat::kHermes, "<tool_call>{\"name\":\"add\",\"arguments\":{}}</tool_call>"
                           "<tool_call>{\"name\":\"add\",\"arguments\":{}}</tool_call>", kNames, 1).calls.size(), 1u);

  auto l = ParseToolCalls(ToolCallFormat::kLlama3, "<|python_tag|>{\"name\": \"add\", \"parameters\": {\"a\": 1}}", kNames);
  ASSERT_EQ(l.calls.size(), 1u);
  EXPECT_EQ(l.calls[0].arguments, R"({"a":1})");
  EXPECT_TRUE(l.content.empty());

  auto m = ParseToolCalls(ToolCallFormat::kMistral,
                          "[TOOL_CALLS][{\"name\": \"add\", \"arguments\": {\"a\": 1}}, {\"name\": \"get_weather\", "
                          "\"arguments\": \"{\\\"city\\\": \\\"X\\\"}\"}]", kNames);
  ASSERT_EQ(m.calls.size(), 2u);
  EXPECT_EQ(m.calls[1].arguments, R"({"city":"X"})");  // arguments given as JSON text

  // Not calls: the whole text comes back as content.
  for (const auto& [f, text] : std::vector<std::pair<ToolCallFormat, std::string>>{
           {ToolCallFormat::kHermes, "plain answer"},
           {ToolCallFormat::kHermes, "<tool_call>\n{\"name\": \"sub\", \"arguments\": {}}\n</tool_call>"},
           {ToolCallFormat::kHermes, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1\n</tool_call>"},
           {ToolCallFormat::kHermes, "<tool_call>{\"name\":\"add\",\"arguments\":{}}</tool_call> trailing words"},
           {ToolCallFormat::kLlama3, "{\"name\": \"add\", \"parameters\": [1]}"},
           {ToolCallFormat::kLlama3, "The answer is {\"name\": \"add\"}"},
           {ToolCallFormat::kMistral, "[TOOL_CALLS][{\"name\": \"add\"}]"},
           {ToolCallFormat::kNone, "<tool_call>{\"name\":\"add\",\"arguments\":{}}</tool_call>"}}) {
    ParsedOutput p = ParseToolCalls(f, text, kNames);
    EXPECT_TRUE(p.calls.empty()) << text;
    EXPECT_EQ(p.content, text);
  }
}

// Streaming byte by byte (and in random pieces) sends the same content and the same calls
// as the whole parse, never a piece of a call as content; calls go out as OpenAI streams
// them: the name first, then argument fragments while the call is being generated.
struct Reassembled {
  std::string content;
  std::vector<ParsedToolCall> calls;
  int arg_pieces_before_finish = 0;  // argument fragments sent before Finish
  bool made_calls = false;
};

Reassembled StreamInPieces(ToolCallFormat f, const std::string& text, int max_calls, const std::vector<size_t>& cuts) {
  ToolCallStream s(f, kNames, max_calls);
  Reassembled r;
  auto take = [&](const StreamedOutput& o, bool finishing) {
    r.content += o.content;
    for (const ToolCallPiece& p : o.pieces) {
      if (!p.name.empty()) {
        EXPECT_EQ(static_cast<size_t>(p.index), r.calls.size()) << "calls start in order: " << text;
        r.calls.push_back(ParsedToolCall{p.name, ""});
      }
      EXPECT_LT(static_cast<size_t>(p.index), r.calls.size()) << "a fragment before its call's name: " << text;
      if (static_cast<size_t>(p.index) >= r.calls.size()) continue;
      r.calls[static_cast<size_t>(p.index)].arguments += p.arguments;
      if (!finishing && !p.arguments.empty()) ++r.arg_pieces_before_finish;
    }
  };
  size_t at = 0;
  for (size_t cut : cuts) {
    take(s.Feed(std::string_view(text).substr(at, cut - at)), false);
    at = cut;
  }
  take(s.Feed(std::string_view(text).substr(at)), false);
  const StreamedOutput fin = s.Finish();
  take(fin, true);
  r.made_calls = fin.made_calls;
  return r;
}

TEST(ToolCallStream, PieceByPieceMatchesWhole) {
  struct Case { ToolCallFormat f; std::string text; bool streams_args; };
  const std::vector<Case> cases = {
      {ToolCallFormat::kHermes, "Sure <tool_ca> not a tag. <tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1}}\n</tool_call>", true},
      {ToolCallFormat::kHermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa ris \\\"}{\", \"unit\": \"c\", "
                                "\"days\": [1, 2.50, {\"x\": null}]}}\n</tool_call>\n<tool_call>{\"arguments\": {\"b\": 2}, \"name\": \"add\"}</tool_call>", true},
      {ToolCallFormat::kHermes, "No call here, only <tool", false},
      {ToolCallFormat::kHermes, "<tool_call>\n{\"name\": \"nope\", \"arguments\": {}}\n</tool_call>", false},
      {ToolCallFormat::kLlama3, "  {\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\" : [ 3 , 4 ]}}", true},
      {ToolCallFormat::kLlama3, "<|python_tag|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"\\u00e9\"}}", true},
      {ToolCallFormat::kLlama3, "Plain {text}", false},
      {ToolCallFormat::kLlama3, "{broken", false},
      {ToolCallFormat::kMistral, "Hm [TOOL_CALLS][{\"name\": \"add\", \"arguments\": {}}]", false},
      {ToolCallFormat::kMistral, "[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1.0e2}}, {\"name\": \"get_weather\", "
                                 "\"arguments\": \"{\\\"city\\\": \\\"X\\\"}\"}]", true},
  };
  std::mt19937 rng(5);
  for (const Case& c : cases) {
    for (const int max_calls : {0, 1}) {
      const ParsedOutput whole = ParseToolCalls(c.f, c.text, kNames, max_calls);
      std::vector<std::vector<size_t>> splits;
      std::vector<size_t> bytes;
      for (size_t i = 1; i < c.text.size(); ++i) bytes.push_back(i);
      splits.push_back(bytes);  // byte by byte
      for (int k = 0; k < 3; ++k) {  // random pieces
        std::vector<size_t> cuts;
        for (size_t i = 1; i < c.text.size(); ++i) if (rng() % 4 == 0) cuts.push_back(i);
        splits.push_back(cuts);
      }
      splits.push_back({});  // all at once
      for (const auto& cuts : splits) {
        const Reassembled r = StreamInPieces(c.f, c.text, max_calls, cuts);
        EXPECT_EQ(r.content, whole.content) << c.text;
        EXPECT_EQ(r.made_calls, !whole.calls.empty()) << c.text;
        ASSERT_EQ(r.calls.size(), whole.calls.size()) << c.text;
        for (size_t i = 0; i < whole.calls.size(); ++i) {
          EXPECT_EQ(r.calls[i].name, whole.calls[i].name) << c.text;
          EXPECT_EQ(r.calls[i].arguments, whole.calls[i].arguments) << c.text;
        }
        if (cuts.size() + 1 == c.text.size() && c.streams_args) {
          EXPECT_GE(r.arg_pieces_before_finish, 3) << "arguments were not streamed: " << c.text;
        }
      }
    }
  }
  // Arguments are the model's text without the whitespace between tokens (numbers and
  // escapes as written), in the whole parse too.
  const ParsedOutput w = ParseToolCalls(ToolCallFormat::kHermes,
                                        "<tool_call>{\"name\": \"add\", \"arguments\": {\"a\": 2.50, \"s\": \"x y\\u00e9\"}}</tool_call>", kNames);
  ASSERT_EQ(w.calls.size(), 1u);
  EXPECT_EQ(w.calls[0].arguments, R"({"a":2.50,"s":"x y\u00e9"})");
}

// The first streamed piece of a call comes with its name as soon as the name is complete,
// before the arguments (OpenAI's order: id/type/name with arguments "", then fragments).
TEST(ToolCallStream, NameGoesOutBeforeArguments) {
  ToolCallStream s(ToolCallFormat::kHermes, kNames, 0);
  EXPECT_EQ(s.Feed("Hi <tool_call>\n{\"name\": \"ad").content, "Hi ");
  StreamedOutput o = s.Feed("d\", ");
  ASSERT_EQ(o.pieces.size(), 1u);
  EXPECT_EQ(o.pieces[0].name, "add");
  EXPECT_EQ(o.pieces[0].arguments, "");
  o = s.Feed("\"arguments\": {\"a\": ");
  ASSERT_EQ(o.pieces.size(), 1u);
  EXPECT_TRUE(o.pieces[0].name.empty());
  EXPECT_EQ(o.pieces[0].arguments, "{\"a\":");
  o = s.Feed("1}}\n</tool_call>");
  ASSERT_EQ(o.pieces.size(), 1u);
  EXPECT_EQ(o.pieces[0].arguments, "1}");
  o = s.Finish();
  EXPECT_TRUE(o.made_calls);
  EXPECT_TRUE(o.pieces.empty());
  EXPECT_TRUE(o.content.empty());
}

}  // namespace
}  // namespace weft::server
