// Admission: whether the engine can ever serve a request, decided once, in Engine::Submit,
// before anything is queued. Every user-caused refusal of a request (bad sampling
// parameters, token ids outside the vocabulary, a prompt longer than the context or than
// the whole KV cache, more samples than the engine runs at once, a priority without the
// priority policy) is a Status from here that names the request field at fault
// (Status::field()) and, for a server limit, the `weft serve` flag that raises it. The
// layers below (EngineCore, Scheduler) only check, as invariants, what passed here.
//
// Thread-safety: AdmissionLimits is a plain value, fixed when the engine is created;
// CheckAdmission is a pure function.
#pragma once

#include <cstdint>
#include <string>

#include "engine/request.h"
#include "sched/scheduler.h"
#include "weft/status.h"

namespace weft {

struct AdmissionLimits {
  int64_t n_vocab = 0;
  int32_t max_model_len = 0;       // tokens a sequence may hold: prompt + generated
  int32_t num_kv_blocks = 0;       // blocks in the whole KV cache
  int32_t block_size = 0;          // tokens per block
  int32_t max_num_seqs = 0;        // sequences running at once (n of one request included)
  SchedulingPolicy policy = SchedulingPolicy::kFcfs;
  KvWindow kv_window;                // the engine's default policy (--kv-sinks / --kv-window)
  std::string kv_window_unsupported; // why the model cannot run a window ("" = it can)
  KvBudget kv_budget;                // the engine's default budget (--kv-budget / --kv-policy)
  std::string kv_h2o_unsupported;    // why the model cannot run policy h2o ("" = it can)

  // Tokens the whole KV cache holds.
  int64_t kv_tokens() const { return static_cast<int64_t>(num_kv_blocks) * block_size; }
};

// The request's KV budget: its kv_budget / kv_policy / kv_sinks where set, else the
// engine's; a request that sets kv_window > 0 takes no budget from the engine.
KvBudget RequestKvBudget(const GenerationRequest& request, const AdmissionLimits& limits);
// The request's sinks + window: with a budget of policy window / sinks, its window
// (WindowForBudget at steps of 1); with h2o none; else its kv_sinks / kv_window where
// set, else the engine's.
KvWindow RequestKvWindow(const GenerationRequest& request, const AdmissionLimits& limits);

// OK, or InvalidArgument / OutOfRange with field() one of "prompt", "n", "priority" or a
// sampling field ("temperature", "stop_token_ids", ...). A prompt needs room for itself
// and one generated token, in the context and in the KV cache — unless the request runs
// a KV window (fields "kv_sinks" / "kv_window"): then the window must fit the context and
// the cache, the model must support it, and n must be 1; the prompt may be any length.
// The same for a KV budget (fields "kv_budget" / "kv_policy" / "kv_sinks"; a budget and a
// window together are refused naming kv_budget, a kv_policy without a budget naming kv_policy).
Status CheckAdmission(const GenerationRequest& request, const AdmissionLimits& limits);

}  // namespace weft
