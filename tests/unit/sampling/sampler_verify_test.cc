// SequenceSampler::Verify keeps the target distribution: over many draws, the tokens it
// returns for a fixed draft are distributed as Sample's, whatever the draft (likely,
// unlikely, cut by top-k / top-p / min-p, masked) and the sampling settings.
//
// The test: a two-sample chi-square test of homogeneity between N = 100000 Verify draws
// and N Sample draws (bins: the tokens either side drew; df = bins - 1), rejecting at
// alpha = 0.001. Its power, shown by the second test: a rule that is wrong by the
// classic mistake (on rejection, redraw from p instead of the residual) is rejected for
// every case; analytically, with N = 100000 a shift of 0.01 in the probability of a token
// near p = 0.3 (balanced elsewhere) gives a noncentrality of about 33 and is detected with
// power > 0.95 at df <= 7.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "sampling/sampler.h"

namespace weft {
namespace {

constexpr int kDraws = 100000;

// Upper 0.001 quantiles of chi-square with df = 1..10.
double ChiSquareCritical(int df) {
  static const double q[] = {0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32, 26.12, 27.88, 29.59};
  return q[std::min(df, 10)];
}

// Two-sample chi-square statistic (equal sample sizes) and its degrees of freedom.
std::pair<double, int> ChiSquare(const std::map<int32_t, int>& a, const std::map<int32_t, int>& b) {
  std::map<int32_t, std::pair<int, int>> bins;
  for (auto [t, c] : a) bins[t].first += c;
  for (auto [t, c] : b) bins[t].second += c;
  double stat = 0;
  for (auto [t, ab] : bins) {
    const double d = ab.first - ab.second;
    stat += d * d / (ab.first + ab.second);
  }
  return {stat, static_cast<int>(bins.size()) - 1};
}

const std::vector<float> kLogits = {2.0f, 1.5f, 1.2f, 0.5f, 0.1f, -0.5f, -1.0f, -3.0f};

struct Case {
  const char* name;
  SamplingParams params;
};

std::vector<Case> Cases() {
  std::vector<Case> cs;
  SamplingParams p;
  p.seed = 1;
  cs.push_back({"temperature 1", p});
  p.temperature = 0.7f;
  p.top_k = 4;
  cs.push_back({"T 0.7, top-k 4", p});
  p.top_k = 0;
  p.temperature = 1.0f;
  p.top_p = 0.8f;
  cs.push_back({"top-p 0.8", p});
  p.top_p = 1.0f;
  p.min_p = 0.2f;
  cs.push_back({"min-p 0.2", p});
  p.min_p = 0.0f;
  p.logit_bias = {{1, -100.0f}};
  cs.push_back({"token 1 masked by a bias", p});
  return cs;
}

std::map<int32_t, int> DrawSample(SamplingParams p, uint64_t seed) {
  p.seed = seed;
  SequenceSampler s(p, -1, 0);
  std::map<int32_t, int> counts;
  std::vector<float> row;
  for (int i = 0; i < kDraws; ++i) {
    row = kLogits;
    ++counts[s.Sample(row).token];
  }
  return counts;
}

std::map<int32_t, int> DrawVerify(SamplingParams p, uint64_t seed, int32_t draft, double* acceptance) {
  p.seed = seed;
  SequenceSampler s(p, -1, 0);
  std::map<int32_t, int> counts;
  std::vector<float> row;
  int accepted = 0;
  for (int i = 0; i < kDraws; ++i) {
    row = kLogits;
    bool ok = false;
    const SampleResult r = s.Verify(row, draft, &ok);
    accepted += ok ? 1 : 0;
    EXPECT_EQ(ok, r.token == draft);
    ++counts[r.token];
  }
  *acceptance = static_cast<double>(accepted) / kDraws;
  return counts;
}

TEST(SamplerVerify, KeepsTheTargetDistributionForEveryDraft) {
  for (const Case& c : Cases()) {
    const auto reference = DrawSample(c.params, 11);
    for (int32_t draft : {0, 1, 3, 6, 7}) {
      double acceptance = 0;
      const auto verified = DrawVerify(c.params, 1000 + static_cast<uint64_t>(draft), draft, &acceptance);
      const auto [stat, df] = ChiSquare(reference, verified);
      EXPECT_LT(stat, ChiSquareCritical(df)) << c.name << ", draft " << draft << ": chi2 " << stat << " df " << df;
      // Acceptance equals the draft's probability under the target.
      const auto it = reference.find(draft);
      const double p = it == reference.end() ? 0.0 : static_cast<double>(it->second) / kDraws;
      EXPECT_NEAR(acceptance, p, 0.01) << c.name << ", draft " << draft;
    }
  }
}

TEST(SamplerVerify, TheTestRejectsTheWrongResidual) {
  // The wrong rule: accept with p(draft), else redraw from p itself. P(draft) becomes
  // p (2 - p): the chi-square test above must catch it for a draft of any real mass.
  for (const Case& c : Cases()) {
    const auto reference = DrawSample(c.params, 11);
    for (int32_t draft : {0, 2}) {
      SamplingParams p = c.params;
      p.seed = 77;
      SequenceSampler accept_rng(p, -1, 0), redraw(p, -1, 5);
      std::map<int32_t, int> wrong;
      std::vector<float> row;
      for (int i = 0; i < kDraws; ++i) {
        row = kLogits;
        bool ok = false;
        const SampleResult r = accept_rng.Verify(row, draft, &ok);
        if (ok) {
          ++wrong[r.token];
        } else {
          row = kLogits;
          ++wrong[redraw.Sample(row).token];
        }
      }
      const auto [stat, df] = ChiSquare(reference, wrong);
      EXPECT_GT(stat, ChiSquareCritical(df)) << c.name << ", draft " << draft << ": the wrong rule passed, chi2 " << stat;
    }
  }
}

TEST(SamplerVerify, GreedyAcceptsExactlyTheArgmax) {
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 2;
  SequenceSampler s(p, -1, 0);
  std::vector<float> row = kLogits;
  bool ok = false;
  SampleResult r = s.Verify(row, 0, &ok);
  EXPECT_TRUE(ok);
  EXPECT_EQ(r.token, 0);
  row = kLogits;
  r = s.Verify(row, 3, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(r.token, 0);
  // Logprobs are the raw distribution's, as Sample reports them.
  SequenceSampler plain(p, -1, 0);
  row = kLogits;
  const SampleResult q = plain.Sample(row);
  EXPECT_FLOAT_EQ(r.logprob, q.logprob);
  ASSERT_EQ(r.top_logprobs.size(), 2u);
  EXPECT_EQ(r.top_logprobs[1].token, q.top_logprobs[1].token);
  EXPECT_EQ(s.num_generated(), 2);
}

}  // namespace
}  // namespace weft
