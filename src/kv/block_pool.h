// BlockPool: the bookkeeping of the paged KV cache's blocks (no tensors: block ids only).
// The number of blocks is fixed at construction; nothing here allocates after that.
//
//  * Every block has a reference count: the number of sequence block tables that hold it.
//  * Blocks with refcount 0 sit on an LRU free list (an intrusive doubly linked list over
//    block ids). A freed block goes to the tail; Allocate() takes the head, i.e. the least
//    recently freed block first.
//  * Prefix cache: a map from a 64-bit content hash to the FULL block that holds that
//    content (kv_cache_manager.h says how the hash chains). A cached block whose refcount
//    drops to 0 stays in the map, so a later request can take it back with Acquire(); it
//    leaves the map only when it reaches the head of the free list and Allocate() hands it
//    out for something else (an eviction). So eviction happens in LRU order and only to
//    free blocks.
//  * The map is an open-addressing table sized at construction (2x the block count,
//    power of two, linear probing with backward-shift deletion): no allocation per insert.
//
// Invariant after every public call: num_free() + num_used() == num_blocks().
// Thread-safety: none; owned and used by the engine thread only (through KvCacheManager).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace weft {

struct BlockPoolStats {
  int32_t num_blocks = 0;
  int32_t num_free = 0;    // refcount 0 (includes cached blocks that are free)
  int32_t num_used = 0;    // refcount > 0
  int32_t num_cached = 0;  // blocks in the prefix-cache map (any refcount)
  int64_t hits = 0;        // lookups of full blocks that found a block (Lookup counting)
  int64_t queries = 0;     // lookups of full blocks
  int64_t evictions = 0;   // cached blocks dropped from the map because Allocate reused them
};

class BlockPool {
 public:
  static constexpr int32_t kNoBlock = -1;

  explicit BlockPool(int32_t num_blocks);
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int32_t num_blocks() const { return num_blocks_; }
  int32_t num_free() const { return num_free_; }
  int32_t num_used() const { return num_blocks_ - num_free_; }

  // Takes the head of the free list (evicting its cache entry if it has one) and returns
  // it with refcount 1; kNoBlock when no block is free.
  int32_t Allocate();

  // refcount++ of a block that is used (refcount > 0), e.g. when a sequence is forked.
  void AddRef(int32_t block);
  // refcount++ of a block found by Lookup(); if it was free it leaves the free list (a
  // prefix-cache hit on a free block revives it).
  void Acquire(int32_t block);
  // refcount--; at 0 the block goes to the tail of the free list (keeping its cache entry).
  void Release(int32_t block);
  int32_t RefCount(int32_t block) const { return refcount_[static_cast<size_t>(block)]; }

  // The block cached under `hash`, or kNoBlock. count_query: count it in queries/hits.
  int32_t Lookup(uint64_t hash, bool count_query);
  int32_t Find(uint64_t hash) const;  // Lookup without counting
  // Caches a FULL block under `hash`. Returns false (and caches nothing) when the hash is
  // already cached (another block holds the same content) or the block already has a hash.
  bool Register(int32_t block, uint64_t hash);
  bool IsCached(int32_t block) const { return has_hash_[static_cast<size_t>(block)] != 0; }
  // Counts `queries` lookups of which `hits` found a block (for callers that look up
  // without counting and decide later whether the lookup counts, e.g. on admission).
  void CountQueries(int64_t queries, int64_t hits);

  BlockPoolStats Stats() const;

  // Position of a block in the free list from the head (0 = next to be allocated), or -1
  // if it is used. O(num_blocks); for tests.
  int32_t FreeListPosition(int32_t block) const;

 private:
  void PushTail(int32_t block);
  void Unlink(int32_t block);
  void MapErase(int32_t block);

  int32_t num_blocks_;
  int32_t num_free_ = 0;
  int32_t num_cached_ = 0;
  int64_t hits_ = 0, queries_ = 0, evictions_ = 0;
  std::vector<int32_t> refcount_;
  std::vector<int32_t> prev_, next_;  // free list links; kNoBlock at the ends
  int32_t head_ = kNoBlock, tail_ = kNoBlock;
  std::vector<uint64_t> block_hash_;
  std::vector<uint8_t> has_hash_;
  // Open-addressing map: slots_[i] = block id or kNoBlock; the key is block_hash_[block].
  std::vector<int32_t> slots_;
  uint64_t slot_mask_ = 0;
};

}  // namespace weft
