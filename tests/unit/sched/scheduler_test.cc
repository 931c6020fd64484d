#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "unit/sched/sched_test_util.h"

namespace weft {
namespace {

using testing_sched::ExpectedAlone;
using testing_sched::FakeModel;

std::vector<int32_t> Iota(int32_t n, int32_t first = 1) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

bool StopsOn(int32_t tok) { return tok % 53 == 0; }

// Engine-like driver: owns sequences, runs the fake model, checks invariants every step.
class Harness {
 public:
  Harness(int32_t num_blocks, int32_t block_size, SchedulerConfig sc, int32_t max_model_len = 0)
      : kv_(MakeKv(num_blocks, block_size, max_model_len)), sched_(sc, &kv_), model_(num_blocks, block_size) {}

  static KvCacheConfig MakeKv(int32_t num_blocks, int32_t block_size, int32_t max_model_len) {
    KvCacheConfig c;
    c.num_blocks = num_blocks;
    c.block_size = block_size;
    c.max_model_len = max_model_len;
    return c;
  }

  // Adds a request of n samples; returns sample 0.
  Sequence* Add(uint64_t id, const std::vector<int32_t>& prompt, int32_t max_tokens, int32_t n = 1,
                int32_t priority = 0) {
    std::vector<Sequence*> group;
    for (int32_t k = 0; k < n; ++k) {
      owned_.push_back(std::make_unique<Sequence>(id, k, prompt, max_tokens, priority));
      group.push_back(owned_.back().get());
    }
    sched_.Add(group);
    for (Sequence* s : group) {
      live_.push_back(s);
      added_step_[s] = steps_;
    }
    return group[0];
  }

  // One engine step; returns the output (valid until the next step).
  const SchedulerOutput& Step() {
    const SchedulerOutput& out = sched_.Schedule();
    CheckOutput(out);
    const std::vector<int32_t> sampled = model_.Execute(out);
    sched_.Update(sampled);
    for (Sequence* s : out.finished) Done(s);
    // The engine decides stops on the new tokens.
    for (const ScheduledSequence& e : out.seqs) {
      for (Sequence* t : e.samplers) {
        if (!t->is_finished() && stop_fn_ != nullptr && stop_fn_(t->tokens.back())) {
          sched_.Finish(t, FinishReason::kStop);
          Done(t);
        }
      }
    }
    ++steps_;
    CheckState();
    return out;
  }

  void Abort(uint64_t id) {
    sched_.Abort(id);
    for (Sequence* s : live_) {
      if (s->request_id == id) {
        EXPECT_TRUE(s->is_finished());
        EXPECT_EQ(s->finish_reason, FinishReason::kAbort);
      }
    }
    std::erase_if(live_, [](Sequence* s) { return s->is_finished(); });
    CheckState();
  }

  void CheckOutput(const SchedulerOutput& out) {
    const SchedulerConfig& c = sched_.config();
    ASSERT_LE(out.num_tokens, c.max_num_batched_tokens);
    int32_t sum = 0, samples = 0;
    std::vector<int64_t> slots(out.slot_mapping.begin(), out.slot_mapping.end());
    for (const ScheduledSequence& e : out.seqs) {
      ASSERT_GT(e.num_new_tokens, 0);
      ASSERT_EQ(e.start_position, e.seq->num_computed_tokens);
      ASSERT_LE(e.start_position + e.num_new_tokens, e.seq->num_tokens());
      ASSERT_EQ(e.needs_logits, e.start_position + e.num_new_tokens == e.seq->num_tokens());
      ASSERT_GE(static_cast<int64_t>(e.block_table.size()) * kv_.block_size(), e.start_position + e.num_new_tokens);
      ASSERT_EQ(e.seq->status, SequenceStatus::kRunning);
      sum += e.num_new_tokens;
      samples += static_cast<int32_t>(e.samplers.size());
    }
    ASSERT_EQ(sum, out.num_tokens);
    ASSERT_EQ(samples, out.num_samples);
    ASSERT_EQ(out.tokens.size(), static_cast<size_t>(sum));
    ASSERT_EQ(out.query_start.size(), out.seqs.size() + 1);
    ASSERT_EQ(out.block_table.size(), out.seqs.size() * static_cast<size_t>(out.max_blocks_per_seq));
    // No two tokens write one slot, and nothing writes a shared block (copy-on-write).
    std::sort(slots.begin(), slots.end());
    ASSERT_EQ(std::adjacent_find(slots.begin(), slots.end()), slots.end());
    for (int64_t s : slots) ASSERT_EQ(kv_.pool().RefCount(static_cast<int32_t>(s / kv_.block_size())), 1);
    max_step_tokens_ = std::max(max_step_tokens_, out.num_tokens);
  }

