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
// Splitting aims at this many pieces per thread, so that the pool's dynamic chunks even
// out tiles of different lengths.
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
// pool's chunks end with the light tiles), each for every KV head.
template <class Fn>
void ForEachTile(const AttentionBatch& batch, int n_kv_heads, Fn&& fn) {
  const int group = batch.n_heads / n_kv_heads;
  const int tokens_per_tile = std::max(1, kTileQueries / group);
  for (int s = 0; s < batch.n_seqs; ++s) {
    const int32_t q0 = batch.query_start[s];
    for (int32_t end = batch.query_start[s + 1]; end > q0; end -= tokens_per_tile) {
      const int32_t begin = std::max(q0, end - tokens_per_tile);
      for (int h = 0; h < n_kv_heads; ++h) fn(AttentionTile{s, begin, end, h * group, (h + 1) * group});
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
  int64_t n_whole = 0;
  ForEachTile(batch, n_kv_heads, [&](const AttentionTile&) { ++n_whole; });
  // Pieces per split tile: enough for kPiecesPerThread per thread, at most one per chunk.
  const int64_t want = int64_t{threads} * kPiecesPerThread;
  const bool split = ctx.table->attention_takes_pieces && threads > 1 && n_whole > 0 && n_whole < want &&
                     SplitKvEnabled();
  const int64_t pieces_per_tile = split ? (want + n_whole - 1) / n_whole : 1;
  auto last_kv = [&](const AttentionTile& t) { return QueryKvCount(batch, t.seq, t.tok_end - 1); };
  auto pieces_of = [&](const AttentionTile& t) { return std::min<int64_t>(pieces_per_tile, ChunksOf(last_kv(t))); };
  // A split tile's records: one per query and chunk.
  const int64_t record = AttentionRecordFloats(cache.head_dim);
  auto record_floats_of = [&](const AttentionTile& t) {
    return int64_t{t.tok_end - t.tok_begin} * (t.head_end - t.head_begin) * ChunksOf(last_kv(t)) * record;
  };

  // One scratch block: whole tiles and pieces, then the split tiles, then their records.
  int64_t n_tiles = 0, n_split = 0, n_record_floats = 0;
  ForEachTile(batch, n_kv_heads, [&](const AttentionTile& t) {
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
  ForEachTile(batch, n_kv_heads, [&](AttentionTile t) {
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

