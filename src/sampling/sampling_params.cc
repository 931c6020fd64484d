#include "sampling/sampling_params.h"

#include <fmt/format.h>

#include <cmath>

namespace weft {

Status SamplingParams::Validate(int64_t n_vocab) const {
  auto bad = [](std::string field, std::string rule, std::string got) {
    std::string message = fmt::format("{} {}: got {}", field, rule, got);
    return InvalidArgumentError(std::move(message)).WithField(std::move(field));
  };
  if (!(temperature >= 0.0f && temperature <= 100.0f)) return bad("temperature", "must be in [0, 100]", fmt::format("{}", temperature));
  if (top_k < 0) return bad("top_k", "must be >= 0 (0 disables it)", std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) return bad("top_p", "must be in (0, 1]", fmt::format("{}", top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return bad("min_p", "must be in [0, 1]", fmt::format("{}", min_p));
  if (!(repetition_penalty > 0.0f && std::isfinite(repetition_penalty))) {
    return bad("repetition_penalty", "must be > 0", fmt::format("{}", repetition_penalty));
  }
  if (!(presence_penalty >= -2.0f && presence_penalty <= 2.0f)) {
    return bad("presence_penalty", "must be in [-2, 2]", fmt::format("{}", presence_penalty));
  }
  if (!(frequency_penalty >= -2.0f && frequency_penalty <= 2.0f)) {
    return bad("frequency_penalty", "must be in [-2, 2]", fmt::format("{}", frequency_penalty));
  }
  for (const auto& [id, bias] : logit_bias) {
    if (id < 0 || id >= n_vocab) return bad("logit_bias", fmt::format("token ids must be in [0, {})", n_vocab), std::to_string(id));
    if (!(bias >= -100.0f && bias <= 100.0f)) return bad("logit_bias", "values must be in [-100, 100]", fmt::format("{}", bias));
  }
  if (logprobs < -1 || logprobs > 20) return bad("logprobs", "must be between 0 and 20", std::to_string(logprobs));
  if (max_tokens < 1) return bad("max_tokens", "must be at least 1", std::to_string(max_tokens));
  if (min_tokens < 0 || min_tokens > max_tokens) {
    return bad("min_tokens", "must be in [0, max_tokens]", std::to_string(min_tokens));
  }
  for (int32_t id : stop_token_ids) {
    if (id < 0 || id >= n_vocab) return bad("stop_token_ids", fmt::format("must be in [0, {})", n_vocab), std::to_string(id));
  }
  for (const auto& s : stop) {
    if (s.empty()) return bad("stop", "strings must not be empty", "\"\"");
  }
  if (n < 1 || n > 128) return bad("n", "must be in [1, 128]", std::to_string(n));
  return Status::Ok();
}

}  // namespace weft
