// Shared by the speculative decoding engine tests (engine_spec_test: n-gram;
// engine_spec_draft_test: draft model and self-speculative; engine_spec_tree_test and
// engine_spec_draft_tree_test: token trees): the models, the proposers' configs, a batch of 32
// mixed requests, output collection and comparison, the losslessness check (greedy, the
// same tokens, texts, finishes and target logprobs with and without speculation: alone, in
// a batch, with prefix hits, under preemption, with a tiny token budget) and the
// distribution check for sampling (a chi-square test per position, power stated there).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "engine/engine.h"
#include "support/golden.h"
#include "support/test_model.h"

namespace weft::spec_test {

using testing::TestModel;

inline const TestModel& Stories() {
  static const TestModel m = testing::LoadTestModel(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
  return m;
}
inline const TestModel& TinyLlama() {
  static const TestModel m =
      testing::LoadTestModel(testing::SharedDir() + "/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf");
  return m;
}
inline const TestModel& SynthQwen() {
  static const TestModel m = testing::LoadTestModel(*testing::SynthModel("tinyq", "Q8_0"));
  return m;
}

inline SpecConfig Ngram(int k = 4) {
  SpecConfig s;
  s.method = SpecMethod::kNgram;
  s.num_draft = k;
  return s;
}
inline SpecConfig Draft(const std::string& path, int k = 4) {
  SpecConfig s;
  s.method = SpecMethod::kDraft;
  s.draft_model = path;
  s.num_draft = k;
  return s;
}
inline SpecConfig Self(std::vector<int64_t> skip, int k = 4) {
  SpecConfig s;
  s.method = SpecMethod::kSelf;
  s.skip_layers = std::move(skip);
  s.num_draft = k;
  return s;
}
// The same proposer drafting token trees of at most `nodes` nodes.
inline SpecConfig AsTree(SpecConfig s, int nodes = 16) {
  s.tree = true;
  s.tree_nodes = nodes;
  return s;
}
inline const std::string& StoriesQ8Path() {
  static const std::string p = testing::SharedDir() + "/models/stories260K/tinyllamas-stories-260k-q8_0.gguf";
  return p;
}
// KV bytes per token (F16) of `m`, or of its first `layers_kept` layers' worth.
inline int64_t KvPerToken(const TestModel& m, int64_t layers_kept = -1) {
  const ModelConfig& c = m.model->config();
  const int64_t per_layer = c.KvBytesPerToken(2) / c.n_layer;
  return per_layer * (layers_kept < 0 ? c.n_layer : layers_kept);
}

// `spec` off: plain decoding. On: no back-off (every decoding sequence drafts).
inline EngineConfig Config(const SpecConfig& spec) {
  EngineConfig c;
  c.kv_cache_bytes = 64 << 20;
  c.threads = 2;
  if (spec.enabled()) {
    c.spec = spec;
    c.spec.max_batch_tokens = 1 << 20;
    c.spec.governor = false;  // drafting decided by the rules, not by timings
  }
  return c;
}
inline EngineConfig Config(bool spec, int k = 4) { return Config(spec ? Ngram(k) : SpecConfig{}); }
inline SpecConfig WithK(SpecConfig s, int k) {
  s.num_draft = k;
  return s;
}

inline std::unique_ptr<Engine> MakeEngine(const EngineConfig& c, const TestModel& m) {
  auto e = Engine::Create(c, m.model, m.tokenizer);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return std::move(e).value();
}

struct Output {
  std::vector<std::vector<int32_t>> tokens;
  std::vector<std::string> text;
  std::vector<RequestFinish> finish;
  std::vector<std::vector<float>> logprobs;
  std::vector<std::vector<std::vector<int32_t>>> top_ids;
  std::vector<int32_t> num_generated;
};

inline Output Collect(RequestStream& s) {
  Output o;
  const auto n = static_cast<size_t>(s.num_samples());
  o.tokens.resize(n);
  o.text.resize(n);
  o.finish.resize(n, RequestFinish::kNone);
  o.logprobs.resize(n);
  o.top_ids.resize(n);
  o.num_generated.resize(n);
  while (auto out = s.Next(std::chrono::seconds(120))) {
    const auto k = static_cast<size_t>(out->sample_index);
    o.tokens[k].insert(o.tokens[k].end(), out->token_ids.begin(), out->token_ids.end());
    o.text[k] += out->text_delta;
    for (const SampleResult& r : out->logprobs) {
      o.logprobs[k].push_back(r.logprob);
      std::vector<int32_t> ids;
      for (const TokenLogprob& t : r.top_logprobs) ids.push_back(t.token);
      o.top_ids[k].push_back(ids);
    }
    o.num_generated[k] = out->num_generated_tokens;
    if (out->finish != RequestFinish::kNone) o.finish[k] = out->finish;
  }
  EXPECT_TRUE(s.finished());
  return o;
}

// Copy-heavy prompts (the output repeats the prompt, so n-grams hit) and ordinary ones.
inline const std::vector<std::string> kTexts = {
    "Lily and Tom went to the park. Lily and Tom went to the park. Lily and Tom went to the",
    "Once upon a time, there was a little girl named Lily. She loved to play. Once upon a time, there was",
    "The cat sat on the mat. The dog sat on the mat. The cat sat on the mat. The dog sat on",
    "One day, a big bird",
    "Sam had a red ball. He liked the ball. Sam had a red ball. He",
    "Mom said, \"Let's go to the park.\" Lily said, \"Let's go to the park.\" Mom said,",
    "The sun was hot and",
    "Tom and Sue were friends. They played all day. Tom and Sue were friends. They",
};

// The 32 mixed requests: lengths, stop strings, logprobs, n > 1, spec off, min_tokens.
inline std::vector<GenerationRequest> Mixed(const TestModel& m, int max_tokens) {
  std::vector<GenerationRequest> rs;
  for (int i = 0; i < 32; ++i) {
    GenerationRequest r;
    r.prompt_tokens = m.tokenizer->Encode(kTexts[static_cast<size_t>(i) % kTexts.size()]);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = 4 + (i * 7) % max_tokens;
    if (i % 5 == 1) r.sampling.stop = {"park", "mat."};
    if (i % 4 == 2) r.sampling.logprobs = 2;
    if (i % 9 == 3) r.sampling.n = 2;
    if (i % 11 == 4) r.speculate = false;
    if (i % 6 == 5) r.sampling.ignore_eos = true;
    if (i % 7 == 6) r.sampling.repetition_penalty = 1.3f;
    rs.push_back(r);
  }
  return rs;
}

inline std::vector<Output> RunAll(Engine& e, const std::vector<GenerationRequest>& rs) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& r : rs) {
    auto s = e.Submit(r);
    EXPECT_TRUE(s.ok()) << s.status().message();
    streams.push_back(*s);
  }
  std::vector<Output> out;
  for (auto& s : streams) out.push_back(Collect(*s));
  return out;
}

