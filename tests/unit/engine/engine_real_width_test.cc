// The engine at the widths users run, in the build's sanitizers: synthetic models with
// real layer shapes but two layers (tests/tools/synth_real_width.py: Llama 3.2 1B /
// TinyLlama widths 2048 / 8192 with 32/8 heads; Qwen2.5 0.5B widths 896 / 4864, 14/2
// heads, tied 50k head), in the weight types that crashed (Q4_0, Q4_K_M) and Q8_0; and a
// Mixtral-shaped mixture of experts (width 1024, 8 experts of 2816, top 2); DeepSeek-V2-Lite's
// latent attention (width 2048, 16 heads, latent 512 + rope 64 cached: the 576-wide KV row)
// with a dense first layer and 16 experts of 1408 (top 6) plus shared ones; Phi-3-mini's
// fused qkv / gate_up at width 3072 with heads of 96 and a sliding window of 40.
// 64 requests of mixed prompt lengths (1 .. 61 tokens, 1 .. 13 in the sanitizer build, so
// every matmul row count from 1 to 64 occurs in decode, 4 among them) run at once, with
// chunked prefill, and with a KV cache so small that sequences are preempted (three tests
// per model); every request finishes with its full length, and the greedy tokens of a
// sample of them equal those they get alone (batch invariance). The sanitizer build runs
// chunked and preempted only for the models whose KV layouts differ (EngineRealWidth);
// the other weight types and the experts (EngineRealWidthWeights) share Llama's KV
// layout and scheduler paths, so there they run all at once only.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "support/golden.h"
#include "support/test_model.h"

namespace weft {
namespace {

using testing::TestModel;

struct RealWidthCase {
  const char* name;
  const char* preset;
  const char* type;
};

TestModel Load(const RealWidthCase& c) {
  auto path = testing::SynthModel(c.preset, c.type);
  EXPECT_TRUE(path.ok()) << path.status().message();
  return path.ok() ? testing::LoadTestModel(*path) : TestModel{};
}

constexpr int kRequests = 64;
// Prompt lengths 1 .. kLengths. The sanitizer build cuts them to 13 (each length about
// five times: 37 and 13 coprime too): the matmuls there run instrumented, and the 21
// real-width tests took 25-165 s each at 1 .. 29; the 64 concurrent requests (decode rows
// 1 .. 64, the 4-token prompt) stay.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kLengths = 13;
#else
constexpr int kLengths = 61;
#endif

int PromptLength(int i) { return 1 + (37 * i) % kLengths; }

// The preempted run's KV cache, in blocks of 16 tokens: small enough that sequences
// crossing a block boundary find no free block (at prompts of 1 .. 13 the scheduler
// fits 12 blocks' worth without preempting), large enough for the longest one alone
// (61 + 6 tokens: 5 blocks; 13 + 6: 2).
constexpr int kPreemptBlocks = kLengths > 16 ? 12 : 4;

// Request i: PromptLength(i) prompt tokens (every length 1 .. kLengths, 37 and kLengths
// coprime), 1 + i mod 6 generated tokens; ordinary vocabulary ids from a fixed stream.
GenerationRequest Request(int i, int32_t vocab) {
  GenerationRequest r;
  const int len = PromptLength(i);
  uint32_t s = 2654435761u * static_cast<uint32_t>(i + 1);
  for (int t = 0; t < len; ++t) {
    s = s * 1664525u + 1013904223u;
    r.prompt_tokens.push_back(static_cast<int32_t>(300 + (s >> 8) % static_cast<uint32_t>(vocab - 600)));
  }
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 1 + i % 6;
  r.sampling.ignore_eos = true;
  return r;
}

std::vector<int32_t> Tokens(RequestStream& s, RequestFinish* finish) {
  std::vector<int32_t> out;
  while (auto o = s.Next(std::chrono::seconds(300))) {
    out.insert(out.end(), o->token_ids.begin(), o->token_ids.end());
    if (o->finish != RequestFinish::kNone) *finish = o->finish;
  }
  EXPECT_TRUE(s.finished());
  return out;
}

std::unique_ptr<Engine> MakeEngine(const TestModel& m, EngineConfig config) {
  config.threads = 2;
  config.seed = 1;
  if (config.kv_cache_bytes == 0) config.kv_cache_bytes = int64_t{kRequests} * 80 * m.model->config().KvBytesPerToken(2);
  auto e = Engine::Create(config, m.model, m.tokenizer);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return e.ok() ? std::move(e).value() : nullptr;
}

// All kRequests submitted at once; each one's tokens (checked: full length, kLength).
std::vector<std::vector<int32_t>> RunAll(Engine& engine, int32_t vocab) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < kRequests; ++i) {
    auto s = engine.Submit(Request(i, vocab));
    EXPECT_TRUE(s.ok()) << s.status().message();
    if (!s.ok()) return {};
    streams.push_back(*s);
  }
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < kRequests; ++i) {
    RequestFinish finish = RequestFinish::kNone;
    out.push_back(Tokens(*streams[i], &finish));
    EXPECT_EQ(finish, RequestFinish::kLength) << "request " << i;
    EXPECT_EQ(out.back().size(), static_cast<size_t>(1 + i % 6)) << "request " << i;
  }
  return out;
}

class EngineRealWidth : public ::testing::TestWithParam<RealWidthCase> {};

