// KV budgets in the scheduler (kv/kv_budget.h, sched/scheduler.h): dense, window, sinks
// and h2o sequences (with and without sinks) in one batch over one small pool, with long
// prompts (chunked prefill past the budget), a small token budget per step and, in one
// case, a pool tight enough to preempt. A fake model stores in every KV slot which
// sequence and which ORIGINAL position the token there came from, and fills the h2o
// sequences' attention mass with a deterministic per-token score. Every step checks:
//   * no sequence's attention sees more positions than its budget (seq_len <= N), and the
//     scheduler's own overrun counter stays 0;
//   * no block is in two tables, and the pool's used blocks are exactly the tables' blocks;
//   * every position a sequence attends holds one of ITS tokens, in increasing original
//     order, its sinks first (original positions 0..) and its last positions the most
//     recent tokens (so no block was used after it was freed, and eviction kept what the
//     policy keeps: h2o's recent window, the window policies' window);
//   * a position h2o evicted never comes back.
// (Which block h2o picks is kv_budget_test's; the engine's choices against the reference
// evaluator are engine_kv_budget_test's.)
// At the end every request has its full length and the pool is empty.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "sched/scheduler.h"

namespace weft {
namespace {

struct SlotToken {
  uint64_t request = ~0ull;
  int32_t position = -1;  // original position in the sequence
};

// The per-token score the fake attention gives: fixed per (request, original position),
// so that which blocks are heavy is known and stays the same across steps.
float FakeMass(uint64_t request, int32_t position) {
  uint64_t h = (request + 1) * 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(position) * 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  return static_cast<float>(h % 1000) / 1000.0f;
}

struct Case {
  const char* name;
  KvBudget budget;  // disabled: dense
  int32_t prompt;
  int32_t max_tokens;
};

class BudgetHarness {
 public:
  BudgetHarness(int32_t num_blocks, int32_t block_size, int32_t step_tokens, bool prefix_caching)
      : bs_(block_size), slots_(static_cast<size_t>(num_blocks) * static_cast<size_t>(block_size)) {
    KvCacheConfig kc;
    kc.num_blocks = num_blocks;
    kc.block_size = block_size;
    kc.max_model_len = 4096;
    kc.enable_prefix_caching = prefix_caching;
    kv_ = std::make_unique<KvCacheManager>(kc);
    SchedulerConfig sc;
    sc.max_num_batched_tokens = step_tokens;
    sc.max_num_seqs = 16;
    sched_ = std::make_unique<Scheduler>(sc, kv_.get());
  }

  Sequence* Add(uint64_t id, const Case& c) {
    std::vector<int32_t> prompt(static_cast<size_t>(c.prompt));
    for (int32_t i = 0; i < c.prompt; ++i) prompt[static_cast<size_t>(i)] = static_cast<int32_t>((id * 31 + i) % 97);
    auto s = std::make_unique<Sequence>(id, 0, prompt, c.max_tokens, 0);
    s->kv.budget = c.budget;
    s->kv.window = WindowForBudget(c.budget, bs_, 1);
    if (c.budget.enabled() && c.budget.policy == KvPolicy::kH2o) {
      s->kv.attn_mass.assign(static_cast<size_t>((c.budget.budget + bs_ - 1) / bs_ + 1) * static_cast<size_t>(bs_), 0);
    }
    kv_->InitTable(s->kv);
    sched_->Add(s.get());
    seqs_.push_back(std::move(s));
    return seqs_.back().get();
  }

  // Runs to the end; returns the steps taken.
  int Run() {
    int steps = 0;
    while (sched_->HasUnfinished()) {
      const SchedulerOutput& out = sched_->Schedule();
      ++steps;
      if (steps > 20000) {
        ADD_FAILURE() << "no progress";
        return steps;
      }
      // A preempted sequence recomputes from position 0: its evictions start over.
      for (const Sequence* p : out.preempted) evicted_.erase(p->request_id);
      CheckTables();
      std::vector<int32_t> sampled;
      // Shifts move no original position: the fake K carries no rotation.
      for (size_t i = 0; i < out.seqs.size(); ++i) {
        const ScheduledSequence& e = out.seqs[i];
        Step(out, i, e);
        if (e.needs_logits) sampled.push_back(static_cast<int32_t>((e.seq->num_tokens() * 7) % 97));
      }
      sched_->Update(sampled);
      CheckTables();
    }
    return steps;
  }

  Scheduler& sched() { return *sched_; }
  KvCacheManager& kv() { return *kv_; }
  int64_t h2o_evictions_checked = 0;

