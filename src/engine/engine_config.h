// EngineConfig: the knobs of one engine, with the defaults `weft serve` and
// `weft bench` use.
#pragma once

#include <cstdint>
#include <optional>

#include "kernels/kv_type.h"
#include "model/moe_stats.h"
#include "sched/scheduler.h"
#include "spec/spec_config.h"
#include "tensor/dtype.h"

namespace weft {

struct EngineConfig {
  // KV cache size: kv_cache_bytes when > 0, else kv_cache_fraction of the memory
  // available now; never more than max_num_seqs full-length sequences need.
  int64_t kv_cache_bytes = 0;
  double kv_cache_fraction = 0.25;
  int32_t block_size = 16;
  kernels::KvTypes kv_type = kernels::KvType::kF16;  // --kv-type (K and V)
  KvWindow kv_window;  // --kv-sinks / --kv-window: every request's unless it sets its own
  // --kv-budget / --kv-policy (kv/kv_budget.h; sinks from --kv-sinks): every request's
  // unless it sets its own; exclusive with kv_window.
  KvBudget kv_budget;
  // Models whose every layer has a sliding window (Mistral, Phi-3): return the KV blocks
  // that slid out of it to the pool (false: --keep-window-blocks keeps them).
  bool free_model_window_blocks = true;
  bool enable_prefix_caching = true;
  int64_t max_model_len = 0;  // 0: the model's context length
  SchedulerConfig scheduler;
  int threads = 0;            // compute threads; 0 = one per physical core
  uint64_t seed = 0;          // seeds unseeded requests' RNGs (0: from the clock)
  SpecConfig spec;            // speculative decoding (off by default)
};

struct EngineStats {
  int32_t num_running = 0;
  int32_t num_waiting = 0;
  int32_t num_blocks = 0;
  double kv_usage = 0;            // used blocks / total, 0..1
  double kv_waste = 0;            // allocated slots not holding tokens, 0..1 (now)
  double kv_waste_mean = 0;       // the same, averaged over the steps that held blocks
  double prefix_hit_rate = 0;     // prompt tokens served from the prefix cache, 0..1
  int64_t prefix_hit_tokens = 0, prefix_queried_tokens = 0;
  int64_t num_preemptions = 0;
  int64_t num_steps = 0;
  int64_t prompt_tokens = 0;      // computed prompt tokens (incl. recomputation)
  int64_t generated_tokens = 0;
  int64_t requests_finished = 0;
  double schedule_us_mean = 0;    // scheduler time per step
  double step_ms_mean = 0;        // whole step (schedule + forward + sample + update)
  // Steps that computed no prompt token (pure decode): their count, the tokens they
  // sampled, and those tokens per second of their step time (llama-batched-bench's S_TG).
  int64_t decode_steps = 0, decode_tokens = 0;
  double decode_tokens_per_s = 0;
  double peak_kv_usage = 0;
  // Sinks + window (kv/kv_window.h): tokens whose blocks were returned to the pool, and
  // blocks whose K was re-rotated, since start.
  int64_t kv_evicted_tokens = 0, kv_shifted_blocks = 0;
  // KV budgets (--kv-budget / kv_budget; SchedulerStats): the most KV positions one
  // budgeted sequence's attention saw in a step, and the steps where that passed its budget
  // (0 unless eviction is broken).
  int64_t kv_budget_peak_tokens = 0, kv_budget_overruns = 0;
  // Models whose every layer slides (Mistral, Phi-3): blocks released behind the window.
  int64_t kv_released_blocks = 0;
  // Tensor parallelism (model/tp_decoder.h): ranks, and rank 0's time and bytes in the
  // collectives since start (the transfers plus any wait for a slower rank).
  int tp_size = 1;
  int pp_size = 1;  // pipeline stages (--pp); tp_comm_* then count the pipeline's messages too
  double tp_comm_seconds = 0;
  int64_t tp_comm_bytes = 0;
  int32_t peak_num_running = 0;   // most sequences running at once (after a step)
  int64_t kv_bytes_per_token = 0;  // KV cache bytes one token takes (all layers, K + V, scales)
  kernels::KvTypes kv_type = kernels::KvType::kF16;
  // Speculative decoding: target passes of a sequence that verified a draft, the draft
  // tokens they verified, how many were accepted, and the tokens those passes produced
  // (accepted + one sampled each).
  // With token trees (--spec tree:...) a pass verifies a tree: spec_draft_tokens counts its
  // nodes, spec_accepted_tokens the accepted path's; spec_tree_branch_tokens counts the
  // accepted tokens that came off the first-child chain (what the tree won over a chain)
  // and spec_tree_kv_moves the K/V rows those moved into place.
  int64_t spec_passes = 0, spec_draft_tokens = 0, spec_accepted_tokens = 0;
  int64_t spec_tree_branch_tokens = 0, spec_tree_kv_moves = 0;
  double spec_draft_seconds = 0;  // time the proposer took (a draft model's passes)
  int64_t spec_kv_bytes = 0;      // a draft model's own KV cache (out of the KV budget)
  // A draft model's forward passes, and (staged: --spec staged:MODEL) the n-gram guesses
  // its passes computed and those its argmax confirmed (draft tokens won without a pass).
  int64_t spec_draft_passes = 0, spec_staged_guesses = 0, spec_staged_confirmed = 0;
  // The governor (spec/spec_governor.h): probes of the other mode, preference flips, and
  // whether it prefers drafting now.
  int64_t spec_governor_probes = 0, spec_governor_flips = 0;
  bool spec_governor_drafting = true;
  double spec_acceptance_rate() const {
    return spec_draft_tokens > 0 ? static_cast<double>(spec_accepted_tokens) / static_cast<double>(spec_draft_tokens) : 0;
  }
  // Tokens per target pass of the sequences that speculated (1 = no gain).
  double spec_tokens_per_pass() const {
    return spec_passes > 0 ? 1.0 + static_cast<double>(spec_accepted_tokens) / static_cast<double>(spec_passes) : 0;
  }
  // Draft tokens (tree nodes) verified per target pass of the sequences that speculated.
  double spec_nodes_per_pass() const {
    return spec_passes > 0 ? static_cast<double>(spec_draft_tokens) / static_cast<double>(spec_passes) : 0;
  }
  // A mixture of experts: tokens per (layer, expert) and the expert cache, since load.
  std::optional<MoeStats> moe;
};

}  // namespace weft
