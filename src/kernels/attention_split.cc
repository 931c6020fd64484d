// Attention planning (tiles, and pieces of split tiles), the chunk-state fold and the
// reduction of split tiles. Built without ISA flags: the fold's arithmetic is the same for
// every caller (attention_split.h).
#include "kernels/attention_split.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/scratch_window.h"

namespace weft::kernels {
namespace {

constexpr int kTileQueries = 32;
// Planning aims at this many tiles or pieces per thread, so that the pool's dynamic chunks
// even out tiles of different lengths.
constexpr int kPiecesPerThread = 2;

bool SplitKvEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("WEFT_SPLIT_KV");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return enabled;
}

// Calls fn(tile) for the batch's whole tiles in order: per sequence, runs of up to
// kTileQueries / group tokens from the last backwards (later tokens read more K/V, so the
// pool's chunks end with the light tiles), each for every run of kv_per_tile KV heads.
template <class Fn>
void ForEachTile(const AttentionBatch& batch, int n_kv_heads, int kv_per_tile, Fn&& fn) {
  const int group = batch.n_heads / n_kv_heads;
  const int tokens_per_tile = std::max(1, kTileQueries / group);
  for (int s = 0; s < batch.n_seqs; ++s) {
    const int32_t q0 = batch.query_start[s];
    for (int32_t end = batch.query_start[s + 1]; end > q0; end -= tokens_per_tile) {
      const int32_t begin = std::max(q0, end - tokens_per_tile);
      for (int h = 0; h < n_kv_heads; h += kv_per_tile) {
        fn(AttentionTile{s, begin, end, h * group, std::min(n_kv_heads, h + kv_per_tile) * group});
      }
    }
  }
}

int32_t ChunksOf(int64_t n_kv) { return static_cast<int32_t>((n_kv + kKvChunk - 1) / kKvChunk); }

}  // namespace

void FoldAttentionState(float* acc_a, float* max_a, float* sum_a, const float* acc_b, float max_b, float sum_b,
                        int d) {
  // A state that saw no position (every one of its chunk outside the query's sliding
  // window) changes nothing; its max is -inf, which the formula below cannot take when
  // the other's is too.
  if (sum_b == 0.0f) return;
  // The state with the larger max keeps its scale (exp(0) = 1 exactly).
  const bool a_larger = *max_a >= max_b;
  const float fa = a_larger ? 1.0f : std::exp(*max_a - max_b);
  const float fb = a_larger ? std::exp(max_b - *max_a) : 1.0f;
  *max_a = a_larger ? *max_a : max_b;
  *sum_a = *sum_a * fa + sum_b * fb;
  for (int c = 0; c < d; ++c) acc_a[c] = acc_a[c] * fa + acc_b[c] * fb;
}

void FinishAttention(const float* acc, float sum, int d, float* out) {
  const float inv = 1.0f / sum;
  for (int c = 0; c < d; ++c) out[c] = acc[c] * inv;
}

