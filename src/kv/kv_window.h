// Attention sinks + rolling window (StreamingLLM, Xiao et al. 2023) over the paged KV cache:
// a sequence keeps its first tokens (the "sinks") and its most recent ones; the blocks in
// between are returned to the pool as the sequence advances, so one stream runs at
// constant memory however long it gets.
//
// How sinks and window map to blocks (block size B; all block-granular, nothing is copied):
//   * sink blocks   = ceil(sinks / B): the table's first sink blocks are never evicted, so
//     the sinks are rounded UP to whole blocks (sinks 4, B 16: the first 16 tokens stay);
//   * window        = the last `window` tokens already in the cache are always kept; a block
//     after the sink blocks is evicted once every token in it is older than them, so the
//     kept window holds between `window` and window + B - 1 past tokens, plus the step's
//     new tokens (one when decoding);
//   * window 0      = no policy (dense: nothing is evicted). sinks 0 = a plain window.
// A sequence under the policy holds at most sink_blocks + ceil((window + B - 1 + n) / B) + 1
// blocks during a step of n new tokens.
//
// Positions (StreamingLLM's "positions within the cache"): a token's RoPE position is its
// index in the cache, not in the text: sinks at 0 .. sink_blocks*B - 1, the window right
// after them, the new token next. K is stored post-RoPE, so when blocks leave, every kept
// window block's K is re-rotated back by the evicted length (KvShift; RoPE rotations
// compose: R(p - d) = R(-d) R(p)), done by ModelRunner::ShiftKPositions before the next
// forward pass. Cost: the window's K once per evicted block, i.e. about 1/B of what decode
// attention reads per token, amortised; the sinks and V are never touched. Each token is
// re-rotated at most ceil(window / B) + 1 times over its life (one rounding to the cache
// type each time), and positions stay below sink_blocks*B + window + B + n: below the
// model's trained context, so generation continues past it.
//
// Prefix caching: a windowed sequence neither registers blocks in the prefix cache nor
// takes cached blocks (after its first eviction its K/V are computed over a truncated
// context and re-rotated, so they are no function of the token prefix; before it they
// would be re-rotated in place later). Its blocks are therefore never shared, which is
// what the in-place re-rotation needs. Not combined with n > 1 samples (forks share
// blocks) nor speculative decoding (its rollback) — the engine refuses / skips those.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <string>

#include "kernels/kv_shift.h"
#include "weft/status.h"

namespace weft {

struct KvWindow {
  int32_t sinks = 0;   // tokens kept at the start (rounded up to whole blocks)
  int32_t window = 0;  // most recent tokens kept; 0 = no policy (dense)

  bool enabled() const { return window > 0; }
  int32_t SinkBlocks(int32_t block_size) const { return (sinks + block_size - 1) / block_size; }
  bool operator==(const KvWindow&) const = default;
};

// One kept block whose tokens moved down by `delta` cache positions: the K of its first
// n_tokens slots must be rotated by -delta (all layers) before the next forward pass.
using KvShift = kernels::KvShift;

// InvalidArgument, naming `sinks_field` / `window_field`, unless 0 <= sinks, 0 <= window,
// sinks > 0 only with a window, and the sink blocks plus the window plus one block fit
// max_model_len (the largest cache a sequence may hold) with room for a new token.
Status ValidateKvWindow(const KvWindow& w, int32_t block_size, int32_t max_model_len, const std::string& sinks_field,
                        const std::string& window_field);

// "dense", "window 256", "sinks 4 + window 256".
std::string KvWindowName(const KvWindow& w);

}  // namespace weft
