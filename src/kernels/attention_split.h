// Split-KV attention (Flash-Decoding): one long sequence's decode attention spread over
// the threads by cutting its KV positions into chunks, then reducing.
//
// Every query's KV positions are taken in chunks of kKvChunk (chunk c is positions
// [c * kKvChunk, (c + 1) * kKvChunk)): each chunk gets its own online-softmax state, and
// the states are folded left to right, chunk 0 first (FoldAttentionState), then divided
// out (FinishAttention). The tiled kernels (attention_tiles.h) do this for every query,
// whether its chunks run in one tile or in pieces on several threads, and the fold and
// finish are compiled once, here, in a TU without FMA contraction into another ISA: so a
// query's result is the same bits either way (batch invariance, kernel_table.h).
//
// PlanAttention cuts a batch into tiles (kernel_table.h, AttentionTile) and, when there
// are fewer tiles than keep the pool busy, splits the long ones into pieces of whole
// chunks; each piece writes one state record per (query, chunk) into the plan's
// records, and ReduceSplitAttention folds them into `out`.
// WEFT_SPLIT_KV=0 turns the splitting off (for measuring it); results do not change.
// Thread-safety: PlanAttention uses ctx's scratch (one caller per context); the rest is
// reentrant.
#pragma once

#include <cstdint>
#include <span>

#include "kernels/kernel_table.h"
#include "kernels/ops.h"

namespace weft::kernels {

// KV positions per chunk: a multiple of every ISA's softmax span. Each chunk costs every
// query a fold and a fresh running max (more rescaling): at 256 that was ~10 % of a
// 4096-token decode's attention (kernels_bench, one thread), at 1024 it is ~2 %.
inline constexpr int kKvChunk = 1024;

// Floats in one state record: [running max, running sum, acc[0 .. head_dim)].
inline constexpr int64_t AttentionRecordFloats(int head_dim) { return int64_t{head_dim} + 2; }

// Folds state b (its max, sum and acc [d]) into state a, which holds at least one earlier
// chunk: both are rescaled to the larger max and added.
void FoldAttentionState(float* acc_a, float* max_a, float* sum_a, const float* acc_b, float max_b, float sum_b, int d);

// out[0 .. d) = acc / sum.
void FinishAttention(const float* acc, float sum, int d, float* out);

struct AttentionPlan {
  std::span<const AttentionTile> tiles;  // the work: whole tiles and pieces of split ones
  std::span<const AttentionTile> split;  // the split tiles whole (partial set): to reduce
};

// Tiles of runs of up to 32 / group consecutive tokens of a sequence x the heads of one
// or more KV heads (as many as still leave enough work for ctx's pool; all of them for one
// long sequence's decode), later tokens first; when there are fewer tiles than keep the
// pool busy and the table's kernels take chunk ranges, each tile is split into pieces of
// one chunk. In ctx's scratch: valid until its next use.
AttentionPlan PlanAttention(const KernelContext& ctx, const AttentionBatch& batch, const KvCacheView& cache);

// out for the queries of the split tiles `split` (AttentionPlan::split), from their
// pieces' records.
void ReduceSplitAttention(const AttentionBatch& batch, const KvCacheView& cache, std::span<const AttentionTile> split,
                          float* out);

// KV positions the tile's query for token `tok` sees (its own included).
inline int64_t QueryKvCount(const AttentionBatch& batch, int32_t seq, int32_t tok) {
  const int32_t q_start = batch.query_start[seq];
  const int32_t q_len = batch.query_start[seq + 1] - q_start;
  return int64_t{batch.seq_len[seq]} - q_len + (tok - q_start) + 1;
}

}  // namespace weft::kernels
