// The engine end to end on stories260K: greedy results equal the golden continuation
// and do not depend on the batch (alone, mixed, chunked, preempted, prefix-hit); stop
// strings, lengths, n>1, seeds, cancellation and request errors.
#include "engine/engine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support/golden.h"
#include "support/test_model.h"

namespace weft {
namespace {

using testing::TestModel;
TestModel Load(const std::string& path) { return testing::LoadTestModel(path); }

const TestModel& Stories() {
  static const TestModel m = Load(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
  return m;
}

// A synthetic qwen2 (QKV bias, neox RoPE, GQA) in Q8_0: int8 kernels on every path.
const TestModel& SynthQwen() {
  static const TestModel m = Load(*testing::SynthModel("tinyq", "Q8_0"));
  return m;
}

std::unique_ptr<Engine> MakeEngine(EngineConfig config = {}, const TestModel& model = Stories()) {
  if (config.kv_cache_bytes == 0) config.kv_cache_bytes = 64 << 20;
  config.threads = 2;
  auto e = Engine::Create(config, model.model, model.tokenizer);
  EXPECT_TRUE(e.ok()) << e.status().message();
  return std::move(e).value();
}

GenerationRequest Greedy(const std::string& prompt, int max_tokens, const TestModel& model = Stories()) {
  GenerationRequest r;
  r.prompt_tokens = model.tokenizer->Encode(prompt);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  return r;
}

struct Result {
  std::vector<std::vector<int32_t>> tokens;  // per sample
  std::vector<std::string> text;
  std::vector<RequestFinish> finish;
};

Result Collect(RequestStream& s) {
  Result r;
  r.tokens.resize(static_cast<size_t>(s.num_samples()));
  r.text.resize(r.tokens.size());
  r.finish.resize(r.tokens.size(), RequestFinish::kNone);
  while (auto out = s.Next(std::chrono::seconds(60))) {
    const auto k = static_cast<size_t>(out->sample_index);
    r.tokens[k].insert(r.tokens[k].end(), out->token_ids.begin(), out->token_ids.end());
    r.text[k] += out->text_delta;
    if (out->finish != RequestFinish::kNone) r.finish[k] = out->finish;
  }
  EXPECT_TRUE(s.finished());
  return r;
}

TEST(Engine, GreedyMatchesTheGoldenContinuation) {
  std::ifstream in(testing::GoldenDir() + "/real/index.json");
  const auto index = nlohmann::json::parse(in);
  auto engine = MakeEngine();
  for (const auto& c : index.at("stories260K").at("cases")) {
    GenerationRequest r;
    r.prompt_tokens = c.at("prompt_tokens").get<std::vector<int32_t>>();
    r.sampling.temperature = 0;
    r.sampling.max_tokens = 64;
    r.sampling.ignore_eos = true;
    auto s = engine->Submit(r);
    ASSERT_TRUE(s.ok()) << s.status().message();
    Result got = Collect(**s);
    EXPECT_EQ(got.tokens[0], c.at("ref_greedy_tokens").get<std::vector<int32_t>>()) << c.at("prompt");
    EXPECT_EQ(got.finish[0], RequestFinish::kLength);
  }
}

// The repeated long prompt (over one 16-token block) exercises prefix-cache hits.
const std::string kLong = "Lily and Tom went to the park to play with a big red ball. They ran and laughed all day";
const std::vector<std::string> kPrompts = {kLong, "Once upon a time", "The little dog", "One day, a big bird",
                                           "Sam had a red ball. He", kLong, "The sun was hot and", "Mom said"};

std::vector<std::vector<int32_t>> RunAll(Engine& engine, int max_tokens, const TestModel& model = Stories()) {
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& p : kPrompts) streams.push_back(*engine.Submit(Greedy(p, max_tokens, model)));
  std::vector<std::vector<int32_t>> out;
  for (auto& s : streams) out.push_back(Collect(*s).tokens[0]);
  return out;
}

TEST(Engine, GreedyIsBatchInvariant) {
  const int kTokens = 40;
  std::vector<std::vector<int32_t>> alone;
  {
    auto engine = MakeEngine();
    for (const auto& p : kPrompts) {
      auto s = engine->Submit(Greedy(p, kTokens));
      alone.push_back(Collect(**s).tokens[0]);
    }
  }
  {  // all at once: mixed prefill and decode steps. The long prompt ran once before, so
     // its blocks are in the prefix cache (two copies arriving in one step would both
     // compute it: nothing is cached until computed).
    auto engine = MakeEngine();
    EXPECT_EQ(Collect(**engine->Submit(Greedy(kLong, kTokens))).tokens[0], alone[0]);
    EXPECT_EQ(RunAll(*engine, kTokens), alone);
    EXPECT_GE(engine->Stats().prefix_hit_tokens, 2 * 16);
  }
  {  // tiny token budget: every prompt is chunked
    EngineConfig c;
    c.scheduler.max_num_batched_tokens = 3;
    auto engine = MakeEngine(c);
    EXPECT_EQ(RunAll(*engine, kTokens), alone);
  }
  {  // tiny KV cache: sequences are preempted and recomputed
    EngineConfig c;
    const int64_t per_block = 16 * Stories().model->config().KvBytesPerToken(2);
    c.kv_cache_bytes = 8 * per_block;  // 128 tokens for 8 requests of ~50
    c.enable_prefix_caching = false;
    auto engine = MakeEngine(c);
    EXPECT_EQ(RunAll(*engine, kTokens), alone);
    EXPECT_GT(engine->Stats().num_preemptions, 0);
  }
}

TEST(Engine, GreedyIsBatchInvariantOnAQuantisedSyntheticModel) {
  const TestModel& m = SynthQwen();
  const int kTokens = 12;
  std::vector<std::vector<int32_t>> alone;
  {
    auto engine = MakeEngine({}, m);
    for (const auto& p : kPrompts) alone.push_back(Collect(**engine->Submit(Greedy(p, kTokens, m))).tokens[0]);
  }
  {
    auto engine = MakeEngine({}, m);
    EXPECT_EQ(RunAll(*engine, kTokens, m), alone);
  }
  {
    EngineConfig c;
    c.scheduler.max_num_batched_tokens = 5;
    auto engine = MakeEngine(c, m);
    EXPECT_EQ(RunAll(*engine, kTokens, m), alone);
  }
  {
    EngineConfig c;
    c.kv_cache_bytes = 6 * 16 * m.model->config().KvBytesPerToken(2);
    c.enable_prefix_caching = false;
    auto engine = MakeEngine(c, m);
    EXPECT_EQ(RunAll(*engine, kTokens, m), alone);
    EXPECT_GT(engine->Stats().num_preemptions, 0);
  }
}

// Quantised and mixed KV caches (--kv-type q4, K,V): greedy stays batch invariant (alone,
// all at once, chunked, preempted) on stories260K (head_dim 8: one scale a row) and the
// synthetic qwen2 (head_dim 32, GQA), the cache is sized by the pair's bytes, and the
// engine reports them. A q4 cache must change some logits: its output differs from F16's
// somewhere over the prompts, or the q4 path was not taken.
TEST(Engine, GreedyIsBatchInvariantWithQ4AndMixedKvTypes) {
  using kernels::KvType;
  using kernels::KvTypes;
  const KvTypes kinds[] = {KvType::kQ4, {KvType::kQ8, KvType::kQ4}, {KvType::kF16, KvType::kQ4},
                           {KvType::kQ4, KvType::kQ8}};
  for (const TestModel* m : {&Stories(), &SynthQwen()}) {
    const ModelConfig& cfg = m->model->config();
    const int kTokens = m == &Stories() ? 32 : 12;
    std::vector<std::vector<int32_t>> f16;
    {
      auto engine = MakeEngine({}, *m);
      f16 = RunAll(*engine, kTokens, *m);
    }
    for (const KvTypes& t : kinds) {
      SCOPED_TRACE(kernels::KvTypeName(t) + " on " + cfg.arch);
      std::vector<std::vector<int32_t>> alone;
      {
        EngineConfig c;
        c.kv_type = t;
        auto engine = MakeEngine(c, *m);
        for (const auto& p : kPrompts) alone.push_back(Collect(**engine->Submit(Greedy(p, kTokens, *m))).tokens[0]);
        const EngineStats st = engine->Stats();
        EXPECT_EQ(st.kv_type, t);
        EXPECT_EQ(st.kv_bytes_per_token,
                  cfg.n_layer * cfg.n_head_kv * kernels::KvRowBytes(t, static_cast<int>(cfg.head_dim)));
      }
      for (const auto& a : alone) EXPECT_EQ(static_cast<int>(a.size()), kTokens);
      if (t == KvTypes(KvType::kQ4)) {
        EXPECT_NE(alone, f16) << "q4 gave F16 tokens for every prompt";
      }
      {
        EngineConfig c;
        c.kv_type = t;
        auto engine = MakeEngine(c, *m);
        EXPECT_EQ(RunAll(*engine, kTokens, *m), alone);
      }
      {
        EngineConfig c;
        c.kv_type = t;
        c.scheduler.max_num_batched_tokens = 5;
        auto engine = MakeEngine(c, *m);
        EXPECT_EQ(RunAll(*engine, kTokens, *m), alone);
      }
      {
        EngineConfig c;
        c.kv_type = t;
        c.kv_cache_bytes = 6 * 16 * cfg.n_layer * cfg.n_head_kv * kernels::KvRowBytes(t, static_cast<int>(cfg.head_dim));
        c.enable_prefix_caching = false;
        auto engine = MakeEngine(c, *m);
        EXPECT_EQ(RunAll(*engine, kTokens, *m), alone);
        EXPECT_GT(engine->Stats().num_preemptions, 0);
      }
    }
  }
}

TEST(Engine, StopStringsLengthAndTextDeltas) {
  auto engine = MakeEngine();
  GenerationRequest r = Greedy("Once upon a time", 64);
  r.sampling.stop = {"Lily"};
  Result got = Collect(**engine->Submit(r));
  EXPECT_EQ(got.text[0], ", there was a little girl named ");
  EXPECT_EQ(got.finish[0], RequestFinish::kStop);
  Result len = Collect(**engine->Submit(Greedy("Once upon a time", 5)));
  EXPECT_EQ(len.tokens[0].size(), 5u);
  EXPECT_EQ(len.finish[0], RequestFinish::kLength);
  EXPECT_EQ(len.text[0], Stories().tokenizer->Decode(len.tokens[0], DecodeOptions{true, false}));
}

TEST(Engine, StopTokensAndSpecialTokensInTheText) {
  auto engine = MakeEngine();
  const Tokenizer& tok = *Stories().tokenizer;
  const int32_t there = tok.Encode("Once upon a time, there", EncodeOptions{false, false}).back();
  GenerationRequest r = Greedy("Once upon a time", 12);
  r.sampling.stop_token_ids = {there};
  Result cut = Collect(**engine->Submit(r));
  EXPECT_EQ(cut.text[0], ",");
  EXPECT_EQ(cut.finish[0], RequestFinish::kStop);
  r.sampling.include_stop_str_in_output = true;
  EXPECT_EQ(Collect(**engine->Submit(r)).text[0], ", there");
  GenerationRequest lily = Greedy("Once upon a time", 30);
  lily.sampling.stop = {"Lily"};
  lily.sampling.include_stop_str_in_output = true;
  EXPECT_EQ(Collect(**engine->Submit(lily)).text[0], ", there was a little girl named Lily");
  // Control tokens render only with skip_special_tokens = false; EOS only when included.
  GenerationRequest bos = Greedy("Once", 2);
  bos.sampling.logit_bias = {{tok.bos_id(), 100.0f}};
  EXPECT_EQ(Collect(**engine->Submit(bos)).text[0], "");
  bos.sampling.skip_special_tokens = false;
  EXPECT_EQ(Collect(**engine->Submit(bos)).text[0], "<s><s>");
  GenerationRequest eos = Greedy("Once", 2);
  eos.sampling.logit_bias = {{tok.eos_id(), 100.0f}};
  eos.sampling.skip_special_tokens = false;
  EXPECT_EQ(Collect(**engine->Submit(eos)).text[0], "");
  eos.sampling.include_stop_str_in_output = true;
  Result kept = Collect(**engine->Submit(eos));
  EXPECT_EQ(kept.text[0], "</s>");
  EXPECT_EQ(kept.finish[0], RequestFinish::kStop);
}

TEST(Engine, SamplesAreSeededAndIndependent) {
  auto engine = MakeEngine();
  GenerationRequest r = Greedy("Once upon a time", 24);
  r.sampling.temperature = 1.0f;
  r.sampling.n = 3;
  r.sampling.seed = 42;
  Result a = Collect(**engine->Submit(r));
  Result b = Collect(**engine->Submit(r));
  EXPECT_EQ(a.tokens, b.tokens);  // reproducible with a seed, whatever the batch
  EXPECT_NE(a.tokens[0], a.tokens[1]);
  for (auto f : a.finish) EXPECT_NE(f, RequestFinish::kNone);
}

TEST(Engine, CancelFreesTheRequest) {
  auto engine = MakeEngine();
  GenerationRequest r = Greedy("Once upon a time", 400);
  r.sampling.ignore_eos = true;
  auto s = *engine->Submit(r);
  ASSERT_TRUE(s->Next(std::chrono::seconds(30)).has_value());  // it is running
  engine->Cancel(*s);
  Result rest = Collect(*s);
  EXPECT_EQ(rest.finish[0], RequestFinish::kAbort);
  // The engine is idle again and keeps serving.
  Result next = Collect(**engine->Submit(Greedy("The little dog", 4)));
  EXPECT_EQ(next.tokens[0].size(), 4u);
  for (int i = 0; i < 100 && engine->Stats().num_running != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(engine->Stats().num_running, 0);
}

TEST(Engine, BadRequestsAreRefusedWithTheReason) {
  auto engine = MakeEngine();
  GenerationRequest empty;
  EXPECT_EQ(engine->Submit(empty).status().code(), StatusCode::kInvalidArgument);
  GenerationRequest longp;
  longp.prompt_tokens.assign(static_cast<size_t>(engine->max_model_len()), 5);
  auto s = engine->Submit(longp);
  EXPECT_EQ(s.status().code(), StatusCode::kOutOfRange);
  EXPECT_THAT(s.status().message(), ::testing::HasSubstr("context"));
  GenerationRequest bad = Greedy("hi", 4);
  bad.sampling.top_p = 2;
  EXPECT_THAT(engine->Submit(bad).status().message(), ::testing::HasSubstr("top_p"));
  GenerationRequest oov = Greedy("hi", 4);
  oov.prompt_tokens.push_back(100000);
  EXPECT_THAT(engine->Submit(oov).status().message(), ::testing::HasSubstr("vocabulary"));
  EXPECT_EQ(engine->Submit(oov).status().field(), "prompt");
  GenerationRequest many = Greedy("hi", 4);
  many.sampling.n = 65;  // the default max_num_seqs is 64
  EXPECT_EQ(engine->CheckAdmission(many).field(), "n");
  EXPECT_EQ(engine->Submit(many).status().field(), "n");
}

// A KV cache smaller than the context: a prompt it cannot hold is refused at Submit (not
// on the engine thread), and a prompt it holds generates until the cache is full.
TEST(Engine, TheKvCacheLimitsPromptsAtSubmitAndGenerationAtItsEnd) {
  EngineConfig config;
  config.kv_cache_bytes = 100000;
  auto engine = MakeEngine(config);
  const int64_t kv_tokens = static_cast<int64_t>(engine->Stats().num_blocks) * config.block_size;
  ASSERT_GE(kv_tokens, 32);
  ASSERT_LT(kv_tokens + 1, engine->max_model_len());
  GenerationRequest big;
  big.prompt_tokens.assign(static_cast<size_t>(kv_tokens), 5);
  auto refused = engine->Submit(big);
  EXPECT_EQ(refused.status().code(), StatusCode::kOutOfRange);
  EXPECT_EQ(refused.status().field(), "prompt");
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("--kv-cache-mem"));
  big.prompt_tokens.pop_back();  // room for exactly one generated token
  Result one = Collect(**engine->Submit(big));
  EXPECT_EQ(one.tokens[0].size(), 1u);
  GenerationRequest fits = Greedy("Once upon a time", 100000);
  fits.sampling.ignore_eos = true;
  Result r = Collect(**engine->Submit(fits));
  EXPECT_EQ(r.finish[0], RequestFinish::kLength);
  EXPECT_EQ(static_cast<int64_t>(fits.prompt_tokens.size() + r.tokens[0].size()), kv_tokens);
}

}  // namespace
}  // namespace weft
