// A fixed KV budget (kv/kv_budget.h): flag validation naming the field; which blocks h2o
// evicts (the lowest accumulated attention outside the sink blocks and the recent window);
// EvictBlocks's bookkeeping (blocks move down, attention mass moves with them, one shift
// per moved block with the right delta, freed blocks back on the free list); and, with
// dense, window, sinks and h2o sequences (two block sizes' worth of budgets) stepping in
// one pool in random order and chunk sizes, that after every step the pool's accounting
// holds, no block sits in two tables or on the free list while a table holds it, every
// cached slot still holds the token its table puts there (a freed block reused by another
// sequence would show here: no block used after free), each token's mass is still its own,
// and every step's attention sees at most the budget. Runs under the ASan build (no model:
// fast).
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "kv/kv_budget.h"
#include "kv/kv_cache_manager.h"

namespace weft {
namespace {

KvCacheConfig Config(int32_t num_blocks, int32_t block_size) {
  KvCacheConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.enable_prefix_caching = false;
  return c;
}

TEST(KvBudget, ValidateNamesTheField) {
  const int bs = 16;
  EXPECT_TRUE(ValidateKvBudget({}, bs, 1, 512, "b", "s").ok());
  EXPECT_TRUE(ValidateKvBudget({128, KvPolicy::kH2o, 4}, bs, 1, 512, "b", "s").ok());
  EXPECT_EQ(ValidateKvBudget({-1, KvPolicy::kH2o, 0}, bs, 1, 512, "b", "s").field(), "b");
  EXPECT_EQ(ValidateKvBudget({128, KvPolicy::kH2o, -1}, bs, 1, 512, "b", "s").field(), "s");
  // h2o: sink blocks (16) + n (1) + 2 (B - 1) = 47 is the least.
  EXPECT_TRUE(ValidateKvBudget({47, KvPolicy::kH2o, 4}, bs, 1, 512, "b", "s").ok());
  EXPECT_EQ(ValidateKvBudget({46, KvPolicy::kH2o, 4}, bs, 1, 512, "b", "s").field(), "b");
  EXPECT_TRUE(ValidateKvBudget({31, KvPolicy::kH2o, 0}, bs, 1, 512, "b", "s").ok());
  EXPECT_EQ(ValidateKvBudget({30, KvPolicy::kH2o, 0}, bs, 1, 512, "b", "s").field(), "b");
  EXPECT_EQ(ValidateKvBudget({47, KvPolicy::kH2o, 4}, bs, 8, 512, "b", "s").field(), "b");  // steps of 8
  // Token level: block size 1.
  EXPECT_TRUE(ValidateKvBudget({6, KvPolicy::kH2o, 4}, 1, 1, 512, "b", "s").ok());
  // sinks without sinks, window with sinks, past the context, too small for the window.
  EXPECT_EQ(ValidateKvBudget({128, KvPolicy::kSinks, 0}, bs, 1, 512, "b", "s").field(), "s");
  EXPECT_EQ(ValidateKvBudget({128, KvPolicy::kWindow, 4}, bs, 1, 512, "b", "s").field(), "s");
  EXPECT_EQ(ValidateKvBudget({1024, KvPolicy::kH2o, 0}, bs, 1, 512, "b", "s").field(), "b");
  EXPECT_EQ(ValidateKvBudget({32, KvPolicy::kSinks, 4}, bs, 1, 512, "b", "s").field(), "b");
  EXPECT_TRUE(ValidateKvBudget({33, KvPolicy::kSinks, 4}, bs, 1, 512, "b", "s").ok());
  EXPECT_EQ(KvPolicyFromName("h2o"), KvPolicy::kH2o);
  EXPECT_FALSE(KvPolicyFromName("H2O").has_value());
  EXPECT_EQ(KvBudgetName({64, KvPolicy::kSinks, 4}), "sinks 4 + window at 64");
  // The window policies at budget N: sink blocks + W + B - 1 cached + n new = N.
  EXPECT_EQ(WindowForBudget({100, KvPolicy::kWindow, 0}, bs, 1).window, 100 - 16 + 1 - 1);
  EXPECT_EQ(WindowForBudget({100, KvPolicy::kSinks, 4}, bs, 1), (KvWindow{4, 100 - 16 - 16 + 1 - 1}));
  EXPECT_FALSE(WindowForBudget({100, KvPolicy::kH2o, 4}, bs, 1).enabled());
}

TEST(KvBudget, ChoosesTheLowestMassOutsideSinksAndRecent) {
  const int bs = 4;
  const KvBudget b{20, KvPolicy::kH2o, 4};  // sink block 0; recent (20 - 4 - 1) / 2 = 7 tokens
  ASSERT_EQ(H2oRecentTokens(b, bs, 1), 7);
  std::vector<float> mass(64, 0.0f);
  // 28 cached tokens = blocks 0..6; recent: tokens 21.. -> blocks 5, 6; candidates 1..4.
  const float block_mass[7] = {0.0f, 5.0f, 1.0f, 9.0f, 2.0f, 0.0f, 0.0f};  // sink and recent: lowest, yet kept
  for (int j = 0; j < 7; ++j) {
    for (int t = 0; t < bs; ++t) mass[static_cast<size_t>(j * bs + t)] = block_mass[j] / bs;
  }
  std::vector<int32_t> out;
  ChooseH2oEvictions(b, bs, 1, mass, 28, out);  // 28 + 1 - 20 = 9 tokens over: 3 blocks
  EXPECT_EQ(out, (std::vector<int32_t>{1, 2, 4}));
  ChooseH2oEvictions(b, bs, 1, mass, 19, out);  // fits
  EXPECT_TRUE(out.empty());
  ChooseH2oEvictions(b, bs, 1, mass, 20, out);  // one over: the lowest candidate
  EXPECT_EQ(out, (std::vector<int32_t>{2}));
  // Token level: the lowest tokens, never the 4 sinks nor the last 7.
  const KvBudget tb{12, KvPolicy::kH2o, 4};
  std::vector<float> tm = {0, 0, 0, 0, 3, 1, 2, 0.5f, 4, 0.25f, 5, 0, 0, 0, 0, 0};
  ChooseH2oEvictions(tb, 1, 1, tm, 14, out);  // recent (12 - 4 - 1) / 2 = 3: tokens 11..13; 3 over
  EXPECT_EQ(out, (std::vector<int32_t>{5, 7, 9}));
}

TEST(KvBudget, EvictBlocksMovesBlocksMassAndShifts) {
  const int bs = 4;
  KvCacheManager kv(Config(16, bs));
  KvBlockTable t;
  kv.InitTable(t);
  t.attn_mass.assign(16 * bs, 0.0f);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.Allocate(t, 0, 22, copies));  // 6 blocks, the last holding 2 tokens
  for (int p = 0; p < 22; ++p) t.attn_mass[static_cast<size_t>(p)] = static_cast<float>(p);
  const std::vector<int32_t> before = t.blocks;
  std::vector<KvShift> shifts;
  const std::vector<int32_t> evict = {1, 3};
  EXPECT_EQ(kv.EvictBlocks(t, 22, evict, shifts), 8);
  EXPECT_EQ(t.num_evicted_tokens, 8);
  EXPECT_EQ(t.blocks, (std::vector<int32_t>{before[0], before[2], before[4], before[5]}));
  EXPECT_EQ(kv.pool().RefCount(before[1]), 0);
  EXPECT_EQ(kv.pool().RefCount(before[3]), 0);
  EXPECT_EQ(kv.pool().num_used(), 4);
  ASSERT_EQ(shifts.size(), 3u);
  EXPECT_EQ(shifts[0].block, before[2]);
  EXPECT_EQ(shifts[0].delta, 4);
  EXPECT_EQ(shifts[0].n_tokens, 4);
  EXPECT_EQ(shifts[1].block, before[4]);
  EXPECT_EQ(shifts[1].delta, 8);
  EXPECT_EQ(shifts[2].block, before[5]);
  EXPECT_EQ(shifts[2].delta, 8);
  EXPECT_EQ(shifts[2].n_tokens, 2);
  const std::vector<float> want = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21};
  for (size_t p = 0; p < want.size(); ++p) EXPECT_EQ(t.attn_mass[p], want[p]) << p;
  for (size_t p = want.size(); p < t.attn_mass.size(); ++p) EXPECT_EQ(t.attn_mass[p], 0.0f) << p;
  EXPECT_EQ(KvCacheManager::CachePos(t, 22), 14);
  kv.Free(t);
  EXPECT_EQ(kv.pool().num_used(), 0);
}

