// What a client gives the engine (GenerationRequest) and what it streams back
// (RequestOutput, through a RequestStream).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kv/kv_budget.h"
#include "sampling/sampler.h"
#include "sampling/sampling_params.h"
#include "sampling/token_constraint.h"

namespace weft {

struct GenerationRequest {
  std::vector<int32_t> prompt_tokens;  // tokenized prompt (BOS included if the model wants it)
  SamplingParams sampling;
  int32_t priority = 0;                // with the priority policy: smaller first
  bool speculate = true;               // false: no speculative decoding for this request
  // Sinks + window (kv/kv_window.h) for this request; each unset one is the engine's
  // (--kv-sinks / --kv-window). Server fields "kv_sinks" / "kv_window".
  std::optional<int32_t> kv_sinks, kv_window;
  // A KV budget (kv/kv_budget.h) for this request; unset ones are the engine's
  // (--kv-budget / --kv-policy; kv_sinks above gives h2o and sinks their sink tokens).
  // Server fields "kv_budget" / "kv_policy". A budget and a window are exclusive.
  std::optional<int32_t> kv_budget;
  std::optional<KvPolicy> kv_policy;
  // Structured output (src/grammar): each sample's tokens are constrained by its own
  // TokenConstraint from this factory. Null: unconstrained.
  std::shared_ptr<const TokenConstraintFactory> constraint;
};

enum class RequestFinish : uint8_t { kNone, kStop, kLength, kAbort, kError };
const char* RequestFinishName(RequestFinish f);  // "stop", "length", "abort", "error"

// One streamed piece of one sample's output. The concatenation of a sample's
// text_delta values is its whole completion text (stop strings never appear in it).
struct RequestOutput {
  int32_t sample_index = 0;
  std::vector<int32_t> token_ids;             // new tokens in this piece
  std::string text_delta;
  std::vector<SampleResult> logprobs;         // one per new token when logprobs were asked for
  RequestFinish finish = RequestFinish::kNone;  // set on a sample's last piece
  std::string error;                          // with kError: what went wrong
  // Timing and usage, filled on every piece.
  int32_t num_prompt_tokens = 0;
  int32_t num_generated_tokens = 0;           // of this sample so far
  int32_t num_cached_prompt_tokens = 0;       // prefix-cache hit at admission
};

}  // namespace weft
