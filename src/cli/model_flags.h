// Flags about how a model is loaded and run, shared by the commands that run one (run,
// chat, serve, bench, perplexity, logits): --expert-cache-mem (a mixture of experts'
// experts on disk, model/expert_cache.h), --tp / --pp (tensor and pipeline parallelism
// over MPI ranks, model/tp_decoder.h) and --kv-type (the KV cache's element type, kernels/kv_type.h).
// Each command adds them with AddModelFlags, opens its model with OpenOptionsFrom and
// sizes / creates its KV cache with KvTypeFrom.
#pragma once

#include <string>
#include <string_view>

#include "kernels/kv_type.h"
#include "kv/kv_window.h"
#include "loader/model_config.h"
#include "weft/engine.h"
#include "weft/status.h"

namespace CLI {
class App;
}

namespace weft::cli {

struct ModelFlags {
  std::string expert_cache_mem;  // "" = every expert resident
  int tp = 1;                    // --tp: tensor-parallel ranks (under mpirun -np tp*pp)
  int pp = 1;                    // --pp: pipeline stages
  int pp_micro_batches = 0;      // --pp-micro-batches: 0 = one per stage
  std::string kv_type = "f16";   // --kv-type: T, or K,V
  int kv_sinks = 0;              // --kv-sinks: attention sinks kept (kv/kv_window.h)
  int kv_window = 0;             // --kv-window: recent tokens kept; 0 = dense
  bool keep_window_blocks = false;  // --keep-window-blocks (EngineConfig::free_model_window_blocks off)
};

void AddModelFlags(CLI::App* cmd, ModelFlags* flags);

// `base` with the flags applied; InvalidArgument naming the flag for a bad size.
StatusOr<OpenModelOptions> OpenOptionsFrom(const ModelFlags& flags, OpenModelOptions base = {});

// --kv-type (T for K and V, or K,V); InvalidArgument naming the flag and the choices for
// an unknown name.
StatusOr<kernels::KvTypes> KvTypeFrom(const ModelFlags& flags);
// The same for `value` given to `flag` (e.g. weft bench --kv-ab).
StatusOr<kernels::KvTypes> KvTypesFromFlag(std::string_view flag, const std::string& value);

// --kv-sinks / --kv-window as a policy, checked for signs and pairing (InvalidArgument
// naming the flag); the fit in the context is checked where the context is known.
StatusOr<KvWindow> KvWindowFrom(const ModelFlags& flags);
// For commands that run no window (logits, chat): InvalidArgument naming the flag when
// --kv-sinks or --kv-window was given, rather than ignoring it.
Status RefuseKvWindow(const ModelFlags& flags, const char* command);

// KV cache bytes per token of the model (all layers, K and V, scales included) with `type`.
int64_t KvBytesPerToken(const ModelConfig& config, kernels::KvTypes type);

}  // namespace weft::cli
