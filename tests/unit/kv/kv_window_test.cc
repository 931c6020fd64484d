// Sinks + window (kv/kv_window.h): which blocks EvictOutOfWindow releases and which it
// lists for re-rotation, the cache positions tokens get, and — through the Scheduler with
// dense and windowed sequences of different policies in one batch, prefix hits, and
// preemption — that the pool's accounting holds after every step, that no slot a step
// reads or writes belongs to a freed block or another sequence, and that every token a
// step attends to sits at the RoPE position the window assigns it (a fabricated model that
// applies the shifts the scheduler asks for). Runs under the ASan build.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <vector>

#include "kv/kv_cache_manager.h"
#include "kv/kv_window.h"
#include "sched/scheduler.h"

namespace weft {
namespace {

KvCacheConfig Config(int32_t num_blocks, int32_t block_size = 16, bool prefix = true, int32_t max_len = 0) {
  KvCacheConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.enable_prefix_caching = prefix;
  c.max_model_len = max_len;
  return c;
}

TEST(KvWindow, ValidateNamesTheField) {
  EXPECT_TRUE(ValidateKvWindow({0, 0}, 16, 512, "s", "w").ok());
  EXPECT_TRUE(ValidateKvWindow({4, 128}, 16, 512, "s", "w").ok());
  EXPECT_EQ(ValidateKvWindow({-1, 128}, 16, 512, "s", "w").field(), "s");
  EXPECT_EQ(ValidateKvWindow({0, -5}, 16, 512, "s", "w").field(), "w");
  EXPECT_EQ(ValidateKvWindow({4, 0}, 16, 512, "s", "w").field(), "s");  // sinks without a window
  // 16 (one sink block) + 480 + 16 = 512 tokens held: not below the context of 512.
  EXPECT_EQ(ValidateKvWindow({4, 480}, 16, 512, "s", "w").field(), "w");
  EXPECT_TRUE(ValidateKvWindow({4, 479}, 16, 512, "s", "w").ok());
  EXPECT_EQ(KvWindowName({}), "dense");
  EXPECT_EQ(KvWindowName({0, 64}), "window 64");
  EXPECT_EQ(KvWindowName({4, 64}), "sinks 4 + window 64");
}

// One sequence fed token by token: the blocks it holds stay bounded, the sinks stay, the
// window always covers the last `window` tokens, and every eviction lists the kept blocks.
TEST(KvWindow, EvictsWholeBlocksAndKeepsSinksAndWindow) {
  for (const KvWindow w : {KvWindow{4, 40}, KvWindow{0, 40}, KvWindow{20, 16}, KvWindow{16, 1}}) {
    SCOPED_TRACE(KvWindowName(w));
    const int32_t bs = 16;
    KvCacheManager kv(Config(64, bs));
    KvBlockTable t;
    t.window = w;
    kv.InitTable(t);
    std::vector<BlockCopy> copies;
    std::vector<KvShift> shifts;
    const int32_t sink_blocks = w.SinkBlocks(bs);
    std::vector<int32_t> sink_ids;
    int32_t computed = 0;
    for (int32_t step = 0; step < 600; ++step) {
      shifts.clear();
      const int32_t before = KvCacheManager::CachePos(t, computed);
      const int32_t evicted = kv.EvictOutOfWindow(t, before, shifts);
      EXPECT_EQ(evicted % bs, 0);
      const int32_t len = KvCacheManager::CachePos(t, computed);
      EXPECT_EQ(len, before - evicted);
      if (evicted > 0) {
        // Every kept block after the sinks that holds tokens is listed, shifted by what left.
        const int32_t listed = (len - sink_blocks * bs + bs - 1) / bs;
        ASSERT_EQ(static_cast<int32_t>(shifts.size()), listed);
        for (size_t i = 0; i < shifts.size(); ++i) {
          EXPECT_EQ(shifts[i].block, t.blocks[static_cast<size_t>(sink_blocks) + i]);
          EXPECT_EQ(shifts[i].delta, evicted);
          EXPECT_EQ(shifts[i].n_tokens, std::min(bs, len - (sink_blocks + static_cast<int32_t>(i)) * bs));
        }
      } else {
        EXPECT_TRUE(shifts.empty());
      }
      // The window: at least `window` past tokens after the sinks (or all there are), and
      // fewer than window + bs.
      const int32_t past_window = len - std::min(len, sink_blocks * bs);
      EXPECT_GE(past_window, std::min(w.window, computed - std::min(computed, sink_blocks * bs)));
      EXPECT_LT(past_window, w.window + bs);
      ASSERT_TRUE(kv.Allocate(t, len, 1, copies));
      EXPECT_TRUE(copies.empty());
      EXPECT_LE(t.num_blocks(), sink_blocks + (w.window + bs - 1 + 1 + bs - 1) / bs + 1);
      EXPECT_EQ(kv.pool().num_used(), t.num_blocks());  // nothing shared, nothing leaked
      ++computed;
      kv.CommitComputed(t, std::vector<int32_t>(static_cast<size_t>(computed), 7), computed);
      EXPECT_EQ(kv.Stats().num_cached_blocks, 0);  // a windowed table registers nothing
      if (static_cast<int32_t>(sink_ids.size()) < sink_blocks && t.num_blocks() > static_cast<int32_t>(sink_ids.size())) {
        sink_ids.assign(t.blocks.begin(), t.blocks.begin() + std::min(sink_blocks, t.num_blocks()));
      }
    }
    // The sink blocks never moved.
    ASSERT_EQ(static_cast<int32_t>(sink_ids.size()), sink_blocks);
    for (int32_t i = 0; i < sink_blocks; ++i) EXPECT_EQ(t.blocks[static_cast<size_t>(i)], sink_ids[static_cast<size_t>(i)]);
    EXPECT_EQ(t.num_evicted_tokens + KvCacheManager::CachePos(t, computed), computed);
    kv.Free(t);
    EXPECT_EQ(kv.pool().num_used(), 0);
    EXPECT_EQ(t.num_evicted_tokens, 0);
    EXPECT_EQ(t.window, w);  // Free keeps the policy (a preempted sequence resumes with it)
  }
}

TEST(KvWindow, WindowedTableTakesNoPrefixHits) {
  KvCacheManager kv(Config(16, 4));
  std::vector<int32_t> prompt(12);
  std::iota(prompt.begin(), prompt.end(), 1);
  std::vector<BlockCopy> copies;
  KvBlockTable dense;
  kv.InitTable(dense);
  ASSERT_TRUE(kv.Allocate(dense, 0, 12, copies));
  kv.CommitComputed(dense, prompt, 12);
  EXPECT_EQ(kv.Stats().num_cached_blocks, 3);
  KvBlockTable w;
  w.window = {0, 4};
  kv.InitTable(w);
  EXPECT_EQ(kv.MatchPrefix(w, prompt).num_blocks, 0);
  KvBlockTable d2;
  kv.InitTable(d2);
  EXPECT_EQ(kv.MatchPrefix(d2, prompt).num_blocks, 3);
}

// ---- the scheduler with mixed policies --------------------------------------------------

// The fabricated cache: per slot, which sequence wrote it, the token's position in its
// sequence, and the RoPE position its K carries (moved by the shifts).
struct SlotContent {
  int64_t seq = -1;
  int32_t logical = -1;
  int32_t rope = -1;
};

class WindowModel {
 public:
  WindowModel(int32_t num_blocks, int32_t bs) : bs_(bs), slots_(static_cast<size_t>(num_blocks * bs)) {}

