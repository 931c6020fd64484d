// ModelFile: one opened model, whatever its format: the config, the tokenizer's
// description and every weight as a TensorView under weft's (GGUF) tensor names:
//   token_embd.weight, output_norm.weight, output.weight (absent when tied),
//   blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up,
//          ffn_down}.weight, blk.N.attn_{q,k,v}.bias (qwen2), blk.N.attn_{q,k}_norm.weight (qwen3)
// Shapes follow GGUF order (tensor/tensor_view.h): a projection is ne = {in, out}.
// RoPE layout: q/k rows are as `config.rope_style` says; loaders of HF llama weights
// permute rotate-half rows back to the interleaved layout so all sources agree.
//
// Ownership: the ModelFile owns the mappings and any repacked buffers its views point
// into; it is immutable once opened and safe to share across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mapped_file.h"
#include "loader/model_config.h"
#include "tensor/tensor_view.h"
#include "weft/status.h"

namespace weft {

class GgufFile;

enum class ModelFormat : uint8_t { kGguf, kSafetensors, kLlama2c };
std::string_view ModelFormatName(ModelFormat f);

// Where the vocabulary lives and what kind it is; the tokenizer layer loads it.
struct TokenizerInfo {
  std::string kind;             // GGUF tokenizer.ggml.model: "llama" (SentencePiece), "gpt2" (byte-level BPE), "bert" (WordPiece), ...
  std::string pre;              // pre-tokenizer name (GGUF tokenizer.ggml.pre), if any
  int64_t vocab_size = 0;
  std::optional<std::string> chat_template;
  std::string tokenizer_json_path;    // HF layout: tokenizer.json (empty otherwise)
  std::string tokenizer_config_path;  // HF layout: tokenizer_config.json (may be empty)
  std::string llama2c_tokenizer_path; // llama2.c: tokenizer .bin (may be empty)
};

class ModelFile {
 public:
  ModelFormat format() const { return format_; }
  const std::string& path() const { return path_; }  // the file or directory opened
  uint64_t file_bytes() const { return file_bytes_; }  // on disk, all shards
  const ModelConfig& config() const { return config_; }
  const TokenizerInfo& tokenizer() const { return tokenizer_; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorView* FindTensor(std::string_view name) const;
  // The parsed GGUF (metadata for the tokenizer); nullptr for other formats.
  const GgufFile* gguf() const { return gguf_.get(); }
  // Drops t's pages of the mapped file from memory (MappedFile::ReleasePages) once its
  // bytes were copied into another layout at load; a view into no mapping is left alone.
  // Returns the bytes released.
  size_t ReleaseMappedPages(const TensorView& t) const;

  // Built by the format loaders below.
  struct Parts {
    ModelFormat format;
    std::string path;
    uint64_t file_bytes = 0;
    ModelConfig config;
    TokenizerInfo tokenizer;
    std::vector<TensorView> tensors;
    std::vector<std::shared_ptr<const void>> keep_alive;  // repacked buffers
    std::vector<std::shared_ptr<const MappedFile>> mappings;  // the files tensors point into
    std::shared_ptr<const GgufFile> gguf;
  };
  explicit ModelFile(Parts parts);

 private:
  ModelFormat format_;
  std::string path_;
  uint64_t file_bytes_;
  ModelConfig config_;
  TokenizerInfo tokenizer_;
  std::vector<TensorView> tensors_;
  std::vector<std::shared_ptr<const void>> keep_alive_;
  std::vector<std::shared_ptr<const MappedFile>> mappings_;
  std::shared_ptr<const GgufFile> gguf_;
};

// Opens a model from a local path: a .gguf file, a llama2.c .bin checkpoint, a
// .safetensors file (config.json beside it), or an HF-layout directory. The format is
// chosen by the file's magic bytes, not its name.
StatusOr<std::shared_ptr<const ModelFile>> OpenModelFile(const std::string& path);

// Format loaders (each in its own file).
StatusOr<std::shared_ptr<const ModelFile>> OpenGgufModel(const std::string& path);
StatusOr<std::shared_ptr<const ModelFile>> OpenSafetensorsModel(const std::string& path);  // file or dir
StatusOr<std::shared_ptr<const ModelFile>> OpenLlama2cModel(const std::string& path);

}  // namespace weft
