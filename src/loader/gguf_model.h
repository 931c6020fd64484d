// ModelConfig and TokenizerInfo from a parsed GGUF file's metadata. Used by
// OpenGgufModel and by `weft info` (which also describes tokenizer-only files).
#pragma once

#include "loader/gguf.h"
#include "loader/model_config.h"
#include "loader/model_file.h"

namespace weft {

// Needs general.architecture and the "<arch>.*" hyper-parameters; errors name the key.
StatusOr<ModelConfig> ModelConfigFromGguf(const GgufFile& f);
StatusOr<TokenizerInfo> TokenizerInfoFromGguf(const GgufFile& f);

}  // namespace weft
