// Re-rotation of cached K for the attention-sinks window (kv/kv_window.h): K is stored
// after RoPE, so moving a cached token from position p to p - delta is one more rotation
// by -delta of each rotated pair (RoPE rotations compose: R(p - delta) = R(-delta) R(p)).
// Scalar code: it runs once per evicted block over the kept window's K (about 1/block_size
// of what decode attention reads per token), not in the attention loop.
// Thread-safety: writes only the given block of `cache`; engine thread, between steps.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/ops.h"

namespace weft::kernels {

// One block whose first n_tokens cached tokens moved down by `delta` positions
// (kv/kv_window.h's KvShift).
struct KvShift {
  int32_t block = 0;
  int32_t n_tokens = 0;
  int32_t delta = 0;
};

// Rotates the K rows of slots [block * block_size, block * block_size + n_tokens) of every
// KV head of `cache` (one layer) by -delta positions with the layer's RoPE: the angles are
// Rope()'s own for position -delta (same frequencies, style, scaling, freq_factors), with
// YaRN's cos/sin magnitude (attn_factor) divided out, so the map is a pure rotation.
// Dims past rope.rope_dim are untouched. Quantised types are dequantised, rotated and
// requantised per token row (new scales); F16/BF16 round to nearest even, as WriteKv does.
void RotateCachedK(const KernelContext& ctx, const KvCacheView& cache, int32_t block, int n_tokens, int32_t delta,
                   const RopeParams& rope);
// The same for every shift in `shifts` (the angles computed once per distinct delta).
void RotateCachedK(const KernelContext& ctx, const KvCacheView& cache, std::span<const KvShift> shifts,
                   const RopeParams& rope);

}  // namespace weft::kernels