  std::vector<int32_t> Execute(const SchedulerOutput& out, KvCacheManager& kv) {
    for (const BlockCopy& c : out.copies) {
      for (int32_t i = 0; i < bs_; ++i) slots_[Sz(c.dst * bs_ + i)] = slots_[Sz(c.src * bs_ + i)];
    }
    for (const KvShift& s : out.shifts) {
      EXPECT_GT(kv.pool().RefCount(s.block), 0) << "shift of a free block " << s.block;
      for (int32_t i = 0; i < s.n_tokens; ++i) slots_[Sz(s.block * bs_ + i)].rope -= s.delta;
    }
    std::vector<int32_t> sampled;
    for (const ScheduledSequence& e : out.seqs) {
      const Sequence& s = *e.seq;
      const int64_t id = static_cast<int64_t>(s.request_id);
      const int32_t n = e.num_new_tokens;
      const int32_t len = out.seq_len[static_cast<size_t>(&e - out.seqs.data())];
      for (int32_t j = 0; j < n; ++j) {
        const size_t t = Sz(e.token_offset + j);
        const int32_t p = e.start_position + j;
        EXPECT_EQ(out.positions[t], len - n + j);  // the cache position
        const int64_t slot = out.slot_mapping[t];
        EXPECT_GT(kv.pool().RefCount(static_cast<int32_t>(slot / bs_)), 0) << "write into a free block";
        slots_[static_cast<size_t>(slot)] = {id, p, out.positions[t]};
      }
      // Attention reads cache positions [0, len): each must be this sequence's, at its
      // own RoPE position, the sinks first, then a contiguous run ending at the new token.
      const int32_t sink_tokens = s.kv.window.SinkBlocks(bs_) * bs_;
      int32_t prev = -1;
      for (int32_t c = 0; c < len; ++c) {
        const int32_t b = e.block_table[Sz(c / bs_)];
        EXPECT_GT(kv.pool().RefCount(b), 0);
        const SlotContent& sc = slots_[Sz(b * bs_ + c % bs_)];
        if (sc.logical < 0 || sc.rope != c || (sc.seq != id && !PrefixShared(s, sc))) {
          ADD_FAILURE() << "seq " << id << " cache pos " << c << " holds seq " << sc.seq << " pos " << sc.logical
                        << " rope " << sc.rope;
          return sampled;
        }
        if (!s.kv.window.enabled() || c < sink_tokens) {
          EXPECT_EQ(sc.logical, c);
        } else if (c > sink_tokens) {
          EXPECT_EQ(sc.logical, prev + 1);
        }
        prev = sc.logical;
      }
      EXPECT_EQ(prev, e.start_position + n - 1);
      if (s.kv.window.enabled()) {
        const int32_t past = len - n - std::min(len - n, sink_tokens);
        EXPECT_GE(past, std::min(s.kv.window.window, e.start_position - std::min(e.start_position, sink_tokens)));
      }
      if (e.needs_logits) sampled.push_back(static_cast<int32_t>((id * 131 + e.start_position + n) % 97) + 1);
    }
    return sampled;
  }

