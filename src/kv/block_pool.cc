#include "kv/block_pool.h"

#include "base/check.h"

namespace weft {

namespace {
size_t Idx(int32_t block) { return static_cast<size_t>(block); }
// Spreads the hash over the table (the hashes are XXH3 already; this guards callers
// that pass weak ones).
uint64_t Mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}
}  // namespace

BlockPool::BlockPool(int32_t num_blocks)
    : num_blocks_(num_blocks),
      refcount_(Idx(num_blocks), 0),
      prev_(Idx(num_blocks), kNoBlock),
      next_(Idx(num_blocks), kNoBlock),
      block_hash_(Idx(num_blocks), 0),
      has_hash_(Idx(num_blocks), 0) {
  WEFT_CHECK(num_blocks > 0, "BlockPool needs blocks, got {}", num_blocks);
  for (int32_t b = 0; b < num_blocks; ++b) PushTail(b);
  uint64_t cap = 2;
  while (cap < 2ull * static_cast<uint64_t>(num_blocks)) cap <<= 1;
  slots_.assign(cap, kNoBlock);
  slot_mask_ = cap - 1;
}

void BlockPool::PushTail(int32_t block) {
  prev_[Idx(block)] = tail_;
  next_[Idx(block)] = kNoBlock;
  if (tail_ != kNoBlock) {
    next_[Idx(tail_)] = block;
  } else {
    head_ = block;
  }
  tail_ = block;
  ++num_free_;
}

void BlockPool::Unlink(int32_t block) {
  const int32_t p = prev_[Idx(block)], n = next_[Idx(block)];
  if (p != kNoBlock) {
    next_[Idx(p)] = n;
  } else {
    head_ = n;
  }
  if (n != kNoBlock) {
    prev_[Idx(n)] = p;
  } else {
    tail_ = p;
  }
  prev_[Idx(block)] = next_[Idx(block)] = kNoBlock;
  --num_free_;
}

int32_t BlockPool::Allocate() {
  if (head_ == kNoBlock) return kNoBlock;
  const int32_t b = head_;
  WEFT_DCHECK(refcount_[Idx(b)] == 0, "free block {} has refcount {}", b, refcount_[Idx(b)]);
  Unlink(b);
  if (has_hash_[Idx(b)]) {
    MapErase(b);
    ++evictions_;
  }
  refcount_[Idx(b)] = 1;
  return b;
}

void BlockPool::AddRef(int32_t block) {
  WEFT_CHECK(block >= 0 && block < num_blocks_ && refcount_[Idx(block)] > 0, "AddRef of block {} (refcount {})",
             block, block >= 0 && block < num_blocks_ ? refcount_[Idx(block)] : -1);
  ++refcount_[Idx(block)];
}

void BlockPool::Acquire(int32_t block) {
  WEFT_CHECK(block >= 0 && block < num_blocks_, "Acquire of block {}", block);
  if (refcount_[Idx(block)]++ == 0) Unlink(block);
}

void BlockPool::Release(int32_t block) {
  WEFT_CHECK(block >= 0 && block < num_blocks_ && refcount_[Idx(block)] > 0, "Release of block {} (refcount {})",
             block, block >= 0 && block < num_blocks_ ? refcount_[Idx(block)] : -1);
  if (--refcount_[Idx(block)] == 0) PushTail(block);
}

int32_t BlockPool::Lookup(uint64_t hash, bool count_query) {
  const int32_t found = Find(hash);
  if (count_query) CountQueries(1, found != kNoBlock ? 1 : 0);
  return found;
}

int32_t BlockPool::Find(uint64_t hash) const {
  int32_t found = kNoBlock;
  for (uint64_t i = Mix(hash) & slot_mask_;; i = (i + 1) & slot_mask_) {
    const int32_t b = slots_[i];
    if (b == kNoBlock) break;
    if (block_hash_[Idx(b)] == hash) {
      found = b;
      break;
    }
  }
  return found;
}

bool BlockPool::Register(int32_t block, uint64_t hash) {
  WEFT_CHECK(block >= 0 && block < num_blocks_, "Register of block {}", block);
  if (has_hash_[Idx(block)] || Find(hash) != kNoBlock) return false;
  uint64_t i = Mix(hash) & slot_mask_;
  while (slots_[i] != kNoBlock) i = (i + 1) & slot_mask_;
  slots_[i] = block;
  block_hash_[Idx(block)] = hash;
  has_hash_[Idx(block)] = 1;
  ++num_cached_;
  return true;
}

void BlockPool::MapErase(int32_t block) {
  const uint64_t hash = block_hash_[Idx(block)];
  uint64_t i = Mix(hash) & slot_mask_;
  while (slots_[i] != block) {
    WEFT_CHECK(slots_[i] != kNoBlock, "cached block {} missing from the map", block);
    i = (i + 1) & slot_mask_;
  }
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  uint64_t hole = i;
  for (uint64_t j = (i + 1) & slot_mask_; slots_[j] != kNoBlock; j = (j + 1) & slot_mask_) {
    const uint64_t home = Mix(block_hash_[Idx(slots_[j])]) & slot_mask_;
    // slots_[j] may move to the hole if its home is not in (hole, j] cyclically.
    const bool home_in_range = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!home_in_range) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = kNoBlock;
  has_hash_[Idx(block)] = 0;
  --num_cached_;
}

void BlockPool::CountQueries(int64_t queries, int64_t hits) {
  queries_ += queries;
  hits_ += hits;
}

BlockPoolStats BlockPool::Stats() const {
  BlockPoolStats s;
  s.num_blocks = num_blocks_;
  s.num_free = num_free_;
  s.num_used = num_blocks_ - num_free_;
  s.num_cached = num_cached_;
  s.hits = hits_;
  s.queries = queries_;
  s.evictions = evictions_;
  return s;
}

int32_t BlockPool::FreeListPosition(int32_t block) const {
  int32_t pos = 0;
  for (int32_t b = head_; b != kNoBlock; b = next_[Idx(b)], ++pos) {
    if (b == block) return pos;
  }
  return -1;
}

}  // namespace weft