inline void ExpectSame(const std::vector<Output>& a, const std::vector<Output>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << what << ", request " << i);
    EXPECT_EQ(a[i].tokens, b[i].tokens);
    EXPECT_EQ(a[i].text, b[i].text);
    EXPECT_EQ(a[i].finish, b[i].finish);
    EXPECT_EQ(a[i].num_generated, b[i].num_generated);
    EXPECT_EQ(a[i].top_ids, b[i].top_ids);
    ASSERT_EQ(a[i].logprobs.size(), b[i].logprobs.size());
    for (size_t k = 0; k < a[i].logprobs.size(); ++k) {
      ASSERT_EQ(a[i].logprobs[k].size(), b[i].logprobs[k].size());
      for (size_t j = 0; j < a[i].logprobs[k].size(); ++j) EXPECT_NEAR(a[i].logprobs[k][j], b[i].logprobs[k][j], 1e-4);
    }
  }
}

// Greedy: each request alone without speculation is the reference; with speculation
// (`spec`), alone, all 32 at once, with prefix hits (the batch runs twice on one engine),
// under preemption (a tiny KV cache) and with a tiny token budget. `draft_kv_per_token`:
// the proposer's own KV bytes per token (F16), which come out of the same budget.
// `expect_accepts` false: a proposer that may never be right (a random draft model for a
// random target) still has to be lossless, through its rejections.
inline void CheckLossless(const TestModel& m, int max_tokens, const SpecConfig& spec = Ngram(),
                          int64_t draft_kv_per_token = 0, bool expect_accepts = true) {
  const auto rs = Mixed(m, max_tokens);
  std::vector<Output> reference;
  {
    auto e = MakeEngine(Config(false), m);
    for (const auto& r : rs) reference.push_back(RunAll(*e, {r})[0]);
  }
  {
    auto e = MakeEngine(Config(spec), m);
    std::vector<Output> alone;
    for (const auto& r : rs) alone.push_back(RunAll(*e, {r})[0]);
    ExpectSame(reference, alone, "alone");
    if (expect_accepts) {
      EXPECT_GT(e->Stats().spec_accepted_tokens, 0);
    }
    EXPECT_GT(e->Stats().spec_draft_tokens, 0);
  }
  {
    auto e = MakeEngine(Config(spec), m);
    ExpectSame(reference, RunAll(*e, rs), "batch of 32");
    ExpectSame(reference, RunAll(*e, rs), "batch of 32, prefix hits");
    const EngineStats st = e->Stats();
    EXPECT_GT(st.prefix_hit_tokens, 0);
    if (expect_accepts) {
      EXPECT_GT(st.spec_accepted_tokens, 0);
    }
    // Some drafts are rejected (the repetition-penalty requests at least).
    EXPECT_LT(st.spec_accepted_tokens, st.spec_draft_tokens);
  }
  {
    EngineConfig c = Config(WithK(spec, 6));
    int64_t longest = 0;
    for (const auto& r : rs) longest = std::max<int64_t>(longest, static_cast<int64_t>(r.prompt_tokens.size()) + max_tokens + 16);
    c.kv_cache_bytes = (longest + 64) * (m.model->config().KvBytesPerToken(2) + draft_kv_per_token) * 2;
    auto e = MakeEngine(c, m);
    ExpectSame(reference, RunAll(*e, rs), "preempted");
    EXPECT_GT(e->Stats().num_preemptions, 0);
    if (expect_accepts) {
      EXPECT_GT(e->Stats().spec_accepted_tokens, 0);
    }
  }
  {
    EngineConfig c = Config(WithK(spec, 3));
    c.scheduler.max_num_batched_tokens = 7;
    auto e = MakeEngine(c, m);
    ExpectSame(reference, RunAll(*e, rs), "budget of 7 tokens");
  }
}

