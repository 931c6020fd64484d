// QuantSource: the model weft quantize reads, whatever its format, as GGUF would hold it:
// metadata (GGUF keys) and tensors under GGUF names.
//   - a GGUF file: its metadata and tensors as they are;
//   - a Hugging Face directory (config.json, tokenizer.json, tokenizer_config.json,
//     model.safetensors or shards with an index) or one .safetensors file beside its
//     config.json: the metadata llama.cpp's convert_hf_to_gguf.py writes for the model
//     (hf_gguf_metadata.h) and the safetensors tensors under GGUF names. Their q/k rows
//     stay in HF's rotate-half order in the mapping; interleave_head_rows[i] > 0 says
//     tensor i must be read with its rows interleaved per head of that many rows
//     (loader/hf_model.h), which QuantizeModel does row by row as it reads, so nothing
//     but the mapping and one tensor at a time is in memory.
// Ownership: the source keeps its files mapped (owner) until destroyed. Immutable;
// thread-safe reads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "loader/gguf.h"
#include "tensor/tensor_view.h"
#include "weft/status.h"

namespace weft::quant {

struct QuantSource {
  enum class Format : uint8_t { kGguf, kHuggingFace };
  Format format = Format::kGguf;
  std::map<std::string, GgufValue> metadata;
  std::vector<TensorView> tensors;
  std::vector<int64_t> interleave_head_rows;  // one per tensor; 0: rows as stored
  // Drops a tensor's pages of the mapped files from memory once it was written.
  std::function<void(const TensorView&)> release_pages;
  std::shared_ptr<const void> owner;
};

// A GGUF file, an HF directory or a .safetensors file (by content: a directory, or a file
// that does not start with the GGUF magic, is read as safetensors). Errors name the path
// and what is wrong (no config.json, an architecture or tokenizer the converter does not
// handle yet, ...).
StatusOr<QuantSource> OpenQuantSource(const std::string& path);

}  // namespace weft::quant
