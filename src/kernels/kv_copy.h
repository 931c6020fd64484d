// CopyKvSlots: copies whole KV slots (a token's K and V of every KV head, scales
// included, for any KV type) from one slot to another inside one layer's paged cache.
// Token-tree verification uses it twice (kv/tree_kv.h): to give a tree node a contiguous
// view of its ancestors (into scratch blocks, in every layer during the forward pass) and
// to move an accepted branch's K/V into the slots that follow the prefix.
// Thread-safety: writes the cache; one caller at a time (the engine thread's step).
#pragma once

#include <cstdint>

#include "kernels/ops.h"

namespace weft::kernels {

// For i in [0, n), in order: slot dst[i] gets the bytes of slot src[i] (K codes of every
// dimension, K scales, the V row and its scales) in every KV head. Slots are
// block * block_size + offset, < num_blocks * block_size (checked). A later pair may read
// what an earlier one wrote (the order is kept).
void CopyKvSlots(const KvCacheView& cache, const int64_t* src, const int64_t* dst, int64_t n);

}  // namespace weft::kernels
