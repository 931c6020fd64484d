// CheckAdmission: every refusal names the field at fault and, for a server limit, the
// flag that raises it; a request within every limit passes.
#include "engine/admission.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace weft {
namespace {

using ::testing::HasSubstr;

AdmissionLimits Limits() {
  AdmissionLimits l;
  l.n_vocab = 100;
  l.max_model_len = 64;
  l.num_kv_blocks = 8;  // 32 tokens: smaller than the context
  l.block_size = 4;
  l.max_num_seqs = 4;
  return l;
}

GenerationRequest Prompt(size_t tokens) {
  GenerationRequest r;
  r.prompt_tokens.assign(tokens, 7);
  return r;
}

TEST(Admission, AcceptsARequestWithinEveryLimit) {
  GenerationRequest r = Prompt(31);  // 31 + 1 generated = the whole cache
  r.sampling.n = 4;
  EXPECT_TRUE(CheckAdmission(r, Limits()).ok());
}

TEST(Admission, PromptLongerThanTheContextNamesTheFlag) {
  AdmissionLimits l = Limits();
  l.num_kv_blocks = 100;  // the context is the smaller limit now
  const Status s = CheckAdmission(Prompt(64), l);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.field(), "prompt");
  EXPECT_THAT(s.message(), HasSubstr("the prompt is 64 tokens, but the context is 64 tokens"));
  EXPECT_THAT(s.message(), HasSubstr("--max-model-len"));
  EXPECT_TRUE(CheckAdmission(Prompt(63), l).ok());
}

TEST(Admission, PromptLargerThanTheWholeKvCacheNamesTheFlag) {
  const Status s = CheckAdmission(Prompt(32), Limits());  // 33 tokens > 8 blocks of 4
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_EQ(s.field(), "prompt");
  EXPECT_THAT(s.message(), HasSubstr("KV cache holds 32 tokens (8 blocks of 4)"));
  EXPECT_THAT(s.message(), HasSubstr("--kv-cache-mem"));
}

TEST(Admission, EmptyPromptAndIdsOutsideTheVocabulary) {
  const Status empty = CheckAdmission(Prompt(0), Limits());
  EXPECT_EQ(empty.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.field(), "prompt");
  GenerationRequest oov = Prompt(3);
  oov.prompt_tokens[1] = 100;
  const Status s = CheckAdmission(oov, Limits());
  EXPECT_EQ(s.field(), "prompt");
  EXPECT_THAT(s.message(), HasSubstr("id 100 is outside the vocabulary [0, 100)"));
  oov.prompt_tokens[1] = -1;
  EXPECT_EQ(CheckAdmission(oov, Limits()).field(), "prompt");
}

TEST(Admission, MoreSamplesThanTheEngineRunsNamesN) {
  GenerationRequest r = Prompt(4);
  r.sampling.n = 5;
  const Status s = CheckAdmission(r, Limits());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.field(), "n");
  EXPECT_THAT(s.message(), HasSubstr("--max-seqs"));
}

TEST(Admission, SamplingParametersNameTheirField) {
  GenerationRequest r = Prompt(4);
  r.sampling.top_p = 0;
  EXPECT_EQ(CheckAdmission(r, Limits()).field(), "top_p");
  r = Prompt(4);
  r.sampling.stop_token_ids = {100};
  EXPECT_EQ(CheckAdmission(r, Limits()).field(), "stop_token_ids");
}

TEST(Admission, PriorityNeedsThePriorityPolicy) {
  GenerationRequest r = Prompt(4);
  r.priority = 3;
  const Status s = CheckAdmission(r, Limits());
  EXPECT_EQ(s.field(), "priority");
  AdmissionLimits l = Limits();
  l.policy = SchedulingPolicy::kPriority;
  EXPECT_TRUE(CheckAdmission(r, l).ok());
  r.priority = 0;
  EXPECT_TRUE(CheckAdmission(r, Limits()).ok());
}

}  // namespace
}  // namespace weft
