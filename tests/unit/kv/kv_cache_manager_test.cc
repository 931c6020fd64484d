#include "kv/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace weft {
namespace {

std::vector<int32_t> Iota(int32_t n, int32_t first = 1) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

KvCacheConfig Config(int32_t num_blocks, int32_t block_size = 16) {
  KvCacheConfig c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  return c;
}

// Admits `tokens` and computes all of them in one go, as the scheduler would.
PrefixMatch AdmitAndCompute(KvCacheManager& kv, KvBlockTable& t, const std::vector<int32_t>& tokens,
                            std::vector<BlockCopy>& copies) {
  kv.InitTable(t);
  const PrefixMatch m = kv.MatchPrefix(t, tokens);
  EXPECT_TRUE(kv.Allocate(t, m.num_cached_tokens, static_cast<int32_t>(tokens.size()) - m.num_cached_tokens, copies, &m));
  kv.CommitComputed(t, tokens, static_cast<int32_t>(tokens.size()));
  return m;
}

TEST(KvCacheManager, AllocatesSlotsAndMapsPositions) {
  KvCacheManager kv(Config(8, 4));
  KvBlockTable t;
  kv.InitTable(t);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.Allocate(t, 0, 6, copies));
  EXPECT_EQ(t.num_blocks(), 2);
  EXPECT_EQ(kv.Slot(t, 0), int64_t{t.blocks[0]} * 4);
  EXPECT_EQ(kv.Slot(t, 5), int64_t{t.blocks[1]} * 4 + 1);
  ASSERT_TRUE(kv.Allocate(t, 6, 2, copies));  // fills block 1, no new block
  EXPECT_EQ(t.num_blocks(), 2);
  ASSERT_TRUE(kv.Allocate(t, 8, 1, copies));
  EXPECT_EQ(t.num_blocks(), 3);
  EXPECT_TRUE(copies.empty());
  const KvCacheStats s = kv.Stats();
  EXPECT_EQ(s.num_used_blocks, 3);
  EXPECT_EQ(s.allocated_slots, 12);
  EXPECT_EQ(s.wasted_slots, 3);
  kv.Free(t);
  EXPECT_EQ(kv.Stats().num_free_blocks, 8);
}

TEST(KvCacheManager, NeverAllocatesPartially) {
  KvCacheManager kv(Config(3, 4));
  KvBlockTable a, b;
  kv.InitTable(a);
  kv.InitTable(b);
  std::vector<BlockCopy> copies;
  ASSERT_TRUE(kv.Allocate(a, 0, 8, copies));
  EXPECT_FALSE(kv.Allocate(b, 0, 5, copies));  // needs 2 blocks, 1 free
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(kv.num_free_blocks(), 1);
  EXPECT_TRUE(kv.Allocate(b, 0, 4, copies));
  EXPECT_EQ(kv.num_free_blocks(), 0);
  kv.Free(a);
  kv.Free(b);
  EXPECT_EQ(kv.num_free_blocks(), 3);
}

TEST(KvCacheManager, SecondRequestWithSamePromptReusesFullBlocks) {
  KvCacheManager kv(Config(16));
  std::vector<BlockCopy> copies;
  const auto prompt = Iota(40);
  KvBlockTable a, b;
  const PrefixMatch ma = AdmitAndCompute(kv, a, prompt, copies);
  EXPECT_EQ(ma.num_blocks, 0);
  EXPECT_EQ(ma.num_cached_tokens, 0);
  EXPECT_EQ(kv.Stats().num_cached_blocks, 2);  // the partial third block is not cached
  kv.Free(a);
  EXPECT_EQ(kv.Stats().num_used_blocks, 0);

  kv.InitTable(b);
  const PrefixMatch mb = kv.MatchPrefix(b, prompt);
  EXPECT_EQ(mb.num_blocks, 2);
  EXPECT_EQ(mb.num_cached_tokens, 32);
  ASSERT_TRUE(kv.Allocate(b, 32, 8, copies, &mb));  // only the last 8 tokens are computed
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(b.num_blocks(), 3);
  const KvCacheStats s = kv.Stats();
  EXPECT_EQ(s.block_queries, 4);
  EXPECT_EQ(s.block_hits, 2);
  EXPECT_EQ(s.prefix_queried_tokens, 80);
  EXPECT_EQ(s.prefix_hit_tokens, 32);
  EXPECT_DOUBLE_EQ(s.prefix_hit_rate, 32.0 / 80.0);
  // A different second block stops the chain after the first.
  auto other = prompt;
  other[20] = 999;
  KvBlockTable c;
  kv.InitTable(c);
  EXPECT_EQ(kv.MatchPrefix(c, other).num_blocks, 1);
  // Same tokens shifted by one block do not match: hashes chain on the parent.
  std::vector<int32_t> shifted(prompt.begin() + 16, prompt.end());
  KvBlockTable d;
  kv.InitTable(d);
  EXPECT_EQ(kv.MatchPrefix(d, shifted).num_blocks, 0);
  kv.Free(b);
}

