// BuildChatPrompt: the one chat prompt builder (serve, chat, template). BOS exactly once
// where the vocabulary wants one, whether or not the template writes it; none with
// add_bos = false; continue_final_message; template kwargs; errors carry their field.
#include "tokenizer/chat_prompt.h"

#include <gtest/gtest.h>

namespace weft {
namespace {

using Json = nlohmann::ordered_json;

const std::string kModels = std::string(WEFT_SHARED_DIR) + "/models";

std::shared_ptr<const Tokenizer> Load(const std::string& file) {
  auto tok = LoadTokenizerFromPath(kModels + "/vocab/" + file);
  EXPECT_TRUE(tok.ok()) << tok.status().ToString();
  return *tok;
}

const Tokenizer& Spm() {  // llama SPM: add_bos, BOS <s> = 1
  static const auto tok = Load("ggml-vocab-llama-spm.gguf");
  return *tok;
}

ModelChatTemplate Template(const std::string& source, const Tokenizer& tok) {
  auto t = ChatTemplate::Parse(source);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return ModelChatTemplate{*t, "test", std::string(tok.Piece(tok.bos_id())), ""};
}

constexpr const char* kTurns =
    "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}"
    "{% if add_generation_prompt %}[assistant] {% endif %}";

Json Conversation() {
  return Json::array({Json{{"role", "user"}, {"content", "Tell me a story"}},
                      Json{{"role", "assistant"}, {"content", "Once upon a time"}}});
}

std::vector<int32_t> Body(const Tokenizer& tok, const std::string& text) {
  EncodeOptions eo;
  eo.add_special = false;
  eo.parse_special = true;
  return tok.Encode(text, eo);
}

TEST(ChatPrompt, BosOnceWhetherOrNotTheTemplateWritesIt) {
  const Tokenizer& tok = Spm();
  ASSERT_TRUE(tok.vocab().add_bos);
  const int32_t bos = tok.bos_id();
  const ModelChatTemplate without = Template(kTurns, tok);
  const ModelChatTemplate with = Template(std::string("{{ bos_token }}") + kTurns, tok);
  auto a = BuildChatPrompt(without, tok, Conversation(), nullptr, {});
  auto b = BuildChatPrompt(with, tok, Conversation(), nullptr, {});
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(a->text, "[user] Tell me a story\n[assistant] Once upon a time\n[assistant] ");
  EXPECT_EQ(b->text, "<s>" + a->text);
  ASSERT_GE(a->tokens.size(), 2u);
  EXPECT_EQ(a->tokens[0], bos);
  EXPECT_NE(a->tokens[1], bos);
  EXPECT_EQ(a->tokens, b->tokens);  // the same prompt: BOS once either way
  std::vector<int32_t> want = {bos};
  for (int32_t id : Body(tok, a->text)) want.push_back(id);
  EXPECT_EQ(a->tokens, want);
}

TEST(ChatPrompt, AddBosFalseKeepsOnlyWhatTheTemplateWrites) {
  const Tokenizer& tok = Spm();
  ChatPromptOptions no_bos;
  no_bos.add_bos = false;
  auto a = BuildChatPrompt(Template(kTurns, tok), tok, Conversation(), nullptr, no_bos);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->tokens, Body(tok, a->text));
  EXPECT_NE(a->tokens[0], tok.bos_id());
  auto b = BuildChatPrompt(Template(std::string("{{ bos_token }}") + kTurns, tok), tok, Conversation(), nullptr, no_bos);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->tokens[0], tok.bos_id());
  EXPECT_NE(b->tokens[1], tok.bos_id());
}

TEST(ChatPrompt, ContinueFinalMessageEndsAtItsContent) {
  const Tokenizer& tok = Spm();
  ChatPromptOptions o;
  o.add_generation_prompt = false;
  o.continue_final_message = true;
  auto p = BuildChatPrompt(Template(kTurns, tok), tok, Conversation(), nullptr, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->text, "[user] Tell me a story\n[assistant] Once upon a time");
  // Both at once contradict each other.
  o.add_generation_prompt = true;
  auto both = BuildChatPrompt(Template(kTurns, tok), tok, Conversation(), nullptr, o);
  EXPECT_EQ(both.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(both.status().field(), "continue_final_message");
  // A final message without text, or one the template does not write as it is.
  o.add_generation_prompt = false;
  Json empty = Conversation();
  empty[1]["content"] = nullptr;
  EXPECT_EQ(BuildChatPrompt(Template(kTurns, tok), tok, empty, nullptr, o).status().field(), "messages");
  auto upper = BuildChatPrompt(Template("{% for m in messages %}{{ m.content | upper }}{% endfor %}", tok), tok,
                               Conversation(), nullptr, o);
  EXPECT_EQ(upper.status().field(), "messages");
}

TEST(ChatPrompt, TemplateKwargsReachTheTemplateButNotItsOwnVariables) {
  const Tokenizer& tok = Spm();
  const ModelChatTemplate t = Template(std::string("{% if greeting is defined %}{{ greeting }}\n{% endif %}") + kTurns, tok);
  ChatPromptOptions o;
  o.template_kwargs = Json{{"greeting", "Hello there"}};
  auto p = BuildChatPrompt(t, tok, Conversation(), nullptr, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->text.rfind("Hello there\n[user]", 0), 0u) << p->text;
  o.template_kwargs = Json{{"messages", Json::array()}};
  EXPECT_EQ(BuildChatPrompt(t, tok, Conversation(), nullptr, o).status().field(), "chat_template_kwargs");
  o.template_kwargs = Json::array();
  EXPECT_EQ(BuildChatPrompt(t, tok, Conversation(), nullptr, o).status().field(), "chat_template_kwargs");
}

TEST(ChatPrompt, ATemplateErrorNamesTheMessages) {
  const Tokenizer& tok = Spm();
  auto p = BuildChatPrompt(Template("{{ raise_exception('no system role') }}", tok), tok, Conversation(), nullptr, {});
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().field(), "messages");
  EXPECT_NE(p.status().message().find("no system role"), std::string::npos) << p.status().message();
}

}  // namespace
}  // namespace weft
