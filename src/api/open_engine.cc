#include <fmt/format.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "loader/model_source.h"
#include "model/model_registry.h"
#include "model/tp_decoder.h"
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
  if (m.model->communicator() != nullptr && m.model->communicator()->rank() != 0) {
    // A tensor-parallel follower computes rank 0's steps until it stops, then ends the
    // process here: the command itself runs on rank 0 only. mpirun's signals (a rank
    // died, Ctrl-C) end it, whatever the command blocked for its own use.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    const Status s = RunTensorParallelFollower(m.model, *m.model->communicator());
    m.model.reset();
    std::fflush(stdout);
    std::exit(s.ok() ? 0 : 1);
  }
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