TEST(KvCacheManager, FullHitRecomputesLastTokenIntoACopy) {
  KvCacheManager kv(Config(8, 16));
  std::vector<BlockCopy> copies;
  const auto prompt = Iota(32);
  KvBlockTable a, b;
  AdmitAndCompute(kv, a, prompt, copies);
  kv.InitTable(b);
  const PrefixMatch m = kv.MatchPrefix(b, prompt);
  EXPECT_EQ(m.num_blocks, 2);
  EXPECT_EQ(m.num_cached_tokens, 31);
  ASSERT_TRUE(kv.Allocate(b, 31, 1, copies, &m));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, a.blocks[1]);
  EXPECT_EQ(copies[0].dst, b.blocks[1]);
  EXPECT_EQ(b.blocks[0], a.blocks[0]);
  EXPECT_NE(b.blocks[1], a.blocks[1]);
  EXPECT_EQ(kv.pool().RefCount(a.blocks[0]), 2);
  EXPECT_EQ(kv.pool().RefCount(a.blocks[1]), 1);
  kv.Free(a);
  kv.Free(b);
  EXPECT_EQ(kv.num_free_blocks(), 8);
}

TEST(KvCacheManager, ForkSharesBlocksAndCopiesPartialLastBlockOnWrite) {
  KvCacheManager kv(Config(8, 16));
  std::vector<BlockCopy> copies;
  const auto prompt = Iota(40);
  KvBlockTable parent, child;
  AdmitAndCompute(kv, parent, prompt, copies);
  kv.InitTable(child);
  kv.Fork(parent, child);
  EXPECT_EQ(child.blocks, parent.blocks);
  for (int32_t b : parent.blocks) EXPECT_EQ(kv.pool().RefCount(b), 2);
  EXPECT_EQ(kv.Stats().num_used_blocks, 3);

  const int32_t shared_last = parent.blocks[2];
  ASSERT_TRUE(kv.Allocate(parent, 40, 1, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, shared_last);
  EXPECT_EQ(copies[0].dst, parent.blocks[2]);
  EXPECT_EQ(child.blocks[2], shared_last);
  EXPECT_EQ(kv.pool().RefCount(shared_last), 1);
  copies.clear();
  ASSERT_TRUE(kv.Allocate(child, 40, 1, copies));  // sole owner now: writes in place
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(child.blocks[2], shared_last);
  EXPECT_EQ(kv.pool().RefCount(parent.blocks[0]), 2);
  kv.Free(parent);
  EXPECT_EQ(kv.pool().RefCount(child.blocks[0]), 1);
  kv.Free(child);
  EXPECT_EQ(kv.num_free_blocks(), 8);
  EXPECT_EQ(kv.Stats().num_used_blocks, 0);
}

TEST(KvCacheManager, ForkOfFullLastBlockNeedsNoCopy) {
  KvCacheManager kv(Config(8, 16));
  std::vector<BlockCopy> copies;
  KvBlockTable parent, child;
  AdmitAndCompute(kv, parent, Iota(32), copies);
  kv.InitTable(child);
  kv.Fork(parent, child);
  ASSERT_TRUE(kv.Allocate(child, 32, 1, copies));
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(child.num_blocks(), 3);
  kv.Free(parent);
  kv.Free(child);
}

TEST(KvCacheManager, EvictsOnlyFreeBlocksInLruOrder) {
  KvCacheManager kv(Config(7, 4));
  std::vector<BlockCopy> copies;
  const auto a_tokens = Iota(12, 100);  // three full blocks
  KvBlockTable a, b, c, probe;
  AdmitAndCompute(kv, a, a_tokens, copies);
  const std::vector<int32_t> a_blocks = a.blocks;
  EXPECT_EQ(kv.Stats().num_cached_blocks, 3);
  kv.Free(a);  // released tail first, so the prefix stays cached longest
  EXPECT_EQ(kv.num_free_blocks(), 7);
  // Free list: 4 never-used blocks, then a2, a1, a0.
  kv.InitTable(b);
  ASSERT_TRUE(kv.Allocate(b, 0, 20, copies));  // 5 blocks: the 4 unused ones, then a2
  EXPECT_EQ(kv.Stats().evictions, 1);
  EXPECT_EQ(b.blocks[4], a_blocks[2]);
  kv.InitTable(probe);
  EXPECT_EQ(kv.MatchPrefix(probe, a_tokens).num_blocks, 2);
  kv.InitTable(c);
  ASSERT_TRUE(kv.Allocate(c, 0, 1, copies));  // evicts a1 before a0
  EXPECT_EQ(c.blocks[0], a_blocks[1]);
  EXPECT_EQ(kv.Stats().evictions, 2);
  KvBlockTable probe2;
  kv.InitTable(probe2);
  EXPECT_EQ(kv.MatchPrefix(probe2, a_tokens).num_blocks, 1);
  kv.Free(b);
  kv.Free(c);
  EXPECT_EQ(kv.num_free_blocks(), 7);
}

TEST(KvCacheManager, UsedCachedBlocksAreNeverEvicted) {
  KvCacheManager kv(Config(4, 4));
  std::vector<BlockCopy> copies;
  const auto tokens = Iota(8);
  KvBlockTable a, b, c, probe;
  AdmitAndCompute(kv, a, tokens, copies);
  kv.InitTable(b);
  ASSERT_TRUE(kv.Allocate(b, 0, 8, copies));
  kv.InitTable(c);
  EXPECT_FALSE(kv.Allocate(c, 0, 1, copies));
  EXPECT_EQ(kv.Stats().evictions, 0);
  kv.InitTable(probe);
  EXPECT_EQ(kv.MatchPrefix(probe, tokens).num_blocks, 2);
  kv.Free(a);
  kv.Free(b);
}

TEST(KvCacheManager, AdmissionCountsFreeCachedHitsAsTaken) {
  KvCacheManager kv(Config(3, 4));
  std::vector<BlockCopy> copies;
  const auto tokens = Iota(8);
  KvBlockTable a, b;
  AdmitAndCompute(kv, a, tokens, copies);
  kv.Free(a);
  kv.InitTable(b);
  const auto longer = Iota(12);  // same first 8 tokens
  const PrefixMatch m = kv.MatchPrefix(b, longer);
  EXPECT_EQ(m.num_blocks, 2);
  EXPECT_EQ(kv.BlocksNeeded(b, 8, 4, &m), 3);  // two revived + one new
  ASSERT_TRUE(kv.Allocate(b, 8, 4, copies, &m));
  EXPECT_EQ(kv.num_free_blocks(), 0);
  kv.Free(b);
}

TEST(KvCacheManager, PrefixCachingOff) {
  KvCacheConfig c = Config(8, 4);
  c.enable_prefix_caching = false;
  KvCacheManager kv(c);
  std::vector<BlockCopy> copies;
  KvBlockTable a, b;
  AdmitAndCompute(kv, a, Iota(8), copies);
  kv.InitTable(b);
  EXPECT_EQ(kv.MatchPrefix(b, Iota(8)).num_blocks, 0);
  EXPECT_EQ(kv.Stats().num_cached_blocks, 0);
  kv.Free(a);
}

}  // namespace
}  // namespace weft
