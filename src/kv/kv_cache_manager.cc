#include "kv/kv_cache_manager.h"

#include <algorithm>

#include "base/check.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace weft {

namespace {
size_t Idx(int32_t i) { return static_cast<size_t>(i); }
}  // namespace

KvCacheManager::KvCacheManager(const KvCacheConfig& config) : config_(config), pool_(config.num_blocks) {
  WEFT_CHECK(config.block_size > 0, "block size {}", config.block_size);
  if (config_.max_model_len <= 0) config_.max_model_len = config_.num_blocks * config_.block_size;
  max_blocks_per_seq_ = BlocksForTokens(config_.max_model_len);
  fill_.assign(Idx(config.num_blocks), 0);
}

void KvCacheManager::InitTable(KvBlockTable& table) const {
  table.blocks.clear();
  table.block_hashes.clear();
  table.num_committed_blocks = 0;
  table.num_evicted_tokens = 0;
  table.num_released_blocks = 0;
  table.blocks.reserve(Idx(max_blocks_per_seq_));
  table.block_hashes.reserve(Idx(max_blocks_per_seq_));
}

void KvCacheManager::EnsureHashes(KvBlockTable& table, std::span<const int32_t> tokens,
                                  int32_t num_full_blocks) const {
  const int32_t bs = config_.block_size;
  WEFT_CHECK(static_cast<int64_t>(num_full_blocks) * bs <= static_cast<int64_t>(tokens.size()),
             "{} full blocks of {} tokens from {} tokens", num_full_blocks, bs, tokens.size());
  for (auto i = static_cast<int32_t>(table.block_hashes.size()); i < num_full_blocks; ++i) {
    const uint64_t parent = i == 0 ? kRootHash : table.block_hashes[Idx(i - 1)];
    table.block_hashes.push_back(
        XXH3_64bits_withSeed(tokens.data() + static_cast<size_t>(i) * Idx(bs), Idx(bs) * sizeof(int32_t), parent));
  }
}

PrefixMatch KvCacheManager::MatchPrefix(KvBlockTable& table, std::span<const int32_t> prompt) {
  WEFT_CHECK(table.empty(), "MatchPrefix on a table holding {} blocks", table.num_blocks());
  PrefixMatch m;
  m.num_prompt_tokens = static_cast<int32_t>(prompt.size());
  if (!config_.enable_prefix_caching || prompt.empty() || table.evicts()) return m;
  const int32_t full = std::min(static_cast<int32_t>(prompt.size()) / config_.block_size, max_blocks_per_seq_);
  EnsureHashes(table, prompt, full);
  m.num_queried_blocks = full;
  while (m.num_blocks < full && pool_.Find(table.block_hashes[Idx(m.num_blocks)]) != BlockPool::kNoBlock) {
    ++m.num_blocks;
  }
  m.num_cached_tokens = std::min(m.num_blocks * config_.block_size, static_cast<int32_t>(prompt.size()) - 1);
  return m;
}

bool KvCacheManager::NeedsCopy(int32_t block) const { return pool_.RefCount(block) > 1 || pool_.IsCached(block); }

int32_t KvCacheManager::BlocksNeeded(const KvBlockTable& table, int32_t num_computed, int32_t num_new,
                                     const PrefixMatch* match) const {
  WEFT_CHECK(num_computed >= 0 && num_new >= 0, "computed {} new {}", num_computed, num_new);
  const int32_t bs = config_.block_size;
  int32_t needed = 0;
  int32_t have = table.num_blocks();
  if (match != nullptr) {
    WEFT_CHECK(table.empty() && match->num_blocks <= static_cast<int32_t>(table.block_hashes.size()),
               "admission with a match of {} blocks on a table of {}", match->num_blocks, table.num_blocks());
    for (int32_t i = 0; i < match->num_blocks; ++i) {
      const int32_t b = pool_.Find(table.block_hashes[Idx(i)]);
      WEFT_CHECK(b != BlockPool::kNoBlock, "matched prefix block {} was evicted before admission", i);
      if (pool_.RefCount(b) == 0) ++needed;
    }
    have = match->num_blocks;
  }
  if (num_new == 0) return needed;
  const int32_t need_total = BlocksForTokens(num_computed + num_new);
  // Existing blocks that the new tokens write into must not be shared.
  for (int32_t i = num_computed / bs; i < std::min(have, need_total); ++i) {
    // With a match, the table is still empty: the matched blocks are all cached, so any
    // write into one is a copy.
    if (match != nullptr || NeedsCopy(table.blocks[Idx(i)])) ++needed;
  }
  return needed + std::max(0, need_total - have);
}

