// The chat template of a Hugging Face model or tokenizer directory: tokenizer_config.json's
// "chat_template" (a string, or a list of {name, template} where "default" is used), else
// chat_template.jinja beside it. Shared by the safetensors loader and the tokenizer-only
// directories of `weft template`. Pure; thread-safe.
#pragma once

#include <optional>
#include <string>

#include "weft/status.h"

namespace weft {

// config_path may be empty (no tokenizer_config.json). nullopt when there is no template.
StatusOr<std::optional<std::string>> ReadHfChatTemplate(const std::string& dir, const std::string& config_path);

}  // namespace weft
