// The parse and admit steps of a generation request on a real engine (stories260K with a
// KV cache smaller than its context): every refusal is a 400 naming the field and the
// limit, before anything is queued; prompts are built as the request says.
#include "server/generate_steps.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "loader/model_source.h"
#include "model/model_registry.h"
#include "support/golden.h"

namespace weft::server {
namespace {

using ::testing::HasSubstr;

struct Fixture {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<const ModelChatTemplate> chat_template;
};

const Fixture& Stories() {
  static const Fixture f = [] {
    Fixture x;
    auto file = *OpenModelFile(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
    auto tok = *LoadTokenizer(*file);
    EngineConfig config;
    config.kv_cache_bytes = 300000;  // 29 blocks of 16 tokens: less than the context (2048)
    config.threads = 1;
    config.scheduler.max_num_seqs = 4;
    auto engine = Engine::Create(config, *BindModel(file), tok);
    EXPECT_TRUE(engine.ok()) << engine.status().ToString();
    x.engine = std::move(engine).value();
    x.chat_template = *LoadModelChatTemplate(
        *file, *tok, testing::SharedDir() + "/models/chat-templates/Qwen-Qwen2.5-7B-Instruct.jinja");
    return x;
  }();
  return f;
}

int64_t KvTokens() {
  return static_cast<int64_t>(Stories().engine->Stats().num_blocks) * EngineConfig{}.block_size;
}

std::optional<ApiError> Plan(const std::string& body, bool chat, GenerationPlan* plan) {
  OpenAIRequest r;
  if (auto e = ParseGenerateBody(body, chat, "stories", &r)) return e;
  return AdmitGeneration(std::move(r), *Stories().engine, Stories().chat_template.get(), "", ToolCallFormat::kNone, plan);
}

std::string Words(int64_t n) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) s += " the";
  return s;
}

TEST(GenerateSteps, APromptLargerThanTheKvCacheIs400NamingTheFlag) {
  ASSERT_LT(KvTokens() + 1, Stories().engine->max_model_len());
  GenerationPlan plan;
  auto e = Plan(R"({"prompt":")" + Words(KvTokens()) + R"("})", false, &plan);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->http_status, 400);
  EXPECT_EQ(e->param, "prompt");
  EXPECT_THAT(e->message, HasSubstr("KV cache holds"));
  EXPECT_THAT(e->message, HasSubstr("--kv-cache-mem"));
  // Chat: the prompt is the rendered messages.
  GenerationPlan chat;
  auto c = Plan(R"({"messages":[{"role":"user","content":")" + Words(KvTokens()) + R"("}]})", true, &chat);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->http_status, 400);
  EXPECT_EQ(c->param, "messages");
  EXPECT_THAT(c->message, HasSubstr("--kv-cache-mem"));
}

// The refusal of a completions request `body`, which must have one.
ApiError Refusal(const std::string& body) {
  GenerationPlan plan;
  std::optional<ApiError> e = Plan(body, false, &plan);
  EXPECT_TRUE(e) << body;
  return e.value_or(ApiError{});
}

TEST(GenerateSteps, ARequestIsAdmittedWholeOrNotAtAll) {
  EXPECT_EQ(Refusal(R"({"prompt":["Once upon a time",")" + Words(KvTokens()) + R"("]})").param, "prompt");
  const ApiError n = Refusal(R"({"prompt":"Once","n":5})");
  EXPECT_EQ(n.param, "n");
  EXPECT_THAT(n.message, HasSubstr("--max-seqs"));
  EXPECT_EQ(Refusal(R"({"prompt":"Once","priority":1})").param, "priority");
  EXPECT_EQ(Refusal(R"({"prompt":"Once","stop_token_ids":[100000]})").param, "stop_token_ids");
  EXPECT_EQ(Refusal(R"({"prompt":"Once","model":"gpt-4"})").http_status, 404);
}

TEST(GenerateSteps, PromptsFollowTheRequest) {
  const Tokenizer& tok = Stories().engine->tokenizer();
  GenerationPlan plan;
  ASSERT_FALSE(Plan(R"({"prompt":["Once upon a time",[5,6,7]],"echo":true,"n":2})", false, &plan));
  ASSERT_EQ(plan.prompts.size(), 2u);
  EXPECT_EQ(plan.prompts[0].prompt_tokens, tok.Encode("Once upon a time"));
  EXPECT_EQ(plan.prompts[0].sampling.max_tokens, 16);  // the completions default
  EXPECT_EQ(plan.prompts[0].sampling.n, 2);
  EXPECT_EQ(plan.echo[0], "Once upon a time");
  EXPECT_EQ(plan.echo[1], tok.Decode(std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(plan.prompt_tokens, static_cast<int64_t>(plan.prompts[0].prompt_tokens.size() + 3));
  GenerationPlan bare;
  ASSERT_FALSE(Plan(R"({"prompt":"Once upon a time","add_special_tokens":false})", false, &bare));
  EncodeOptions no_special;
  no_special.add_special = false;
  EXPECT_EQ(bare.prompts[0].prompt_tokens, tok.Encode("Once upon a time", no_special));
  EXPECT_EQ(bare.prompts[0].prompt_tokens.size() + 1, plan.prompts[0].prompt_tokens.size());
  EXPECT_EQ(bare.echo[0], "");

  GenerationPlan chat;
  ASSERT_FALSE(Plan(R"({"messages":[{"role":"user","content":"Hi"}]})", true, &chat));
  const auto size = static_cast<int64_t>(chat.prompts[0].prompt_tokens.size());
  EXPECT_EQ(chat.prompts[0].prompt_tokens[0], tok.bos_id());
  EXPECT_EQ(chat.prompts[0].sampling.max_tokens, Stories().engine->max_model_len() - size);  // chat: up to the context
  GenerationPlan chat_bare;
  ASSERT_FALSE(Plan(R"({"messages":[{"role":"user","content":"Hi"}],"add_special_tokens":false})", true, &chat_bare));
  EXPECT_EQ(static_cast<int64_t>(chat_bare.prompts[0].prompt_tokens.size()) + 1, size);
}

}  // namespace
}  // namespace weft::server
