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
// VerifyCandidates (token trees: several distinct candidates for one position) is held
// to the same test: its tokens against Sample's, the rate each candidate is chosen against
// its probability, and a wrong multi-candidate rule (trying each candidate with its
// original probability, without renormalising) must fail it.
#include <gtest/gtest.h>

#include <algorithm>
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

std::map<int32_t, int> DrawCandidates(SamplingParams p, uint64_t seed, const std::vector<int32_t>& cands,
                                      std::vector<double>* chosen_rate) {
  p.seed = seed;
  SequenceSampler s(p, -1, 0);
  std::map<int32_t, int> counts;
  std::vector<float> row;
  chosen_rate->assign(cands.size(), 0.0);
  for (int i = 0; i < kDraws; ++i) {
    row = kLogits;
    int32_t chosen = -2;
    const SampleResult r = s.VerifyCandidates(row, cands, &chosen);
    EXPECT_GE(chosen, -1);
    if (chosen >= 0) {
      EXPECT_EQ(r.token, cands[static_cast<size_t>(chosen)]);
      (*chosen_rate)[static_cast<size_t>(chosen)] += 1.0 / kDraws;
    } else {
      // Not accepted: never one of the candidates.
      EXPECT_TRUE(std::find(cands.begin(), cands.end(), r.token) == cands.end()) << r.token;
    }
    ++counts[r.token];
  }
  return counts;
}

TEST(SamplerVerify, SeveralCandidatesKeepTheTargetDistribution) {
  const std::vector<std::vector<int32_t>> sets = {{0, 1}, {1, 0, 2}, {3, 6, 7}, {7, 1}, {2, 0, 1, 3, 4}, {5}};
  for (const Case& c : Cases()) {
    const auto reference = DrawSample(c.params, 11);
    uint64_t seed = 5000;
    for (const auto& cands : sets) {
      std::vector<double> rate;
      const auto verified = DrawCandidates(c.params, ++seed, cands, &rate);
      const auto [stat, df] = ChiSquare(reference, verified);
      EXPECT_LT(stat, ChiSquareCritical(df)) << c.name << ", " << cands.size() << " candidates from " << cands[0]
                                             << ": chi2 " << stat << " df " << df;
      // Candidate k is chosen exactly when its token comes out: with probability p(c_k).
      for (size_t k = 0; k < cands.size(); ++k) {
        const auto it = reference.find(cands[k]);
        const double p = it == reference.end() ? 0.0 : static_cast<double>(it->second) / kDraws;
        EXPECT_NEAR(rate[k], p, 0.01) << c.name << ", candidate " << cands[k];
      }
    }
  }
}

TEST(SamplerVerify, OneCandidateIsVerifyDrawForDraw) {
  // Same seed, same RNG use: a one-candidate tree node verifies exactly as a chain's.
  for (const Case& c : Cases()) {
    SamplingParams p = c.params;
    p.seed = 99;
    SequenceSampler a(p, -1, 0), b(p, -1, 0);
    std::vector<float> row;
    for (int i = 0; i < 2000; ++i) {
      const int32_t draft = i % 8;
      row = kLogits;
      bool ok = false;
      const int32_t t1 = a.Verify(row, draft, &ok).token;
      row = kLogits;
      int32_t chosen = -1;
      const int32_t t2 = b.VerifyCandidates(row, std::span<const int32_t>(&draft, 1), &chosen).token;
      ASSERT_EQ(t1, t2) << c.name << " draw " << i;
      ASSERT_EQ(ok, chosen == 0);
    }
  }
}

TEST(SamplerVerify, TheTestRejectsAWrongMultiCandidateRule) {
  // Wrong: try each candidate with its ORIGINAL probability (Verify on a fresh row each
  // time, without renormalising), then take the last Verify's residual draw.
  const std::vector<int32_t> cands = {0, 1, 2};
  for (const Case& c : Cases()) {
    if (!c.params.logit_bias.empty()) continue;  // token 1 masked: a different set
    const auto reference = DrawSample(c.params, 11);
    SamplingParams p = c.params;
    p.seed = 78;
    SequenceSampler s(p, -1, 0);
    std::map<int32_t, int> wrong;
    std::vector<float> row;
    for (int i = 0; i < kDraws; ++i) {
      int32_t token = -1;
      for (int32_t cand : cands) {
        row = kLogits;
        bool ok = false;
        token = s.Verify(row, cand, &ok).token;
        if (ok) break;
      }
      ++wrong[token];
    }
    const auto [stat, df] = ChiSquare(reference, wrong);
    EXPECT_GT(stat, ChiSquareCritical(df)) << c.name << ": the wrong rule passed, chi2 " << stat;
  }
}

TEST(SamplerVerify, GreedyChoosesTheCandidateThatIsTheArgmax) {
  SamplingParams p;
  p.temperature = 0;
  SequenceSampler s(p, -1, 0);
  std::vector<float> row = kLogits;
  int32_t chosen = -2;
  const std::vector<int32_t> hit = {3, 0, 1}, miss = {3, 1};
  EXPECT_EQ(s.VerifyCandidates(row, hit, &chosen).token, 0);
  EXPECT_EQ(chosen, 1);
  row = kLogits;
  EXPECT_EQ(s.VerifyCandidates(row, miss, &chosen).token, 0);
  EXPECT_EQ(chosen, -1);
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
