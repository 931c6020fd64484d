#include "cli/model_flags.h"

#include <CLI/CLI.hpp>

#include <fmt/format.h>

#include <cstdlib>

#include "cli/byte_size.h"
#include "dist/communicator.h"

namespace weft::cli {

void AddModelFlags(CLI::App* cmd, ModelFlags* flags) {
  cmd->add_option("--expert-cache-mem", flags->expert_cache_mem,
                  "Mixture-of-experts models: keep the experts in the model file and at most this much of them in "
                  "memory (the most recently used; the next layer's are read ahead), e.g. 2G. Outputs are the same; "
                  "speed depends on how often experts must be read (default: all experts in memory)");
  cmd->add_option("--tp", flags->tp,
                  "Tensor parallelism: split the model's heads and feed-forward columns over N processes started "
                  "as `mpirun -np N weft ... --tp N` (one per host or socket; rank 0 runs the command, the others "
                  "compute their part of each step). Dense llama-family models (default: 1)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--pp", flags->pp,
                  "Pipeline parallelism: divide the model's layers into M contiguous stages over M processes "
                  "(`mpirun -np M weft ... --pp M`; with --tp N, N*M processes, rank = stage * N + tensor rank). Rank "
                  "0 holds the embedding and runs the command; the last stage computes the logits. Dense "
                  "llama-family models (default: 1)")
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--pp-micro-batches", flags->pp_micro_batches,
                  "With --pp: cut each step's batch into at most K micro-batches of even token counts (a long prompt is cut too: TeraPipe) that flow through "
                  "the stages one after another, so that the stages overlap; 1 = no cutting (default: 0 = one per "
                  "stage)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--kv-type", flags->kv_type,
                  "KV cache element type: f16 (default), bf16, f32, q8 (int8, an f16 scale per 32 values of a "
                  "token's head: 1.06 bytes a value), fp8 (E4M3 with the same scales) or q4 (4-bit, q4_0's "
                  "numerics with the same groups: 0.56 bytes a value). T sets K and V; K,V sets them apart (e.g. "
                  "q8,q4). Quantised types hold two to 3.5 times the tokens in the same --kv-cache-mem; attention "
                  "reads them in place")
      ->capture_default_str();
  cmd->add_option("--kv-sinks", flags->kv_sinks,
                  "Attention sinks (StreamingLLM): with --kv-window, or --kv-budget and --kv-policy h2o or sinks, keep "
                  "the first S tokens' KV (rounded up to whole KV blocks of 16) besides the window (default: 0)");
  cmd->add_option("--kv-window", flags->kv_window,
                  "Rolling KV window: keep only the last W tokens' KV (plus the sinks); older blocks go back to the "
                  "pool as a sequence advances and positions are reassigned within the cache, so a stream runs at "
                  "constant memory past the model's context. No prefix caching, n > 1 or speculative decoding for "
                  "such sequences (default: 0 = keep everything)");
  cmd->add_flag("--keep-window-blocks", flags->keep_window_blocks,
                "Models whose every layer attends over a sliding window (Mistral, Phi-3): keep the KV blocks that slid "
                "out of it instead of returning them to the pool (the output is the same either way; for measuring). "
                "Engine commands: run, chat, serve, bench --batch");
}

StatusOr<KvWindow> KvWindowFrom(const ModelFlags& flags) {
  // (--keep-window-blocks is read by the engine commands: EngineConfig::free_model_window_blocks.)
  KvWindow w{flags.kv_sinks, flags.kv_window};
  // The context fit is checked by the engine / command; a large bound here checks the rest.
  WEFT_RETURN_IF_ERROR(ValidateKvWindow(w, 16, 1 << 30, "--kv-sinks", "--kv-window"));
  return w;
}

Status RefuseKvWindow(const ModelFlags& flags, const char* command) {
  if (flags.kv_sinks != 0) {
    return InvalidArgumentError(fmt::format("--kv-sinks: {} runs no KV window", command)).WithField("--kv-sinks");
  }
  if (flags.kv_window != 0) {
    return InvalidArgumentError(fmt::format("--kv-window: {} runs no KV window", command)).WithField("--kv-window");
  }
  return Status::Ok();
}

StatusOr<kernels::KvTypes> KvTypesFromFlag(std::string_view flag, const std::string& value) {
  const std::optional<kernels::KvTypes> t = kernels::KvTypesFromName(value);
  if (!t) {
    return InvalidArgumentError(fmt::format("{} {}: unknown KV cache type (T or K,V, each one of {})", flag, value,
                                            kernels::kKvTypeChoices))
        .WithField(std::string(flag));
  }
  return *t;
}

StatusOr<kernels::KvTypes> KvTypeFrom(const ModelFlags& flags) { return KvTypesFromFlag("--kv-type", flags.kv_type); }

int64_t KvBytesPerToken(const ModelConfig& config, kernels::KvTypes type) {
  // Latent attention (DeepSeek) caches one row of kv_lora_rank + rope_dim per token.
  const int64_t heads = config.is_mla() ? 1 : config.n_head_kv;
  const int64_t dim = config.is_mla() ? config.kv_lora_rank + config.rope_dim : config.head_dim;
  return config.n_layer * heads * kernels::KvRowBytes(type, static_cast<int>(dim));  // K + V
}

StatusOr<OpenModelOptions> OpenOptionsFrom(const ModelFlags& flags, OpenModelOptions base) {
  if (!flags.expert_cache_mem.empty()) {
    WEFT_ASSIGN_OR_RETURN(base.bind.expert_cache_bytes, ParseByteSize("--expert-cache-mem", flags.expert_cache_mem));
  }
  const char* mpi_size = std::getenv("OMPI_COMM_WORLD_SIZE");
  const int launched = mpi_size != nullptr ? std::atoi(mpi_size) : 1;
  if (flags.pp_micro_batches > 0 && flags.pp == 1) {
    return InvalidArgumentError("--pp-micro-batches cuts a pipeline's steps: give it with --pp M (M > 1)")
        .WithField("--pp-micro-batches");
  }
  const int ranks = flags.tp * flags.pp;
  if (ranks > 1 || launched > 1) {
    if (launched != ranks) {
      if (flags.pp == 1) {
        return InvalidArgumentError(fmt::format("--tp {} needs exactly {} processes, started as `mpirun -np {} weft "
                                                "... --tp {}`; this one is one of {}",
                                                flags.tp, flags.tp, flags.tp, flags.tp, launched));
      }
      return InvalidArgumentError(fmt::format("--tp {} --pp {} needs exactly {} processes (tp x pp), started as "
                                              "`mpirun -np {} weft ... --tp {} --pp {}`; this one is one of {}",
                                              flags.tp, flags.pp, ranks, ranks, flags.tp, flags.pp, launched));
    }
    WEFT_ASSIGN_OR_RETURN(dist::Communicator * comm, dist::Communicator::World());
    base.bind.tp_size = flags.tp;
    base.bind.tp_rank = comm->rank() % flags.tp;
    base.bind.pp_size = flags.pp;
    base.bind.pp_stage = comm->rank() / flags.tp;
    base.bind.pp_micro_batches = flags.pp_micro_batches;
  }
  return base;
}

}  // namespace weft::cli
