// weft template MODEL --messages FILE.json: render a conversation with the model's chat
// template (or --chat-template FILE) and print the prompt, to debug templates. The prompt
// is built as `weft serve` and `weft chat` build it (BuildChatPrompt); --ids prints its
// token ids instead of its text (BOS included where the model gets one). MODEL may be a
// directory holding only tokenizer files (tokenizer.json, tokenizer_config.json).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "base/mapped_file.h"
#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "loader/model_file.h"
#include "loader/model_source.h"
#include "tokenizer/chat_prompt.h"
#include "tokenizer/model_chat_template.h"

namespace weft::cli {
namespace {

struct Args {
  std::string model, messages, chat_template;
  bool no_generation_prompt = false, continue_final_message = false, ids = false;
};

struct TemplateAndTokenizer {
  std::shared_ptr<const Tokenizer> tokenizer;
  std::shared_ptr<const ModelChatTemplate> tmpl;
};

// A directory with tokenizer.json needs no model: its tokenizer files say it all.
StatusOr<TemplateAndTokenizer> Open(const Args& a) {
  TemplateAndTokenizer out;
  std::error_code ec;
  if (std::filesystem::is_regular_file(std::filesystem::path(a.model) / "tokenizer.json", ec)) {
    WEFT_ASSIGN_OR_RETURN(out.tokenizer, LoadTokenizerFromPath(a.model));
    WEFT_ASSIGN_OR_RETURN(out.tmpl, LoadTokenizerDirChatTemplate(a.model, *out.tokenizer, a.chat_template));
    return out;
  }
  WEFT_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(a.model, ModelSearchPaths::FromEnvironment()));
  WEFT_ASSIGN_OR_RETURN(auto model, OpenModelFile(path));
  WEFT_ASSIGN_OR_RETURN(out.tokenizer, LoadTokenizer(*model));
  WEFT_ASSIGN_OR_RETURN(out.tmpl, LoadModelChatTemplate(*model, *out.tokenizer, a.chat_template));
  return out;
}

Status Run(const Args& a) {
  WEFT_ASSIGN_OR_RETURN(TemplateAndTokenizer opened, Open(a));
  const auto& tokenizer = opened.tokenizer;
  const auto& tmpl = opened.tmpl;
  WEFT_ASSIGN_OR_RETURN(std::string text, ReadFileToString(a.messages));
  auto j = nlohmann::ordered_json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgumentError(a.messages + ": not valid JSON");
  // Either [messages...] or {"messages": [...], "tools": [...]}.
  nlohmann::ordered_json messages = j, tools;
  if (j.is_object()) {
    if (!j.contains("messages")) return InvalidArgumentError(a.messages + ": an object needs a \"messages\" array");
    messages = j["messages"];
    if (j.contains("tools")) tools = j["tools"];
  }
  if (!messages.is_array()) return InvalidArgumentError(a.messages + ": \"messages\" must be an array of messages");
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role")) {
      return InvalidArgumentError(a.messages + ": each message must be an object with a \"role\"");
    }
  }
  ChatPromptOptions po;
  po.add_generation_prompt = !a.no_generation_prompt && !a.continue_final_message;
  po.continue_final_message = a.continue_final_message;
  WEFT_ASSIGN_OR_RETURN(ChatPrompt prompt, BuildChatPrompt(*tmpl, *tokenizer, messages, tools, po));
  if (a.ids) {
    std::string line;
    for (int32_t id : prompt.tokens) line += (line.empty() ? "" : " ") + std::to_string(id);
    std::printf("%s\n", line.c_str());
  } else {
    std::fwrite(prompt.text.data(), 1, prompt.text.size(), stdout);
  }
  return Status::Ok();
}

}  // namespace

void RegisterTemplateCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("template", "Render a conversation with a model's chat template (prints the prompt)");
  auto a = std::make_shared<Args>();
  AddModelOption(cmd, &a->model, "Model file, directory, name or hf:owner/repo")->required();
  cmd->add_option("--messages", a->messages,
                  "JSON file: [{\"role\": ..., \"content\": ...}, ...] or {\"messages\": [...], \"tools\": [...]}")
      ->required();
  cmd->add_option("--chat-template,--chat-template-file", a->chat_template, "Jinja template file to use instead of the model's");
  cmd->add_flag("--no-generation-prompt", a->no_generation_prompt,
                "Do not append the assistant turn opener (default: appended, as for generation)");
  cmd->add_flag("--continue-final-message", a->continue_final_message,
                "Leave the final message open for the reply to continue (implies --no-generation-prompt)");
  cmd->add_flag("--ids", a->ids, "Print the prompt's token ids (as the model gets them) instead of its text");
  cmd->callback([a, exit_code] {
    Status s = Run(*a);
    if (!s.ok()) {
      std::fprintf(stderr, "weft template: %s\n", s.message().c_str());
      *exit_code = 1;
    }
  });
}

}  // namespace weft::cli
