#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace weft {
namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Orders candidates most likely first; ties by the lower id, so results are deterministic.
bool MoreLikely(const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}

// log-softmax value of logits[i] given the row's max and log-sum-exp.
struct LogSoftmax {
  float max = kNegInf;
  double log_sum = 0;
  explicit LogSoftmax(std::span<const float> x) {
    for (float v : x) max = std::max(max, v);
    double sum = 0;
    for (float v : x) sum += std::exp(static_cast<double>(v - max));
    log_sum = std::log(sum);
  }
  float operator()(float v) const { return static_cast<float>(static_cast<double>(v - max) - log_sum); }
};
}  // namespace

SequenceSampler::SequenceSampler(const SamplingParams& params, int32_t eos_token_id, uint64_t unseeded_seed)
    : params_(params), eos_(eos_token_id), rng_(params.seed.value_or(unseeded_seed)) {}

void SequenceSampler::AddPromptTokens(std::span<const int32_t> tokens) {
  if (params_.repetition_penalty == 1.0f) return;
  prompt_tokens_.insert(tokens.begin(), tokens.end());
}

void SequenceSampler::ApplyPenaltiesAndMasks(std::span<float> logits) const {
  const auto n = static_cast<int32_t>(logits.size());
  for (const auto& [id, bias] : params_.logit_bias) {
    if (id >= 0 && id < n) logits[static_cast<size_t>(id)] += bias;
  }
  if (num_generated_ < params_.min_tokens) {
    if (eos_ >= 0 && eos_ < n && !params_.ignore_eos) logits[static_cast<size_t>(eos_)] = kNegInf;
    for (int32_t id : params_.stop_token_ids) {
      if (id >= 0 && id < n) logits[static_cast<size_t>(id)] = kNegInf;
    }
  }
  if (params_.ignore_eos && eos_ >= 0 && eos_ < n) logits[static_cast<size_t>(eos_)] = kNegInf;
  const float rep = params_.repetition_penalty;
  if (rep != 1.0f) {
    auto penalise = [&](int32_t id) {
      float& l = logits[static_cast<size_t>(id)];
      l = l > 0 ? l / rep : l * rep;
    };
    for (int32_t id : prompt_tokens_) {
      if (id >= 0 && id < n) penalise(id);
    }
    for (const auto& [id, count] : output_counts_) {
      if (id >= 0 && id < n && !prompt_tokens_.count(id)) penalise(id);
    }
  }
  if (params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f) {
    for (const auto& [id, count] : output_counts_) {
      if (id >= 0 && id < n) {
        logits[static_cast<size_t>(id)] -= params_.presence_penalty + params_.frequency_penalty * static_cast<float>(count);
      }
    }
  }
}

int32_t SequenceSampler::Draw(std::span<const float> logits) {
  if (params_.greedy()) {
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const size_t cut = Distribution(logits);
  if (cut == 0) return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  double total = 0;
  for (size_t i = 0; i < cut; ++i) total += probs_[i];
  const double u = std::uniform_real_distribution<double>(0.0, total)(rng_);
  double acc = 0;
  for (size_t i = 0; i < cut; ++i) {
    acc += probs_[i];
    if (u < acc) return candidates_[i].second;
  }
  return candidates_[cut - 1].second;
}

size_t SequenceSampler::Distribution(std::span<const float> logits) {
  // Candidates as (scaled logit, id); only the part that top-k, top-p or min-p can keep
  // is ever sorted (most likely first), so a vocabulary of 150k costs a linear pass.
  candidates_.clear();
  const float inv_t = 1.0f / params_.temperature;
  float max = kNegInf;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] == kNegInf) continue;
    candidates_.emplace_back(logits[i] * inv_t, static_cast<int32_t>(i));
    max = std::max(max, candidates_.back().first);
  }
  if (candidates_.empty()) return 0;
  const size_t n = candidates_.size();
  const bool truncates = params_.top_p < 1.0f || params_.min_p > 0.0f;
  if (params_.top_k <= 0 && !truncates) {
    // Nothing is cut: the whole distribution in id order (unnormalised weights).
    probs_.resize(n);
    for (size_t i = 0; i < n; ++i) probs_[i] = std::exp(static_cast<double>(candidates_[i].first - max));
    return n;
  }
  // Probabilities are normalised over what top-k keeps (all candidates without top-k).
  size_t keep = n;
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    keep = static_cast<size_t>(params_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(),
                      MoreLikely);
    candidates_.resize(keep);
  }
  double sum = 0;
  for (const auto& c : candidates_) sum += std::exp(static_cast<double>(c.first - max));
  // Sort a growing prefix until it holds the top-p / min-p cut (or everything).
  std::vector<double>& probs = probs_;  // reused scratch
  size_t sorted = keep < n ? keep : 0, cut = keep;  // top-k's partial sort sorted what it kept
  for (size_t want = truncates ? std::min<size_t>(keep, 64) : keep;; want = std::min(keep, want * 4)) {
    if (sorted < want) {
      const auto mid = candidates_.begin() + static_cast<std::ptrdiff_t>(want);
      if (want < keep) std::nth_element(candidates_.begin(), mid, candidates_.end(), MoreLikely);
      std::sort(candidates_.begin(), mid, MoreLikely);
      sorted = want;
    }
    probs.resize(sorted);
    for (size_t i = 0; i < sorted; ++i) probs[i] = std::exp(static_cast<double>(candidates_[i].first - max)) / sum;
    cut = sorted;
    bool decided = sorted == keep;
    if (params_.top_p < 1.0f) {
      double cum = 0;
      for (size_t i = 0; i < sorted; ++i) {
        cum += probs[i];
        if (cum >= params_.top_p) {
          cut = i + 1;
          decided = true;
          break;
        }
      }
    }
    if (params_.min_p > 0.0f) {
      const double floor = params_.min_p * probs[0];
      size_t i = 1;
      while (i < cut && probs[i] >= floor) ++i;
      if (i < cut || i < sorted) decided = true;  // a probability under the floor was seen
      cut = i;
    }
    if (decided || !truncates) break;
  }
  return cut;
}

SampleResult SequenceSampler::Sample(std::span<float> logits) {
  SampleResult r;
  if (params_.logprobs >= 0) {
    // Logprobs describe the raw distribution: keep the row before processing it.
    raw_.assign(logits.begin(), logits.end());
  }
  ApplyPenaltiesAndMasks(logits);
  if (constraint_) ApplyConstraint(logits);
  r.token = Draw(logits);
  Record(r);
  return r;
}

void SequenceSampler::Record(SampleResult& r) {
  if (constraint_) constraint_->Accept(r.token);
  if (params_.logprobs >= 0) {
    const LogSoftmax ls(raw_);
    r.logprob = ls(raw_[static_cast<size_t>(r.token)]);
    if (params_.logprobs > 0) {
      candidates_.clear();
      for (size_t i = 0; i < raw_.size(); ++i) candidates_.emplace_back(raw_[i], static_cast<int32_t>(i));
      const auto k = std::min(static_cast<size_t>(params_.logprobs), candidates_.size());
      std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(k), candidates_.end(),
                        MoreLikely);
      for (size_t i = 0; i < k; ++i) r.top_logprobs.push_back({candidates_[i].second, ls(candidates_[i].first)});
    }
  }
  ++num_generated_;
  ++output_counts_[r.token];
}

}  // namespace weft
