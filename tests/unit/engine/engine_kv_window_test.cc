// Sinks + window (kv/kv_window.h) through the engine on stories260K (its GGUF says context
// 2048; most engines here run it with --max-model-len 512, one with the whole 2048):
//  * a window larger than the sequence generates exactly what dense attention does
//    (greedy), alone and beside other requests;
//  * with a small window generation runs past the trained context at bounded KV usage,
//    and token for token equals weft perplexity --stream's greedy choices under the same
//    policy (the same eviction, re-rotation and cache positions, fed one token at a time);
//  * a windowed request leaves nothing in the prefix cache and takes nothing from it;
//  * bad per-request values are refused naming the field; a bad engine policy fails Create;
//  * models whose every layer slides (synthetic Mistral and Phi-3, window 7) release the
//    blocks behind the window with the same greedy output, in fewer blocks; Gemma 2 (one
//    global layer) releases none.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "engine/engine.h"
#include "stories_engine.h"
#include "eval/streaming_perplexity.h"
#include "support/golden.h"
#include "support/test_model.h"

namespace weft {
namespace {

using namespace stories_engine;  // NOLINT

GenerationRequest Greedy(std::vector<int32_t> prompt, int max_tokens, std::optional<KvWindow> w = std::nullopt) {
  GenerationRequest r = GreedyRequest(std::move(prompt), max_tokens);
  if (w) {
    r.kv_sinks = w->sinks;
    r.kv_window = w->window;
  }
  return r;
}

TEST(EngineKvWindow, WindowLargerThanTheSequenceEqualsDense) {
  auto e = MakeEngine();
  ASSERT_NE(e, nullptr);
  const auto prompt = Prompt("Once upon a time, there was a little girl");
  const Out dense = RunReq(*e, Greedy(prompt, 150));
  ASSERT_EQ(dense.tokens.size(), 150u);
  for (const KvWindow w : {KvWindow{4, 400}, KvWindow{0, 300}, KvWindow{16, 200}}) {
    SCOPED_TRACE(KvWindowName(w));
    const Out win = RunReq(*e, Greedy(prompt, 150, w));
    EXPECT_EQ(win.tokens, dense.tokens);
  }
  EXPECT_EQ(e->Stats().kv_evicted_tokens, 0);
}

TEST(EngineKvWindow, RunsPastTheContextInBoundedMemoryAndMatchesStreamingEval) {
  const KvWindow w{4, 64};
  EngineConfig config;
  config.kv_window = w;  // the engine's default policy this time
  config.max_model_len = 2048;  // the model's own context
  auto e = MakeEngine(config);
  ASSERT_NE(e, nullptr);
  const int32_t bos = Stories().tokenizer->bos_id();
  const int n = 2300;  // past the model's context of 2048
  const Out out = RunReq(*e, Greedy({bos}, n));
  ASSERT_EQ(out.tokens.size(), static_cast<size_t>(n));
  EXPECT_EQ(out.finish, RequestFinish::kLength);
  const EngineStats st = e->Stats();
  EXPECT_GT(st.kv_evicted_tokens, n - 100);
  EXPECT_GT(st.kv_shifted_blocks, 0);
  // At most one sink block, the window + a block, and the step's token.
  const int32_t bound = 1 + (64 + 16 + 1 + 15) / 16 + 1;
  EXPECT_LE(st.peak_kv_usage * st.num_blocks, bound + 1e-9);

  // The same stream through the streaming evaluator: its greedy choice at every position
  // must be the token the engine generated.
  RunnerOptions ro;
  ro.max_tokens_per_step = 1;
  ro.max_logit_rows = 1;
  ro.threads = 2;
  auto runner = ModelRunner::Create(Stories().model, ro);
  ASSERT_TRUE(runner.ok()) << runner.status().message();
  std::vector<int32_t> text{bos};
  text.insert(text.end(), out.tokens.begin(), out.tokens.end());
  StreamingPerplexityOptions so;
  so.window = w;
  auto r = ComputeStreamingPerplexity(runner->get(), text, so, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_EQ(r->argmax.size(), out.tokens.size());
  int mismatches = 0;
  for (size_t i = 0; i < out.tokens.size(); ++i) {
    if (r->argmax[i] != out.tokens[i] && mismatches++ < 3) ADD_FAILURE() << "position " << i;
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(r->evicted_tokens, n - 100);
  EXPECT_LE(r->peak_used_blocks, bound);
}

TEST(EngineKvWindow, DenseNeighboursAndThePrefixCacheAreUnaffected) {
  const auto prompt = Prompt("Once upon a time, there was a little dog named Max. Max liked to play with his ball in "
                             "the park every day, and one day he met a cat");
  std::vector<int32_t> alone;
  {
    auto e = MakeEngine();
    ASSERT_NE(e, nullptr);
    alone = RunReq(*e, Greedy(prompt, 120)).tokens;
  }
  auto e = MakeEngine();
  ASSERT_NE(e, nullptr);
  // A windowed request with the same prompt first: it must leave nothing cached.
  const Out w = RunReq(*e, Greedy(prompt, 700, KvWindow{4, 32}));
  EXPECT_EQ(w.tokens.size(), 700u);
  EXPECT_EQ(w.cached, 0);
  const Out d = RunReq(*e, Greedy(prompt, 120));
  EXPECT_EQ(d.cached, 0) << "a dense request found blocks a windowed one wrote";
  EXPECT_EQ(d.tokens, alone);
  // Now the prompt is cached (by the dense request): a windowed request takes no hit, and
  // dense and windowed requests run together with the dense result unchanged.
  auto s1 = e->Submit(Greedy(prompt, 600, KvWindow{0, 48}));
  auto s2 = e->Submit(Greedy(prompt, 120));
  auto s3 = e->Submit(Greedy(prompt, 600, KvWindow{20, 40}));
  ASSERT_TRUE(s1.ok() && s2.ok() && s3.ok());
  const Out o1 = Collect(**s1), o2 = Collect(**s2), o3 = Collect(**s3);
  EXPECT_EQ(o1.cached, 0);
  EXPECT_EQ(o3.cached, 0);
  EXPECT_GT(o2.cached, 0);
  EXPECT_EQ(o2.tokens, alone);
  EXPECT_EQ(o1.tokens.size(), 600u);
  EXPECT_EQ(o3.tokens.size(), 600u);
  EXPECT_EQ(KvUsageWhenIdle(*e), 0.0);
}

TEST(EngineKvWindow, RefusesBadValuesNamingTheField) {
  auto e = MakeEngine();
  ASSERT_NE(e, nullptr);
  const auto prompt = Prompt("Once upon a time");
  auto field = [&](GenerationRequest r) { return e->CheckAdmission(r).field(); };
  GenerationRequest r = Greedy(prompt, 10);
  r.kv_window = -1;
  EXPECT_EQ(field(r), "kv_window");
  r = Greedy(prompt, 10);
  r.kv_sinks = -2;
  r.kv_window = 64;
  EXPECT_EQ(field(r), "kv_sinks");
  r = Greedy(prompt, 10);
  r.kv_sinks = 4;  // no window
  EXPECT_EQ(field(r), "kv_sinks");
  r = Greedy(prompt, 10, KvWindow{4, 600});  // past the context of 512
  EXPECT_EQ(field(r), "kv_window");
  r = Greedy(prompt, 10, KvWindow{4, 64});
  r.sampling.n = 2;
  r.sampling.temperature = 1;
  EXPECT_EQ(field(r), "n");
  // A prompt past the context is fine with a window, refused without.
  std::vector<int32_t> long_prompt(700, prompt.back());
  long_prompt[0] = Stories().tokenizer->bos_id();
  EXPECT_EQ(field(Greedy(long_prompt, 10)), "prompt");
  EXPECT_TRUE(e->CheckAdmission(Greedy(long_prompt, 10, KvWindow{4, 64})).ok());
  const Out o = RunReq(*e, Greedy(long_prompt, 20, KvWindow{4, 64}));
  EXPECT_EQ(o.tokens.size(), 20u);

  EngineConfig bad;
  bad.kv_window = {4, 1000};
  bad.kv_cache_bytes = 64 << 20;
  bad.max_model_len = 512;
  auto c = Engine::Create(bad, Stories().model, Stories().tokenizer);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--kv-window"), std::string::npos) << c.status().message();
}

// tests/tools/synth_arch.py's preset with stories260K's vocabulary, cached in the build.
testing::TestModel SynthArch(const std::string& preset) {
  namespace fs = std::filesystem;
  const fs::path dir = WEFT_SYNTH_CACHE_DIR;
  fs::create_directories(dir);
  const fs::path path = dir / ("arch-" + preset + "-stories-vocab.gguf");
  if (!fs::exists(path)) {
    const fs::path tmp = dir / ("tmp-" + std::to_string(::getpid()) + "-" + path.filename().string());
    const std::string cmd = "python3 '" + std::string(WEFT_TESTS_DIR) + "/tools/synth_arch.py' --preset " + preset +
                            " --vocab '" + testing::SharedDir() + "/models/stories260K/stories260K.gguf' -o '" +
                            tmp.string() + "' > /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    fs::rename(tmp, path);
  }
  return testing::LoadTestModel(path.string());
}

TEST(EngineKvWindow, ModelSlidingWindowReleasesBlocksWithTheSameOutput) {
  for (const char* preset : {"mistral", "phi3", "gemma2"}) {
    SCOPED_TRACE(preset);
    const testing::TestModel m = SynthArch(preset);
    std::vector<int32_t> prompt = m.tokenizer->Encode("Once upon a time, there was a little girl named Lily");
    std::vector<int32_t> got[2];
    EngineStats stats[2];
    for (int free = 0; free < 2; ++free) {
      EngineConfig config;
      config.free_model_window_blocks = free == 1;
      config.kv_cache_bytes = 16 << 20;
      config.threads = 2;
      config.scheduler.max_num_batched_tokens = 16;  // the prompt in chunks: releases between them
      auto e = Engine::Create(config, m.model, m.tokenizer);
      ASSERT_TRUE(e.ok()) << e.status().message();
      // Two requests at once (one of them n = 2: forked tables with released entries).
      GenerationRequest a = Greedy(prompt, 150);
      GenerationRequest b = Greedy(prompt, 120);
      b.sampling.n = 2;
      auto sa = (*e)->Submit(a);
      auto sb = (*e)->Submit(b);
      ASSERT_TRUE(sa.ok() && sb.ok());
      got[free] = Collect(**sa).tokens;
      const Out ob = Collect(**sb);
      got[free].insert(got[free].end(), ob.tokens.begin(), ob.tokens.end());
      EXPECT_EQ(KvUsageWhenIdle(**e), 0.0);
      stats[free] = (*e)->Stats();
    }
    EXPECT_EQ(got[0], got[1]);
    EXPECT_EQ(got[1].size(), 150u + 240u);
    EXPECT_EQ(stats[0].kv_released_blocks, 0);
    if (std::string(preset) == "gemma2") {
      EXPECT_EQ(stats[1].kv_released_blocks, 0) << "a global layer needs every block";
    } else {
      EXPECT_GT(stats[1].kv_released_blocks, 20);
      EXPECT_LT(stats[1].peak_kv_usage, stats[0].peak_kv_usage);
    }
  }
}

}  // namespace
}  // namespace weft