 private:
  // A dense sequence may read a block another dense sequence wrote (a prefix hit): the
  // same tokens at the same positions. The test prompts make that the only sharing.
  static bool PrefixShared(const Sequence& s, const SlotContent& sc) {
    return !s.kv.window.enabled() && sc.logical < s.num_prompt_tokens;
  }
  static size_t Sz(int64_t i) { return static_cast<size_t>(i); }
  int32_t bs_;
  std::vector<SlotContent> slots_;
};

// Every block's refcount equals the number of tables holding it; used = blocks held.
void CheckAccounting(const KvCacheManager& kv, const std::vector<std::unique_ptr<Sequence>>& seqs) {
  std::map<int32_t, int32_t> holders;
  for (const auto& s : seqs) {
    if (s->status != SequenceStatus::kRunning) {
      EXPECT_TRUE(s->kv.empty()) << "sequence " << s->request_id << " holds blocks while not running";
      continue;
    }
    for (int32_t b : s->kv.blocks) ++holders[b];
  }
  for (int32_t b = 0; b < kv.pool().num_blocks(); ++b) {
    const auto it = holders.find(b);
    EXPECT_EQ(kv.pool().RefCount(b), it == holders.end() ? 0 : it->second) << "block " << b;
  }
  EXPECT_EQ(kv.pool().num_used(), static_cast<int32_t>(holders.size()));
  EXPECT_EQ(kv.pool().num_free() + kv.pool().num_used(), kv.pool().num_blocks());
}

void RunMixed(int32_t num_blocks, int32_t budget, bool expect_preemption) {
  const int32_t bs = 16, max_len = 256;
  KvCacheManager kv(Config(num_blocks, bs, /*prefix=*/true, max_len));
  SchedulerConfig sc;
  sc.max_num_batched_tokens = budget;
  sc.max_num_seqs = 8;
  Scheduler sched(sc, &kv);
  WindowModel model(num_blocks, bs);
  // Dense sequences share a prompt (prefix hits); windowed ones (several policies) get the
  // same prompt too (they must not take those hits), and generate past max_model_len.
  std::vector<int32_t> shared(40);
  std::iota(shared.begin(), shared.end(), 3);
  const KvWindow policies[] = {{}, {4, 32}, {}, {0, 48}, {16, 20}, {}, {1, 100}, {4, 32}};
  std::vector<std::unique_ptr<Sequence>> seqs;
  for (size_t i = 0; i < std::size(policies); ++i) {
    std::vector<int32_t> prompt = shared;
    if (i % 3 == 1) prompt.resize(300, 5);  // windowed prompts longer than the context
    if (!policies[i].enabled()) prompt.resize(40 + 3 * i, 9);
    const int32_t max_tokens = policies[i].enabled() ? 400 : max_len - static_cast<int32_t>(prompt.size());
    auto s = std::make_unique<Sequence>(i + 1, 0, prompt, max_tokens);
    s->kv.window = policies[i];
    Sequence* raw = s.get();
    seqs.push_back(std::move(s));
    sched.Add(raw);
  }
  int steps = 0;
  int64_t preemptions = 0;
  while (sched.HasUnfinished() && steps < 5000) {
    const SchedulerOutput& out = sched.Schedule();
    preemptions += static_cast<int64_t>(out.preempted.size());
    const std::vector<int32_t> sampled = model.Execute(out, kv);
    if (::testing::Test::HasFailure()) return;
    sched.Update(sampled);
    CheckAccounting(kv, seqs);
    ++steps;
  }
  EXPECT_FALSE(sched.HasUnfinished());
  for (const auto& s : seqs) {
    EXPECT_EQ(s->finish_reason, FinishReason::kLength);
    if (s->kv.window.enabled()) {
      EXPECT_EQ(s->num_generated(), 400) << "windowed sequences run past max_model_len";
    }
  }
  if (expect_preemption) {
    EXPECT_GT(preemptions, 0);
  }
  EXPECT_EQ(kv.pool().num_used(), 0);
}

TEST(KvWindow, MixedPoliciesInOneBatchKeepPoolAccounting) { RunMixed(200, 512, false); }

TEST(KvWindow, MixedPoliciesUnderPreemption) { RunMixed(40, 64, true); }

}  // namespace
}  // namespace weft
