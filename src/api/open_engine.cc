#include <fmt/format.h>

#include "loader/model_source.h"
#include "model/model_registry.h"
#include "weft/engine.h"

namespace weft {

StatusOr<OpenedModel> OpenModel(const std::string& spec, const OpenModelOptions& options) {
  OpenedModel m;
  WEFT_ASSIGN_OR_RETURN(m.path, ResolveModelPath(spec, ModelSearchPaths::FromEnvironment()));
  WEFT_ASSIGN_OR_RETURN(m.file, OpenModelFile(m.path));
  if (options.bind.expert_cache_bytes > 0 && !m.file->config().is_moe()) {
    return InvalidArgumentError(fmt::format("{}: an expert cache (--expert-cache-mem) is for mixture-of-experts "
                                            "models, and this {} model has no experts; leave the flag out",
                                            m.path, m.file->config().arch));
  }
  auto model = BindModel(m.file, options.bind);
  if (!model.ok()) return model.status().WithContext(m.path);
  m.model = std::move(model).value();
  if (options.load_tokenizer) {
    WEFT_ASSIGN_OR_RETURN(m.tokenizer, LoadTokenizer(*m.file));
  }
  return m;
}

StatusOr<std::unique_ptr<Engine>> OpenEngine(const OpenedModel& model, const EngineConfig& config) {
  if (model.model == nullptr || model.tokenizer == nullptr) {
    return InvalidArgumentError("an engine needs a bound model and its tokenizer (OpenModel with load_tokenizer)");
  }
  return Engine::Create(config, model.model, model.tokenizer);
}

}  // namespace weft
