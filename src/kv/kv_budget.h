// A fixed KV budget per sequence: heavy hitters (H2O, Zhang et al. 2023; Scissorhands, Liu
// et al. 2023) against the window baselines at the same budget (--kv-budget N
// --kv-policy h2o|window|sinks).
//
// The budget: the attention of every step sees at most N KV positions of the sequence, the
// step's own new tokens included (for decode: N - 1 cached tokens + the new one).
//
//   h2o     keeps the sink blocks (ceil(sinks / B), optional: sinks may be 0), the RECENT
//           window (every block holding one of the last R cached tokens, R = (N - sink
//           blocks * B - n) / 2 for steps of n tokens: half of what the sinks leave, as the
//           H2O paper splits its budget between recent tokens and heavy hitters) and the
//           heavy hitters: the blocks in between with the largest accumulated attention.
//   window  the existing rolling window (kv/kv_window.h) sized to the same budget: sinks 0,
//           window W = N - B + 1 - n (it holds up to W + B - 1 cached tokens).
//   sinks   the same with the sink blocks: W = N - sink blocks * B - B + 1 - n.
//
// Token scores -> block eviction (the pool stays paged; a block is the unit of eviction):
//   * a token's score is its accumulated attention mass: the softmax weight it received,
//     summed over every head, every layer and every query row since it entered the cache
//     (kernels/attention_mass.h fills KvBlockTable::attn_mass, indexed by cache position);
//   * a block's score is the SUM of its tokens' scores. Only full blocks are candidates
//     (the partly filled last block is always in the recent window), so sum and mean rank
//     them alike;
//   * before a step of n tokens over a cache of L tokens, when L + n > N, the
//     k = ceil((L + n - N) / B) lowest-scoring candidate blocks (outside the sink blocks and
//     the recent window; ties: the older block) are evicted, whole.
//   With block size 1 this IS token-level H2O (the reference that measures what block
//   granularity costs: bench/h2o_ppl.sh runs both).
//
// Positions after a block leaves the middle: re-rotated, as the window does (StreamingLLM's
// "positions within the cache"): every kept block after an evicted one moves down by the
// evicted tokens before it (KvCacheManager::EvictBlocks returns one KvShift per such block,
// ModelRunner::ShiftKPositions re-rotates its K). Why not keep the true RoPE positions:
// (1) a sequence that outlives the model's trained context (the streaming measurement,
// endless generation) would attend at positions the model never saw, which is what makes
// dense attention fail there; within the cache all positions stay below N; (2) the cache
// stays contiguous, so the attention kernels, the block table and the slot mapping need no
// position map. The cost: each eviction re-rotates the K of the blocks after the evicted
// one (at most the budget's K; ~1/B of the attention reads per token, amortised, as for the
// window), one more rounding to the cache type each time (use f32 KV to rule it out).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kv/kv_window.h"
#include "weft/status.h"

namespace weft {

enum class KvPolicy { kH2o, kWindow, kSinks };

std::optional<KvPolicy> KvPolicyFromName(std::string_view name);  // "h2o", "window", "sinks"
std::string_view KvPolicyName(KvPolicy p);

struct KvBudget {
  int32_t budget = 0;  // N: KV positions a step's attention sees at most; 0 = no budget
  KvPolicy policy = KvPolicy::kH2o;
  int32_t sinks = 0;   // h2o (optional) and sinks: tokens kept at the start (rounded up to blocks)

  bool enabled() const { return budget > 0; }
  bool operator==(const KvBudget&) const = default;
};

// InvalidArgument naming the field: budget < 0; policy sinks without sinks; window with
// sinks; a budget too small for the policy at this block size and step size n (h2o:
// N >= sink blocks * B + n + 2 (B - 1), so that the sinks, a recent window of R >= B - 1
// tokens and its partial block fit; window/sinks: W >= 1); N above max_model_len.
Status ValidateKvBudget(const KvBudget& b, int32_t block_size, int32_t n, int32_t max_model_len,
                        const std::string& budget_field, const std::string& sinks_field);

// window / sinks: the rolling window of the same budget (above). h2o: disabled.
KvWindow WindowForBudget(const KvBudget& b, int32_t block_size, int32_t n);

// h2o: the most tokens one step may compute, N - sink tokens - 2 (B - 1), so that the
// sinks, a recent window of at least B - 1 tokens with its partial block, and the step fit
// (the engine's prefill chunks of a budgeted prompt; decode steps are 1).
int32_t H2oMaxStep(const KvBudget& b, int32_t block_size);
// window / sinks: the most tokens one step may compute, N - sink tokens - B, so that the
// window of that step (WindowForBudget(b, B, n)) keeps at least one token.
int32_t WindowPolicyMaxStep(const KvBudget& b, int32_t block_size);

// h2o: R, the recent tokens always kept before a step of n tokens.
int32_t H2oRecentTokens(const KvBudget& b, int32_t block_size, int32_t n);

// h2o: the table indices (ascending) of the blocks to evict before a step of n tokens
// over a cache of cache_len tokens whose scores are mass[0 .. cache_len) (above). Empty
// when the step fits the budget. Cleared first.
void ChooseH2oEvictions(const KvBudget& b, int32_t block_size, int32_t n, std::span<const float> mass,
                        int32_t cache_len, std::vector<int32_t>& out);

// "h2o 128 (sinks 4)", "window 128", "sinks 4 + window at 128".
std::string KvBudgetName(const KvBudget& b);

}  // namespace weft
