// The ISA-neutral driver of tiled paged attention (KernelTable::attention), as a template
// over an ISA's span kernels. Include only from the SIMD translation units (internal
// linkage: each TU gets its own copy with its own flags).
//
// For each tile (kernel_table.h, AttentionTile) the KV positions [0, n_kv of the tile's
// last token) (a piece of a split tile: those of its chunks) are taken chunk by chunk
// (attention_split.h: each chunk starts a fresh online softmax; a whole tile folds the
// chunks' states as it goes and finishes them, a piece writes them to its records), and
// in each chunk in spans of K::kSpan, and in each span the tile's KV heads one after the
// other (so that a tile of several reads each block front to back): the span's K columns
// and V rows of the head are found through the block table (the cache layout is in ops.h,
// KvCacheView) and handed to K::GatherSpan once, then every query of the head's group in
// the tile that sees the span goes through K::UpdateQueries, span.pass (<= K::kMaxGroup)
// at a time; meanwhile the next head's slabs of the span (or the first head's of the next
// span) are prefetched. Each query keeps an f32 accumulator
// [dpad], a running max and a running sum (online softmax); its result is acc / sum.
//
// For the quantised KV types (kv_type.h; K and V may be of different types) the span also
// carries each position's K and / or V scale pointers; every kernel converts an element to code value x scale factor, one f32
// product, staged or in place.
//
// K provides:
//   static constexpr int kSpan, kMaxGroup, kLanes;   // dpad = head_dim rounded up to kLanes
//   static constexpr bool kPrefetchesNextHead;        // reads SpanRefs::next_head_k / _v
//   static void GatherSpan(KvType k_type, KvType v_type, SpanRefs& span, int d, int dpad, int n_queries);
//     either converts the span's K and V to f32 in span.kt [d][kSpan] (zero past n) and
//     span.vf [n][dpad] (zero past d) and sets span.staged, or leaves them in the cache
//     for UpdateQueries to read in place (worth it when few queries see the span); sets
//     span.pass, the queries per UpdateQueries call; when one pass reads the span in
//     place it leaves span.next_lines (the next span's cache lines) for that pass to
//     prefetch spread over its score loop (SpreadPrefetch), else it prefetches them at
//     once and clears them (PrefetchNextLinesNow);
//   static void UpdateQueries(const QueryState* qs, int n, const ScoreParams& sp, KvType k_type,
//                             KvType v_type, const SpanRefs& span, int d, int dpad, float* p);
//     p: kMaxGroup * kSpan floats of scratch. The values it computes with are the same
//     either way, so a query's result does not depend on the choice.
// Thread-safety: reentrant; scratch is thread_local.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/half.h"
#include "kernels/kv_type.h"
#include "kernels/attention_split.h"
#include "kernels/kernel_table.h"
#include "kernels/scratch_window.h"

