// ChatTemplate: the Jinja chat templates that model files ship (tokenizer_config.json
// "chat_template", GGUF tokenizer.chat_template), rendered the way Hugging Face
// transformers renders them (Jinja2 with trim_blocks, lstrip_blocks, loopcontrols,
// tojson without ASCII escaping, raise_exception, strftime_now).
//
//   WEFT_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::Parse(source));
//   ChatTemplate::ChatInputs in;
//   in.messages = ...; in.add_generation_prompt = true; in.bos_token = "<s>";
//   WEFT_ASSIGN_OR_RETURN(std::string prompt, t.RenderChat(in));
//
// Templates come from the internet: parsing and rendering are bounded (nesting,
// steps, output size, allocation, range sizes; see jinja::RenderLimits) and every
// failure is a Status — InvalidArgument for template errors (syntax errors carry
// line:column; raise_exception(msg) carries "TemplateError: msg"), ResourceExhausted
// for exceeded limits. No exception escapes.
//
// Thread-safety: a parsed ChatTemplate is immutable; Render may run concurrently from
// any number of threads. Copies share the parsed form.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "jinja/interpreter.h"
#include "weft/status.h"

namespace weft {

struct ChatTemplateOptions {
  bool trim_blocks = true;    // drop the first newline after a block tag
  bool lstrip_blocks = true;  // strip spaces/tabs before a block tag at line start
  size_t max_source_bytes = 1 << 20;
  int max_parse_nesting = 200;
  jinja::RenderLimits limits;
  // strftime_now's clock (local time fields). Unset: the current local time.
  std::optional<std::tm> now;
};

class ChatTemplate {
 public:
  static StatusOr<ChatTemplate> Parse(std::string source, ChatTemplateOptions options = {});

  // Renders with `context` (a JSON object) as the template's variables. Object key
  // order is kept with ordered_json (tojson output follows it); plain json is sorted.
  StatusOr<std::string> Render(const nlohmann::ordered_json& context) const;
  StatusOr<std::string> Render(const nlohmann::json& context) const;

  struct ChatInputs {
    nlohmann::ordered_json messages = nlohmann::ordered_json::array();
    nlohmann::ordered_json tools;  // null: `tools` is left undefined
    bool add_generation_prompt = false;
    std::string bos_token;
    std::string eos_token;
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more variables (override)
  };
  // The context HF transformers builds: messages, tools, add_generation_prompt,
  // bos_token, eos_token, then `extra`.
  static nlohmann::ordered_json BuildContext(const ChatInputs& inputs);
  StatusOr<std::string> RenderChat(const ChatInputs& inputs) const { return Render(BuildContext(inputs)); }

  const std::string& source() const;

  struct Impl;  // parsed form; defined in chat_template.cc

 private:
  explicit ChatTemplate(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

}  // namespace weft
