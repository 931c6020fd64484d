// SingleSequence::Truncate: after keeping the first n tokens, the next Append continues
// at position n over their K/V, exactly as if the dropped tokens had never been appended
// (what `weft bench -d` relies on to start each timed run from the same context).
#include "eval/single_sequence.h"

#include <gtest/gtest.h>

#include <vector>

#include "model/model_registry.h"
#include "model/model_runner.h"
#include "support/golden.h"

namespace weft {
namespace {

class SingleSequenceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = OpenModelFile(testing::SharedDir() + "/models/stories260K/stories260K.gguf");
    ASSERT_TRUE(file.ok()) << file.status().message();
    auto model = BindModel(*file);
    ASSERT_TRUE(model.ok()) << model.status().message();
    auto runner = ModelRunner::Create(*model, RunnerOptions{});
    ASSERT_TRUE(runner.ok()) << runner.status().message();
    runner_ = std::move(*runner);
  }

  // Appends `tokens` to seq, returning the last token's logits.
  std::vector<float> Last(SingleSequence& seq, const std::vector<int32_t>& tokens) {
    std::vector<float> logits(static_cast<size_t>(runner_->config().n_vocab));
    const int32_t last = static_cast<int32_t>(tokens.size()) - 1;
    const Status s = seq.Append(tokens, std::span<const int32_t>(&last, 1), logits.data());
    EXPECT_TRUE(s.ok()) << s.message();
    return logits;
  }

  std::unique_ptr<ModelRunner> runner_;
};

TEST_F(SingleSequenceTest, TruncateContinuesFromTheKeptTokens) {
  const std::vector<int32_t> prefix = {1, 403, 261, 442, 300};
  const std::vector<int32_t> dropped = {17, 29, 31, 400, 5, 6, 7};
  const std::vector<int32_t> next = {288, 99, 12};

  auto fresh = SingleSequence::Create(runner_.get(), 64);
  ASSERT_TRUE(fresh.ok());
  Last(**fresh, prefix);
  const std::vector<float> want = Last(**fresh, next);

  auto seq = SingleSequence::Create(runner_.get(), 64);
  ASSERT_TRUE(seq.ok());
  Last(**seq, prefix);
  const std::vector<float> with_dropped = Last(**seq, dropped);
  ASSERT_TRUE((*seq)->Truncate(static_cast<int64_t>(prefix.size())).ok());
  EXPECT_EQ((*seq)->length(), static_cast<int64_t>(prefix.size()));
  EXPECT_EQ(Last(**seq, next), want);

  // Again after more tokens went past the kept ones: the same K/V is read.
  Last(**seq, dropped);
  ASSERT_TRUE((*seq)->Truncate(static_cast<int64_t>(prefix.size())).ok());
  EXPECT_EQ(Last(**seq, next), want);
  // The context matters: without the prefix the logits differ (the check can fail).
  ASSERT_TRUE((*seq)->Truncate(0).ok());
  EXPECT_NE(Last(**seq, next), want);
  EXPECT_NE(with_dropped, want);
}

TEST_F(SingleSequenceTest, TruncateRefusesLengthsItDoesNotHold) {
  auto seq = SingleSequence::Create(runner_.get(), 16);
  ASSERT_TRUE(seq.ok());
  Last(**seq, {1, 2, 3});
  EXPECT_EQ((*seq)->Truncate(4).code(), StatusCode::kOutOfRange);
  EXPECT_EQ((*seq)->Truncate(-1).code(), StatusCode::kOutOfRange);
  EXPECT_EQ((*seq)->length(), 3);
  EXPECT_TRUE((*seq)->Truncate(3).ok());
}

}  // namespace
}  // namespace weft
