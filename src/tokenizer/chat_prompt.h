// BuildChatPrompt: the one way a conversation becomes the model's prompt, for `weft
// serve`, `weft chat` and `weft template`: render the chat template, tokenize the text
// with its special tokens parsed, and put BOS in front exactly once where the vocabulary
// wants one.
//
// The BOS rule looks at tokens, not text: the template's text is encoded without
// automatic specials; if the vocabulary adds BOS (Vocabulary::add_bos) and the first
// token is not BOS already (the template did not write bos_token), BOS is prepended.
// ChatPromptOptions::add_bos = false adds none (only what the template wrote): the
// OpenAI/vLLM request's add_special_tokens: false.
//
// Thread-safety: a pure function of immutable inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/model_chat_template.h"
#include "tokenizer/tokenizer.h"
#include "weft/status.h"

namespace weft {

struct ChatPromptOptions {
  bool add_generation_prompt = true;  // open the assistant's turn
  // Leave the final message open, so the reply continues it (Hugging Face's and vLLM's
  // continue_final_message): the text ends where that message's content ends. Needs
  // add_generation_prompt = false and a final message with text content.
  bool continue_final_message = false;
  bool add_bos = true;  // BOS by the rule above; false: only what the template writes
  // More template variables (vLLM's chat_template_kwargs, e.g. {"enable_thinking": false}):
  // an object or null. They may not replace messages, tools, add_generation_prompt,
  // bos_token or eos_token.
  nlohmann::ordered_json template_kwargs;
};

struct ChatPrompt {
  std::string text;             // as rendered (after continue_final_message's cut)
  std::vector<int32_t> tokens;  // the model's prompt
};

// InvalidArgument, with Status::field() "messages" (the template failed on them, or the
// final message cannot be continued), "continue_final_message" or "chat_template_kwargs".
StatusOr<ChatPrompt> BuildChatPrompt(const ModelChatTemplate& chat_template, const Tokenizer& tokenizer,
                                     const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                     const ChatPromptOptions& options);

}  // namespace weft
