// weft info MODEL: describe a model file without loading it for inference.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "cli/compat_flags.h"
#include "loader/model_source.h"
#include "loader/model_summary.h"

namespace weft::cli {

void RegisterInfoCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("info", "Describe a model: architecture, parameters, tensor types, memory for weights "
                                         "and KV cache, tokenizer, chat template");
  auto model = std::make_shared<std::string>();
  AddModelOption(cmd, model.get(),
                  "A .gguf file, a llama2.c .bin, a .safetensors file, an HF model directory, a name under "
                  "$WEFT_MODELS, ../shared/models or ~/.cache/weft (e.g. tinyllama-v0), or hf:owner/repo[:file]")
      ->required();
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print one JSON object with exact numbers instead of text (default: text)");
  cmd->callback([model, json, exit_code] {
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
