// SpecGovernor: keeps drafting where it measures faster, stops where it measures slower,
// follows a change, probes less often while the answer stays the same, and ignores
// steps with a prefill in them.
#include "spec/spec_governor.h"

#include <gtest/gtest.h>

namespace weft {
namespace {

// Runs `steps` decode steps of `seqs` sequences; a step takes `on_s` seconds and makes
// `on_tokens` tokens when drafting, 0.01 s and `seqs` tokens when not. Returns the share
// of steps that drafted.
double Drive(SpecGovernor& g, int steps, int seqs, double on_s, int on_tokens) {
  int drafted = 0;
  for (int i = 0; i < steps; ++i) {
    const bool on = g.drafting();
    drafted += on ? 1 : 0;
    g.Record(true, on ? on_tokens : seqs, on ? on_s : 0.01, seqs);
  }
  return static_cast<double>(drafted) / steps;
}

TEST(SpecGovernor, KeepsDraftingWhereItIsFasterAndProbesLessAndLess) {
  SpecGovernor g;
  // Drafting: 2.5 tokens per sequence for 1.2x the time of a plain step.
  const double share = Drive(g, 2000, 1, 0.012, 3);
  EXPECT_TRUE(g.prefers_drafting());
  EXPECT_EQ(g.flips(), 0);
  EXPECT_GT(share, 0.95);
  // Intervals 12, 24, .. 384, 512 then 512 each: far fewer probes than 2000 / (12 + 4).
  EXPECT_LT(g.probes(), 11);
  EXPECT_GT(g.probes(), 3);
}

TEST(SpecGovernor, StopsDraftingWhereItIsSlower) {
  SpecGovernor g;
  // A batch of 16: drafting makes 18 tokens in 2x the time.
  const double share = Drive(g, 2000, 16, 0.02, 18);
  EXPECT_FALSE(g.prefers_drafting());
  EXPECT_EQ(g.flips(), 1);
  EXPECT_LT(share, 0.05);
}

TEST(SpecGovernor, FollowsAChangeOfLoad) {
  SpecGovernor g;
  Drive(g, 500, 1, 0.012, 3);
  ASSERT_TRUE(g.prefers_drafting());
  Drive(g, 2000, 16, 0.02, 18);  // the batch grew: drafting now loses
  EXPECT_FALSE(g.prefers_drafting());
  Drive(g, 2000, 1, 0.012, 3);   // and shrank again
  EXPECT_TRUE(g.prefers_drafting());
}

TEST(SpecGovernor, StepsWithAPrefillDoNotCount) {
  SpecGovernor g;
  for (int i = 0; i < 1000; ++i) g.Record(false, 1, g.drafting() ? 1.0 : 0.001, 1);
  EXPECT_EQ(g.probes(), 0);
  EXPECT_TRUE(g.drafting());
}

}  // namespace
}  // namespace weft
