#include "engine/admission.h"

#include <fmt/format.h>

namespace weft {

KvBudget RequestKvBudget(const GenerationRequest& r, const AdmissionLimits& limits) {
  KvBudget b;
  b.budget = r.kv_budget.value_or(r.kv_window.value_or(0) > 0 ? 0 : limits.kv_budget.budget);
  b.policy = r.kv_policy.value_or(limits.kv_budget.policy);
  // Policy window keeps no sinks: the engine's sinks go to h2o / sinks only.
  b.sinks = r.kv_sinks.value_or(b.policy == KvPolicy::kWindow ? 0 : limits.kv_budget.sinks);
  return b;
}

KvWindow RequestKvWindow(const GenerationRequest& r, const AdmissionLimits& limits) {
  const KvBudget b = RequestKvBudget(r, limits);
  if (b.enabled()) return WindowForBudget(b, limits.block_size, 1);
  return KvWindow{r.kv_sinks.value_or(limits.kv_window.sinks), r.kv_window.value_or(limits.kv_window.window)};
}

namespace {

Status CheckKvWindow(const GenerationRequest& r, const AdmissionLimits& limits, const KvWindow& w) {
  WEFT_RETURN_IF_ERROR(ValidateKvWindow(w, limits.block_size, limits.max_model_len, "kv_sinks", "kv_window"));
  const char* field = r.kv_window.has_value() || !r.kv_sinks.has_value() ? "kv_window" : "kv_sinks";
  if (!limits.kv_window_unsupported.empty()) {
    return InvalidArgumentError(limits.kv_window_unsupported).WithField(field);
  }
  const int64_t held = int64_t{w.SinkBlocks(limits.block_size)} * limits.block_size + w.window + limits.block_size;
  if (held + 1 > limits.kv_tokens()) {
    return OutOfRangeError(fmt::format("{} keeps up to {} tokens, but the whole KV cache holds {} tokens; give the "
                                       "cache more memory with --kv-cache-mem",
                                       KvWindowName(w), held, limits.kv_tokens()))
        .WithField(field);
  }
  if (r.sampling.n > 1) {
    return InvalidArgumentError(fmt::format("n = {} with a KV window ({}): samples would share blocks that the "
                                            "window re-rotates; use n = 1",
                                            r.sampling.n, KvWindowName(w)))
        .WithField("n");
  }
  return Status::Ok();
}

Status CheckKvBudget(const GenerationRequest& r, const AdmissionLimits& limits, const KvBudget& b) {
  if (r.kv_budget.value_or(0) > 0 && r.kv_window.value_or(0) > 0) {
    return InvalidArgumentError("kv_budget with kv_window: pick one (kv_policy \"window\" is a window sized to the "
                                "budget)")
        .WithField("kv_budget");
  }
  if (r.kv_policy.has_value() && !b.enabled()) {
    return InvalidArgumentError("kv_policy needs a KV budget: set kv_budget > 0 (or start the server with --kv-budget)")
        .WithField("kv_policy");
  }
  WEFT_RETURN_IF_ERROR(ValidateKvBudget(b, limits.block_size, 1, limits.max_model_len, "kv_budget", "kv_sinks"));
  if (!b.enabled()) return Status::Ok();
  if (!limits.kv_window_unsupported.empty()) {
    return InvalidArgumentError(limits.kv_window_unsupported).WithField("kv_budget");
  }
  if (b.policy == KvPolicy::kH2o && !limits.kv_h2o_unsupported.empty()) {
    return InvalidArgumentError(limits.kv_h2o_unsupported).WithField("kv_policy");
  }
  // The budget's blocks and one more (a step's tokens may open a block before an eviction).
  const int64_t held = int64_t{b.budget} + limits.block_size;
  if (held > limits.kv_tokens()) {
    return OutOfRangeError(fmt::format("{} keeps up to {} tokens, but the whole KV cache holds {} tokens; give the "
                                       "cache more memory with --kv-cache-mem",
                                       KvBudgetName(b), held, limits.kv_tokens()))
        .WithField("kv_budget");
  }
  if (r.sampling.n > 1) {
    return InvalidArgumentError(fmt::format("n = {} with a KV budget ({}): samples would share blocks that eviction "
                                            "releases and re-rotates; use n = 1",
                                            r.sampling.n, KvBudgetName(b)))
        .WithField("n");
  }
  return Status::Ok();
}

}  // namespace

Status CheckAdmission(const GenerationRequest& r, const AdmissionLimits& limits) {
  WEFT_RETURN_IF_ERROR(r.sampling.Validate(limits.n_vocab));
  const KvBudget budget = RequestKvBudget(r, limits);
  const KvWindow window = RequestKvWindow(r, limits);
  const bool evicts = window.enabled() || budget.enabled();
  const int64_t prompt = static_cast<int64_t>(r.prompt_tokens.size());
  if (prompt == 0) return InvalidArgumentError("the prompt is empty").WithField("prompt");
  for (int32_t id : r.prompt_tokens) {
    if (id < 0 || id >= limits.n_vocab) {
      return InvalidArgumentError(
                 fmt::format("prompt token id {} is outside the vocabulary [0, {})", id, limits.n_vocab))
          .WithField("prompt");
    }
  }
  if (budget.enabled() || r.kv_budget.has_value() || r.kv_policy.has_value()) {
    WEFT_RETURN_IF_ERROR(CheckKvBudget(r, limits, budget));
  }
  if (!budget.enabled()) {
    if (window.window < 0 || window.sinks < 0) {
      return ValidateKvWindow(window, limits.block_size, limits.max_model_len, "kv_sinks", "kv_window");
    }
    if (window.enabled()) {
      WEFT_RETURN_IF_ERROR(CheckKvWindow(r, limits, window));
    } else if (r.kv_sinks.value_or(0) != 0) {
      return InvalidArgumentError("kv_sinks needs a window (kv_window > 0) or a budget (kv_budget > 0)")
          .WithField("kv_sinks");
    }
  }
  if (!evicts && prompt + 1 > limits.max_model_len) {
    return OutOfRangeError(fmt::format("the prompt is {} tokens, but the context is {} tokens and must hold the "
                                       "prompt and at least one generated token (the context is set with "
                                       "--max-model-len, up to the model's own)",
                                       prompt, limits.max_model_len))
        .WithField("prompt");
  }
  if (!evicts && prompt + 1 > limits.kv_tokens()) {
    return OutOfRangeError(fmt::format("the prompt is {} tokens, but the whole KV cache holds {} tokens ({} blocks "
                                       "of {}) and must hold the prompt and at least one generated token; give the "
                                       "cache more memory with --kv-cache-mem",
                                       prompt, limits.kv_tokens(), limits.num_kv_blocks, limits.block_size))
        .WithField("prompt");
  }
  if (r.sampling.n > limits.max_num_seqs) {
    return InvalidArgumentError(fmt::format("n = {} is more than the {} sequences the engine runs at once (raise it "
                                            "with --max-seqs)",
                                            r.sampling.n, limits.max_num_seqs))
        .WithField("n");
  }
  if (r.priority != 0 && limits.policy != SchedulingPolicy::kPriority) {
    return InvalidArgumentError(fmt::format("priority {} needs the priority scheduling policy; this engine schedules "
                                            "first come, first served",
                                            r.priority))
        .WithField("priority");
  }
  return Status::Ok();
}

}  // namespace weft
