#include "tokenizer/chat_prompt.h"

namespace weft {
namespace {

// The variables BuildContext sets itself; a kwarg may not replace them.
constexpr const char* kReservedVariables[] = {"messages", "tools", "add_generation_prompt", "bos_token", "eos_token"};

Status CheckTemplateKwargs(const nlohmann::ordered_json& kwargs) {
  if (kwargs.is_null()) return Status::Ok();
  if (!kwargs.is_object()) {
    return InvalidArgumentError("chat_template_kwargs must be an object").WithField("chat_template_kwargs");
  }
  for (const char* name : kReservedVariables) {
    if (kwargs.contains(name)) {
      return InvalidArgumentError(std::string("chat_template_kwargs may not set '") + name +
                                  "': it has its own request field or comes from the model")
          .WithField("chat_template_kwargs");
    }
  }
  return Status::Ok();
}

// Cuts `text` right after the final message's content (what continue_final_message keeps).
Status CutAfterFinalMessage(const nlohmann::ordered_json& messages, std::string* text) {
  if (!messages.is_array() || messages.empty()) {
    return InvalidArgumentError("continue_final_message needs a final message to continue").WithField("messages");
  }
  const nlohmann::ordered_json& last = messages.back();
  auto content = last.find("content");
  if (content == last.end() || !content->is_string() || content->get_ref<const std::string&>().empty()) {
    return InvalidArgumentError("continue_final_message needs the final message to have text content")
        .WithField("messages");
  }
  const std::string& c = content->get_ref<const std::string&>();
  const size_t at = text->rfind(c);
  if (at == std::string::npos) {
    return InvalidArgumentError("continue_final_message: the chat template does not write the final message's "
                                "content as it is, so there is no place to continue it")
        .WithField("messages");
  }
  text->resize(at + c.size());
  return Status::Ok();
}

}  // namespace

StatusOr<ChatPrompt> BuildChatPrompt(const ModelChatTemplate& chat_template, const Tokenizer& tokenizer,
                                     const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                     const ChatPromptOptions& options) {
  if (options.continue_final_message && options.add_generation_prompt) {
    return InvalidArgumentError("continue_final_message and add_generation_prompt cannot both be true: one continues "
                                "the final message, the other opens a new assistant turn")
        .WithField("continue_final_message");
  }
  WEFT_RETURN_IF_ERROR(CheckTemplateKwargs(options.template_kwargs));
  StatusOr<std::string> rendered =
      chat_template.Render(messages, tools, options.add_generation_prompt, options.template_kwargs);
  if (!rendered.ok()) {
    return InvalidArgumentError("the chat template failed on these messages: " + rendered.status().message())
        .WithField("messages");
  }
  ChatPrompt p;
  p.text = std::move(rendered).value();
  if (options.continue_final_message) WEFT_RETURN_IF_ERROR(CutAfterFinalMessage(messages, &p.text));
  EncodeOptions eo;
  eo.add_special = false;
  eo.parse_special = true;
  const int32_t bos = tokenizer.bos_id();
  if (options.add_bos && tokenizer.vocab().add_bos && bos >= 0) p.tokens.push_back(bos);
  const std::vector<int32_t> body = tokenizer.Encode(p.text, eo);
  if (!p.tokens.empty() && !body.empty() && body.front() == bos) p.tokens.clear();  // the template wrote it
  p.tokens.insert(p.tokens.end(), body.begin(), body.end());
  return p;
}

}  // namespace weft
