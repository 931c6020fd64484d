// One call from a model spec to a ready ModelRunner: resolve the name (model_source),
// open the file, bind the weights, create the runner. Used by the CLI commands.
#pragma once

#include <memory>
#include <string>

#include "model/model_runner.h"

namespace weft {

struct LoadedModel {
  std::shared_ptr<const ModelFile> file;
  std::shared_ptr<const LlamaWeights> weights;
  std::unique_ptr<ModelRunner> runner;
};

StatusOr<LoadedModel> LoadModel(const std::string& spec, const RunnerOptions& options);

}  // namespace weft
