// What a command that loaded a model says at startup, at info level (WEFT_LOG=warn hides
// it): the load time, the model's configuration and the memory the process holds.
// Stateless; call from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "loader/model_config.h"

namespace weft::cli {

struct StartupFacts {
  std::string command;  // "weft serve"
  std::string path;     // the model file
  double load_seconds = 0;
  int64_t context = 0;        // tokens the engine serves per sequence
  int64_t kv_cache_bytes = 0;  // the engine's KV cache
  std::string kv_type;           // its --kv-type (kernels::KvTypeName: "f16", "q8,q4", ...)
  int64_t kv_bytes_per_token = 0;  // all layers, K + V, scales included
  const char* isa = "";
};

// Two log lines: "loaded PATH in 0.42 s: llama, 30 layers, ..." and the memory.
void LogStartup(const StartupFacts& facts, const ModelConfig& config);

// Resident memory of this process in bytes (VmRSS), 0 when unknown.
int64_t ResidentBytes();

}  // namespace weft::cli
