#include "engine/admission.h"

#include <fmt/format.h>

namespace weft {

Status CheckAdmission(const GenerationRequest& r, const AdmissionLimits& limits) {
  WEFT_RETURN_IF_ERROR(r.sampling.Validate(limits.n_vocab));
  const int64_t prompt = static_cast<int64_t>(r.prompt_tokens.size());
  if (prompt == 0) return InvalidArgumentError("the prompt is empty").WithField("prompt");
  for (int32_t id : r.prompt_tokens) {
    if (id < 0 || id >= limits.n_vocab) {
      return InvalidArgumentError(
                 fmt::format("prompt token id {} is outside the vocabulary [0, {})", id, limits.n_vocab))
          .WithField("prompt");
    }
  }
  if (prompt + 1 > limits.max_model_len) {
    return OutOfRangeError(fmt::format("the prompt is {} tokens, but the context is {} tokens and must hold the "
                                       "prompt and at least one generated token (the context is set with "
                                       "--max-model-len, up to the model's own)",
                                       prompt, limits.max_model_len))
        .WithField("prompt");
  }
  if (prompt + 1 > limits.kv_tokens()) {
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
