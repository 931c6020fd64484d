// KV budgets (--kv-budget / kv_budget, kv/kv_budget.h) through the engine on stories260K:
//  * an h2o request alone generates, token for token, the greedy choices of weft
//    perplexity --stream's h2o evaluator under the same budget (the same attention mass,
//    block choice, eviction and re-rotation), past the model's context, in bounded blocks;
//  * dense, window, sinks and h2o requests (with and without sinks) submitted together
//    each generate exactly what they generate alone (batch invariance with eviction in the
//    batch), every one to its full length, no step over a budget, the pool empty after;
//  * an h2o request beside a request verifying token trees (speculation on) gives what it
//    gives on a plain engine, and so does the speculating one;
//  * a budget larger than the sequence changes nothing (== dense);
//  * bad per-request values are refused naming the field, bad engine defaults fail Create
//    naming the flag.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "engine/engine.h"
#include "stories_engine.h"
#include "eval/streaming_perplexity.h"
#include "spec/spec_config.h"
#include "support/golden.h"
#include "support/test_model.h"

namespace weft {
namespace {

using namespace stories_engine;  // NOLINT

GenerationRequest Greedy(std::vector<int32_t> prompt, int max_tokens, std::optional<KvBudget> b = std::nullopt) {
  GenerationRequest r = GreedyRequest(std::move(prompt), max_tokens);
  if (b) {
    r.kv_budget = b->budget;
    r.kv_policy = b->policy;
    r.kv_sinks = b->sinks;
  }
  return r;
}

TEST(EngineKvBudget, H2oAloneMatchesTheStreamingEvaluatorPastTheContext) {
  const KvBudget b{96, KvPolicy::kH2o, 4};
  EngineConfig config;
  config.kv_budget = b;  // the engine's default policy this time
  config.max_model_len = 2048;  // stories260K's context (2048): the stream runs past it
  auto e = MakeEngine(config);
  ASSERT_NE(e, nullptr);
  const int32_t bos = Stories().tokenizer->bos_id();
#if defined(__SANITIZE_ADDRESS__)
  const int n = 700;
#else
  const int n = 2200;
#endif
  const Out out = RunReq(*e, Greedy({bos}, n));
  ASSERT_EQ(out.tokens.size(), static_cast<size_t>(n));
  EXPECT_EQ(out.finish, RequestFinish::kLength);
  const EngineStats st = e->Stats();
  EXPECT_GT(st.kv_evicted_tokens, n - 200);
  EXPECT_GT(st.kv_shifted_blocks, 0);
  EXPECT_EQ(st.kv_budget_overruns, 0);
  EXPECT_EQ(st.kv_budget_peak_tokens, 96);  // the budget is used to the full
  EXPECT_LE(st.peak_kv_usage * st.num_blocks, 96 / 16 + 1 + 1e-9);

  RunnerOptions ro;
  ro.max_tokens_per_step = 1;
  ro.max_logit_rows = 1;
  ro.threads = 2;
  auto runner = ModelRunner::Create(Stories().model, ro);
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  std::vector<int32_t> text{bos};
  text.insert(text.end(), out.tokens.begin(), out.tokens.end());
  StreamingPerplexityOptions so;
  so.budget = b;
  auto r = ComputeStreamingPerplexity(runner->get(), text, so, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->argmax.size(), out.tokens.size());
  int mismatches = 0;
  for (size_t i = 0; i < out.tokens.size(); ++i) {
    if (r->argmax[i] != out.tokens[i] && mismatches++ < 3) ADD_FAILURE() << "position " << i;
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(r->evicted_tokens, st.kv_evicted_tokens);
}

TEST(EngineKvBudget, MixedPoliciesInOneBatchEqualEachAlone) {
  const auto prompt = Prompt("Once upon a time, there was a little dog named Max. Max liked to play with his ball in "
                             "the park every day, and one day he met a cat");
  struct Req {
    const char* name;
    std::optional<KvBudget> budget;
    int max_tokens;
  };
#if defined(__SANITIZE_ADDRESS__)
  const int len = 160;
#else
  const int len = 400;
#endif
  const std::vector<Req> reqs = {
      {"dense", std::nullopt, 200},
      {"h2o 64", KvBudget{64, KvPolicy::kH2o, 0}, len},
      {"h2o 96 sinks 4", KvBudget{96, KvPolicy::kH2o, 4}, len},
      {"window 80", KvBudget{80, KvPolicy::kWindow, 0}, len},
      {"sinks 4 + window at 72", KvBudget{72, KvPolicy::kSinks, 4}, len},
      {"dense 2", std::nullopt, 150},
  };
  auto e = MakeEngine();
  ASSERT_NE(e, nullptr);
  std::vector<Out> alone;
  for (const Req& q : reqs) {
    alone.push_back(RunReq(*e, Greedy(prompt, q.max_tokens, q.budget)));
    EXPECT_EQ(alone.back().tokens.size(), static_cast<size_t>(q.max_tokens)) << q.name;
  }
  EXPECT_EQ(KvUsageWhenIdle(*e), 0.0);
  const int64_t evicted_alone = e->Stats().kv_evicted_tokens;
  EXPECT_GT(evicted_alone, 4 * (len - 100));
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const Req& q : reqs) {
    auto s = e->Submit(Greedy(prompt, q.max_tokens, q.budget));
    ASSERT_TRUE(s.ok()) << s.status().message();
    streams.push_back(std::move(s).value());
  }
  for (size_t i = 0; i < reqs.size(); ++i) {
    SCOPED_TRACE(reqs[i].name);
    const Out o = Collect(*streams[i]);
    EXPECT_EQ(o.finish, RequestFinish::kLength);
    EXPECT_EQ(o.tokens, alone[i].tokens) << "differs in the batch from alone";
  }
  EXPECT_EQ(KvUsageWhenIdle(*e), 0.0);
  const EngineStats st = e->Stats();
  EXPECT_GT(st.peak_num_running, 4) << "the requests did not share steps";
  EXPECT_EQ(st.kv_evicted_tokens, 2 * evicted_alone);
  EXPECT_EQ(st.kv_budget_overruns, 0);
  EXPECT_EQ(st.kv_budget_peak_tokens, 96);
}

TEST(EngineKvBudget, H2oBesideATokenTreeInOneBatch) {
  // A server with token-tree speculation: a budgeted request does not draft (its blocks
  // move), the dense one beside it does; both give what they give on a plain engine.
  const auto prompt = Prompt("Once upon a time, there was a little girl. The little girl liked to play. The little girl "
                             "liked to play with her ball. The little girl");
  const KvBudget b{64, KvPolicy::kH2o, 4};
  std::vector<int32_t> dense_plain, h2o_plain;
  {
    auto e = MakeEngine();
    ASSERT_NE(e, nullptr);
    dense_plain = RunReq(*e, Greedy(prompt, 200)).tokens;
    h2o_plain = RunReq(*e, Greedy(prompt, 300, b)).tokens;
  }
  EngineConfig config;
  auto spec = ParseSpecConfig("tree:ngram:4:16");
  ASSERT_TRUE(spec.ok()) << spec.status().message();
  config.spec = *spec;
  config.spec.governor = false;
  auto e = MakeEngine(config);
  ASSERT_NE(e, nullptr);
  auto s1 = e->Submit(Greedy(prompt, 200));
  auto s2 = e->Submit(Greedy(prompt, 300, b));
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ(Collect(**s1).tokens, dense_plain);
  EXPECT_EQ(Collect(**s2).tokens, h2o_plain);
  const EngineStats st = e->Stats();
  EXPECT_GT(st.spec_draft_tokens, 0) << "the dense request did not speculate";
  EXPECT_GT(st.kv_evicted_tokens, 200);
  EXPECT_EQ(st.kv_budget_overruns, 0);
  EXPECT_EQ(KvUsageWhenIdle(*e), 0.0);
}

TEST(EngineKvBudget, BudgetLargerThanTheSequenceEqualsDense) {
  auto e = MakeEngine();
  ASSERT_NE(e, nullptr);
  const auto prompt = Prompt("Once upon a time, there was a little girl");
  const Out dense = RunReq(*e, Greedy(prompt, 150));
  ASSERT_EQ(dense.tokens.size(), 150u);
  for (const KvBudget b : {KvBudget{400, KvPolicy::kH2o, 0}, KvBudget{400, KvPolicy::kH2o, 16},
                           KvBudget{300, KvPolicy::kWindow, 0}, KvBudget{300, KvPolicy::kSinks, 4}}) {
    SCOPED_TRACE(KvBudgetName(b));
    EXPECT_EQ(RunReq(*e, Greedy(prompt, 150, b)).tokens, dense.tokens);
  }
  EXPECT_EQ(e->Stats().kv_evicted_tokens, 0);
}

TEST(EngineKvBudget, RefusesBadValuesNamingTheField) {
  auto e = MakeEngine();
  ASSERT_NE(e, nullptr);
  const auto prompt = Prompt("Once upon a time");
  auto field = [&](GenerationRequest r) { return e->CheckAdmission(r).field(); };
  GenerationRequest r = Greedy(prompt, 10);
  r.kv_budget = -1;
  EXPECT_EQ(field(r), "kv_budget");
  r = Greedy(prompt, 10, KvBudget{64, KvPolicy::kH2o, 0});
  r.kv_window = 64;
  EXPECT_EQ(field(r), "kv_budget") << "a budget and a window together";
  r = Greedy(prompt, 10);
  r.kv_policy = KvPolicy::kH2o;  // no budget
  EXPECT_EQ(field(r), "kv_policy");
  EXPECT_EQ(field(Greedy(prompt, 10, KvBudget{30, KvPolicy::kH2o, 0})), "kv_budget");  // < 1 + 2 * 15
  EXPECT_EQ(field(Greedy(prompt, 10, KvBudget{600, KvPolicy::kH2o, 0})), "kv_budget");  // past the context of 512
  EXPECT_EQ(field(Greedy(prompt, 10, KvBudget{64, KvPolicy::kSinks, 0})), "kv_sinks");
  EXPECT_EQ(field(Greedy(prompt, 10, KvBudget{64, KvPolicy::kWindow, 4})), "kv_sinks");
  r = Greedy(prompt, 10, KvBudget{64, KvPolicy::kH2o, 0});
  r.sampling.n = 2;
  r.sampling.temperature = 1;
  EXPECT_EQ(field(r), "n");
  EXPECT_TRUE(e->CheckAdmission(Greedy(prompt, 10, KvBudget{31, KvPolicy::kH2o, 0})).ok());
  // A prompt past the context is fine with a budget, refused without.
  std::vector<int32_t> long_prompt(700, prompt.back());
  long_prompt[0] = Stories().tokenizer->bos_id();
  EXPECT_EQ(field(Greedy(long_prompt, 10)), "prompt");
  const Out o = RunReq(*e, Greedy(long_prompt, 20, KvBudget{64, KvPolicy::kH2o, 4}));
  EXPECT_EQ(o.tokens.size(), 20u);
  EXPECT_EQ(e->Stats().kv_budget_overruns, 0);

  auto create_error = [](EngineConfig c) {
    c.kv_cache_bytes = 64 << 20;
    c.max_model_len = 512;
    auto made = Engine::Create(c, Stories().model, Stories().tokenizer);
    return made.ok() ? std::string("created") : made.status().message();
  };
  EngineConfig bad;
  bad.kv_budget = {20, KvPolicy::kH2o, 0};
  EXPECT_NE(create_error(bad).find("--kv-budget"), std::string::npos) << create_error(bad);
  bad.kv_budget = {64, KvPolicy::kH2o, 0};
  bad.kv_window = {0, 64};
  EXPECT_NE(create_error(bad).find("pick one"), std::string::npos) << create_error(bad);
  bad.kv_window = {};
  bad.spec = SpecConfig{};
  bad.spec.method = SpecMethod::kNgram;
  bad.spec.num_draft = 4;
  EXPECT_NE(create_error(bad).find("--spec"), std::string::npos) << create_error(bad);
}

}  // namespace
}  // namespace weft