  void CheckState() {
    const KvCacheStats st = kv_.Stats();
    ASSERT_EQ(st.num_free_blocks + st.num_used_blocks, st.num_blocks);
    ASSERT_LE(static_cast<int32_t>(sched_.running().size()), sched_.config().max_num_seqs);
    // Refcounts are exactly the number of tables holding each block.
    std::vector<int32_t> refs(static_cast<size_t>(st.num_blocks), 0);
    for (Sequence* s : live_) {
      if (s->status != SequenceStatus::kRunning) {
        ASSERT_TRUE(s->kv.empty());
      }
      std::vector<int32_t> own = s->kv.blocks;
      std::sort(own.begin(), own.end());
      ASSERT_EQ(std::adjacent_find(own.begin(), own.end()), own.end()) << "block twice in one table";
      for (int32_t b : s->kv.blocks) ++refs[static_cast<size_t>(b)];
    }
    for (int32_t b = 0; b < st.num_blocks; ++b) ASSERT_EQ(kv_.pool().RefCount(b), refs[static_cast<size_t>(b)]);
  }

  void Done(Sequence* s) {
    EXPECT_TRUE(s->is_finished());
    EXPECT_TRUE(s->kv.empty());
    latency_.push_back(steps_ - added_step_[s]);
    std::erase(live_, s);
  }

  void RunUntilIdle(int64_t max_steps) {
    for (int64_t i = 0; i < max_steps && sched_.HasUnfinished(); ++i) Step();
    ASSERT_FALSE(sched_.HasUnfinished()) << "not finished after " << max_steps << " steps";
  }