// Sampling keeps the distribution. For each of the first kPositions generated positions,
// the tokens of M seeded runs with speculation and M without are compared by a two-sample
// chi-square test of homogeneity (bins: tokens seen >= 10 times in the pooled sample, the
// rest pooled into one bin), at alpha = 0.001 per position (Bonferroni-corrected over the
// positions: each test at 0.001 / kPositions). Power: with M = 3000 per side a shift of
// 0.04 in the probability of a token near p = 0.3 (balanced elsewhere) has noncentrality
// 1500 * 2 * 0.04^2 / 0.3 = 16, detected with power ~0.6 at df ~ 10; a shift of 0.06
// (noncentrality 36) with power > 0.97. The rule's exactness at finer resolution is
// sampler_verify_test's (100000 draws); this one checks the engine's wiring of it
// (positions, rows, KV rollback, sampler state across accepted tokens).
// The sanitizer builds draw M = 1000 per side: the same false-alarm rate (the critical
// values do not depend on M) and a third of the noncentrality (a shift of 0.1 near p = 0.3:
// 33, found with power ~0.95); they are there for the memory and thread errors of the same
// code paths, the Release build for the power.
inline void CheckDistribution(const TestModel& m, const SpecConfig& spec) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  constexpr int kRuns = 1000;
#else
  constexpr int kRuns = 3000;
#endif
  constexpr int kPositions = 4;
  auto run = [&](bool on) {
    auto e = MakeEngine(Config(on ? spec : SpecConfig{}), m);
    std::vector<GenerationRequest> rs;
    for (int i = 0; i < kRuns; ++i) {
      GenerationRequest r;
      r.prompt_tokens = m.tokenizer->Encode(kTexts[0]);
      r.sampling.temperature = 0.8f;
      r.sampling.top_k = 40;
      r.sampling.max_tokens = kPositions;
      r.sampling.ignore_eos = true;
      r.sampling.seed = 1000003ull * static_cast<uint64_t>(i) + (on ? 17 : 0);
      rs.push_back(r);
    }
    std::vector<std::map<int32_t, int>> counts(kPositions);
    for (size_t b = 0; b < rs.size(); b += 64) {
      std::vector<GenerationRequest> chunk(rs.begin() + static_cast<std::ptrdiff_t>(b),
                                           rs.begin() + static_cast<std::ptrdiff_t>(std::min(rs.size(), b + 64)));
      for (const Output& o : RunAll(*e, chunk)) {
        EXPECT_EQ(o.tokens[0].size(), static_cast<size_t>(kPositions));
        for (size_t p = 0; p < o.tokens[0].size() && p < kPositions; ++p) ++counts[p][o.tokens[0][p]];
      }
    }
    if (on) {
      EXPECT_GT(e->Stats().spec_accepted_tokens, kRuns / 2);
      EXPECT_LT(e->Stats().spec_accepted_tokens, e->Stats().spec_draft_tokens);
    }
    return counts;
  };
  const auto plain = run(false), with = run(true);
  // chi-square 0.00025 upper quantiles (0.001 / 4 positions), df 1..30.
  auto critical = [](int df) {
    // Wilson-Hilferty approximation of the chi-square quantile at z = 3.48 (upper 0.00025).
    const double z = 3.48, k = df;
    return k * std::pow(1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k)), 3);
  };
  for (int p = 0; p < kPositions; ++p) {
    std::map<int32_t, std::pair<int, int>> bins;
    for (auto [t, c] : plain[static_cast<size_t>(p)]) bins[t].first += c;
    for (auto [t, c] : with[static_cast<size_t>(p)]) bins[t].second += c;
    std::pair<int, int> rare{0, 0};
    double stat = 0;
    int df = -1;
    for (auto [t, ab] : bins) {
      if (ab.first + ab.second < 10) {
        rare.first += ab.first;
        rare.second += ab.second;
        continue;
      }
      const double d = ab.first - ab.second;
      stat += d * d / (ab.first + ab.second);
      ++df;
    }
    if (rare.first + rare.second > 0) {
      const double d = rare.first - rare.second;
      stat += d * d / (rare.first + rare.second);
      ++df;
    }
    ASSERT_GE(df, 1) << "position " << p << " has a single token: the test would be empty";
    EXPECT_LT(stat, critical(df)) << "position " << p << ": chi2 " << stat << " df " << df;
  }
}

}  // namespace weft::spec_test
