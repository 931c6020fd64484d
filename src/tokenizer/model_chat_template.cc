#include "tokenizer/model_chat_template.h"

#include "base/mapped_file.h"
#include <filesystem>

#include "loader/hf_chat_template.h"
#include "loader/model_file.h"

namespace weft {

StatusOr<std::string> ModelChatTemplate::Render(const nlohmann::ordered_json& messages,
                                                const nlohmann::ordered_json& tools, bool add_generation_prompt,
                                                const nlohmann::ordered_json& extra) const {
  ChatTemplate::ChatInputs in;
  if (extra.is_object()) in.extra = extra;
  in.messages = messages;
  in.tools = tools;
  in.add_generation_prompt = add_generation_prompt;
  in.bos_token = bos_token;
  in.eos_token = eos_token;
  auto out = tmpl.RenderChat(in);
  if (!out.ok()) return std::move(out).status().WithContext("chat template from " + source);
  return out;
}

namespace {

// The user's file when given, else the model's template (from `where`).
StatusOr<std::shared_ptr<const ModelChatTemplate>> FromSources(const std::optional<std::string>& model_template,
                                                               const std::string& where, const Tokenizer& tokenizer,
                                                               const std::string& template_path) {
  std::string text, source;
  if (!template_path.empty()) {
    WEFT_ASSIGN_OR_RETURN(text, ReadFileToString(template_path));
    source = template_path;
  } else if (model_template) {
    text = *model_template;
    source = "the model";
  } else {
    return NotFoundError(where +
                         " has no chat template; give one with --chat-template FILE (e.g. one of "
                         "../shared/models/chat-templates/*.jinja)");
  }
  auto parsed = ChatTemplate::Parse(std::move(text), ChatTemplateOptions{});
  if (!parsed.ok()) return std::move(parsed).status().WithContext("chat template from " + source);
  auto t = std::make_shared<ModelChatTemplate>(ModelChatTemplate{std::move(parsed).value(), source, "", ""});
  if (tokenizer.bos_id() >= 0) t->bos_token = std::string(tokenizer.Piece(tokenizer.bos_id()));
  if (tokenizer.eos_id() >= 0) t->eos_token = std::string(tokenizer.Piece(tokenizer.eos_id()));
  return std::shared_ptr<const ModelChatTemplate>(std::move(t));
}

}  // namespace

StatusOr<std::shared_ptr<const ModelChatTemplate>> LoadModelChatTemplate(const ModelFile& model,
                                                                          const Tokenizer& tokenizer,
                                                                          const std::string& template_path) {
  return FromSources(model.tokenizer().chat_template, model.path(), tokenizer, template_path);
}

StatusOr<std::shared_ptr<const ModelChatTemplate>> LoadTokenizerDirChatTemplate(const std::string& dir,
                                                                                 const Tokenizer& tokenizer,
                                                                                 const std::string& template_path) {
  std::optional<std::string> model_template;
  if (template_path.empty()) {
    const std::filesystem::path config = std::filesystem::path(dir) / "tokenizer_config.json";
    std::error_code ec;
    WEFT_ASSIGN_OR_RETURN(model_template,
                          ReadHfChatTemplate(dir, std::filesystem::is_regular_file(config, ec) ? config.string() : ""));
  }
  return FromSources(model_template, dir, tokenizer, template_path);
}

}  // namespace weft
