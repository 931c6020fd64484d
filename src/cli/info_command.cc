// weft info MODEL: describe a model file without loading it for inference.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "loader/model_source.h"
#include "model/model_registry.h"
#include "model/model_summary.h"

namespace weft::cli {

void RegisterInfoCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("info", "Describe a model: architecture, parameters, tensor types, memory for weights "
                                         "and KV cache, tokenizer, chat template");
  auto model = std::make_shared<std::string>();
  AddModelOption(cmd, model.get(),
                  "A .gguf file, a llama2.c .bin, a .safetensors file, an HF model directory, a name under "
                  "$WEFT_MODELS, ../shared/models or ~/.cache/weft (e.g. tinyllama-v0), or hf:owner/repo[:file]");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print one JSON object with exact numbers instead of text (default: text)");
  auto archs = std::make_shared<bool>(false);
  cmd->add_flag("--architectures", *archs,
                "List the architectures weft runs (GGUF general.architecture names) and the model families of each");
  cmd->callback([model, json, archs, exit_code] {
    if (*archs) {
      for (const ArchDefinition* def : Architectures()) {
        std::printf("%-10s %.*s\n", std::string(def->name).c_str(), static_cast<int>(def->families.size()),
                    def->families.data());
      }
      return;
    }
    if (model->empty()) {
      std::fputs("weft info: give a model (a file, directory, name or hf:owner/repo), or --architectures\n", stderr);
      *exit_code = 1;
      return;
    }
    auto path = ResolveModelPath(*model, ModelSearchPaths::FromEnvironment());
    if (!path.ok()) {
      std::fprintf(stderr, "weft info: %s\n", path.status().message().c_str());
      *exit_code = 1;
      return;
    }
    auto summary = SummarizeModel(*path);
    if (!summary.ok()) {
      std::fprintf(stderr, "weft info: %s\n", summary.status().message().c_str());
      *exit_code = 1;
      return;
    }
    std::fputs((*json ? FormatModelSummaryJson(*summary) : FormatModelSummary(*summary)).c_str(), stdout);
  });
}

}  // namespace weft::cli
