// Sampler: turns one row of logits into the next token for one sequence, applying the
// request's SamplingParams in a fixed order:
//   logit bias -> min_tokens mask (EOS, stop ids) -> repetition / presence / frequency
//   penalties -> [greedy: argmax] -> temperature -> top-k -> top-p -> min-p -> draw.
// Each sequence owns a SequenceSampler (its RNG and token counts), so a seeded request
// samples the same tokens whatever else is in the batch.
// Logprobs are those of the model's raw distribution (log-softmax of the unprocessed
// logits), as OpenAI reports them.
// Thread-safety: a SequenceSampler is used by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "sampling/sampling_params.h"
#include "sampling/token_constraint.h"

namespace weft {

struct TokenLogprob {
  int32_t token = -1;
  float logprob = 0.0f;
};

struct SampleResult {
  int32_t token = -1;
  float logprob = 0.0f;                    // of the chosen token (when logprobs >= 0)
  std::vector<TokenLogprob> top_logprobs;  // the `logprobs` most likely, best first
};

class SequenceSampler {
 public:
  // `eos_token_id` < 0 when the model has none. `unseeded_seed` seeds the RNG when the
  // params give no seed (the engine passes a fresh value per request).
  SequenceSampler(const SamplingParams& params, int32_t eos_token_id, uint64_t unseeded_seed);

  // Records prompt tokens (for the repetition penalty).
  void AddPromptTokens(std::span<const int32_t> tokens);
  // Picks the next token from `logits` [n_vocab] (which it may modify), and records it
  // as generated.
  SampleResult Sample(std::span<float> logits);
  // Speculative decoding (sampler_verify.cc): the next token when a proposer drafted
  // `draft` for this position, by the rejection rule that keeps the target distribution
  // (Leviathan et al. / Chen et al. 2023) for a deterministic proposer (q = a point mass on
  // the draft): with p the distribution Sample would draw from (after penalties, masks,
  // temperature, top-k, top-p, min-p), the draft is accepted with probability
  // min(1, p(draft) / 1) = p(draft); otherwise the token is drawn from the residual
  // max(0, p - q) normalised, i.e. p without the draft. Greedy: accepted iff the draft is
  // the argmax; the token is the argmax either way. Sets *accepted; records the token and
  // fills logprobs exactly as Sample does. Uses the RNG differently from Sample, so a
  // seeded request's sampled text differs with and without speculation (its
  // distribution does not).
  SampleResult Verify(std::span<float> logits, int32_t draft, bool* accepted);
  // Token trees: the next token when the proposer drafted several distinct candidates
  // c1..cm for this position (the children of a tree node), by the multi-candidate
  // rejection rule that keeps the target distribution (SpecInfer's, for deterministic
  // candidates): with p the distribution Sample would draw from, try c1 with probability
  // p(c1); if rejected, set p(c1) = 0 and renormalise, try c2 with its new probability,
  // and so on; if every candidate is rejected, draw from what is left (p without them,
  // normalised). Then P(token = t) = p(t) for every t (each step is Verify's rule on the
  // renormalised residual). Greedy: the argmax, and the candidate equal to it (if any) is
  // the accepted one. Sets *chosen to the accepted candidate's index, or -1. Records the
  // token and fills logprobs exactly as Sample does. With one candidate this is Verify,
  // using the RNG the same way. Candidates must be distinct.
  SampleResult VerifyCandidates(std::span<float> logits, std::span<const int32_t> candidates, int32_t* chosen);
  int num_generated() const { return num_generated_; }
  // Structured output: from now on only tokens `constraint` allows are drawn (the mask
  // is applied after penalties, before temperature / top-k / top-p, in Sample and
  // Verify alike), and each drawn token advances it. The engine cuts drafts to the
  // constraint's accepted prefix (Accept, then Rollback). Null: unconstrained.
  void SetConstraint(std::unique_ptr<TokenConstraint> constraint) { constraint_ = std::move(constraint); }
  TokenConstraint* constraint() const { return constraint_.get(); }

 private:
  void ApplyPenaltiesAndMasks(std::span<float> logits) const;
  void ApplyConstraint(std::span<float> logits);  // sampler_constraint.cc
  int32_t Draw(std::span<const float> logits);
  // The distribution Draw samples from (not greedy): fills candidates_[0, cut) and their
  // unnormalised probabilities probs_[0, cut); returns cut (0: every logit is -inf).
  size_t Distribution(std::span<const float> logits);
  // Fills r's logprobs from raw_ (when asked for) and records r.token as generated.
  void Record(SampleResult& r);

  SamplingParams params_;
  int32_t eos_;
  std::mt19937_64 rng_;
  std::unordered_map<int32_t, int> output_counts_;
  std::unordered_set<int32_t> prompt_tokens_;
  int num_generated_ = 0;
  // Scratch reused across calls (sized to the vocabulary on first use).
  std::vector<std::pair<float, int32_t>> candidates_;
  std::vector<double> probs_;
  std::vector<float> raw_;
  std::unique_ptr<TokenConstraint> constraint_;
  std::vector<uint64_t> allowed_;  // the constraint's mask, reused
};

}  // namespace weft
