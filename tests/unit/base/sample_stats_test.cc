#include "base/sample_stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace weft {
namespace {

TEST(SampleStats, MeanSampleStddevAndMedian) {
  const std::vector<double> v = {4, 1, 3, 2};
  const SampleStats s = Summarize(v);
  EXPECT_EQ(s.n, 4u);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(5.0 / 3.0));  // n - 1 in the denominator, as llama-bench
  EXPECT_DOUBLE_EQ(s.median, 2.5);
  EXPECT_DOUBLE_EQ(s.min, 1);
  EXPECT_DOUBLE_EQ(s.max, 4);
}

TEST(SampleStats, OddCountMedianIsTheMiddleSample) {
  const std::vector<double> v = {10, 30, 20};
  const SampleStats s = Summarize(v);
  EXPECT_DOUBLE_EQ(s.median, 20);
  EXPECT_DOUBLE_EQ(s.mean, 20);
  EXPECT_DOUBLE_EQ(s.stddev, 10);
}

TEST(SampleStats, OneSampleHasNoSpreadAndNoneIsAllZero) {
  const std::vector<double> one = {7.5};
  const SampleStats s = Summarize(one);
  EXPECT_DOUBLE_EQ(s.mean, 7.5);
  EXPECT_DOUBLE_EQ(s.stddev, 0);
  EXPECT_DOUBLE_EQ(s.median, 7.5);
  const SampleStats none = Summarize({});
  EXPECT_EQ(none.n, 0u);
  EXPECT_DOUBLE_EQ(none.mean, 0);
  EXPECT_DOUBLE_EQ(none.stddev, 0);
}

}  // namespace
}  // namespace weft
