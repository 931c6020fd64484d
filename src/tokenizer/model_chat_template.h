// The chat template of a model, ready to render: the template text from the user's
// file (--chat-template), else from the model (GGUF tokenizer.chat_template or
// tokenizer_config.json), parsed once, with the BOS/EOS token texts the template sees.
// Shared by `weft template`, `weft chat` and `weft serve` (through BuildChatPrompt).
// Thread-safety: immutable after loading; Render may be called from any thread.
#pragma once

#include <memory>
#include <string>

#include "jinja/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "weft/status.h"

namespace weft {

struct ModelChatTemplate {
  ChatTemplate tmpl;
  std::string source;     // "the model" or the file path, for messages
  std::string bos_token;  // as the template's bos_token variable
  std::string eos_token;

  // Renders messages (a JSON array of {"role", "content", ...}) with optional tools and
  // `extra` template variables (an object, or null for none). Prompts for the model come
  // from BuildChatPrompt (tokenizer/chat_prompt.h), which calls this.
  StatusOr<std::string> Render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                               bool add_generation_prompt,
                               const nlohmann::ordered_json& extra = nlohmann::ordered_json()) const;
};

// NotFound (saying how to give one) when there is neither a file nor a model template;
// InvalidArgument (with line:column) when the template does not parse.
StatusOr<std::shared_ptr<const ModelChatTemplate>> LoadModelChatTemplate(const ModelFile& model,
                                                                          const Tokenizer& tokenizer,
                                                                          const std::string& template_path);

// The same for a directory that holds only tokenizer files (tokenizer.json,
// tokenizer_config.json, perhaps chat_template.jinja): no model is opened.
StatusOr<std::shared_ptr<const ModelChatTemplate>> LoadTokenizerDirChatTemplate(const std::string& dir,
                                                                                 const Tokenizer& tokenizer,
                                                                                 const std::string& template_path);

}  // namespace weft
