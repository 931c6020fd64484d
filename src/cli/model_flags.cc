#include "cli/model_flags.h"

#include <CLI/CLI.hpp>

#include "cli/byte_size.h"

namespace weft::cli {

void AddModelFlags(CLI::App* cmd, ModelFlags* flags) {
  cmd->add_option("--expert-cache-mem", flags->expert_cache_mem,
                  "Mixture-of-experts models: keep the experts in the model file and at most this much of them in "
                  "memory (the most recently used; the next layer's are read ahead), e.g. 2G. Outputs are the same; "
                  "speed depends on how often experts must be read (default: all experts in memory)");
}

StatusOr<OpenModelOptions> OpenOptionsFrom(const ModelFlags& flags, OpenModelOptions base) {
  if (!flags.expert_cache_mem.empty()) {
    WEFT_ASSIGN_OR_RETURN(base.bind.expert_cache_bytes, ParseByteSize("--expert-cache-mem", flags.expert_cache_mem));
  }
  return base;
}

}  // namespace weft::cli
