// Speculative decoding in the scheduler: draft tokens ride in the ragged batch after a
// decoding sequence's last token, get one logits row each, and Update() keeps only the
// accepted ones, rolling the KV blocks past them back (no copy). A fabricated target
// (next token = a hash of the prefix) and a proposer that is right for a random number of
// tokens then wrong check, by content, that every position a step attends to holds the
// right prefix, that the outputs equal plain decoding, and that the block pool is exact.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>

#include "unit/sched/sched_test_util.h"
#include "sched/scheduler.h"

namespace weft {
namespace {

using testing_sched::FakeSample;
using testing_sched::MixHash;

constexpr int32_t kBlock = 4;

// A target model over a slot array: slot = hash of the prefix up to its token.
class SpecFakeModel {
 public:
  explicit SpecFakeModel(int32_t num_blocks) : slots_(static_cast<size_t>(num_blocks) * kBlock, 0) {}

  // Runs a step; returns, per entry with logits, the target's token after each of its rows
  // (entry order, rows in order). Tokens of the batch are the sequence's then its draft.
  std::vector<std::vector<int32_t>> Execute(const SchedulerOutput& out) {
    for (const BlockCopy& c : out.copies) {
      for (int32_t i = 0; i < kBlock; ++i) slots_[Slot(c.dst, i)] = slots_[Slot(c.src, i)];
    }
    std::vector<std::vector<int32_t>> rows;
    int32_t row_count = 0;
    for (const ScheduledSequence& e : out.seqs) {
      const Sequence& s = *e.seq;
      std::vector<int32_t> content = s.tokens;
      content.insert(content.end(), s.draft.begin(), s.draft.begin() + e.num_draft);
      const int32_t end = e.start_position + e.num_new_tokens;
      EXPECT_EQ(static_cast<int32_t>(content.size()), e.needs_logits ? end : static_cast<int32_t>(content.size()));
      std::vector<uint64_t> h(static_cast<size_t>(end));
      uint64_t acc = 1;
      for (int32_t p = 0; p < end; ++p) h[static_cast<size_t>(p)] = acc = MixHash(acc, static_cast<uint64_t>(content[static_cast<size_t>(p)]));
      for (int32_t p = e.start_position; p < end; ++p) {
        const auto i = static_cast<size_t>(e.token_offset + p - e.start_position);
        EXPECT_EQ(out.tokens[i], content[static_cast<size_t>(p)]);
        EXPECT_EQ(out.positions[i], p);
        slots_[static_cast<size_t>(out.slot_mapping[i])] = h[static_cast<size_t>(p)];
      }
      for (int32_t p = 0; p < end; ++p) {
        if (slots_[Slot(e.block_table[static_cast<size_t>(p / kBlock)], p % kBlock)] != h[static_cast<size_t>(p)]) {
          ADD_FAILURE() << "request " << s.request_id << " position " << p << " reads wrong KV";
          break;
        }
      }
      if (!e.needs_logits) continue;
      EXPECT_EQ(e.logits_row, row_count);
      std::vector<int32_t> r;
      for (int32_t j = 0; j <= e.num_draft; ++j) {
        // Row j is the logits of token end - 1 - num_draft + j.
        EXPECT_EQ(out.logit_rows[static_cast<size_t>(e.logits_row + j)], e.token_offset + e.num_new_tokens - 1 - e.num_draft + j);
        r.push_back(FakeSample(h[static_cast<size_t>(end - 1 - e.num_draft + j)], 0));
      }
      row_count += e.num_draft + 1;
      rows.push_back(std::move(r));
    }
    EXPECT_EQ(static_cast<int32_t>(out.logit_rows.size()), row_count);
    return rows;
  }

