// SequenceSampler::Verify: the acceptance rule of speculative decoding (see sampler.h).
// Kept apart from sampler.cc so that the sampling pipeline and the verification rule
// change independently.
#include <algorithm>

#include "sampling/sampler.h"

namespace weft {

SampleResult SequenceSampler::Verify(std::span<float> logits, int32_t draft, bool* accepted) {
  SampleResult r;
  if (params_.logprobs >= 0) raw_.assign(logits.begin(), logits.end());
  ApplyPenaltiesAndMasks(logits);
  if (constraint_) ApplyConstraint(logits);  // a draft the constraint refuses has p = 0
  const auto argmax = [&] { return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()); };
  const size_t cut = params_.greedy() ? 0 : Distribution(logits);
  if (cut == 0) {  // greedy (or nothing left to draw from: Draw's argmax fallback)
    r.token = argmax();
    *accepted = r.token == draft;
  } else {
    double total = 0, p_draft = 0;
    for (size_t i = 0; i < cut; ++i) {
      total += probs_[i];
      if (candidates_[i].second == draft) p_draft = probs_[i];
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    // Accept with probability p(draft) (q(draft) = 1). When the residual is empty (the
    // draft holds all the mass), the test always accepts: unit() < 1.
    *accepted = p_draft > 0 && (p_draft >= total || unit(rng_) * total < p_draft);
    if (*accepted) {
      r.token = draft;
    } else {
      // Residual: p with the draft's mass removed, renormalised.
      const double rest = total - p_draft;
      const double u = std::uniform_real_distribution<double>(0.0, rest)(rng_);
      double acc = 0;
      r.token = -1;
      for (size_t i = 0; i < cut; ++i) {
        if (candidates_[i].second == draft) continue;
        acc += probs_[i];
        if (u < acc) {
          r.token = candidates_[i].second;
          break;
        }
      }
      if (r.token < 0) {  // rounding at the top end: the last candidate that is not the draft
        for (size_t i = cut; i-- > 0;) {
          if (candidates_[i].second != draft) {
            r.token = candidates_[i].second;
            break;
          }
        }
      }
    }
  }
  Record(r);
  return r;
}

}  // namespace weft
