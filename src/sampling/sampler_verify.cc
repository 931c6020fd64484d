// SequenceSampler::Verify: the acceptance rule of speculative decoding (see sampler.h).
// Kept apart from sampler.cc so that the sampling pipeline and the verification rule
// change independently.
#include <algorithm>

#include "sampling/sampler.h"

namespace weft {

SampleResult SequenceSampler::Verify(std::span<float> logits, int32_t draft, bool* accepted) {
  int32_t chosen = -1;
  SampleResult r = VerifyCandidates(logits, std::span<const int32_t>(&draft, 1), &chosen);
  *accepted = chosen == 0;
  return r;
}

SampleResult SequenceSampler::VerifyCandidates(std::span<float> logits, std::span<const int32_t> candidates,
                                               int32_t* chosen) {
  SampleResult r;
  *chosen = -1;
  if (params_.logprobs >= 0) raw_.assign(logits.begin(), logits.end());
  ApplyPenaltiesAndMasks(logits);
  if (constraint_) ApplyConstraint(logits);  // a candidate the constraint refuses has p = 0
  const auto argmax = [&] { return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin()); };
  const auto index_of = [&](int32_t token) {
    for (size_t c = 0; c < candidates.size(); ++c) {
      if (candidates[c] == token) return static_cast<int32_t>(c);
    }
    return int32_t{-1};
  };
  const size_t cut = params_.greedy() ? 0 : Distribution(logits);
  if (cut == 0) {  // greedy (or nothing left to draw from: Draw's argmax fallback)
    r.token = argmax();
    *chosen = index_of(r.token);
  } else {
    double total = 0;
    for (size_t i = 0; i < cut; ++i) total += probs_[i];
    const auto rejected = [&](int32_t token, size_t upto) {
      for (size_t c = 0; c < upto; ++c) {
        if (candidates[c] == token) return true;
      }
      return false;
    };
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    size_t tried = 0;
    for (; tried < candidates.size(); ++tried) {
      const int32_t cand = candidates[tried];
      double p = 0;
      for (size_t i = 0; i < cut; ++i) {
        if (candidates_[i].second == cand) {
          p = probs_[i];
          break;
        }
      }
      // Accept with probability p(c) / total (the mass left after the rejected ones; q(c)
      // = 1). When c holds all that is left, the test always accepts: unit() < 1.
      if (p > 0 && (p >= total || unit(rng_) * total < p)) {
        *chosen = static_cast<int32_t>(tried);
        r.token = cand;
        break;
      }
      total -= p;  // rejected: its mass goes, the rest is renormalised by `total`
    }
    if (*chosen < 0) {
      // Residual: p without the rejected candidates, renormalised.
      const double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
      double acc = 0;
      r.token = -1;
      for (size_t i = 0; i < cut; ++i) {
        if (rejected(candidates_[i].second, tried)) continue;
        acc += probs_[i];
        if (u < acc) {
          r.token = candidates_[i].second;
          break;
        }
      }
      if (r.token < 0) {  // rounding at the top end: the last candidate that was not rejected
        for (size_t i = cut; i-- > 0;) {
          if (!rejected(candidates_[i].second, tried)) {
            r.token = candidates_[i].second;
            break;
          }
        }
      }
      if (r.token < 0) r.token = candidates_[0].second;  // every token was a rejected candidate (rounding)
    }
  }
  Record(r);
  return r;
}

}  // namespace weft
