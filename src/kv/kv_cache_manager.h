// KvCacheManager: which KV blocks hold which sequence's tokens (PagedAttention, vLLM
// SOSP'23), with prefix caching (vLLM APC) and copy-on-write for forked samples. Block ids
// and bookkeeping only; the bytes live in KvCacheStorage, which the engine drives with the
// BlockCopy list this class returns.
//
// A sequence's KV state is a KvBlockTable, a plain struct that the caller keeps (the
// scheduler embeds one in each Sequence); the manager mutates it. Token position p of a
// sequence lives in block blocks[p / block_size] at offset p % block_size, i.e. KV slot
// blocks[p / block_size] * block_size + p % block_size (ForwardBatch::slot_mapping).
//
// Prefix hashes: full block i of a token sequence hashes as
//   h_i = XXH3_64(token ids of block i, seed = h_{i-1}),  h_{-1} = kRootHash,
// so a hash names the whole prefix up to the end of its block. Only FULL blocks are ever
// cached. A 64-bit collision would make two different prefixes share KV; we accept that
// risk (about 2^-64 per pair), as vLLM did with its hashes.
//
// Lifecycle of one sequence:
//   1. admission: m = MatchPrefix(table, prompt)  (no side effects on blocks)
//                 Allocate(table, 0, m.num_cached_tokens + n, copies, m.num_blocks)
//      takes the m.num_blocks cached blocks (refcount++) and new blocks for the rest;
//   2. each step: Allocate(table, num_computed, n, copies) reserves slots for the next n
//      tokens (all-or-nothing); after the step, CommitComputed(table, tokens, computed)
//      caches the blocks that became full;
//   3. Free(table) at the end (or on preemption): refcount--, full blocks stay cached.
//   Fork(parent, child) shares all of parent's blocks (n>1 samples).
//
// Copy-on-write: writing a token into a block that is shared (refcount > 1, after a fork)
// or that is in the prefix cache (only possible when a full prefix hit recomputes the
// prompt's last token) first replaces that block in the writer's table with a new block,
// and appends {src, dst} to `copies`: the engine must KvCacheStorage::CopyBlock(src, dst)
// before the forward pass that writes the new tokens.
//
// Sinks + window (kv/kv_window.h): a table with table.window enabled takes no prefix-cache
// hits, registers nothing, and after each step EvictOutOfWindow releases its blocks that
// fell out of the window; Allocate, Slot and Truncate then take CACHE positions
// (CachePos), which the caller also uses as the tokens' RoPE positions. A table with a KV
// budget (table.budget, kv/kv_budget.h) is the same (KvBlockTable::evicts()); its h2o
// evictions go through EvictBlocks.
//
// Thread-safety: none. One manager per engine, used only by the engine thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kv/block_pool.h"
#include "kv/kv_budget.h"
#include "kv/kv_window.h"

namespace weft {

struct KvCacheConfig {
  int32_t num_blocks = 0;
  int32_t block_size = 16;  // tokens per block
  bool enable_prefix_caching = true;
  // Longest sequence (tokens) a table must hold; tables reserve this many blocks so that
  // growing them never allocates. 0: num_blocks * block_size.
  int32_t max_model_len = 0;
};

// One block to copy before the next forward pass (copy-on-write).
struct BlockCopy {
  int32_t src = 0;
  int32_t dst = 0;
};

// A sequence's blocks. Owned by the caller (one per sequence), mutated by the manager.
struct KvBlockTable {
  std::vector<int32_t> blocks;        // block ids, in position order
  std::vector<uint64_t> block_hashes; // prefix hashes of the sequence's first full blocks
                                      // (a cache of the hash chain; may run ahead of blocks)
  int32_t num_committed_blocks = 0;   // leading blocks already registered or found in the cache
  // Sinks + window (kv/kv_window.h): set by the caller before MatchPrefix / Allocate and
  // kept by InitTable and Free. With a window the table's block i holds CACHE positions
  // [i * block_size, (i + 1) * block_size), and a token at sequence position p (p past the
  // evicted ones) sits at cache position p - num_evicted_tokens (CachePos).
  KvWindow window;
  int32_t num_evicted_tokens = 0;     // tokens whose blocks EvictOutOfWindow released (multiple of block_size)
  // The model's own sliding window (ReleaseBeforeWindow): the leading entries of `blocks`
  // released so far; they hold kReleasedBlock.
  int32_t num_released_blocks = 0;
  // Heavy hitters (kv/kv_budget.h): empty, or one float per cache position the table can
  // hold (the caller sizes it, zeroed): the attention mass each token accumulated
  // (ForwardBatch::attn_mass). EvictBlocks keeps it aligned with the blocks.
  std::vector<float> attn_mass;
  // A KV budget (kv/kv_budget.h; the engine's --kv-budget / kv_budget), set by the caller
  // with `window` before MatchPrefix / Allocate and kept by InitTable and Free. Policies
  // window / sinks also set `window` (WindowForBudget at steps of 1); h2o leaves it off and
  // the scheduler evicts with EvictBlocks, scoring blocks by attn_mass (sized by the caller).
  KvBudget budget;