bool KvCacheManager::Allocate(KvBlockTable& table, int32_t num_computed, int32_t num_new,
                              std::vector<BlockCopy>& copies, const PrefixMatch* match) {
  const int32_t bs = config_.block_size;
  const int32_t end = num_computed + num_new;
  WEFT_CHECK(BlocksForTokens(end) <= max_blocks_per_seq_, "{} tokens exceed max_model_len {}", end,
             config_.max_model_len);
  if (match != nullptr) {
    WEFT_CHECK(num_computed == match->num_cached_tokens, "admission at {} with a hit of {} tokens", num_computed,
               match->num_cached_tokens);
  } else {
    WEFT_CHECK(num_computed <= table.num_blocks() * bs, "computed {} beyond the table's {} blocks", num_computed,
               table.num_blocks());
  }
  if (BlocksNeeded(table, num_computed, num_new, match) > pool_.num_free()) return false;

  if (match != nullptr) {
    for (int32_t i = 0; i < match->num_blocks; ++i) {
      const int32_t b = pool_.Find(table.block_hashes[Idx(i)]);
      pool_.Acquire(b);
      table.blocks.push_back(b);
    }
    table.num_committed_blocks = match->num_blocks;
    pool_.CountQueries(match->num_queried_blocks, match->num_blocks);
    prefix_queried_tokens_ += match->num_prompt_tokens;
    prefix_hit_tokens_ += match->num_cached_tokens;
  }
  if (num_new == 0) return true;
  const int32_t need_total = BlocksForTokens(end);
  for (int32_t i = num_computed / bs; i < std::min(table.num_blocks(), need_total); ++i) {
    const int32_t old = table.blocks[Idx(i)];
    if (!NeedsCopy(old)) continue;
    const int32_t fresh = pool_.Allocate();
    WEFT_CHECK(fresh != BlockPool::kNoBlock, "copy-on-write found no free block after the count said so");
    copies.push_back({old, fresh});
    fill_[Idx(fresh)] = fill_[Idx(old)];
    table.blocks[Idx(i)] = fresh;
    pool_.Release(old);
    table.num_committed_blocks = std::min(table.num_committed_blocks, i);
  }
  while (table.num_blocks() < need_total) {
    const int32_t b = pool_.Allocate();
    WEFT_CHECK(b != BlockPool::kNoBlock, "no free block after the count said so");
    fill_[Idx(b)] = 0;
    table.blocks.push_back(b);
  }
  for (int32_t i = num_computed / bs; i < need_total; ++i) {
    int32_t& f = fill_[Idx(table.blocks[Idx(i)])];
    f = std::max(f, std::min(bs, end - i * bs));
  }
  return true;
}

void KvCacheManager::CommitComputed(KvBlockTable& table, std::span<const int32_t> tokens, int32_t num_computed) {
  if (!config_.enable_prefix_caching || table.evicts()) return;
  const int32_t full = std::min(num_computed / config_.block_size, table.num_blocks());
  if (full <= table.num_committed_blocks) return;
  EnsureHashes(table, tokens, full);
  for (int32_t i = table.num_committed_blocks; i < full; ++i) {
    pool_.Register(table.blocks[Idx(i)], table.block_hashes[Idx(i)]);
  }
  table.num_committed_blocks = full;
}

