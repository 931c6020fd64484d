// SequenceSampler's structured-output step: every token the constraint does not allow
// gets a logit of -inf (tokens past the constraint's vocabulary too).
#include <limits>

#include "sampling/sampler.h"

namespace weft {

void SequenceSampler::ApplyConstraint(std::span<float> logits) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  const size_t n = logits.size();
  allowed_.assign((n + 63) / 64, 0);
  constraint_->FillMask(allowed_);
  for (size_t w = 0; w < allowed_.size(); ++w) {
    const uint64_t bits = allowed_[w];
    if (bits == ~uint64_t{0}) continue;
    const size_t base = w * 64, end = std::min(n, base + 64);
    for (size_t i = base; i < end; ++i) {
      if (!((bits >> (i - base)) & 1)) logits[i] = kNegInf;
    }
  }
}

}  // namespace weft
