// KvCacheManager::Truncate: speculative decoding's rollback releases the blocks past the
// kept tokens (no copy), keeps the pool's accounting exact and never touches cached blocks.
#include <gtest/gtest.h>

#include <numeric>

#include "kv/kv_cache_manager.h"

namespace weft {
namespace {

TEST(KvTruncate, ReleasesTheBlocksPastTheKeptTokens) {
  KvCacheConfig c;
  c.num_blocks = 8;
  c.block_size = 4;
  KvCacheManager kv(c);
  KvBlockTable t;
  kv.InitTable(t);
  std::vector<BlockCopy> copies;
  std::vector<int32_t> tokens(20);
  std::iota(tokens.begin(), tokens.end(), 1);
  ASSERT_TRUE(kv.Allocate(t, 0, 6, copies));   // 6 computed tokens: 2 blocks
  kv.CommitComputed(t, tokens, 6);              // block 0 cached
  ASSERT_TRUE(kv.Allocate(t, 6, 7, copies));    // 1 + 6 draft tokens: to 13 tokens, 4 blocks
  EXPECT_EQ(t.num_blocks(), 4);
  EXPECT_EQ(kv.num_free_blocks(), 4);
  const int32_t kept_block = t.blocks[1];
  kv.Truncate(t, 8);                            // 2 draft tokens accepted: 8 tokens, 2 blocks
  EXPECT_EQ(t.num_blocks(), 2);
  EXPECT_EQ(t.blocks[1], kept_block);           // nothing moved or copied
  EXPECT_TRUE(copies.empty());
  EXPECT_EQ(kv.num_free_blocks(), 6);
  EXPECT_EQ(kv.Stats().wasted_slots, 0);        // 8 slots hold 8 tokens
  ASSERT_TRUE(kv.Allocate(t, 8, 3, copies));    // grows again
  kv.Truncate(t, 9);
  EXPECT_EQ(t.num_blocks(), 3);
  EXPECT_EQ(kv.Stats().wasted_slots, 3);        // block 2 holds 1 token of 4
  kv.Truncate(t, 9);                            // idempotent
  EXPECT_EQ(t.num_blocks(), 3);
  kv.Free(t);
  EXPECT_EQ(kv.num_free_blocks(), 8);
  EXPECT_EQ(kv.Stats().num_cached_blocks, 1);   // only the computed block 0 was cached
}

TEST(KvTruncateDeathTest, NeverBelowTheCachedBlocks) {
  KvCacheConfig c;
  c.num_blocks = 4;
  c.block_size = 4;
  KvCacheManager kv(c);
  KvBlockTable t;
  kv.InitTable(t);
  std::vector<BlockCopy> copies;
  std::vector<int32_t> tokens(8, 3);
  ASSERT_TRUE(kv.Allocate(t, 0, 8, copies));
  kv.CommitComputed(t, tokens, 8);
  EXPECT_DEATH(kv.Truncate(t, 5), "truncating");
}

}  // namespace
}  // namespace weft