 private:
  void Step(const SchedulerOutput& out, size_t i, const ScheduledSequence& e) {
    const Sequence& s = *e.seq;
    const KvBudget& b = s.kv.budget;
    const int32_t seq_len = out.seq_len[i];
    if (b.enabled()) {
      EXPECT_LE(seq_len, b.budget) << "request " << s.request_id << " attends past its budget";
    }
    // The mass pointer: the h2o sequences', nobody else's.
    const bool h2o = b.enabled() && b.policy == KvPolicy::kH2o;
    EXPECT_EQ(out.attn_mass[i], h2o ? s.kv.attn_mass.data() : nullptr);
    // Write this step's tokens.
    for (int32_t t = 0; t < e.num_new_tokens; ++t) {
      const int64_t slot = out.slot_mapping[static_cast<size_t>(e.token_offset + t)];
      slots_[static_cast<size_t>(slot)] = {s.request_id, e.start_position + t};
    }
    // Read every attended position.
    std::vector<int32_t> seen;
    for (int32_t c = 0; c < seq_len; ++c) {
      const int32_t block = s.kv.blocks[static_cast<size_t>(c / bs_)];
      const SlotToken& tok = slots_[static_cast<size_t>(block) * static_cast<size_t>(bs_) + static_cast<size_t>(c % bs_)];
      ASSERT_EQ(tok.request, s.request_id) << "cache position " << c << " holds another sequence's token";
      seen.push_back(tok.position);
    }
    const int32_t end = e.start_position + e.num_new_tokens;
    ASSERT_TRUE(std::is_sorted(seen.begin(), seen.end()) && std::adjacent_find(seen.begin(), seen.end()) == seen.end());
    ASSERT_EQ(seen.back(), end - 1);
    if (!s.kv.evicts()) {
      EXPECT_EQ(seq_len, end);
    } else {
      const int32_t sink_tokens = (b.policy == KvPolicy::kWindow ? 0 : (b.sinks + bs_ - 1) / bs_ * bs_);
      for (int32_t c = 0; c < std::min(sink_tokens, seq_len); ++c) EXPECT_EQ(seen[static_cast<size_t>(c)], c);
      // The recent tokens: contiguous up to the newest.
      // Kept before the step: h2o's recent window (exact for a decode step; B - 1 at least
      // when eviction planned a bigger step than it took), the window policies' window.
      const int32_t n = e.num_new_tokens;
      // A prefill chunk's window may be as short as 1 (WindowForBudget at its planned size).
      const int32_t kept = b.policy == KvPolicy::kH2o ? (n == 1 ? H2oRecentTokens(b, bs_, 1) : bs_ - 1)
                                                       : (n == 1 ? WindowForBudget(b, bs_, 1).window : 1);
      const int32_t recent = kept + n;
      const int32_t r = std::min<int32_t>(std::max(recent, 0), seq_len - sink_tokens);
      for (int32_t k = 0; k < r; ++k) EXPECT_EQ(seen[seen.size() - 1 - static_cast<size_t>(k)], end - 1 - k);
      if (h2o) CheckHeavyHitters(s, seen, sink_tokens);
    }
    if (h2o) {
      // The fake attention: each attended position gains its fixed score (per query row).
      for (int32_t c = 0; c < seq_len; ++c) {
        e.seq->kv.attn_mass[static_cast<size_t>(c)] +=
            static_cast<float>(e.num_new_tokens) * FakeMass(s.request_id, seen[static_cast<size_t>(c)]);
      }
    }
  }

  // The original positions missing between the sinks and the newest were evicted; none
  // of them may come back.
  void CheckHeavyHitters(const Sequence& s, const std::vector<int32_t>& seen, int32_t sink_tokens) {
    std::set<int32_t>& gone = evicted_[s.request_id];
    for (int32_t p : seen) EXPECT_EQ(gone.count(p), 0u) << "evicted position " << p << " is back";
    // Positions between sink_tokens and the newest that are missing were evicted.
    int32_t expect = sink_tokens;
    for (size_t k = static_cast<size_t>(std::min<int32_t>(sink_tokens, static_cast<int32_t>(seen.size()))); k < seen.size(); ++k) {
      for (; expect < seen[k]; ++expect) {
        if (gone.insert(expect).second) ++h2o_evictions_checked;
      }
      expect = seen[k] + 1;
    }
  }

  void CheckTables() {
    std::set<int32_t> owned;
    int32_t total = 0;
    for (const Sequence* s : sched_->running()) {
      for (int32_t b : s->kv.blocks) {
        ASSERT_TRUE(owned.insert(b).second) << "block " << b << " is in two tables";
        ++total;
      }
    }
    for (const Sequence* s : sched_->waiting()) EXPECT_TRUE(s->kv.blocks.empty());
    EXPECT_EQ(kv_->Stats().num_used_blocks, total) << "pool accounting";
    EXPECT_EQ(sched_->Stats().kv_budget_overruns, 0);
  }