void KvCacheManager::Truncate(KvBlockTable& table, int32_t num_tokens) {
  const int32_t bs = config_.block_size;
  const int32_t keep = BlocksForTokens(num_tokens);
  WEFT_CHECK(num_tokens >= 0 && keep <= table.num_blocks() && table.num_committed_blocks * bs <= num_tokens,
             "truncating a table of {} blocks ({} committed) to {} tokens", table.num_blocks(),
             table.num_committed_blocks, num_tokens);
  while (table.num_blocks() > keep) {
    const int32_t b = table.blocks.back();
    WEFT_DCHECK(pool_.RefCount(b) == 1 && !pool_.IsCached(b), "rolled-back block {} is shared or cached", b);
    fill_[Idx(b)] = 0;
    pool_.Release(b);
    table.blocks.pop_back();
  }
  if (keep > 0 && num_tokens % bs != 0) {
    const int32_t b = table.blocks[Idx(keep - 1)];
    if (pool_.RefCount(b) == 1) fill_[Idx(b)] = num_tokens - (keep - 1) * bs;
  }
}

void KvCacheManager::Free(KvBlockTable& table) {
  for (auto i = table.blocks.size(); i-- > 0;) {
    if (table.blocks[i] != kReleasedBlock) pool_.Release(table.blocks[i]);
  }
  table.blocks.clear();
  table.num_committed_blocks = 0;
  table.num_evicted_tokens = 0;
  table.num_released_blocks = 0;
  std::fill(table.attn_mass.begin(), table.attn_mass.end(), 0.0f);
}

int32_t KvCacheManager::ReleaseBeforeWindow(KvBlockTable& table, int32_t first_needed) {
  const int32_t bs = config_.block_size;
  const int32_t before = table.num_released_blocks;
  // Only blocks already registered (or with prefix caching off, any): CommitComputed must
  // never meet a released entry.
  int32_t limit = std::min(table.num_blocks(), std::max(0, first_needed) / bs);
  if (config_.enable_prefix_caching) limit = std::min(limit, table.num_committed_blocks);
  while (table.num_released_blocks < limit) {
    int32_t& b = table.blocks[Idx(table.num_released_blocks)];
    if (pool_.RefCount(b) == 1) fill_[Idx(b)] = 0;
    pool_.Release(b);
    b = kReleasedBlock;
    ++table.num_released_blocks;
  }
  return table.num_released_blocks - before;
}

int32_t KvCacheManager::EvictOutOfWindow(KvBlockTable& table, int32_t cache_len, std::vector<KvShift>& shifts) {
  if (!table.window.enabled()) return 0;
  const int32_t bs = config_.block_size;
  const int32_t sink_blocks = table.window.SinkBlocks(bs);
  WEFT_CHECK(cache_len >= 0 && cache_len <= table.num_blocks() * bs, "cache of {} tokens in a table of {} blocks",
             cache_len, table.num_blocks());
  // Block sink_blocks + k (k = 0, 1, ...) is out of the window when the tokens after it
  // number at least `window`: cache_len - (sink_blocks + k + 1) * bs >= window.
  int32_t evict = 0;
  while (sink_blocks + evict < table.num_blocks() &&
         cache_len - (sink_blocks + evict + 1) * bs >= table.window.window) {
    ++evict;
  }
  if (evict == 0) return 0;
  for (int32_t i = sink_blocks; i < sink_blocks + evict; ++i) {
    const int32_t b = table.blocks[Idx(i)];
    WEFT_CHECK(pool_.RefCount(b) == 1 && !pool_.IsCached(b), "windowed block {} is shared or cached", b);
    fill_[Idx(b)] = 0;
    pool_.Release(b);
  }
  table.blocks.erase(table.blocks.begin() + sink_blocks, table.blocks.begin() + sink_blocks + evict);
  const int32_t delta = evict * bs;
  table.num_evicted_tokens += delta;
  const int32_t kept_len = cache_len - delta;
  for (int32_t i = sink_blocks; i < table.num_blocks() && i * bs < kept_len; ++i) {
    const int32_t b = table.blocks[Idx(i)];
    WEFT_CHECK(pool_.RefCount(b) == 1 && !pool_.IsCached(b), "windowed block {} is shared or cached", b);
    shifts.push_back({b, std::min(bs, kept_len - i * bs), delta});
  }
  return delta;
}