  // The table drops blocks as its sequence advances (a window or a budget): cache
  // positions (CachePos), no prefix caching, no sharing.
  bool evicts() const { return window.enabled() || budget.enabled(); }
  int32_t num_blocks() const { return static_cast<int32_t>(blocks.size()); }
  bool empty() const { return blocks.empty(); }
};

struct PrefixMatch {
  int32_t num_blocks = 0;         // leading full blocks found in the cache
  int32_t num_cached_tokens = 0;  // tokens whose KV they hold, capped at prompt length - 1
  int32_t num_queried_blocks = 0; // full blocks of the prompt that were looked up
  int32_t num_prompt_tokens = 0;  // length of the prompt that was matched
};

struct KvCacheStats {
  int32_t num_blocks = 0;
  int32_t num_free_blocks = 0;
  int32_t num_used_blocks = 0;
  int32_t num_cached_blocks = 0;
  double usage = 0.0;                // used / total, 0..1
  int64_t prefix_queried_tokens = 0; // prompt tokens looked up at admission
  int64_t prefix_hit_tokens = 0;     // of those, found in the cache
  double prefix_hit_rate = 0.0;      // hit / queried tokens, 0..1
  int64_t block_queries = 0, block_hits = 0, evictions = 0;
  int64_t allocated_slots = 0;       // used blocks * block_size
  int64_t wasted_slots = 0;          // of those, slots not holding (or reserved for) a token
  double waste = 0.0;                // wasted / allocated slots, 0..1
};

class KvCacheManager {
 public:
  static constexpr uint64_t kRootHash = 0x9e3779b97f4a7c15ull;

  explicit KvCacheManager(const KvCacheConfig& config);
  KvCacheManager(const KvCacheManager&) = delete;
  KvCacheManager& operator=(const KvCacheManager&) = delete;

  const KvCacheConfig& config() const { return config_; }
  int32_t block_size() const { return config_.block_size; }
  // Blocks a table may hold: ceil(max_model_len / block_size).
  int32_t max_blocks_per_seq() const { return max_blocks_per_seq_; }
  int32_t num_free_blocks() const { return pool_.num_free(); }
  int32_t BlocksForTokens(int32_t num_tokens) const {
    return (num_tokens + config_.block_size - 1) / config_.block_size;
  }

  // Makes `table` empty (keeping its window policy, evicted count reset) with capacity reserved for max_blocks_per_seq (call once per
  // sequence, outside the step loop).
  void InitTable(KvBlockTable& table) const;

  // Admission: the longest run of the prompt's leading full blocks that are cached. The
  // cached token count is capped at prompt.size() - 1 so that the last prompt token is
  // always computed (its logits are needed); if the hit covers the whole prompt, the
  // block holding the last token is copied on write by Allocate. Changes no refcount and
  // counts no statistics (Allocate does, if the admission succeeds); fills
  // table.block_hashes. Zero match when prefix caching is off. `table` must be empty.
  PrefixMatch MatchPrefix(KvBlockTable& table, std::span<const int32_t> prompt);

  // Reserves KV slots for tokens [num_computed, num_computed + num_new) of the sequence,
  // all-or-nothing: returns false, with `table`, `copies` and the pool unchanged, when the
  // free blocks do not suffice. `match` only at admission (table empty, num_computed ==
  // match->num_cached_tokens, `match` from the MatchPrefix call just before with no pool
  // change in between): its cached blocks are taken first (refcount++; a free one leaves
  // the free list) and the prefix-hit statistics are counted. Appends copy-on-write
  // copies to `copies` (reserve capacity: the step loop must not allocate).
  bool Allocate(KvBlockTable& table, int32_t num_computed, int32_t num_new, std::vector<BlockCopy>& copies,
                const PrefixMatch* match = nullptr);
  // Blocks that this Allocate call would take off the free list (new blocks, copy-on-
  // write blocks, and cached hits that are currently free).
  int32_t BlocksNeeded(const KvBlockTable& table, int32_t num_computed, int32_t num_new,
                       const PrefixMatch* match = nullptr) const;

