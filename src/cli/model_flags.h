// Flags about how a model is loaded, shared by the commands that run one (run, chat, serve,
// bench, perplexity, logits): --expert-cache-mem (a mixture of experts' experts on disk,
// model/expert_cache.h) and --tp (tensor parallelism over MPI ranks, model/tp_decoder.h). Each command adds them with AddModelFlags and opens its model
// with OpenOptionsFrom.
#pragma once

#include <string>

#include "weft/engine.h"
#include "weft/status.h"

namespace CLI {
class App;
}

namespace weft::cli {

struct ModelFlags {
  std::string expert_cache_mem;  // "" = every expert resident
  int tp = 1;                    // --tp: tensor-parallel ranks (under mpirun -np tp)
};

void AddModelFlags(CLI::App* cmd, ModelFlags* flags);

// `base` with the flags applied; InvalidArgument naming the flag for a bad size.
StatusOr<OpenModelOptions> OpenOptionsFrom(const ModelFlags& flags, OpenModelOptions base = {});

}  // namespace weft::cli