int32_t KvCacheManager::EvictBlocks(KvBlockTable& table, int32_t cache_len, std::span<const int32_t> evict,
                                    std::vector<KvShift>& shifts) {
  if (evict.empty()) return 0;
  const int32_t bs = config_.block_size;
  const int32_t n_blocks = table.num_blocks();
  WEFT_CHECK(cache_len >= 0 && cache_len <= n_blocks * bs, "cache of {} tokens in a table of {} blocks", cache_len,
             n_blocks);
  for (size_t i = 0; i < evict.size(); ++i) {
    WEFT_CHECK(evict[i] >= 0 && evict[i] < n_blocks && (i == 0 || evict[i] > evict[i - 1]),
               "EvictBlocks: index {} of a table of {} blocks (indices must ascend)", evict[i], n_blocks);
    const int32_t b = table.blocks[Idx(evict[i])];
    WEFT_CHECK(b != kReleasedBlock && pool_.RefCount(b) == 1 && !pool_.IsCached(b),
               "EvictBlocks: block {} is released, shared or cached", b);
  }
  const bool mass = !table.attn_mass.empty();
  WEFT_CHECK(!mass || table.attn_mass.size() >= static_cast<size_t>(n_blocks) * bs,
             "EvictBlocks: attn_mass holds {} positions, the table {}", table.attn_mass.size(), n_blocks * bs);
  // Compact in place: block j (old index) goes to j - (evicted before it).
  int32_t out = 0;
  size_t e = 0;
  for (int32_t j = 0; j < n_blocks; ++j) {
    if (e < evict.size() && evict[e] == j) {
      const int32_t b = table.blocks[Idx(j)];
      fill_[Idx(b)] = 0;
      pool_.Release(b);
      ++e;
      continue;
    }
    const auto delta = static_cast<int32_t>(e) * bs;
    if (delta > 0) {
      table.blocks[Idx(out)] = table.blocks[Idx(j)];
      if (mass) {
        std::copy_n(table.attn_mass.begin() + int64_t{j} * bs, bs, table.attn_mass.begin() + int64_t{out} * bs);
      }
      const int32_t held = std::min(bs, cache_len - j * bs);
      if (held > 0) shifts.push_back({table.blocks[Idx(out)], held, delta});
    }
    ++out;
  }
  table.blocks.resize(Idx(out));
  if (mass) std::fill(table.attn_mass.begin() + int64_t{out} * bs, table.attn_mass.end(), 0.0f);
  const auto tokens = static_cast<int32_t>(evict.size()) * bs;
  table.num_evicted_tokens += tokens;
  return tokens;
}

void KvCacheManager::Fork(const KvBlockTable& parent, KvBlockTable& child) {
  WEFT_CHECK(child.empty(), "Fork into a table holding {} blocks", child.num_blocks());
  for (int32_t b : parent.blocks) {
    if (b != kReleasedBlock) pool_.AddRef(b);
  }
  child.blocks.assign(parent.blocks.begin(), parent.blocks.end());
  child.num_released_blocks = parent.num_released_blocks;
  child.block_hashes.assign(parent.block_hashes.begin(), parent.block_hashes.end());
  child.num_committed_blocks = parent.num_committed_blocks;
}

KvCacheStats KvCacheManager::Stats() const {
  const BlockPoolStats p = pool_.Stats();
  KvCacheStats s;
  s.num_blocks = p.num_blocks;
  s.num_free_blocks = p.num_free;
  s.num_used_blocks = p.num_used;
  s.num_cached_blocks = p.num_cached;
  s.usage = static_cast<double>(p.num_used) / static_cast<double>(p.num_blocks);
  s.prefix_queried_tokens = prefix_queried_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  s.prefix_hit_rate = prefix_queried_tokens_ > 0
                          ? static_cast<double>(prefix_hit_tokens_) / static_cast<double>(prefix_queried_tokens_)
                          : 0.0;
  s.block_queries = p.queries;
  s.block_hits = p.hits;
  s.evictions = p.evictions;
  int64_t filled = 0;
  for (int32_t b = 0; b < p.num_blocks; ++b) {
    if (pool_.RefCount(b) > 0) {
      s.allocated_slots += config_.block_size;
      filled += fill_[Idx(b)];
    }
  }
  s.wasted_slots = s.allocated_slots - filled;
  s.waste = s.allocated_slots > 0 ? static_cast<double>(s.wasted_slots) / static_cast<double>(s.allocated_slots) : 0.0;
  return s;
}

}  // namespace weft
