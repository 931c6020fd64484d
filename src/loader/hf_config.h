// Hugging Face config.json -> ModelConfig, for the llama family: model_type "llama" and
// "mistral" (arch "llama"), "qwen2" and "qwen3".
//
// Missing optional fields take the transformers class defaults (num_key_value_heads =
// num_attention_heads, head_dim = hidden_size / num_attention_heads, rope_theta = 10000,
// tie_word_embeddings = false, ...). A missing required field, a wrong type or an
// out-of-range value is InvalidArgument naming `source_name` and the field; a valid but
// unsupported setting (another model_type, hidden_act, rope_scaling kind, mlp_bias) is
// Unimplemented.
//
// RoPE style: kInterleaved for llama/mistral, because the safetensors loader permutes
// HF's rotate-half q/k rows back to the GGUF interleaved layout; kNeox for qwen2/qwen3
// (GGUF keeps their rows as they are too).
// Thread-safety: pure function.
#pragma once

#include <string>

#include "loader/model_config.h"
#include "weft/status.h"

namespace weft {

StatusOr<ModelConfig> ParseHfConfig(const std::string& json_text, const std::string& source_name);

}  // namespace weft