  int32_t bs_;
  std::vector<SlotToken> slots_;
  std::unique_ptr<KvCacheManager> kv_;
  std::unique_ptr<Scheduler> sched_;
  std::vector<std::unique_ptr<Sequence>> seqs_;
  std::map<uint64_t, std::set<int32_t>> evicted_;
};

const std::vector<Case>& MixedCases() {
  static const std::vector<Case> cases = {
      {"dense short", {}, 40, 60},
      {"h2o 64, prompt past the budget", {64, KvPolicy::kH2o, 0}, 150, 200},
      {"h2o 96 sinks 4", {96, KvPolicy::kH2o, 4}, 30, 300},
      {"window 80", {80, KvPolicy::kWindow, 0}, 100, 150},
      {"sinks 4 + window at 72", {72, KvPolicy::kSinks, 4}, 20, 250},
      {"h2o 31 (the smallest at B 16)", {31, KvPolicy::kH2o, 0}, 5, 120},
      {"dense long", {}, 90, 120},
  };
  return cases;
}

void RunMixed(int32_t num_blocks, int32_t step_tokens, bool prefix_caching, bool expect_preemption) {
  BudgetHarness h(num_blocks, 16, step_tokens, prefix_caching);
  std::vector<Sequence*> seqs;
  uint64_t id = 1;
  // Reversed when preempting: the last admitted (preempted first) are then budgeted ones.
  std::vector<Case> cases = MixedCases();
  if (expect_preemption) std::reverse(cases.begin(), cases.end());
  for (const Case& c : cases) seqs.push_back(h.Add(id++, c));
  h.Run();
  int32_t budgeted_preemptions = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    SCOPED_TRACE(cases[i].name);
    EXPECT_EQ(seqs[i]->num_generated(), cases[i].max_tokens);
    EXPECT_EQ(seqs[i]->finish_reason, FinishReason::kLength);
    if (cases[i].budget.enabled()) budgeted_preemptions += seqs[i]->num_preemptions;
  }
  const SchedulerStats st = h.sched().Stats();
  EXPECT_GT(st.kv_evicted_tokens, 500);
  EXPECT_GT(h.h2o_evictions_checked, 100);
  EXPECT_EQ(st.kv_budget_overruns, 0);
  EXPECT_LE(st.kv_budget_peak_tokens, 96);
  EXPECT_GE(st.kv_budget_peak_tokens, 72);  // the budgets are used, not undershot
  if (expect_preemption) {
    EXPECT_GT(budgeted_preemptions, 0) << "no budgeted sequence was preempted";
  }
  // Nothing held at the end (budgeted tables register nothing in the prefix cache).
  EXPECT_EQ(h.kv().Stats().num_used_blocks, 0);
}

TEST(SchedulerKvBudget, MixedPoliciesInOneBatch) { RunMixed(64, 64, true, false); }

TEST(SchedulerKvBudget, MixedPoliciesWithPreemption) {
  // 7 sequences over 28 blocks: dense long alone needs 14, dense short 7, the budgets 3..7 each.
  RunMixed(28, 48, false, true);
}

TEST(SchedulerKvBudget, PromptLongerThanTheBudgetIsChunkedWithinIt) {
  BudgetHarness h(32, 16, 512, false);
  const Case c{"h2o 48 sinks 16, prompt 300", {48, KvPolicy::kH2o, 16}, 300, 10};
  Sequence* s = h.Add(9, c);
  h.Run();
  EXPECT_EQ(s->num_generated(), 10);
  // The first chunk is H2oMaxStep = 48 - 16 - 30 = 2 tokens at most: many steps, each in budget.
  EXPECT_EQ(H2oMaxStep(c.budget, 16), 2);
  EXPECT_LE(h.sched().Stats().kv_budget_peak_tokens, 48);
  EXPECT_GT(h.sched().Stats().num_steps, 150);
}

TEST(SchedulerKvBudget, WindowPolicyPrefillsALongPromptInBigChunks) {
  // Window 128: the prompt goes in chunks of up to 128 - 16 tokens (the step's window
  // shrinks to fit), not block by block.
  for (const KvBudget b : {KvBudget{128, KvPolicy::kWindow, 0}, KvBudget{128, KvPolicy::kSinks, 4}}) {
    SCOPED_TRACE(KvBudgetName(b));
    BudgetHarness h(32, 16, 512, false);
    Sequence* s = h.Add(3, {"long prompt", b, 1000, 5});
    const int steps = h.Run();
    EXPECT_EQ(s->num_generated(), 5);
    EXPECT_LE(h.sched().Stats().kv_budget_peak_tokens, 128);
    EXPECT_LT(steps, 5 + 1000 / 96 + 3) << "prefill ran in small steps";
  }
}

TEST(SchedulerKvBudget, BudgetAboveTheSequenceEvictsNothing) {
  BudgetHarness h(64, 16, 64, true);
  h.Add(1, {"h2o 512", {512, KvPolicy::kH2o, 0}, 50, 100});
  h.Add(2, {"window 512", {512, KvPolicy::kWindow, 0}, 50, 100});
  h.Run();
  EXPECT_EQ(h.sched().Stats().kv_evicted_tokens, 0);
  EXPECT_EQ(h.sched().Stats().kv_budget_peak_tokens, 149);  // the last token is never computed
}

}  // namespace
}  // namespace weft
