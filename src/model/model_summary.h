// ModelSummary: what `weft info` says about a model file: format, architecture,
// parameter count, tensor-type histogram, memory for weights and KV cache, tokenizer
// and chat template. Works on files weft cannot run too (tokenizer-only GGUFs, other
// architectures): what cannot be derived is reported, not fatal.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loader/model_config.h"
#include "loader/model_file.h"
#include "weft/status.h"

namespace weft {

struct ModelSummary {
  struct TypeCount {
    int64_t tensors = 0;
    int64_t elements = 0;
    uint64_t bytes = 0;
  };

  std::string path;
  std::string format;  // "GGUF v3", "safetensors", "llama2.c"
  uint64_t file_bytes = 0;
  std::string arch;
  bool arch_supported = false;  // weft can run it
  std::optional<ModelConfig> config;
  std::string config_error;  // why config is absent
  int64_t n_tensors = 0;
  int64_t n_params = 0;
  uint64_t weight_bytes = 0;
  std::map<std::string, TypeCount> types;  // by dtype name
  TokenizerInfo tokenizer;
  std::vector<std::string> notes;  // things a user should know (quirks, missing weights)

  // KV cache bytes per 1024 tokens at 2 bytes per element (F16), when the config is known.
  std::optional<uint64_t> KvBytesPer1kTokens() const;
};

// Opens the file or HF directory at `path` and summarises it. A file that cannot be
// parsed at all (corrupt, unknown format) is an error.
StatusOr<ModelSummary> SummarizeModel(const std::string& path);

// Human-readable, aligned "key: value" lines (what `weft info` prints).
std::string FormatModelSummary(const ModelSummary& s);

// The same as one JSON object (exact numbers), for `weft info --json`.
std::string FormatModelSummaryJson(const ModelSummary& s);

// "1.13 MiB", "292.4 K" style helpers.
std::string HumanBytes(uint64_t bytes);
std::string HumanCount(int64_t n);

// True for the architectures the registry (model/model_registry.h) holds.
bool IsSupportedArchitecture(const std::string& arch);

}  // namespace weft