 private:
  static size_t Slot(int32_t block, int32_t offset) { return static_cast<size_t>(block) * kBlock + static_cast<size_t>(offset); }
  std::vector<uint64_t> slots_;
};

// The plain-decoding continuation of `prompt` under the fake target.
std::vector<int32_t> Reference(const std::vector<int32_t>& prompt, int32_t max_tokens) {
  std::vector<int32_t> t = prompt;
  uint64_t acc = 1;
  for (int32_t x : t) acc = MixHash(acc, static_cast<uint64_t>(x));
  for (int32_t i = 0; i < max_tokens; ++i) {
    const int32_t next = FakeSample(acc, 0);
    t.push_back(next);
    acc = MixHash(acc, static_cast<uint64_t>(next));
  }
  return t;
}

struct SpecRun {
  std::map<uint64_t, std::vector<int32_t>> outputs;
  int64_t drafted = 0, accepted = 0, preemptions = 0;
};

// Runs `prompts` through a scheduler with drafts that match the reference for a random
// number of tokens (then go wrong), sampling greedily by the longest matching prefix.
SpecRun RunWithDrafts(const std::vector<std::vector<int32_t>>& prompts, int32_t max_tokens, int32_t num_blocks,
                      int32_t budget, int32_t max_draft, uint32_t seed, bool prefix_caching = true) {
  KvCacheConfig kc;
  kc.num_blocks = num_blocks;
  kc.block_size = kBlock;
  kc.enable_prefix_caching = prefix_caching;
  kc.max_model_len = 256;
  KvCacheManager kv(kc);
  SchedulerConfig sc;
  sc.max_num_batched_tokens = budget;
  sc.max_num_seqs = 8;
  sc.max_draft_tokens_per_step = max_draft;
  Scheduler sched(sc, &kv);
  SpecFakeModel model(num_blocks);
  std::mt19937 rng(seed);
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<std::vector<int32_t>> refs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    seqs.push_back(std::make_unique<Sequence>(i, 0, prompts[i], max_tokens));
    refs.push_back(Reference(prompts[i], max_tokens));
    sched.Add(seqs.back().get());
  }
  SpecRun run;
  for (int step = 0; sched.HasUnfinished(); ++step) {
    EXPECT_LT(step, 10000);
    if (step >= 10000) break;
    for (Sequence* s : sched.running()) {
      s->draft.clear();
      if (s->num_uncomputed() != 1) continue;
      const auto& ref = refs[s->request_id];
      const int32_t k = static_cast<int32_t>(rng() % 6);
      const int32_t good = static_cast<int32_t>(rng() % 7);
      for (int32_t j = 0; j < k; ++j) {
        const size_t at = static_cast<size_t>(s->num_tokens() + j);
        const int32_t right = at < ref.size() ? ref[at] : 5;
        s->draft.push_back(j < good ? right : right + 1);
      }
    }
    const SchedulerOutput& out = sched.Schedule();
    EXPECT_LE(out.num_tokens, budget);
    EXPECT_LE(out.num_draft_tokens, max_draft);
    const auto rows = model.Execute(out);
    std::vector<int32_t> sampled, counts;
    size_t r = 0;
    for (const ScheduledSequence& e : out.seqs) {
      if (!e.needs_logits) continue;
      const auto& row = rows[r++];
      int32_t c = 0;
      for (int32_t j = 0; j <= e.num_draft; ++j) {
        sampled.push_back(row[static_cast<size_t>(j)]);
        ++c;
        if (j == e.num_draft || e.seq->draft[static_cast<size_t>(j)] != row[static_cast<size_t>(j)]) break;
      }
      for (size_t extra = 1; extra < e.samplers.size(); ++extra) ADD_FAILURE() << "no n>1 here";
      counts.push_back(c);
      run.drafted += e.num_draft;
      run.accepted += c - 1;
    }
    sched.Update(sampled, counts);
    // Rollback is exact: each running table covers its computed tokens and no more.
    for (const Sequence* s : sched.running()) {
      EXPECT_EQ(s->kv.num_blocks(), kv.BlocksForTokens(s->num_computed_tokens));
    }
    for (const Sequence* f : out.finished) run.outputs[f->request_id] = f->tokens;
  }
  EXPECT_EQ(kv.num_free_blocks(), num_blocks) << "blocks leaked";
  run.preemptions = sched.Stats().num_preemptions;
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(run.outputs[i], refs[i]) << "request " << i;
  return run;
}

std::vector<std::vector<int32_t>> Prompts(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> p;
  const std::vector<int32_t> shared = {7, 8, 9, 10, 11, 12, 13, 14, 15};  // prefix-cache hits
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> t = i % 2 == 0 ? shared : std::vector<int32_t>{};
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int j = 0; j < len; ++j) t.push_back(static_cast<int32_t>(rng() % 1000));
    p.push_back(t);
  }
  return p;
}

TEST(SchedulerSpec, AcceptedDraftsEqualPlainDecodingAndRollBackExactly) {
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    const SpecRun r = RunWithDrafts(Prompts(8, seed), 20, 200, 64, 24, seed);
    EXPECT_GT(r.accepted, 0);
    EXPECT_LT(r.accepted, r.drafted);
  }
}

TEST(SchedulerSpec, UnderPreemptionAndTinyBudgets) {
  int64_t preemptions = 0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    // 14 blocks of 4 tokens for 8 sequences of up to 41 tokens: preemption; budget 5.
    const SpecRun r = RunWithDrafts(Prompts(8, seed), 20, 14, 5, 3, seed, seed % 2 == 0);
    preemptions += r.preemptions;
    EXPECT_GT(r.accepted, 0);
  }
  EXPECT_GT(preemptions, 0);
}

TEST(SchedulerSpec, DraftsStopAtMaxTokensAndTheContext) {
  // max_tokens 3: at most 2 draft tokens on the first decode step, then 1, then none.
  const SpecRun r = RunWithDrafts(Prompts(4, 3), 3, 100, 64, 64, 3);
  EXPECT_GT(r.drafted, 0);
}

TEST(SchedulerSpec, PrefixCacheNeverHoldsARejectedToken) {
  // One sequence decodes with always-wrong drafts over many blocks; a second request whose
  // prompt is the first one's whole output then hits the cache, and the fake model checks
  // that every cached position holds the right prefix.
  KvCacheConfig kc;
  kc.num_blocks = 64;
  kc.block_size = kBlock;
  kc.max_model_len = 256;
  KvCacheManager kv(kc);
  SchedulerConfig sc;
  sc.max_draft_tokens_per_step = 8;
  Scheduler sched(sc, &kv);
  SpecFakeModel model(64);
  auto run = [&](Sequence& s) {
    sched.Add(&s);
    for (int step = 0; !s.is_finished(); ++step) {
      ASSERT_LT(step, 1000) << "no progress";
      s.draft.clear();
      if (s.status == SequenceStatus::kRunning && s.num_uncomputed() == 1) s.draft.assign(5, 999);  // always wrong
      const SchedulerOutput& out = sched.Schedule();
      const auto rows = model.Execute(out);
      std::vector<int32_t> sampled, counts;
      for (const auto& row : rows) {
        sampled.push_back(row[0]);
        counts.push_back(1);
      }
      sched.Update(sampled, counts);
    }
  };
  Sequence a(1, 0, std::vector<int32_t>{1, 2, 3}, 30);
  run(a);
  EXPECT_EQ(a.tokens, Reference({1, 2, 3}, 30));
  Sequence b(2, 0, a.tokens, 4);
  run(b);
  EXPECT_GE(b.num_cached_tokens, 28);
  EXPECT_EQ(b.tokens, Reference(a.tokens, 4));
  EXPECT_EQ(kv.num_free_blocks(), 64);
}

}  // namespace
}  // namespace weft
