// Speculative decoding with a draft model (--spec draft:MODEL) and self-speculative
// drafting (--spec self:LAYERS) end to end: greedy outputs, texts, finishes and the
// target's logprobs are the same with and without the proposer (spec_test_util.h's
// CheckLossless: alone, a batch of 32 mixed requests, prefix hits, preemption, a budget
// of 7 tokens) for stories260K drafting for itself, its Q8_0 file drafting for the F32
// one, a synthetic pair with the same vocabulary (a 2-layer llama drafting for a wider
// one), and the target with layers skipped (stories260K, TinyLLama-v0, a synthetic
// llama); sampled tokens keep the target's distribution (CheckDistribution); a draft
// with another vocabulary and a bad layer set are refused with errors that name them.
#include "spec_test_util.h"

namespace weft {
namespace {

using namespace spec_test;  // NOLINT

const std::string kStoriesPath = testing::SharedDir() + "/models/stories260K/stories260K.gguf";
const std::string kStoriesQ8Path = StoriesQ8Path();

const TestModel& SynthLlamaWide() {  // tinyk: n_embd 256, llama-spm vocab (32000)
  static const TestModel m = testing::LoadTestModel(*testing::SynthModel("tinyk", "Q8_0"));
  return m;
}
std::string SynthLlamaSmallPath() {  // tiny: n_embd 64, the same vocab
  return *testing::SynthModel("tiny", "Q8_0");
}

TEST(EngineSpecDraft, GreedyIsLosslessWithStories260KDraftingForItself) {
  CheckLossless(Stories(), 40, Draft(kStoriesPath), KvPerToken(Stories()));
}

TEST(EngineSpecDraft, GreedyIsLosslessWithTheQ8FileDraftingForStories260K) {
  const TestModel draft = testing::LoadTestModel(kStoriesQ8Path);
  CheckLossless(Stories(), 40, Draft(kStoriesQ8Path), KvPerToken(draft));
}

TEST(EngineSpecDraft, GreedyIsLosslessWithASyntheticPair) {
  const TestModel draft = testing::LoadTestModel(SynthLlamaSmallPath());
  // Random weights: the draft is rarely right; the rejection path must be lossless.
  CheckLossless(SynthLlamaWide(), 16, Draft(SynthLlamaSmallPath()), KvPerToken(draft), /*expect_accepts=*/false);
}

TEST(EngineSpecSelf, GreedyIsLosslessOnStories260KSkippingLayers) {
  CheckLossless(Stories(), 40, Self({2}), KvPerToken(Stories(), 4));
}

TEST(EngineSpecSelf, GreedyIsLosslessOnTinyLlamaSkippingLayers) {
  CheckLossless(TinyLlama(), 40, Self({3, 5}), KvPerToken(TinyLlama(), 6));
}

TEST(EngineSpecSelf, GreedyIsLosslessOnASyntheticLlamaSkippingALayer) {
  CheckLossless(SynthLlamaWide(), 16, Self({1}), KvPerToken(SynthLlamaWide(), 1), /*expect_accepts=*/false);
}

TEST(EngineSpecDraft, SampledTokensKeepTheDistributionAtEachPosition) {
  CheckDistribution(Stories(), Draft(kStoriesQ8Path));
}

TEST(EngineSpecSelf, SampledTokensKeepTheDistributionAtEachPosition) { CheckDistribution(Stories(), Self({2})); }

TEST(EngineSpecDraft, TheDraftKvComesOutOfTheSameBudget) {
  EngineConfig plain = Config(false);
  plain.kv_cache_bytes = 4 << 20;
  EngineConfig c = Config(Draft(kStoriesPath));
  c.kv_cache_bytes = 4 << 20;
  auto a = MakeEngine(plain, Stories());
  auto b = MakeEngine(c, Stories());
  const EngineStats sa = a->Stats(), sb = b->Stats();
  // The draft is the same model: half the budget each.
  EXPECT_NEAR(sb.num_blocks, sa.num_blocks / 2, 1);
  EXPECT_EQ(sb.spec_kv_bytes, static_cast<int64_t>(sb.num_blocks) * 16 * KvPerToken(Stories()));
  EXPECT_LE(sb.spec_kv_bytes + static_cast<int64_t>(sb.num_blocks) * 16 * sb.kv_bytes_per_token, 4 << 20);
  EXPECT_EQ(sa.spec_kv_bytes, 0);
}

TEST(EngineSpecDraft, ADraftWithAnotherVocabularyIsRefused) {
  auto e = Engine::Create(Config(Draft(testing::SharedDir() + "/models/tinyllama-v0/TinyLLama-v0.Q4_0.gguf")),
                          Stories().model, Stories().tokenizer);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("vocabulary"), std::string::npos) << e.status().message();
  EXPECT_NE(e.status().message().find("32000"), std::string::npos) << e.status().message();
  // The same size, other pieces: the synthetic llama-spm vocabulary is not open_llama's.
  auto f = Engine::Create(Config(Draft(SynthLlamaSmallPath())), TinyLlama().model, TinyLlama().tokenizer);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("token"), std::string::npos) << f.status().message();
  auto g = Engine::Create(Config(Draft("/nonexistent/draft.gguf")), Stories().model, Stories().tokenizer);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.status().message().find("--spec draft"), std::string::npos) << g.status().message();
}

TEST(EngineSpecSelf, BadLayerSetsAreRefused) {
  auto e = Engine::Create(Config(Self({7})), Stories().model, Stories().tokenizer);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("layer 7"), std::string::npos) << e.status().message();
  auto f = Engine::Create(Config(Self({0, 1, 2, 3, 4})), Stories().model, Stories().tokenizer);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("leaves no model"), std::string::npos) << f.status().message();
}

TEST(EngineSpecDraft, ACopyHeavyRequestTakesFewerTargetPasses) {
  // stories260K drafting for itself: every greedy draft is the target's own choice.
  auto e = MakeEngine(Config(Draft(kStoriesPath)), Stories());
  GenerationRequest r;
  r.prompt_tokens = Stories().tokenizer->Encode(kTexts[0]);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 48;
  r.sampling.ignore_eos = true;
  const Output o = RunAll(*e, {r})[0];
  const EngineStats st = e->Stats();
  EXPECT_EQ(o.tokens[0].size(), 48u);
  EXPECT_GT(st.spec_tokens_per_pass(), 4.5) << st.spec_accepted_tokens << " of " << st.spec_draft_tokens;
  EXPECT_GT(st.spec_draft_seconds, 0);
}

}  // namespace
}  // namespace weft
