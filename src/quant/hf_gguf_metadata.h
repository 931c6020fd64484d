// The GGUF metadata of a Hugging Face model, as llama.cpp's convert_hf_to_gguf.py writes
// it for the llama family (model_type llama / mistral; general.architecture "llama"):
//   general.architecture, general.name (the directory's name);
//   llama.block_count, context_length, embedding_length, feed_forward_length,
//   attention.head_count, attention.head_count_kv, rope.freq_base,
//   attention.layer_norm_rms_epsilon, vocab_size, rope.dimension_count (head_dim),
//   attention.key_length / value_length (when head_dim is not n_embd / n_head; the
//   converter also writes them whenever config.json names head_dim, to the same value),
//   rope.scaling.type / factor (linear scaling);
//   tokenizer.ggml.model "llama", tokens, scores, token_type (the tokenizer.json of a
//   SentencePiece-style BPE with byte fallback), bos / eos / unknown / padding ids,
//   add_bos_token / add_eos_token, add_space_prefix, chat_template.
// One deliberate difference: without a tokenizer.model the converter gives every token
// the score -1000, which loses the merge order SentencePiece merges by; here a token
// made by merge r (tokenizer.json's merges, in rank order) scores -r and the others
// -(number of merges),
// so that weft and llama.cpp tokenize the GGUF as the HF tokenizer does.
// Other architectures (qwen2, gemma, MoE, MLA), llama3 rope scaling (a rope_freqs
// tensor) and byte-level BPE tokenizers (tokenizer.ggml.pre is found by hashing the
// tokenizer's output in the converter) are Unimplemented, naming what is missing.
// Thread-safety: pure function.
#pragma once

#include <map>
#include <string>

#include "loader/gguf.h"
#include "loader/model_file.h"
#include "weft/status.h"

namespace weft::quant {

StatusOr<std::map<std::string, GgufValue>> GgufMetadataForHf(const ModelFile& hf, const std::string& name);

}  // namespace weft::quant