namespace weft::kernels {
namespace {

// One query's state during a span: its row, its accumulator [dpad], its running max and
// sum, and which of the span's positions it sees: [lo, cnt), 0 <= lo < cnt <= kSpan (lo > 0
// only under a sliding window).
struct QueryState {
  const float* q;
  float* acc;
  float* run_max;
  float* run_sum;
  int cnt;
  int lo;
  // Bit t: span position t is visible, besides [lo, cnt) (all ones but for a token-tree
  // row, ops.h AttentionBatch::tree_mask, whose step reaches into the span).
  uint64_t live = ~uint64_t{0};
};

// QueryState::live of a row with tree mask `tree` (0: none) for the span at `start`,
// when this step's positions begin at step_start (q_len <= 64 of them).
inline uint64_t TreeSpanLive(uint64_t tree, int64_t step_start, int64_t start, int span) {
  if (tree == 0 || start + span <= step_start) return ~uint64_t{0};
  uint64_t live = ~uint64_t{0};
  for (int t = 0; t < span; ++t) {
    const int64_t j = start + t - step_start;  // the step's row j
    if (j >= 0 && (j >= 64 || ((tree >> j) & 1) == 0)) live &= ~(uint64_t{1} << t);
  }
  return live;
}

// How UpdateQueries turns q . k into a score: times scale, then, when softcap > 0,
// softcap * tanh(score / softcap).
struct ScoreParams {
  float scale;
  float softcap;
};

// One span's K and V as the driver found them through the block table: kcols[t] is K of
// position t, dimension 0 (dimension i is k_dim_bytes * i further on, kQ4: i / 2, kv_type.h KvCodeAt: the cache is
// dimension-major, ops.h); vrows[t] is its V row. kt / vf: f32 staging buffers, used
// when GatherSpan sets `staged`.
struct SpanRefs {
  const uint8_t* const* kcols;
  int64_t k_dim_bytes;
  const uint8_t* const* vrows;
  int n;  // positions in the span, 1 .. kSpan
  float* kt;
  float* vf;
  bool staged;
  int pass;  // queries per UpdateQueries call, 1 .. kMaxGroup (GatherSpan sets it)
  // Quantised K (V) only, else null: kscales[t] is position t's K scale of group 0 (group
  // g is k_scale_group_bytes * g further on), vscales[t] its V scales (adjacent f16);
  // `group` values per scale.
  const uint8_t* const* kscales = nullptr;
  int64_t k_scale_group_bytes = 0;
  const uint8_t* const* vscales = nullptr;
  int group = 0;
  // The next span's K/V cache lines, for the kernel to prefetch (none when the driver
  // prefetched them itself: too many to list): n_next_lines of them.
  const uint8_t* const* next_lines = nullptr;
  int n_next_lines = 0;
  // Or, for kernels with kPrefetchesNextHead, when the next work is the tile's next KV head
  // in this span: the bytes from each K column (V row) of this head to the same of that
  // one (KHeadBytes, VHeadBytes), else 0. The kernel prefetches those addresses as it
  // reads its own, with no list to build (a span it stages anyway goes without).
  int64_t next_head_k = 0;
  int64_t next_head_v = 0;
};

// The f32 factor of a stored f16 scale at p (kv_type.h).
inline float ScaleAt(KvType type, const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return KvScaleFactor(type, h);
}

struct alignas(64) AttentionLane {
  float f[16];
};

struct AttentionTileScratch {
  // [dpad][span], [span][dpad], [tile queries][dpad] x 2 (the chunk's, the folded)
  std::vector<AttentionLane> kt, vf, acc, folded;
  std::vector<float> run_max, run_sum, folded_max, folded_sum;  // [tile queries]
  void Reserve(int dpad, int span, int queries) {
    const size_t span_lanes = (static_cast<size_t>(span) * dpad + 15) / 16;
    const size_t acc_lanes = (static_cast<size_t>(queries) * dpad + 15) / 16;
    if (kt.size() < span_lanes) kt.resize(span_lanes), vf.resize(span_lanes);
    if (acc.size() < acc_lanes) acc.resize(acc_lanes), folded.resize(acc_lanes);
    if (run_max.size() < static_cast<size_t>(queries)) {
      run_max.resize(queries), run_sum.resize(queries), folded_max.resize(queries), folded_sum.resize(queries);
    }
  }
};

// The K positions first .. first + live of one run of `lanes` lanes into kt (row stride
// span, i < d), one value at a time, zero past live: for runs that cross a block boundary
// (block sizes that are not a multiple of the lane count), where a vector load cannot go.
inline void GatherKLanes(KvType type, const SpanRefs& s, int first, int live, int lanes, int d, int span, float* kt) {
  for (int i = 0; i < d; ++i) {
    float* row = kt + static_cast<int64_t>(i) * span;
    for (int l = 0; l < lanes; ++l) {
      if (l >= live) {
        row[l] = 0.0f;
        continue;
      }
      const uint8_t* p = s.kcols[first + l] + i * s.k_dim_bytes;
      switch (type) {
        case KvType::kF32: std::memcpy(&row[l], p, 4); break;
        case KvType::kF16: case KvType::kBF16: {
          uint16_t h;
          std::memcpy(&h, p, 2);
          row[l] = type == KvType::kF16 ? Fp16ToFloat(h) : Bf16ToFloat(h);
          break;
        }
        default:
          row[l] = KvCodeValue(type, KvCodeAt(type, s.kcols[first + l], i, s.k_dim_bytes)) *
                   ScaleAt(type, s.kscales[first + l] + (i / s.group) * s.k_scale_group_bytes);
      }
    }
  }
}

// Whether positions kcols[0 .. live) of K are adjacent in memory (one block).
inline bool KLanesContiguous(const uint8_t* const* kcols, int live, int64_t elem_bytes) {
  return live <= 1 || kcols[live - 1] - kcols[0] == (live - 1) * elem_bytes;
}

// Whether the driver prefetches the next span's K/V slabs (WEFT_KV_PREFETCH=0: not).
// Decode at depth reads every block's slab of a KV head once, a few KiB each at block
// strides, from DRAM: too short a stream for the hardware prefetchers, so without it the
// reads wait on memory latency (BENCHMARKS.md, "KV cache types").
inline bool KvPrefetchEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("WEFT_KV_PREFETCH");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return enabled;
}

// Calls line(p) for each 64-byte line of the slabs of one KV head (KHeadBytes of each
// block of K from kbase, VHeadBytes of V from vbase) that positions [start, stop) lie in.
template <class F>
void ForEachSpanLine(const uint8_t* kbase, const uint8_t* vbase, const int32_t* table, int block_size,
                     const KvCacheView& c, int64_t start, int64_t stop, F&& line) {
  const int64_t kstride = c.KBlockBytes(), vstride = c.VBlockBytes(), kbytes = c.KHeadBytes(), vbytes = c.VHeadBytes();
  for (int64_t j = start / block_size; j * block_size < stop; ++j) {
    const uint8_t* kb = kbase + table[j] * kstride;
    const uint8_t* vb = vbase + table[j] * vstride;
    for (int64_t b = 0; b < kbytes; b += 64) line(kb + b);
    for (int64_t b = 0; b < vbytes; b += 64) line(vb + b);
  }
}

// Prefetches (into L2) those lines.
inline void PrefetchSpan(const uint8_t* kbase, const uint8_t* vbase, const int32_t* table, int block_size,
                         const KvCacheView& c, int64_t start, int64_t stop) {
  ForEachSpanLine(kbase, vbase, table, block_size, c, start, stop, [](const uint8_t* p) { __builtin_prefetch(p, 0, 2); });
}

// Lists those lines in `lines` (room for max_lines); returns how many, or -1 when they do
// not fit.
inline int ListSpanLines(const uint8_t* kbase, const uint8_t* vbase, const int32_t* table, int block_size,
                         const KvCacheView& c, int64_t start, int64_t stop, const uint8_t** lines, int max_lines) {
  const int64_t blocks = (stop - 1) / block_size - start / block_size + 1;
  if (blocks * ((c.KHeadBytes() + 63) / 64 + (c.VHeadBytes() + 63) / 64) > max_lines) return -1;
  int n = 0;
  ForEachSpanLine(kbase, vbase, table, block_size, c, start, stop, [&](const uint8_t* p) { lines[n++] = p; });
  return n;
}

// For the span kernels: the next span's cache lines (SpanRefs::next_lines) prefetched
// across a score loop over d dimensions, `per` at each (At(i) at dimension i). One burst
// of them before the span overlaps less with the arithmetic (kernels_bench DecodeAtDepth
// from DRAM: ~10 % on AVX2; 2-3x on AVX-512 on AMD Zen 5, where the burst did nothing
// measurable). Into L1 (prefetcht0): the span's K and V of a head (16 KiB for 64 f16
// dimensions) fit beside the working set, and on Zen 5 f16 from DRAM took 2.97 ms against
// 3.46 ms into L2 (BENCHMARKS.md, "Head dims 4 and 8").
struct SpreadPrefetch {
  const uint8_t* const* lines = nullptr;
  int n = 0;
  int per = 0;
  inline __attribute__((always_inline)) void At(int i) const {
    for (int l = i * per, e = std::min(n, l + per); l < e; ++l) __builtin_prefetch(lines[l], 0, 3);
  }
};
inline SpreadPrefetch SpreadOver(const SpanRefs& s, int d) {
  return {s.next_lines, s.n_next_lines, (s.n_next_lines + d - 1) / d};
}

// ... and when the span is staged or several passes read it: those lines at once (none
// are left to spread).
inline void PrefetchNextLinesNow(SpanRefs& s) {
  for (int l = 0; l < s.n_next_lines; ++l) __builtin_prefetch(s.next_lines[l], 0, 2);
  s.n_next_lines = 0;
}

// The (K, V) type pairs the SIMD span kernels read in place (each pair is a family of
// instantiations): equal types, and the mixed pairs worth having (a wider K than V: K
// errors move every score, V errors only average in). Other pairs are always staged (the
// same values).
inline bool InPlacePair(KvType k, KvType v) {
  if (k == v) return true;
  return (k == KvType::kQ8 && v == KvType::kQ4) || (k == KvType::kF16 && v == KvType::kQ8) ||
         (k == KvType::kF16 && v == KvType::kQ4) || (k == KvType::kFp8 && v == KvType::kQ4);
}

// f.template operator()<K type, V type>() for an InPlacePair (k, v), the types as constants.
template <class F>
void WithInPlacePair(KvType k, KvType v, F&& f) {
  assert(InPlacePair(k, v));
  using KT = KvType;
  if (k != v) {
    if (k == KT::kQ8) return f.template operator()<KT::kQ8, KT::kQ4>();
    if (k == KT::kFp8) return f.template operator()<KT::kFp8, KT::kQ4>();
    if (v == KT::kQ8) return f.template operator()<KT::kF16, KT::kQ8>();
    return f.template operator()<KT::kF16, KT::kQ4>();
  }
  switch (k) {
    case KT::kF16: return f.template operator()<KT::kF16, KT::kF16>();
    case KT::kBF16: return f.template operator()<KT::kBF16, KT::kBF16>();
    case KT::kQ8: return f.template operator()<KT::kQ8, KT::kQ8>();
    case KT::kFp8: return f.template operator()<KT::kFp8, KT::kFp8>();
    case KT::kQ4: return f.template operator()<KT::kQ4, KT::kQ4>();
    default: return f.template operator()<KT::kF32, KT::kF32>();
  }
}

// f.template operator()<G>() for a pass of n = G queries, 1 <= n <= 8, G a constant.
template <class F>
void WithPassSize(int n, F&& f) {
  switch (n) {
    case 8: return f.template operator()<8>();
    case 7: return f.template operator()<7>();
    case 6: return f.template operator()<6>();
    case 5: return f.template operator()<5>();
    case 4: return f.template operator()<4>();
    case 3: return f.template operator()<3>();
    case 2: return f.template operator()<2>();
    default: return f.template operator()<1>();
  }
}

template <class K>
void RunAttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                       int64_t n_tiles) {
  static_assert(kKvChunk % K::kSpan == 0, "a span never crosses a chunk");
  const int d = cache.head_dim;
  const int dpad = (d + K::kLanes - 1) / K::kLanes * K::kLanes;
  const int group = batch.n_heads / cache.n_kv_heads;
  const int64_t k_pos_stride = cache.KElemBytes();  // K: next position, same block and KV head
  const int64_t v_pos_stride = cache.VRowBytes();  // V: the same
  const int64_t k_dim_bytes = cache.KDimBytes();
  const int64_t k_block_stride = cache.KBlockBytes(), v_block_stride = cache.VBlockBytes();
  const int64_t record = AttentionRecordFloats(d);
  const ScoreParams sp{batch.scale, batch.softcap};
  const int64_t window = batch.window;  // 0: none
  thread_local AttentionTileScratch S;
  alignas(64) float p[K::kMaxGroup * K::kSpan];
  const uint8_t* kcols[K::kSpan];
  const uint8_t* vrows[K::kSpan];
  const uint8_t* kscl[K::kSpan];  // quantised types: scale pointers (SpanRefs)
  const uint8_t* vscl[K::kSpan];
  const bool k_quantized = cache.KQuantized(), v_quantized = cache.VQuantized();
  // A position's scales lie at an offset from its code that is linear in its index in
  // the block (KvCacheView::KScaleFromCode, VScaleFromCode): taken as a base and a step
  // here, so that the span loop below does no division.
  const int64_t k_scale_at0 = k_quantized ? cache.KScaleFromCode(0) : 0;
  const int64_t k_scale_step = k_quantized && cache.block_size > 1 ? cache.KScaleFromCode(1) - k_scale_at0 : 0;
  const int64_t v_scale_at0 = v_quantized ? cache.VScaleFromCode(0) : 0;
  const int64_t v_scale_step = v_quantized && cache.block_size > 1 ? cache.VScaleFromCode(1) - v_scale_at0 : 0;
  const bool prefetch = KvPrefetchEnabled();
  constexpr int kMaxNextLines = 512;  // more (long rows, tiny blocks): one burst
  const uint8_t* next_lines[kMaxNextLines];
  QueryState qs[K::kMaxGroup];
  for (int64_t ti = 0; ti < n_tiles; ++ti) {
    const AttentionTile& tile = tiles[ti];
    const int heads = tile.head_end - tile.head_begin;
    const int nq = (tile.tok_end - tile.tok_begin) * heads;  // query i: token tok_begin + i / heads
    S.Reserve(dpad, K::kSpan, nq);
    WEFT_SCRATCH_WINDOW("attention tile accumulators", 0, static_cast<size_t>(nq) * dpad, S.acc.size() * 16);
    WEFT_SCRATCH_WINDOW("attention tile softmax states", 0, static_cast<size_t>(nq), S.run_max.size());
    float* kt = S.kt[0].f;
    float* vf = S.vf[0].f;
    // A whole tile runs its first chunk straight into the folded states and each later
    // one into the chunk states, folded in after it; a piece runs every chunk into the
    // chunk states and copies them to its records.
    const bool whole = tile.partial == nullptr;
    float* folded = S.folded[0].f;
    // KV positions seen by the tile's first token: one more for each later token.
    const int64_t first_kv = QueryKvCount(batch, tile.seq, tile.tok_begin);
    const int64_t last_kv = first_kv + (tile.tok_end - 1 - tile.tok_begin);
    // This step's first position (token-tree rows see only their ancestors from here on).
    const int64_t step_start = batch.seq_len[tile.seq] - (batch.query_start[tile.seq + 1] - batch.query_start[tile.seq]);
    const int64_t kv_end = std::min<int64_t>(last_kv, int64_t{tile.chunk_end} * kKvChunk);
    const int32_t* table = batch.block_table + static_cast<int64_t>(tile.seq) * batch.max_blocks_per_seq;
    // The tile's KV heads: one, or (decode, PlanAttention) several, taken one after the
    // other in each span, so that the span's blocks are read front to back.
    const int kvh_begin = tile.head_begin / group, kvh_end = (tile.head_end - 1) / group + 1;
    auto k_head_base = [&](int kvh) { return static_cast<const uint8_t*>(cache.k) + kvh * cache.KHeadBytes(); };
    auto v_head_base = [&](int kvh) { return static_cast<const uint8_t*>(cache.v) + kvh * cache.VHeadBytes(); };

    for (int64_t chunk_start = int64_t{tile.chunk_begin} * kKvChunk; chunk_start < kv_end; chunk_start += kKvChunk) {
      const int64_t chunk_stop = std::min<int64_t>(kv_end, chunk_start + kKvChunk);
      const int64_t chunk = chunk_start / kKvChunk;
      const bool into_folded = whole && chunk == 0;
      float* accs = into_folded ? folded : S.acc[0].f;
      float* run_max = into_folded ? S.folded_max.data() : S.run_max.data();
      float* run_sum = into_folded ? S.folded_sum.data() : S.run_sum.data();
      std::fill(accs, accs + static_cast<size_t>(nq) * dpad, 0.0f);
      std::fill(run_max, run_max + nq, -__builtin_inff());
      std::fill(run_sum, run_sum + nq, 0.0f);
      for (int64_t start = chunk_start; start < chunk_stop; start += K::kSpan) {
        const int rows = static_cast<int>(std::min<int64_t>(K::kSpan, chunk_stop - start));
        // Under a sliding window, spans before the window of the tile's first token are
        // seen by none of its tokens (skipping them gives the same bits as masking them).
        if (window > 0 && start + rows <= first_kv - window) continue;
        // The span's positions, block by block (one division per span), for the first KV
        // head; each later one is KHeadBytes / VHeadBytes further on in the same blocks.
        {
          const uint8_t* kbase = k_head_base(kvh_begin);
          const uint8_t* vbase = v_head_base(kvh_begin);
          for (int t = 0, j = static_cast<int>(start / cache.block_size), in = static_cast<int>(start % cache.block_size);
               t < rows; ++j, in = 0) {
            const uint8_t* kb = kbase + table[j] * k_block_stride;
            const uint8_t* vb = vbase + table[j] * v_block_stride;
            for (; in < cache.block_size && t < rows; ++in, ++t) {
              kcols[t] = kb + in * k_pos_stride;
              vrows[t] = vb + in * v_pos_stride;
              if (k_quantized) kscl[t] = kcols[t] + (k_scale_at0 + in * k_scale_step);
              if (v_quantized) vscl[t] = vrows[t] + (v_scale_at0 + in * v_scale_step);
            }
          }
        }
        // The tile's tokens from the first whose positions reach into the span see it.
        const int64_t blind_tokens = std::max<int64_t>(0, start - first_kv + 1);
        for (int kvh = kvh_begin; kvh < kvh_end; ++kvh) {
          if (kvh > kvh_begin) {
            const int64_t kstep = cache.KHeadBytes(), vstep = cache.VHeadBytes();
            for (int t = 0; t < rows; ++t) kcols[t] += kstep, vrows[t] += vstep;
            if (k_quantized) for (int t = 0; t < rows; ++t) kscl[t] += kstep;
            if (v_quantized) for (int t = 0; t < rows; ++t) vscl[t] += vstep;
          }
          const int h_lo = std::max(tile.head_begin, kvh * group), h_hi = std::min(tile.head_end, (kvh + 1) * group);
          const int n_seeing = static_cast<int>((tile.tok_end - tile.tok_begin - blind_tokens) * (h_hi - h_lo));
          // The next head's slabs of this span (or the first head's of the next span) head
          // for the cache while this one is computed: the next head's through the kernel
          // when it can (one pass, in place), else listed for it or prefetched now.
          int n_next_lines = 0;
          const bool next_head = kvh + 1 < kvh_end;
          const bool kernel_prefetches = K::kPrefetchesNextHead && next_head && n_seeing <= K::kMaxGroup;
          if (prefetch && !kernel_prefetches) {
            const int next_kvh = next_head ? kvh + 1 : kvh_begin;
            const int64_t next_start = next_head ? start : start + K::kSpan;
            const int64_t next_stop = next_head ? start + rows : std::min<int64_t>(kv_end, start + 2 * K::kSpan);
            if (next_start < kv_end) {
              const uint8_t* nk = k_head_base(next_kvh);
              const uint8_t* nv = v_head_base(next_kvh);
              n_next_lines = ListSpanLines(nk, nv, table, cache.block_size, cache, next_start, next_stop, next_lines,
                                           kMaxNextLines);
              if (n_next_lines <= 0) {
                n_next_lines = 0;
                PrefetchSpan(nk, nv, table, cache.block_size, cache, next_start, next_stop);
              }
            }
          }
          SpanRefs span{kcols, k_dim_bytes, vrows, rows, kt, vf, false, K::kMaxGroup};
          span.group = cache.QuantGroup();
          if (k_quantized) {
            span.kscales = kscl;
            span.k_scale_group_bytes = cache.KScaleGroupBytes();
          }
          if (v_quantized) span.vscales = vscl;
          span.next_lines = next_lines;
          span.n_next_lines = n_next_lines;
          if (prefetch && kernel_prefetches) {
            span.next_head_k = cache.KHeadBytes();
            span.next_head_v = cache.VHeadBytes();
          }
          K::GatherSpan(cache.k_type, cache.v_type, span, d, dpad, n_seeing);
          // The queries that see this span, span.pass at a time.
          int n = 0;
          for (int32_t tok = tile.tok_begin; tok < tile.tok_end; ++tok) {
            const int64_t n_kv = first_kv + (tok - tile.tok_begin);
            if (n_kv <= start) continue;
            const int cnt = static_cast<int>(std::min<int64_t>(K::kSpan, n_kv - start));
            const int64_t window_start = window > 0 ? n_kv - window : 0;  // first position the token sees
            if (window_start >= start + cnt) continue;
            const int lo = static_cast<int>(std::max<int64_t>(0, window_start - start));
            const uint64_t live =
                batch.tree_mask != nullptr ? TreeSpanLive(batch.tree_mask[tok], step_start, start, K::kSpan) : ~uint64_t{0};
            for (int h = h_lo; h < h_hi; ++h) {
              const int i = (tok - tile.tok_begin) * heads + (h - tile.head_begin);
              qs[n++] = {batch.q + (tok * batch.n_heads + h) * d, accs + i * dpad, &run_max[i], &run_sum[i], cnt, lo, live};
              if (n == span.pass) {
                K::UpdateQueries(qs, n, sp, cache.k_type, cache.v_type, span, d, dpad, p);
                n = 0;
              }
            }
          }
          if (n > 0) K::UpdateQueries(qs, n, sp, cache.k_type, cache.v_type, span, d, dpad, p);
        }
      }
      if (into_folded) continue;
      // The chunk's states of the queries that saw it: to a piece's records, or folded in.
      for (int i = 0; i < nq; ++i) {
        if (first_kv + i / heads <= chunk_start) continue;
        const float* acc = accs + i * dpad;
        if (whole) {
          FoldAttentionState(folded + i * dpad, &S.folded_max[i], &S.folded_sum[i], acc, run_max[i], run_sum[i], d);
        } else {
          WEFT_SCRATCH_WINDOW("split-KV chunk", static_cast<size_t>(chunk), 1, static_cast<size_t>(tile.partial_chunks));
          WEFT_SCRATCH_WINDOW("split-KV record", static_cast<size_t>((int64_t{i} * tile.partial_chunks + chunk) * record),
                              static_cast<size_t>(record), static_cast<size_t>(int64_t{nq} * tile.partial_chunks * record));
          float* r = tile.partial + (int64_t{i} * tile.partial_chunks + chunk) * record;
          r[0] = run_max[i];
          r[1] = run_sum[i];
          std::memcpy(r + 2, acc, sizeof(float) * d);
        }
      }
    }
    if (!whole) continue;
    for (int32_t tok = tile.tok_begin; tok < tile.tok_end; ++tok) {
      for (int h = tile.head_begin; h < tile.head_end; ++h) {
        const int i = (tok - tile.tok_begin) * heads + (h - tile.head_begin);
        FinishAttention(folded + i * dpad, S.folded_sum[i], d, out + (tok * batch.n_heads + h) * d);
      }
    }
  }
}

}  // namespace
}  // namespace weft::kernels
