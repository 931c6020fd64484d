#include "sampling/sampler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <map>
#include <random>

#include "sampling/stop_strings.h"

namespace weft {
namespace {

std::vector<float> Logits() { return {1.0f, 3.0f, 2.0f, 0.5f, -1.0f}; }

int32_t SampleOnce(SamplingParams p, std::vector<float> logits, uint64_t seed = 1, int32_t eos = -1) {
  SequenceSampler s(p, eos, seed);
  return s.Sample(logits).token;
}

TEST(Sampler, GreedyIsArgmaxAndIgnoresSeed) {
  SamplingParams p;
  p.temperature = 0;
  for (uint64_t seed : {1, 2, 3}) EXPECT_EQ(SampleOnce(p, Logits(), seed), 1);
}

TEST(Sampler, TopKOneIsArgmax) {
  SamplingParams p;
  p.top_k = 1;
  for (uint64_t seed = 0; seed < 20; ++seed) EXPECT_EQ(SampleOnce(p, Logits(), seed), 1);
}

TEST(Sampler, TemperatureSamplingFollowsTheDistribution) {
  SamplingParams p;  // temperature 1: p_i = softmax(logits)
  std::map<int32_t, int> counts;
  const int n = 20000;
  SequenceSampler s(p, -1, 42);
  for (int i = 0; i < n; ++i) {
    auto l = Logits();
    counts[s.Sample(l).token]++;
  }
  std::vector<double> e;
  double sum = 0;
  for (float x : Logits()) sum += std::exp(x);
  for (float x : Logits()) e.push_back(std::exp(x) / sum);
  for (int32_t id = 0; id < 5; ++id) EXPECT_NEAR(counts[id] / double(n), e[static_cast<size_t>(id)], 0.015) << id;
}

// A large vocabulary, cuts far past the first sorted prefix: the sampler draws what a
// straightforward full sort (most likely first, ties by id), cut, renormalise, draw
// gives, token for token with the same seed.
int32_t ReferenceDraw(const SamplingParams& p, const std::vector<float>& logits, std::mt19937_64& rng) {
  std::vector<std::pair<float, int32_t>> c;
  for (size_t i = 0; i < logits.size(); ++i) c.emplace_back(logits[i] / p.temperature, static_cast<int32_t>(i));
  std::sort(c.begin(), c.end(), [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  if (p.top_k > 0 && static_cast<size_t>(p.top_k) < c.size()) c.resize(static_cast<size_t>(p.top_k));
  std::vector<double> probs;
  double sum = 0;
  for (const auto& x : c) sum += std::exp(static_cast<double>(x.first - c[0].first));
  for (const auto& x : c) probs.push_back(std::exp(static_cast<double>(x.first - c[0].first)) / sum);
  size_t cut = c.size();
  if (p.top_p < 1.0f) {
    double cum = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      if ((cum += probs[i]) >= p.top_p) {
        cut = i + 1;
        break;
      }
    }
  }
  if (p.min_p > 0.0f) {
    size_t i = 1;
    while (i < cut && probs[i] >= p.min_p * probs[0]) ++i;
    cut = i;
  }
  double total = 0;
  for (size_t i = 0; i < cut; ++i) total += probs[i];
  const double u = std::uniform_real_distribution<double>(0.0, total)(rng);
  double acc = 0;
  for (size_t i = 0; i < cut; ++i) {
    if (u < (acc += probs[i])) return c[i].second;
  }
  return c[cut - 1].second;
}

TEST(Sampler, LargeVocabularyCutsEqualAFullSort) {
  std::mt19937 gen(5);
  std::normal_distribution<float> nd(0.0f, 0.3f);  // flat: top-p 0.9 keeps most of 3000
  std::vector<float> logits(3000);
  for (auto& x : logits) x = nd(gen);
  logits[7] = logits[8] = 2.0f;  // a tie at the top
  struct Case {
    float top_p, min_p;
    int top_k;
  };
  for (const Case& k : {Case{0.9f, 0.0f, 0}, Case{0.3f, 0.0f, 0}, Case{1.0f, 0.5f, 0}, Case{0.95f, 0.0f, 500},
                        Case{1.0f, 0.0f, 100}, Case{0.99f, 0.2f, 0}}) {
    SamplingParams p;
    p.temperature = 0.8f;
    p.top_p = k.top_p;
    p.min_p = k.min_p;
    p.top_k = k.top_k;
    SequenceSampler s(p, -1, 11);
    std::mt19937_64 rng(11);
    for (int i = 0; i < 300; ++i) {
      auto l = logits;
      ASSERT_EQ(s.Sample(l).token, ReferenceDraw(p, logits, rng))
          << "draw " << i << " top_p " << k.top_p << " min_p " << k.min_p << " top_k " << k.top_k;
    }
  }
}

TEST(Sampler, TopPAndMinPCutTheTail) {
  // softmax(Logits()) ~ [0.086, 0.636, 0.234, 0.052, 0.012]
  SamplingParams p;
  p.top_p = 0.8f;  // keeps ids 1 and 2 (0.636 + 0.234 >= 0.8)
  std::map<int32_t, int> counts;
  for (uint64_t seed = 0; seed < 2000; ++seed) counts[SampleOnce(p, Logits(), seed)]++;
  EXPECT_EQ(counts.size(), 2u);
  EXPECT_GT(counts[1], counts[2]);
  SamplingParams m;
  m.min_p = 0.2f;  // floor 0.127: keeps ids 1 and 2
  counts.clear();
  for (uint64_t seed = 0; seed < 2000; ++seed) counts[SampleOnce(m, Logits(), seed)]++;
  EXPECT_EQ(counts.size(), 2u);
}

TEST(Sampler, SeedIsReproducibleAndIndependent) {
  SamplingParams p;
  p.seed = 1234;
  SequenceSampler a(p, -1, 1), b(p, -1, 999);  // the unseeded seed is ignored when seeded
  for (int i = 0; i < 50; ++i) {
    auto la = Logits(), lb = Logits();
    EXPECT_EQ(a.Sample(la).token, b.Sample(lb).token);
  }
}

TEST(Sampler, LogitBiasAndPenalties) {
  SamplingParams p;
  p.temperature = 0;
  p.logit_bias = {{4, 10.0f}};
  EXPECT_EQ(SampleOnce(p, Logits()), 4);
  SamplingParams f;
  f.temperature = 0;
  f.frequency_penalty = 1.5f;
  SequenceSampler s(f, -1, 1);
  auto l1 = Logits();
  EXPECT_EQ(s.Sample(l1).token, 1);  // 3.0
  auto l2 = Logits();
  EXPECT_EQ(s.Sample(l2).token, 2);  // 1 is now 3.0 - 1.5 = 1.5 < 2.0
  SamplingParams r;
  r.temperature = 0;
  r.repetition_penalty = 2.0f;
  SequenceSampler rs(r, -1, 1);
  const int32_t prompt[] = {1};
  rs.AddPromptTokens(prompt);
  auto l3 = Logits();
  EXPECT_EQ(rs.Sample(l3).token, 2);  // 3.0 / 2 = 1.5 < 2.0
}

TEST(Sampler, MinTokensMasksEosAndStopIds) {
  SamplingParams p;
  p.temperature = 0;
  p.min_tokens = 2;
  p.stop_token_ids = {2};
  SequenceSampler s(p, /*eos=*/1, 1);
  auto a = Logits();
  EXPECT_EQ(s.Sample(a).token, 0);  // 1 (eos) and 2 (stop id) masked
  auto b = Logits();
  EXPECT_EQ(s.Sample(b).token, 0);
  auto c = Logits();
  EXPECT_EQ(s.Sample(c).token, 1);  // allowed from the third token on
  SamplingParams ig;
  ig.temperature = 0;
  ig.ignore_eos = true;
  EXPECT_EQ(SampleOnce(ig, Logits(), 1, /*eos=*/1), 2);
}

TEST(Sampler, LogprobsAreOfTheRawDistribution) {
  SamplingParams p;
  p.temperature = 0;
  p.logprobs = 2;
  p.logit_bias = {{4, 10.0f}};  // changes the choice, not the reported distribution
  SequenceSampler s(p, -1, 1);
  auto l = Logits();
  SampleResult r = s.Sample(l);
  double sum = 0;
  for (float x : Logits()) sum += std::exp(x);
  EXPECT_EQ(r.token, 4);
  EXPECT_NEAR(r.logprob, -1.0 - std::log(sum), 1e-5);
  ASSERT_EQ(r.top_logprobs.size(), 2u);
  EXPECT_EQ(r.top_logprobs[0].token, 1);
  EXPECT_NEAR(r.top_logprobs[0].logprob, 3.0 - std::log(sum), 1e-5);
  EXPECT_EQ(r.top_logprobs[1].token, 2);
}

TEST(SamplingParams, ValidateNamesTheField) {
  SamplingParams p;
  p.temperature = -1;
  EXPECT_THAT(p.Validate(10).message(), ::testing::HasSubstr("temperature"));
  p = {};
  p.top_p = 0;
  EXPECT_THAT(p.Validate(10).message(), ::testing::HasSubstr("top_p"));
  p = {};
  p.logit_bias = {{10, 1.0f}};
  EXPECT_THAT(p.Validate(10).message(), ::testing::HasSubstr("logit_bias"));
  p = {};
  p.stop = {""};
  EXPECT_THAT(p.Validate(10).message(), ::testing::HasSubstr("stop"));
  EXPECT_EQ(p.Validate(10).field(), "stop");
  EXPECT_TRUE(SamplingParams{}.Validate(10).ok());
  EXPECT_EQ(SamplingParams{}.Validate(10).field(), "");
}

TEST(StopStrings, MatchAcrossDeltasAndHoldBackPrefixes) {
  StopStringMatcher m({"</s>", "STOP"});
  auto r = m.Feed("Hello <");
  EXPECT_EQ(r.emit, "Hello ");  // '<' may start "</s>"
  EXPECT_FALSE(r.stopped);
  r = m.Feed("/");
  EXPECT_EQ(r.emit, "");
  r = m.Feed("x>");
  EXPECT_EQ(r.emit, "</x>");  // not a stop string after all
  r = m.Feed(" and ST");
  EXPECT_EQ(r.emit, " and ");
  r = m.Feed("OP more");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "");
  EXPECT_EQ(m.Feed("ignored").emit, "");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopStrings, EarliestStopWinsAndFlushReturnsHeldText) {
  StopStringMatcher m({"bc", "abcd"});
  auto r = m.Feed("xabcd");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "x");  // "abcd" starts before "bc"
  StopStringMatcher h({"end"});
  EXPECT_EQ(h.Feed("the en").emit, "the ");
  EXPECT_EQ(h.Flush(), "en");
  StopStringMatcher none({});
  EXPECT_EQ(none.Feed("abc").emit, "abc");
}

TEST(StopStrings, IncludeStopEndsTheTextWithTheStopString) {
  StopStringMatcher m({"bc", "abcd"}, /*include_stop=*/true);
  EXPECT_EQ(m.Feed("xa").emit, "x");  // 'a' may start "abcd"
  auto r = m.Feed("bcd tail");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "abcd");  // the earliest stop, whole, and nothing after it
  EXPECT_EQ(m.Flush(), "");
  StopStringMatcher same_start({"ab", "abc"}, true);
  EXPECT_EQ(same_start.Feed("zabc").emit, "zab");  // the first listed of those starting there
}

}  // namespace
}  // namespace weft
