// The architecture registry: each file under model/archs/ defines one architecture (its
// names, hyper-parameter checks, weight binding and forward pass) and registers it with
//
//   WEFT_ARCHITECTURE(gemma2) {        // defines RegisterArchitecture_gemma2()
//     RegisterArchitecture({"gemma2", "Gemma 2", &BindGemma2});
//   }
//
// The build lists model/archs/*.cc and generates the call of every such function (the
// file's name is the function's suffix), so adding an architecture is one new file plus
// its test; nothing else names it. BindModel picks the architecture by the model's
// config().arch (GGUF general.architecture, or the HF model_type as the loader maps it).
// Thread-safety: the registry is filled once, on first use, under a call_once; all
// functions may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/bind_options.h"
#include "model/model.h"
#include "weft/status.h"

namespace weft {

using ArchBindFn = StatusOr<std::shared_ptr<const Model>> (*)(std::shared_ptr<const ModelFile> file,
                                                             const BindOptions& options);

struct ArchDefinition {
  std::string_view name;      // as ModelConfig::arch spells it: "llama", "qwen3"
  std::string_view families;  // who uses it, for messages: "Llama 2/3, Mistral, SmolLM"
  ArchBindFn bind;
};

// Called from WEFT_ARCHITECTURE bodies. A second definition of a name is a programming
// error (aborts).
void RegisterArchitecture(const ArchDefinition& def);

const ArchDefinition* FindArchitecture(std::string_view name);
// Every registered architecture, sorted by name.
std::vector<const ArchDefinition*> Architectures();
// "llama, qwen2, qwen3": the names, for error messages and `weft info`.
std::string ArchitectureNames();

// Binds `file` with its architecture's definition. InvalidArgument naming the
// architecture and the ones weft runs when none is registered under config().arch.
StatusOr<std::shared_ptr<const Model>> BindModel(std::shared_ptr<const ModelFile> file, const BindOptions& options = {});

}  // namespace weft

#define WEFT_ARCHITECTURE(id) void RegisterArchitecture_##id()