// What a sequence under some policy holds: the text positions of the tokens at its cache
// positions (to check slot contents against), and each token's mass.
struct Sim {
  KvBlockTable table;
  KvBudget budget;     // enabled: h2o / window / sinks; else dense
  int32_t computed = 0;
  int32_t length = 0;  // tokens to feed
  std::vector<int32_t> at;  // at[cache pos] = text position
  int id = 0;
};

TEST(KvBudget, MixedPoliciesInOnePoolKeepEveryInvariant) {
  for (const int32_t bs : {16, 1}) {
    SCOPED_TRACE(bs);
    std::mt19937 rng(7 + bs);
    const int32_t num_blocks = bs == 16 ? 160 : 2400;
    KvCacheManager kv(Config(num_blocks, bs));
    // slot_owner[slot] = (sequence id, text position) written there, -1 = never.
    std::vector<std::pair<int, int32_t>> slot_owner(static_cast<size_t>(num_blocks) * bs, {-1, -1});
    const int32_t N = bs == 16 ? 96 : 40;
    std::vector<Sim> sims(8);
    const KvBudget policies[] = {{}, {N, KvPolicy::kH2o, 0}, {N, KvPolicy::kH2o, 4}, {N, KvPolicy::kWindow, 0},
                                 {N, KvPolicy::kSinks, 4}, {N + 16, KvPolicy::kH2o, 4}, {}, {N, KvPolicy::kH2o, 0}};
    const int max_chunk = 5;
    for (size_t i = 0; i < sims.size(); ++i) {
      Sim& s = sims[i];
      s.id = static_cast<int>(i);
      s.budget = policies[i];
      ASSERT_TRUE(ValidateKvBudget(s.budget, bs, max_chunk, 1 << 20, "b", "s").ok());
      s.table.window = WindowForBudget(s.budget, bs, max_chunk);
      kv.InitTable(s.table);
      if (s.budget.enabled() && s.budget.policy == KvPolicy::kH2o) {
        s.table.attn_mass.assign(static_cast<size_t>(kv.max_blocks_per_seq()) * bs, 0.0f);
      }
      s.length = s.budget.enabled() ? 400 + 37 * static_cast<int32_t>(i) : 150;
    }
    std::vector<BlockCopy> copies;
    std::vector<KvShift> shifts;
    std::vector<int32_t> evict;
    std::map<std::pair<int, int32_t>, float> token_mass;  // (seq, text position) -> mass given
    int finished = 0;
    while (finished < static_cast<int>(sims.size())) {
      Sim& s = sims[std::uniform_int_distribution<size_t>(0, sims.size() - 1)(rng)];
      if (s.computed == s.length) continue;
      const int32_t n = std::min(s.length - s.computed, std::uniform_int_distribution<int32_t>(1, max_chunk)(rng));
      int32_t cache_len = KvCacheManager::CachePos(s.table, s.computed);
      shifts.clear();
      kv.EvictOutOfWindow(s.table, cache_len, shifts);
      if (s.budget.enabled() && s.budget.policy == KvPolicy::kH2o) {
        ChooseH2oEvictions(s.budget, bs, n, s.table.attn_mass, cache_len, evict);
        // Never a sink block nor one holding a recent token.
        const int32_t recent_first = cache_len - H2oRecentTokens(s.budget, bs, n);
        for (int32_t j : evict) {
          EXPECT_GE(j * bs, (s.budget.sinks + bs - 1) / bs * bs);
          EXPECT_LE((j + 1) * bs, recent_first);
        }
        kv.EvictBlocks(s.table, cache_len, evict, shifts);
      }
      // The shadow follows the evictions: drop the evicted cache positions.
      const int32_t new_len = KvCacheManager::CachePos(s.table, s.computed);
      if (new_len != cache_len) {
        std::vector<int32_t> kept;
        if (s.table.window.enabled()) {
          const int32_t sink = s.table.window.SinkBlocks(bs) * bs;
          kept.assign(s.at.begin(), s.at.begin() + std::min(sink, cache_len));
          kept.insert(kept.end(), s.at.end() - (new_len - static_cast<int32_t>(kept.size())), s.at.end());
        } else {
          for (int32_t p = 0; p < cache_len; ++p) {
            if (std::binary_search(evict.begin(), evict.end(), p / bs)) continue;
            kept.push_back(s.at[static_cast<size_t>(p)]);
          }
        }
        ASSERT_EQ(static_cast<int32_t>(kept.size()), new_len);
        s.at = kept;
      }
      cache_len = new_len;
      // The budget holds for every step's attention.
      if (s.budget.enabled()) {
        EXPECT_LE(cache_len + n, s.budget.budget) << KvBudgetName(s.budget);
      }
      copies.clear();
      ASSERT_TRUE(kv.Allocate(s.table, cache_len, n, copies)) << "pool too small";
      EXPECT_TRUE(copies.empty());
      // Every cached slot still holds this sequence's token for that cache position.
      for (int32_t p = 0; p < cache_len; ++p) {
        const auto owner = slot_owner[static_cast<size_t>(kv.Slot(s.table, p))];
        ASSERT_EQ(owner.first, s.id) << "slot of cache position " << p << " taken by another sequence";
        ASSERT_EQ(owner.second, s.at[static_cast<size_t>(p)]) << "cache position " << p;
        if (!s.table.attn_mass.empty()) {
          ASSERT_EQ(s.table.attn_mass[static_cast<size_t>(p)], (token_mass[{s.id, owner.second}])) << p;
        }
      }
      // "Write" the step and give each visible token some attention mass (a function of
      // the token, like a real attention pattern would not be, but checkable).
      for (int32_t t = 0; t < n; ++t) {
        slot_owner[static_cast<size_t>(kv.Slot(s.table, cache_len + t))] = {s.id, s.computed + t};
        s.at.push_back(s.computed + t);
      }
      if (!s.table.attn_mass.empty()) {
        for (int32_t p = 0; p < cache_len + n; ++p) {
          const float w = static_cast<float>((s.at[static_cast<size_t>(p)] * 7919 + s.computed) % 13) / 16.0f;
          s.table.attn_mass[static_cast<size_t>(p)] += w;
          token_mass[{s.id, s.at[static_cast<size_t>(p)]}] += w;
        }
      }
      s.computed += n;
      // Pool accounting: every table's blocks are distinct, used, and all the used ones.
      std::vector<int> held(static_cast<size_t>(num_blocks), 0);
      int32_t total = 0;
      for (const Sim& o : sims) {
        for (int32_t b : o.table.blocks) {
          ASSERT_EQ(held[static_cast<size_t>(b)]++, 0) << "block " << b << " in two tables";
          ASSERT_EQ(kv.pool().RefCount(b), 1);
          ++total;
        }
      }
      ASSERT_EQ(kv.pool().num_used(), total);
      ASSERT_EQ(kv.pool().num_free() + kv.pool().num_used(), num_blocks);
      if (s.computed == s.length) {
        kv.Free(s.table);
        ++finished;
      }
    }
    EXPECT_EQ(kv.pool().num_used(), 0);
    EXPECT_EQ(kv.pool().num_free(), num_blocks);
  }
}

}  // namespace
}  // namespace weft