  // After a step computed tokens up to `num_computed` (tokens[0, num_computed) now hold
  // KV): registers every block that became full in the prefix cache. `tokens` is the
  // sequence's token ids (at least num_computed of them).
  void CommitComputed(KvBlockTable& table, std::span<const int32_t> tokens, int32_t num_computed);

  // Speculative decoding's rollback: the table keeps only the blocks that tokens
  // [0, num_tokens) need; the blocks past them (written by rejected draft tokens) are
  // released, and the last kept block's fill is cut to num_tokens. Nothing is copied:
  // the rejected tokens' slots are simply overwritten by later tokens. Requires
  // num_tokens >= the committed (prefix-cached) blocks' tokens, and that the blocks from
  // num_tokens / block_size on are this table's alone (Allocate made them so before the
  // draft tokens were written).
  void Truncate(KvBlockTable& table, int32_t num_tokens);

  // Releases all of the table's blocks (in reverse order, so that a sequence's tail is
  // evicted before its prefix) and empties it (attn_mass is zeroed, keeping its size).
  // Full blocks stay cached until evicted.
  void Free(KvBlockTable& table);

  // child := parent, sharing every block (refcount++). `child` must be empty. The
  // partly filled last block is copied on the first write by either side.
  void Fork(const KvBlockTable& parent, KvBlockTable& child);

  // Sinks + window: with cache_len tokens in the table's cache (cache positions), releases
  // every block after the sink blocks whose tokens are all older than the last
  // table.window.window ones, and appends to `shifts` one KvShift per kept block after the
  // sinks that holds tokens (its K must be re-rotated by -delta, delta = the evicted
  // tokens, before the next forward pass). Returns the number of evicted tokens (0 when
  // nothing left or the table has no window). The table's blocks must be its own
  // (refcount 1, uncached: a windowed table never shares; checked).
  int32_t EvictOutOfWindow(KvBlockTable& table, int32_t cache_len, std::vector<KvShift>& shifts);
  // Heavy hitters (kv/kv_budget.h): releases the table's blocks at the ascending table
  // indices `evict` (anywhere in the table) with cache_len tokens in its cache; the blocks
  // after them move down, and each kept block that moved and holds tokens gets a KvShift
  // (delta = the evicted tokens before it), to re-rotate before the next forward pass.
  // table.attn_mass (when not empty) moves with its blocks; the freed tail is zeroed.
  // Returns the evicted tokens (evict.size() * block_size; they count in
  // num_evicted_tokens, so CachePos stays right). Checked: indices in range and ascending,
  // blocks this table's own (refcount 1, uncached).
  int32_t EvictBlocks(KvBlockTable& table, int32_t cache_len, std::span<const int32_t> evict,
                      std::vector<KvShift>& shifts);
  // Models whose every layer attends over a sliding window (Mistral, Phi-3): releases the
  // table's blocks whose tokens all lie before `first_needed` (the first position the
  // step's earliest query sees: its position - window + 1). Positions do not move: the
  // released entries stay in `blocks` as kReleasedBlock, which the scheduler hands the
  // kernels as block 0 (attention skips spans before a query's window, and masks the rest
  // of a span that starts before it, so no released position changes a result). A released
  // block keeps its prefix-cache entry (its content is what dense attention computes).
  // Returns the number of blocks released now.
  int32_t ReleaseBeforeWindow(KvBlockTable& table, int32_t first_needed);
  static constexpr int32_t kReleasedBlock = -1;

  // Cache position of sequence position `pos`, for the tokens a step computes (they all
  // come after the evicted ones; dense tables: pos itself).
  static int32_t CachePos(const KvBlockTable& table, int32_t pos) { return pos - table.num_evicted_tokens; }

  // KV slot of CACHE position `pos` (must be covered by the table).
  int64_t Slot(const KvBlockTable& table, int32_t pos) const {
    return static_cast<int64_t>(table.blocks[static_cast<size_t>(pos / config_.block_size)]) * config_.block_size +
           pos % config_.block_size;
  }

  KvCacheStats Stats() const;  // O(num_blocks)
  const BlockPool& pool() const { return pool_; }

 private:
  void EnsureHashes(KvBlockTable& table, std::span<const int32_t> tokens, int32_t num_full_blocks) const;
  bool NeedsCopy(int32_t block) const;

  KvCacheConfig config_;
  int32_t max_blocks_per_seq_ = 0;
  BlockPool pool_;
  std::vector<int32_t> fill_;  // per block: slots holding or reserved for a token
  int64_t prefix_queried_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
};

}  // namespace weft