// The three ways the 64 requests run; each is a test of its own, so that one test stays
// well inside ctest's limit in the sanitizer build (the first version ran all three in
// one test: 217 s alone at -O0, past 300 s on the CI machine).
enum class Way { kAllAtOnce, kChunked, kPreempted };

// The requests run `way` on a fresh engine; the greedy tokens of a sample of them (both
// ends of the lengths and the 4-token prompt) equal those they get alone.
void CheckMatchesAlone(const RealWidthCase& c, Way way) {
  const TestModel m = Load(c);
  ASSERT_NE(m.model, nullptr);
  const int32_t vocab = static_cast<int32_t>(m.model->config().n_vocab);
  std::vector<int> sample = {0, 1, 3, 8, 21, 40, 63};
  for (int i = 0; i < kRequests; ++i) {  // and the 4-token prompt (the shape that crashed)
    if (PromptLength(i) == 4) {
      sample.push_back(i);
      break;
    }
  }
  std::vector<std::vector<int32_t>> alone;
  {
    auto engine = MakeEngine(m, {});
    ASSERT_NE(engine, nullptr);
    for (int i : sample) {
      RequestFinish finish = RequestFinish::kNone;
      alone.push_back(Tokens(**engine->Submit(Request(i, vocab)), &finish));
    }
  }
  EngineConfig config;
  const char* what = "all at once";
  if (way == Way::kChunked) {  // a token budget of 24: prompts are chunked, decode rows share steps with chunks
    config.scheduler.max_num_batched_tokens = 24;
    what = "chunked";
  } else if (way == Way::kPreempted) {  // a few blocks of 16 tokens for 64 requests: preempted and recomputed
    config.kv_cache_bytes = kPreemptBlocks * 16 * m.model->config().KvBytesPerToken(2);
    config.enable_prefix_caching = false;
    what = "preempted";
  }
  // kAllAtOnce: 64 at once, one step prefilling many prompts (rows 1 .. 512 per matmul).
  auto engine = MakeEngine(m, config);
  ASSERT_NE(engine, nullptr);
  const std::vector<std::vector<int32_t>> all = RunAll(*engine, vocab);
  ASSERT_EQ(all.size(), static_cast<size_t>(kRequests)) << what;
  for (size_t j = 0; j < sample.size(); ++j) EXPECT_EQ(all[sample[j]], alone[j]) << what << ": request " << sample[j];
  if (way == Way::kPreempted) {
    EXPECT_GT(engine->Stats().num_preemptions, 0);
  }
}

// Models whose KV layouts differ: Llama's 8 of 64 (GQA 4), Qwen's 2 of 64 with biases,
// DeepSeek's latent rows, Phi-3's heads of 96 under a window.
TEST_P(EngineRealWidth, AllAtOnceMatchAlone) { CheckMatchesAlone(GetParam(), Way::kAllAtOnce); }
TEST_P(EngineRealWidth, ChunkedMatchAlone) { CheckMatchesAlone(GetParam(), Way::kChunked); }
TEST_P(EngineRealWidth, PreemptedMatchAlone) { CheckMatchesAlone(GetParam(), Way::kPreempted); }

INSTANTIATE_TEST_SUITE_P(Synthetic, EngineRealWidth,
                         ::testing::Values(RealWidthCase{"Llama2048_Q4_0", "l1b2", "Q4_0"},
                                           RealWidthCase{"Qwen896_Q4_0", "q05b2", "Q4_0"},
                                           // DeepSeek-V2-Lite widths (tests/tools/synth_arch.py)
                                           RealWidthCase{"DeepSeekV2Lite2048_Q4_0", "dsv2lite2", "Q4_0"},
                                           // Phi-3-mini widths, window 40 (tests/tools/synth_arch.py)
                                           RealWidthCase{"Phi3Mini3072_Q4_0", "phi3mini2", "Q4_0"}),
                         [](const ::testing::TestParamInfo<RealWidthCase>& info) { return info.param.name; });

// Other weight types and Mixtral-shaped experts over Llama's KV layout.
class EngineRealWidthWeights : public ::testing::TestWithParam<RealWidthCase> {};

TEST_P(EngineRealWidthWeights, AllAtOnceMatchAlone) { CheckMatchesAlone(GetParam(), Way::kAllAtOnce); }
#if !defined(__SANITIZE_ADDRESS__)
TEST_P(EngineRealWidthWeights, ChunkedMatchAlone) { CheckMatchesAlone(GetParam(), Way::kChunked); }
TEST_P(EngineRealWidthWeights, PreemptedMatchAlone) { CheckMatchesAlone(GetParam(), Way::kPreempted); }
#endif

INSTANTIATE_TEST_SUITE_P(Synthetic, EngineRealWidthWeights,
                         ::testing::Values(RealWidthCase{"Llama2048_Q4_K_M", "l1b2", "Q4_K_M"},
                                           RealWidthCase{"Llama2048_Q8_0", "l1b2", "Q8_0"},
                                           // Mixtral-shaped experts: 8 of ffn 2816, top 2
                                           RealWidthCase{"Mixtral1024_Q4_0", "mixs2", "Q4_0"}),
                         [](const ::testing::TestParamInfo<RealWidthCase>& info) { return info.param.name; });

}  // namespace
}  // namespace weft
