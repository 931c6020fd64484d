#include "model/load_model.h"

#include "loader/model_source.h"

namespace weft {

StatusOr<LoadedModel> LoadModel(const std::string& spec, const RunnerOptions& options) {
  LoadedModel m;
  WEFT_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(spec, ModelSearchPaths::FromEnvironment()));
  WEFT_ASSIGN_OR_RETURN(m.file, OpenModelFile(path));
  WEFT_ASSIGN_OR_RETURN(m.weights, LlamaWeights::Bind(m.file));
  WEFT_ASSIGN_OR_RETURN(m.runner, ModelRunner::Create(m.weights, options));
  return m;
}

}  // namespace weft
