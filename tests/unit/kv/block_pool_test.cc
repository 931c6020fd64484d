#include "kv/block_pool.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace weft {
namespace {

TEST(BlockPool, AllocatesLeastRecentlyFreedFirst) {
  BlockPool pool(4);
  EXPECT_EQ(pool.num_free(), 4);
  std::vector<int32_t> b;
  for (int i = 0; i < 4; ++i) b.push_back(pool.Allocate());
  EXPECT_EQ(pool.Allocate(), BlockPool::kNoBlock);
  EXPECT_EQ(pool.num_used(), 4);
  pool.Release(b[2]);
  pool.Release(b[0]);
  pool.Release(b[3]);
  EXPECT_EQ(pool.FreeListPosition(b[2]), 0);
  EXPECT_EQ(pool.FreeListPosition(b[0]), 1);
  EXPECT_EQ(pool.FreeListPosition(b[1]), -1);
  EXPECT_EQ(pool.Allocate(), b[2]);
  EXPECT_EQ(pool.Allocate(), b[0]);
  EXPECT_EQ(pool.Allocate(), b[3]);
  EXPECT_EQ(pool.num_free() + pool.num_used(), 4);
}

TEST(BlockPool, RefCountsKeepSharedBlocksUsed) {
  BlockPool pool(2);
  const int32_t a = pool.Allocate();
  pool.AddRef(a);
  EXPECT_EQ(pool.RefCount(a), 2);
  pool.Release(a);
  EXPECT_EQ(pool.num_free(), 1);
  pool.Release(a);
  EXPECT_EQ(pool.num_free(), 2);
  EXPECT_EQ(pool.RefCount(a), 0);
}

TEST(BlockPool, CachedFreeBlockIsRevivedUntilEvicted) {
  BlockPool pool(3);
  const int32_t a = pool.Allocate(), b = pool.Allocate();
  EXPECT_TRUE(pool.Register(a, 111));
  EXPECT_TRUE(pool.Register(b, 222));
  EXPECT_FALSE(pool.Register(b, 333));  // one hash per block
  pool.Release(a);
  pool.Release(b);
  EXPECT_EQ(pool.Stats().num_cached, 2);
  // a is free but still found; acquiring it takes it off the free list.
  EXPECT_EQ(pool.Lookup(111, true), a);
  pool.Acquire(a);
  EXPECT_EQ(pool.RefCount(a), 1);
  EXPECT_EQ(pool.num_free(), 2);
  pool.Release(a);
  // Free list: [never used block, b, a]. Allocating twice evicts b (LRU), not a.
  const int32_t c = pool.Allocate();
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_EQ(pool.Allocate(), b);
  EXPECT_EQ(pool.Lookup(222, true), BlockPool::kNoBlock);
  EXPECT_EQ(pool.Lookup(111, true), a);
  const BlockPoolStats s = pool.Stats();
  EXPECT_EQ(s.evictions, 1);
  EXPECT_EQ(s.queries, 3);
  EXPECT_EQ(s.hits, 2);
  EXPECT_EQ(s.num_cached, 1);
}

TEST(BlockPool, DuplicateHashIsNotRegisteredTwice) {
  BlockPool pool(2);
  const int32_t a = pool.Allocate(), b = pool.Allocate();
  EXPECT_TRUE(pool.Register(a, 7));
  EXPECT_FALSE(pool.Register(b, 7));
  EXPECT_FALSE(pool.IsCached(b));
}

// The open-addressing map against a reference under random inserts and evictions,
// including colliding home slots (hashes chosen from a small range).
TEST(BlockPool, HashMapMatchesReferenceUnderChurn) {
  for (uint32_t seed = 1; seed <= 5; ++seed) {
    std::mt19937 rng(seed);
    const int32_t n = 37;
    BlockPool pool(n);
    std::vector<int64_t> ref(static_cast<size_t>(n), -1);  // block -> hash or -1
    std::vector<int32_t> held;
    for (int step = 0; step < 5000; ++step) {
      const int op = static_cast<int>(rng() % 3);
      if (op == 0) {
        const int32_t b = pool.Allocate();
        if (b == BlockPool::kNoBlock) continue;
        ref[static_cast<size_t>(b)] = -1;  // evicted if it was cached
        held.push_back(b);
      } else if (op == 1 && !held.empty()) {
        const size_t i = rng() % held.size();
        pool.Release(held[i]);
        held.erase(held.begin() + static_cast<long>(i));
      } else if (!held.empty()) {
        const int32_t b = held[rng() % held.size()];
        const uint64_t h = rng() % 64;
        bool dup = false;
        for (int64_t x : ref) dup |= x == static_cast<int64_t>(h);
        const bool expect = ref[static_cast<size_t>(b)] < 0 && !dup;
        ASSERT_EQ(pool.Register(b, h), expect);
        if (expect) ref[static_cast<size_t>(b)] = static_cast<int64_t>(h);
      }
      ASSERT_EQ(pool.num_free() + pool.num_used(), n);
      for (uint64_t h = 0; h < 64; ++h) {
        int32_t want = BlockPool::kNoBlock;
        for (int32_t b = 0; b < n; ++b) {
          if (ref[static_cast<size_t>(b)] == static_cast<int64_t>(h)) want = b;
        }
        ASSERT_EQ(pool.Find(h), want) << "seed " << seed << " step " << step << " hash " << h;
      }
    }
  }
}

}  // namespace
}  // namespace weft
