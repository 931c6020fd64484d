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
    g.Record(true, on, on ? on_tokens : seqs, on ? on_s : 0.01, seqs);
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
  for (int i = 0; i < 1000; ++i) g.Record(false, g.drafting(), 1, g.drafting() ? 1.0 : 0.001, 1);
  EXPECT_EQ(g.probes(), 0);
  EXPECT_TRUE(g.drafting());
}

// Plain step times that drift (a shared machine): 12 ms falling to 6.3 ms over 20 steps,
// then back, so that a later stretch is often faster than an earlier one by more than
// the margin.
double DriftingPlainStep(int i) { return 0.012 - 0.0003 * (i % 20); }

// Text that offers no drafts for a while (free text between copied stretches): drafting
// is on but no step verifies a draft. Comparing periods with and without drafting would
// flip on the drift and stop drafting; steps that drafted nothing are plain steps
// whichever the mode, so nothing is decided until drafts come back, and then they win.
TEST(SpecGovernor, TextWithoutDraftsDecidesNothing) {
  SpecGovernor g;
  for (int i = 0; i < 600; ++i) g.Record(true, false, 1, DriftingPlainStep(i), 1);
  EXPECT_TRUE(g.prefers_drafting());
  EXPECT_EQ(g.flips(), 0);
  // Nor does the interval grow: a probe every 12 + 4 steps (37), not 12, 24, 48, .. (6).
  EXPECT_GT(g.probes(), 30);
  // Drafts again: 3 tokens for 1.2x the time of a plain step (the probes' plain steps
  // drift as before).
  int drafted = 0;
  for (int i = 0; i < 600; ++i) {
    const bool on = g.drafting();
    drafted += on ? 1 : 0;
    g.Record(true, on, on ? 3 : 1, on ? 0.012 : DriftingPlainStep(i), 1);
  }
  EXPECT_TRUE(g.prefers_drafting());
  EXPECT_EQ(g.flips(), 0);
  EXPECT_GT(drafted, 550);
}

// While drafting is off, a probe that meets no draft decides nothing and the next probe
// comes as soon (the interval does not grow: 96 steps by then, not up to 512), so drafting
// resumes soon after the text starts offering drafts that pay.
TEST(SpecGovernor, ResumesDraftingSoonAfterDraftsComeBack) {
  SpecGovernor g;
  Drive(g, 200, 16, 0.02, 18);  // drafting loses: off
  ASSERT_FALSE(g.prefers_drafting());
  // 2000 steps with nothing to draft (every probe meets no draft).
  for (int i = 0; i < 2000; ++i) g.Record(true, false, 16, 0.01, 16);
  ASSERT_FALSE(g.prefers_drafting());
  // Drafts that pay: drafting is back within the next interval and probe.
  int steps = 0;
  while (!g.prefers_drafting() && steps < 1000) {
    const bool on = g.drafting();
    g.Record(true, on, on ? 3 : 1, on ? 0.012 : 0.01, 1);
    ++steps;
  }
  EXPECT_TRUE(g.prefers_drafting());
  EXPECT_LT(steps, 120);
}

}  // namespace
}  // namespace weft
