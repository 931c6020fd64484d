// Speculative decoding end to end (n-gram proposer): greedy outputs, texts, finish
// reasons and the target's logprobs are the same with and without speculation on
// stories260K, TinyLLama-v0 and a synthetic qwen2, alone and in a batch of 32 mixed
// requests, under preemption and prefix-cache hits; and sampled tokens keep the
// non-speculative distribution at each position (spec_test_util.h: the checks, the
// statistical test and its power). Constrained requests (structured output) are
// speculated too: drafts are cut to the grammar and verified under its masks, with the
// same output as without speculation.
#include "grammar/structured_output.h"
#include "spec_test_util.h"

namespace weft {
namespace {

using namespace spec_test;  // NOLINT

TEST(EngineSpec, GreedyIsLosslessOnStories260K) { CheckLossless(Stories(), 40); }
TEST(EngineSpec, GreedyIsLosslessOnTinyLlama) { CheckLossless(TinyLlama(), 40); }
TEST(EngineSpec, GreedyIsLosslessOnASyntheticQwen2) { CheckLossless(SynthQwen(), 16); }

TEST(EngineSpec, ACopyHeavyRequestTakesFewerTargetPasses) {
  const TestModel& m = Stories();
  auto e = MakeEngine(Config(true), m);
  GenerationRequest r;
  r.prompt_tokens = m.tokenizer->Encode(kTexts[0]);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 48;
  r.sampling.ignore_eos = true;
  const Output o = RunAll(*e, {r})[0];
  const EngineStats st = e->Stats();
  EXPECT_EQ(o.tokens[0].size(), 48u);
  EXPECT_GT(st.spec_tokens_per_pass(), 1.5) << st.spec_accepted_tokens << " of " << st.spec_draft_tokens;
  EXPECT_LT(st.num_steps, 1 + 48 - 5);  // prefill + fewer than one pass per token
}

TEST(EngineSpec, PerRequestOffAndEngineOffDraftNothing) {
  const TestModel& m = Stories();
  auto e = MakeEngine(Config(true), m);
  GenerationRequest r;
  r.prompt_tokens = m.tokenizer->Encode(kTexts[0]);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 24;
  r.speculate = false;
  RunAll(*e, {r});
  EXPECT_EQ(e->Stats().spec_draft_tokens, 0);
  auto off = MakeEngine(Config(false), m);
  r.speculate = true;
  RunAll(*off, {r});
  EXPECT_EQ(off->Stats().spec_draft_tokens, 0);
}

TEST(EngineSpec, BacksOffWhenTheBatchIsLarge) {
  const TestModel& m = Stories();
  std::vector<GenerationRequest> rs;
  for (int i = 0; i < 8; ++i) {
    GenerationRequest r;
    r.prompt_tokens = m.tokenizer->Encode(kTexts[0]);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = 20;
    r.sampling.ignore_eos = true;
    rs.push_back(r);
  }
  // The same 8 requests with room for drafts, then with spec.max_batch_tokens = 4 (8
  // decoding sequences leave no room). Drafts can then come only from steps taken while
  // the requests are still being submitted (fewer than 4 decoding: on a loaded machine,
  // e.g. under TSan, the engine thread may step between two Submit calls), so they must
  // be a small fraction of the unrestricted run's.
  EngineConfig roomy = Config(true);
  roomy.spec.max_batch_tokens = 1000;
  auto full = MakeEngine(roomy, m);
  RunAll(*full, rs);
  const int64_t unrestricted = full->Stats().spec_draft_tokens;
  ASSERT_GT(unrestricted, 0);
  EngineConfig c = Config(true);
  c.spec.max_batch_tokens = 4;
  auto e = MakeEngine(c, m);
  RunAll(*e, rs);
  EXPECT_LE(e->Stats().spec_draft_tokens * 4, unrestricted)
      << "with back-off " << e->Stats().spec_draft_tokens << " draft tokens, without " << unrestricted;
}

std::shared_ptr<const TokenConstraintFactory> Regex(const TestModel& m, const std::string& pattern) {
  grammar::StructuredOutputSpec spec;
  spec.kind = grammar::StructuredOutputSpec::Kind::kRegex;
  spec.text = pattern;
  auto f = grammar::GetStructuredOutput(spec, m.tokenizer);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  return f.ok() ? *f : nullptr;
}

// Greedy constrained requests: the same tokens, texts and finishes with and without
// speculation, alone and together, and the copy-heavy ones take drafts. The patterns:
// one the model's own text mostly fits (drafts accepted, some cut at a refused byte), one
// that forces a fixed text completing in the middle of a verified draft (the sample must
// end exactly where the grammar completes, not where the draft ends), and a choice.
TEST(EngineSpec, ConstrainedRequestsAreSpeculatedLosslessly) {
  const TestModel& m = Stories();
  const std::vector<std::string> patterns = {
      "[A-Za-z ,.]{1,150}",
      "(Lily and Tom went to the park\\. ){3}",
      "Lily and Tom went to the (park|zoo)\\. Lily and Tom went to the (park|zoo)\\.",
  };
  std::vector<GenerationRequest> rs;
  for (size_t i = 0; i < 12; ++i) {
    GenerationRequest r;
    r.prompt_tokens = m.tokenizer->Encode(kTexts[i % kTexts.size()]);
    r.sampling.temperature = 0;
    r.sampling.max_tokens = 60;
    r.constraint = Regex(m, patterns[i % patterns.size()]);
    if (i % 4 == 3) r.sampling.logprobs = 1;
    rs.push_back(r);
  }
  std::vector<Output> reference;
  {
    auto e = MakeEngine(Config(false), m);
    for (const auto& r : rs) reference.push_back(RunAll(*e, {r})[0]);
  }
  auto e = MakeEngine(Config(true), m);
  std::vector<Output> alone;
  for (const auto& r : rs) alone.push_back(RunAll(*e, {r})[0]);
  ExpectSame(reference, alone, "constrained, alone");
  ExpectSame(reference, RunAll(*e, rs), "constrained, batch of 12");
  const EngineStats st = e->Stats();
  EXPECT_GT(st.spec_accepted_tokens, 20) << st.spec_draft_tokens << " drafted";
  // The fixed-text pattern ends where it completes, its text whole.
  for (size_t i = 1; i < rs.size(); i += patterns.size()) {
    EXPECT_EQ(alone[i].text[0], "Lily and Tom went to the park. Lily and Tom went to the park. Lily and Tom went to the park. ");
    EXPECT_EQ(alone[i].finish[0], RequestFinish::kStop);
  }
}

TEST(EngineSpec, SampledTokensKeepTheDistributionAtEachPosition) { CheckDistribution(Stories(), Ngram()); }

}  // namespace
}  // namespace weft