AttentionPlan PlanAttention(const KernelContext& ctx, const AttentionBatch& batch, const KvCacheView& cache) {
  const int n_kv_heads = cache.n_kv_heads;
  const int threads = ctx.pool != nullptr ? ctx.pool->num_threads() : 1;
  const int64_t want = int64_t{threads} * kPiecesPerThread;
  const bool can_split = ctx.table->attention_takes_pieces && threads > 1 && SplitKvEnabled();
  auto last_kv = [&](const AttentionTile& t) { return QueryKvCount(batch, t.seq, t.tok_end - 1); };
  // KV heads per tile: as many as still leave at least `want` pieces of work that even
  // out over the threads (all of them, for one long sequence's decode). A tile takes its
  // heads one after the other in each span, so it reads each block's K and V front to
  // back, a stream the hardware prefetchers follow; a tile of one head reads a slab of
  // KHeadBytes from every block, too short a stream (kernels_bench DecodeAtDepth, f16 from
  // DRAM, 2 threads: 7.2 -> 4.5 ms). When there are fewer tiles than `want` (and the
  // kernels take pieces), every tile is split into pieces of one chunk each. Whatever the
  // cut, each query's arithmetic is the same.
  int kv_per_tile = n_kv_heads;
  bool split = false;
  for (;; kv_per_tile = (kv_per_tile + 1) / 2) {
    int64_t n_whole = 0, n_chunks = 0;
    ForEachTile(batch, n_kv_heads, kv_per_tile, [&](const AttentionTile& t) {
      ++n_whole;
      n_chunks += ChunksOf(last_kv(t));
    });
    split = can_split && n_whole > 0 && n_whole < want;
    const int64_t work = split ? n_chunks : n_whole;
    const bool even = work >= want && (work % threads == 0 || work >= 4 * int64_t{threads});
    if (threads == 1 || kv_per_tile == 1 || even) break;
  }
  auto pieces_of = [&](const AttentionTile& t) { return split ? int64_t{ChunksOf(last_kv(t))} : int64_t{1}; };
  // A split tile's records: one per query and chunk.
  const int64_t record = AttentionRecordFloats(cache.head_dim);
  auto record_floats_of = [&](const AttentionTile& t) {
    return int64_t{t.tok_end - t.tok_begin} * (t.head_end - t.head_begin) * ChunksOf(last_kv(t)) * record;
  };

  // One scratch block: whole tiles and pieces, then the split tiles, then their records.
  int64_t n_tiles = 0, n_split = 0, n_record_floats = 0;
  ForEachTile(batch, n_kv_heads, kv_per_tile, [&](const AttentionTile& t) {
    const int64_t pieces = pieces_of(t);
    n_tiles += pieces;
    if (pieces > 1) ++n_split, n_record_floats += record_floats_of(t);
  });
  const size_t tile_bytes = static_cast<size_t>(n_tiles + n_split) * sizeof(AttentionTile);
  const size_t records_at = (tile_bytes + 63) / 64 * 64;
  uint8_t* mem = ScratchBytes(ctx, records_at + static_cast<size_t>(n_record_floats) * sizeof(float));
  auto* tiles = reinterpret_cast<AttentionTile*>(mem);
  AttentionTile* split_tiles = tiles + n_tiles;
  float* records = reinterpret_cast<float*>(mem + records_at);
  int64_t n = 0, ns = 0;
  ForEachTile(batch, n_kv_heads, kv_per_tile, [&](AttentionTile t) {
    const int64_t pieces = pieces_of(t);
    if (pieces == 1) {
      WEFT_SCRATCH_WINDOW("attention tiles", static_cast<size_t>(n), 1, static_cast<size_t>(n_tiles));
      tiles[n++] = t;
      return;
    }
    const int32_t chunks = ChunksOf(last_kv(t));
    WEFT_SCRATCH_WINDOW("split-KV records", static_cast<size_t>(records - reinterpret_cast<float*>(mem + records_at)),
                        static_cast<size_t>(record_floats_of(t)), static_cast<size_t>(n_record_floats));
    t.partial = records;
    t.partial_chunks = chunks;
    records += record_floats_of(t);
    split_tiles[ns++] = t;
    for (int64_t p = 0; p < pieces; ++p) {
      AttentionTile piece = t;
      piece.chunk_begin = static_cast<int32_t>(p * chunks / pieces);
      piece.chunk_end = static_cast<int32_t>((p + 1) * chunks / pieces);
      WEFT_SCRATCH_WINDOW("attention tiles", static_cast<size_t>(n), 1, static_cast<size_t>(n_tiles));
      tiles[n++] = piece;
    }
  });
  return {{tiles, static_cast<size_t>(n)}, {split_tiles, static_cast<size_t>(ns)}};
}

void ReduceSplitAttention(const AttentionBatch& batch, const KvCacheView& cache, std::span<const AttentionTile> split,
                          float* out) {
  const int d = cache.head_dim;
  const int64_t record = AttentionRecordFloats(d);
  float acc[kMaxKvHeadDim];
  for (const AttentionTile& t : split) {
    const int heads = t.head_end - t.head_begin;
    for (int32_t tok = t.tok_begin; tok < t.tok_end; ++tok) {
      const int32_t chunks = ChunksOf(QueryKvCount(batch, t.seq, tok));
      for (int h = t.head_begin; h < t.head_end; ++h) {
        const float* r = t.partial + int64_t{(tok - t.tok_begin) * heads + (h - t.head_begin)} * t.partial_chunks * record;
        float run_max = r[0], run_sum = r[1];
        std::memcpy(acc, r + 2, sizeof(float) * d);
        for (int32_t c = 1; c < chunks; ++c) {
          const float* rc = r + c * record;
          FoldAttentionState(acc, &run_max, &run_sum, rc + 2, rc[0], rc[1], d);
        }
        FinishAttention(acc, run_sum, d, out + (int64_t{tok} * batch.n_heads + h) * d);
      }
    }
  }
}

}  // namespace weft::kernels