  KvCacheManager kv_;
  Scheduler sched_;
  FakeModel model_;
  std::vector<std::unique_ptr<Sequence>> owned_;
  std::vector<Sequence*> live_;
  std::map<const Sequence*, int64_t> added_step_;
  std::vector<int64_t> latency_;
  int64_t steps_ = 0;
  int32_t max_step_tokens_ = 0;
  bool (*stop_fn_)(int32_t) = nullptr;
};

void ExpectAllBlocksFree(Harness& h) {
  const KvCacheStats st = h.kv_.Stats();
  EXPECT_EQ(st.num_used_blocks, 0);
  EXPECT_EQ(st.num_free_blocks, st.num_blocks);
  for (int32_t b = 0; b < st.num_blocks; ++b) EXPECT_EQ(h.kv_.pool().RefCount(b), 0);
}

struct RandomCase {
  uint32_t seed;
  SchedulingPolicy policy;
  bool chunked;
  int32_t num_blocks;
};

class SchedulerRandomTest : public ::testing::TestWithParam<RandomCase> {};

// Long randomised runs under steady arrivals with a cache small enough to preempt:
// invariants hold every step, every request finishes with exactly the tokens it would
// generate alone (whatever the batching, chunking, prefix hits, forks or preemption),
// and refcounts return to zero.
TEST_P(SchedulerRandomTest, InvariantsAndBatchInvariance) {
  const RandomCase rc = GetParam();
  std::mt19937 rng(rc.seed);
  SchedulerConfig sc;
  sc.max_num_batched_tokens = 64;
  sc.max_num_seqs = 8;
  sc.enable_chunked_prefill = rc.chunked;
  sc.policy = rc.policy;
  const int32_t bs = 4, max_len = 96;
  Harness h(rc.num_blocks, bs, sc, max_len);
  h.stop_fn_ = StopsOn;
  std::vector<std::vector<int32_t>> shared_prefixes = {Iota(12, 500), Iota(20, 700), Iota(9, 900)};
  std::map<Sequence*, std::vector<int32_t>> expected;
  std::vector<uint64_t> aborted;
  const int32_t num_requests = 120;
  uint64_t next_id = 1;
  int64_t guard = 0;
  while ((next_id <= num_requests || h.sched_.HasUnfinished()) && guard++ < 20000) {
    if (next_id <= num_requests && rng() % 3 == 0) {
      std::vector<int32_t> prompt;
      if (rng() % 2 == 0) prompt = shared_prefixes[rng() % shared_prefixes.size()];
      const int32_t extra = 1 + static_cast<int32_t>(rng() % 40);
      for (int32_t i = 0; i < extra; ++i) prompt.push_back(static_cast<int32_t>(rng() % 1000));
      const int32_t max_tokens = 1 + static_cast<int32_t>(rng() % 24);
      const int32_t n = rng() % 6 == 0 ? 2 + static_cast<int32_t>(rng() % 2) : 1;
      const int32_t prio = static_cast<int32_t>(rng() % 3);
      Sequence* s0 = h.Add(next_id, prompt, max_tokens, n, prio);
      for (int32_t k = 0; k < n; ++k) {
        Sequence* s = h.owned_[h.owned_.size() - static_cast<size_t>(n - k)].get();
        EXPECT_EQ(s->sample_index, k);
        expected[s] = ExpectedAlone(prompt, k, max_tokens, max_len, StopsOn);
      }
      (void)s0;
      ++next_id;
    }
    if (rng() % 50 == 0 && next_id > 1) {
      const uint64_t victim = 1 + rng() % (next_id - 1);
      h.Abort(victim);
      aborted.push_back(victim);
    }
    h.Step();
    ASSERT_LE(h.max_step_tokens_, sc.max_num_batched_tokens);
    if (::testing::Test::HasFatalFailure()) return;
  }
  ASSERT_FALSE(h.sched_.HasUnfinished());
  ExpectAllBlocksFree(h);
  int64_t finished_checked = 0;
  for (auto& [s, want] : expected) {
    ASSERT_TRUE(s->is_finished());
    if (s->finish_reason == FinishReason::kAbort) continue;
    EXPECT_EQ(s->tokens, want) << "request " << s->request_id << "." << s->sample_index;
    ++finished_checked;
  }
  EXPECT_GT(finished_checked, num_requests / 2);
  // No starvation: latency in steps is bounded by the work of the whole run, not its length.
  const int64_t max_latency = *std::max_element(h.latency_.begin(), h.latency_.end());
  EXPECT_LT(max_latency, 400) << "a request waited " << max_latency << " steps";
  const SchedulerStats st = h.sched_.Stats();
  EXPECT_EQ(st.num_running, 0);
  EXPECT_EQ(st.num_waiting, 0);
  if (rc.num_blocks <= 40) {
    EXPECT_GT(st.num_preemptions, 0);
  }
  EXPECT_GT(h.kv_.Stats().prefix_hit_tokens, 0);
}

INSTANTIATE_TEST_SUITE_P(Seeds, SchedulerRandomTest,
                         ::testing::Values(RandomCase{1, SchedulingPolicy::kFcfs, true, 40},
                                           RandomCase{2, SchedulingPolicy::kFcfs, true, 40},
                                           RandomCase{3, SchedulingPolicy::kFcfs, false, 40},
                                           RandomCase{4, SchedulingPolicy::kPriority, true, 40},
                                           RandomCase{5, SchedulingPolicy::kPriority, false, 40},
                                           RandomCase{6, SchedulingPolicy::kFcfs, true, 200},
                                           RandomCase{7, SchedulingPolicy::kFcfs, true, 30},
                                           RandomCase{8, SchedulingPolicy::kPriority, true, 30}));

TEST(Scheduler, SecondRequestWithSamePromptComputesOnlyItsTail) {
  SchedulerConfig sc;
  Harness h(64, 16, sc);
  const auto prompt = Iota(40);
  Sequence* a = h.Add(1, prompt, 2);
  const SchedulerOutput& o1 = h.Step();
  ASSERT_EQ(o1.seqs.size(), 1u);
  EXPECT_EQ(o1.seqs[0].num_new_tokens, 40);
  h.RunUntilIdle(10);
  EXPECT_EQ(a->num_cached_tokens, 0);
  Sequence* b = h.Add(2, prompt, 2);
  const SchedulerOutput& o2 = h.Step();
  ASSERT_EQ(o2.seqs.size(), 1u);
  EXPECT_EQ(b->num_cached_tokens, 32);
  EXPECT_EQ(o2.seqs[0].start_position, 32);
  EXPECT_EQ(o2.seqs[0].num_new_tokens, 8);
  EXPECT_TRUE(o2.seqs[0].needs_logits);
  const KvCacheStats st = h.kv_.Stats();
  EXPECT_EQ(st.block_queries, 4);
  EXPECT_EQ(st.block_hits, 2);
  EXPECT_EQ(st.prefix_hit_tokens, 32);
  h.RunUntilIdle(10);
  EXPECT_EQ(b->tokens, ExpectedAlone(prompt, 0, 2, 1 << 30, nullptr));
  ExpectAllBlocksFree(h);
}

TEST(Scheduler, ChunkedPrefillKeepsDecodesFlowing) {
  SchedulerConfig sc;
  sc.max_num_batched_tokens = 256;
  Harness h(256, 16, sc);
  std::vector<Sequence*> decoders;
  for (uint64_t i = 0; i < 4; ++i) decoders.push_back(h.Add(10 + i, Iota(8, static_cast<int32_t>(100 * i)), 100));
  h.Step();  // their prompts
  Sequence* big = h.Add(1, Iota(1000, 5000), 4);
  int32_t prefilled = 0, chunks = 0;
  while (big->num_computed_tokens < 1000) {
    const SchedulerOutput& out = h.Step();
    EXPECT_LE(out.num_tokens, 256);
    int32_t decodes = 0;
    for (const ScheduledSequence& e : out.seqs) {
      if (e.seq == big) {
        ++chunks;
        prefilled += e.num_new_tokens;
        EXPECT_EQ(e.num_new_tokens, std::min(1000 - e.start_position, 256 - 4));
        EXPECT_EQ(e.needs_logits, e.start_position + e.num_new_tokens == 1000);
      } else {
        EXPECT_EQ(e.num_new_tokens, 1);
        EXPECT_TRUE(e.needs_logits);
        ++decodes;
      }
    }
    EXPECT_EQ(decodes, 4) << "decodes stalled during the prefill";
  }
  EXPECT_EQ(prefilled, 1000);
  EXPECT_EQ(chunks, 4);  // 252 + 252 + 252 + 244
  EXPECT_EQ(big->num_generated(), 1);
  h.RunUntilIdle(200);
  ExpectAllBlocksFree(h);
}

TEST(Scheduler, WithoutChunkingALongPromptWaitsForAWholeBudget) {
  SchedulerConfig sc;
  sc.max_num_batched_tokens = 64;
  sc.enable_chunked_prefill = false;
  Harness h(64, 16, sc);
  h.Add(1, Iota(10), 5);
  h.Step();
  h.Add(2, Iota(64, 300), 1);  // needs the whole budget, the decode takes 1
  const SchedulerOutput& out = h.Step();
  ASSERT_EQ(out.seqs.size(), 1u);
  h.RunUntilIdle(20);
  ExpectAllBlocksFree(h);
}

TEST(Scheduler, PreemptsMostRecentlyAdmittedAndResumes) {
  SchedulerConfig sc;
  Harness h(6, 4, sc);  // 24 slots
  Sequence* a = h.Add(1, Iota(8, 10), 8);   // grows to 16 tokens: 4 blocks
  Sequence* b = h.Add(2, Iota(8, 100), 8);  // also 4 blocks: both cannot fit
  h.Step();
  EXPECT_EQ(h.kv_.Stats().num_used_blocks, 4);
  bool saw_preemption = false;
  while (h.sched_.HasUnfinished() && h.steps_ < 100) {
    const SchedulerOutput& out = h.Step();
    for (Sequence* p : out.preempted) {
      EXPECT_EQ(p, b);  // the most recently admitted
      saw_preemption = true;
      EXPECT_EQ(p->status, SequenceStatus::kPreempted);
    }
  }
  EXPECT_TRUE(saw_preemption);
  EXPECT_GE(b->num_preemptions, 1);
  EXPECT_EQ(a->num_preemptions, 0);
  EXPECT_EQ(a->tokens, ExpectedAlone(Iota(8, 10), 0, 8, 1 << 30, nullptr));
  EXPECT_EQ(b->tokens, ExpectedAlone(Iota(8, 100), 0, 8, 1 << 30, nullptr));
  EXPECT_EQ(h.sched_.Stats().num_preemptions, b->num_preemptions);
  ExpectAllBlocksFree(h);
}

TEST(Scheduler, PriorityPolicyAdmitsByPriorityThenArrival) {
  SchedulerConfig sc;
  sc.policy = SchedulingPolicy::kPriority;
  sc.max_num_seqs = 1;
  Harness h(64, 16, sc);
  Sequence* low = h.Add(1, Iota(5), 1, 1, 5);
  Sequence* high = h.Add(2, Iota(5, 50), 1, 1, 0);
  Sequence* mid1 = h.Add(3, Iota(5, 90), 1, 1, 2);
  Sequence* mid2 = h.Add(4, Iota(5, 190), 1, 1, 2);
  std::vector<Sequence*> order;
  while (h.sched_.HasUnfinished()) {
    const SchedulerOutput& out = h.Step();
    ASSERT_EQ(out.seqs.size(), 1u);
    order.push_back(out.seqs[0].seq);
  }
  EXPECT_EQ(order, (std::vector<Sequence*>{high, mid1, mid2, low}));
}

TEST(Scheduler, FcfsIgnoresPriority) {
  SchedulerConfig sc;
  sc.max_num_seqs = 1;
  Harness h(64, 16, sc);
  Sequence* first = h.Add(1, Iota(5), 1, 1, 5);
  Sequence* second = h.Add(2, Iota(5, 50), 1, 1, 0);
  EXPECT_EQ(h.Step().seqs[0].seq, first);
  EXPECT_EQ(h.Step().seqs[0].seq, second);
}

TEST(Scheduler, ForkSharesPromptAndCopiesOnWrite) {
  SchedulerConfig sc;
  Harness h(32, 16, sc);
  const auto prompt = Iota(40);
  Sequence* s0 = h.Add(7, prompt, 3, /*n=*/3);
  const SchedulerOutput& o1 = h.Step();
  ASSERT_EQ(o1.seqs.size(), 1u);
  EXPECT_EQ(o1.num_samples, 3);
  ASSERT_EQ(h.sched_.running().size(), 3u);
  std::vector<Sequence*> samples(h.sched_.running().begin(), h.sched_.running().end());
  for (Sequence* s : samples) {
    EXPECT_EQ(s->kv.blocks, s0->kv.blocks);
    EXPECT_EQ(s->num_tokens(), 41);
  }
  EXPECT_EQ(h.kv_.Stats().num_used_blocks, 3);
  EXPECT_EQ(h.kv_.pool().RefCount(s0->kv.blocks[2]), 3);
  const SchedulerOutput& o2 = h.Step();
  EXPECT_EQ(o2.copies.size(), 2u);  // two writers copy the shared partial block; the last owns it
  EXPECT_EQ(h.kv_.Stats().num_used_blocks, 2 + 3);
  h.RunUntilIdle(20);
  for (Sequence* s : samples) EXPECT_EQ(s->tokens, ExpectedAlone(prompt, s->sample_index, 3, 1 << 30, nullptr));
  EXPECT_NE(samples[0]->tokens, samples[1]->tokens);
  ExpectAllBlocksFree(h);
}

TEST(Scheduler, AbortFreesBlocksAtOnce) {
  SchedulerConfig sc;
  sc.max_num_batched_tokens = 16;
  Harness h(32, 4, sc);
  h.Add(1, Iota(30), 10);
  h.Add(2, Iota(30, 100), 10, 2);  // waiting, with a pending fork
  h.Step();
  EXPECT_GT(h.kv_.Stats().num_used_blocks, 0);
  h.Abort(1);
  EXPECT_EQ(h.kv_.Stats().num_used_blocks, 0);
  h.Step();  // request 2 is admitted
  h.Abort(2);
  EXPECT_EQ(h.sched_.Abort(2), 0);
  EXPECT_FALSE(h.sched_.HasUnfinished());
  for (auto& s : h.owned_) EXPECT_EQ(s->finish_reason, FinishReason::kAbort);
  ExpectAllBlocksFree(h);
}

// Admission (engine/admission.h) refuses these with a Status; reaching the scheduler
// with one is a bug, so it stops there rather than queue a request that never runs.
TEST(SchedulerDeathTest, RequestsThatCanNeverRunAreBugs) {
  SchedulerConfig sc;
  KvCacheConfig kc;
  kc.num_blocks = 4;
  kc.block_size = 4;
  kc.max_model_len = 64;
  KvCacheManager kv(kc);
  Scheduler sched(sc, &kv);
  Sequence too_long(1, 0, Iota(64), 4);
  EXPECT_DEATH(sched.Add(&too_long), "context of 64");
  Sequence too_big(2, 0, Iota(16), 4);  // 17 tokens need 5 blocks of 4
  EXPECT_DEATH(sched.Add(&too_big), "cache of 4 blocks");
  const std::vector<int32_t> empty;
  Sequence none(3, 0, empty, 4);
  EXPECT_DEATH(sched.Add(&none), "empty prompt");
  SchedulerConfig whole;
  whole.enable_chunked_prefill = false;
  whole.max_num_batched_tokens = 8;
  Scheduler sched2(whole, &kv);
  Sequence over_budget(4, 0, Iota(9), 2);
  EXPECT_DEATH(sched2.Add(&over_budget), "step budget of 8");
  Sequence fits(5, 0, Iota(8), 2);  // 9 tokens: 3 blocks, within the budget
  sched2.Add(&fits);
  EXPECT_TRUE(sched2.HasUnfinished());
}

TEST(Scheduler, LengthLimitsFinishAndContextIsRespected) {
  SchedulerConfig sc;
  Harness h(64, 4, sc, /*max_model_len=*/12);
  Sequence* s = h.Add(1, Iota(10), 100);
  h.RunUntilIdle(10);
  EXPECT_EQ(s->finish_reason, FinishReason::kLength);
  EXPECT_EQ(s->num_tokens(), 12);
}

TEST(Scheduler, StepReusesItsBuffers) {
  SchedulerConfig sc;
  sc.max_num_batched_tokens = 64;
  sc.max_num_seqs = 8;
  Harness h(128, 4, sc);
  for (uint64_t i = 0; i < 8; ++i) h.Add(i + 1, Iota(20, static_cast<int32_t>(i * 50)), 30);
  const SchedulerOutput& first = h.Step();
  const void* p[] = {first.seqs.data(), first.tokens.data(), first.slot_mapping.data(), first.block_table.data(),
                     h.sched_.running().data(), h.sched_.waiting().data()};
  for (int i = 0; i < 20; ++i) {
    const SchedulerOutput& out = h.Step();
    EXPECT_EQ(&out, &first);
    const void* q[] = {out.seqs.data(), out.tokens.data(), out.slot_mapping.data(), out.block_table.data(),
                       h.sched_.running().data(), h.sched_.waiting().data()};
    for (size_t k = 0; k < 6; ++k) EXPECT_EQ(p[k], q[k]) << "buffer " << k << " moved";
  }
  const SchedulerStats st = h.sched_.Stats();
  EXPECT_EQ(st.num_steps, 21);
  EXPECT_GT(st.schedule_ns_total, 0);
}

TEST(Scheduler, BatchViewMatchesOutput) {
  SchedulerConfig sc;
  Harness h(64, 4, sc);
  h.Add(1, Iota(6), 3);
  h.Add(2, Iota(9, 100), 3);
  const SchedulerOutput& out = h.sched_.Schedule();
  const ForwardBatch b = out.batch();
  EXPECT_EQ(b.n_seqs(), 2);
  EXPECT_EQ(b.n_tokens(), 15);
  EXPECT_EQ(b.query_start[1], 6);
  EXPECT_EQ(b.seq_len[1], 9);
  EXPECT_EQ(b.max_blocks_per_seq, 3);
  ASSERT_EQ(b.logit_rows.size(), 2u);
  EXPECT_EQ(b.logit_rows[0], 5);
  EXPECT_EQ(b.logit_rows[1], 14);
  EXPECT_EQ(b.block_table[2], 0);  // padding of the 2-block table
  EXPECT_EQ(b.slot_mapping[6], int64_t{out.seqs[1].block_table[0]} * 4);
  h.sched_.Update(std::vector<int32_t>{1, 2});
}

}  // namespace
}  // namespace weft
