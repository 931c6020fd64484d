// AVX-512 paged attention (KernelTable::attention): causal, GQA/MQA,
// an online softmax (running max and sum, FlashAttention-style) over the KV positions in
// spans of kSpan = 64, K/V rows gathered through the block table.
//
// Work comes in tiles (kernel_table.h, AttentionTile: consecutive tokens of a sequence x
// the heads of one KV head). For each span, the queries that see it, up to kMaxGroup at a
// time, do a small matrix product each over the span's K (K[dim][position]: the cache
// holds K dimension-major, so 16 positions of a block are one load) and V rows. When more
// than kMaxGroup queries see the span its K and V are converted to f32 once (StagedSpan);
// otherwise (decode) the passes read the cache in place (CacheSpan):
//   scores  s[g][t] = sum over dims i, in order, of q_g[i] * K[i][t], x scale, soft-capped
//           when asked (positions past the query's own, or before its window, are masked);
//   softmax the span's max raises the query's running max (rescaling its accumulator and
//           sum); p = exp(s - max);
//   values  acc_g += p_g[t] * v[t] for t in order (positions past the query's own add
//           exact zeros); head dims 4 and 8 pack 4 or 2 rows into a vector, each lane
//           group summing the positions of its own residue in order (AccumulatePacked).
// Quantised caches (kv_type.h: q8, fp8, q4) are read the same way: each K load converts 16
// codes and multiplies them by the 16 positions' scales of the dimension's group, each V
// load by the row's group scale (one f32 product per element, staged or in place).
// Read in place, a single pass prefetches the next span's cache lines a few per dimension
// of its score loop (SpreadPrefetch): issued as one burst of ~256 lines before the span
// (the driver's way), most of them did nothing on AMD Zen 5 and decode at depth waited on
// DRAM (kernels_bench DecodeAtDepth f16 from DRAM: 14-15 ms burst, 5-6 ms spread).
// A query's arithmetic depends only on its row and the cache contents: not on the tile,
// its group, the batch, the block size or the thread split (batch invariance).
// Thread-safety: reentrant; scratch is thread_local.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "kernels/attention_tiles.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/vec_math.h"

namespace weft::kernels::avx512 {
namespace {

constexpr int kSpan = 64;     // positions per softmax step
constexpr int kVecs = kSpan / 16;
constexpr int kMaxGroup = 8;    // queries per pass over a span read in place
constexpr int kStagedPass = 4;  // queries per pass over a staged span
#define WEFT_INLINE inline __attribute__((always_inline))

// Head dims of 4 and 8 (TinyLLama-v0, stories260K) fill a quarter or half of a vector's 16
// lanes: their values step packs 16 / d consecutive V rows into one vector (PackedRows),
// so that a span takes 64 d / 16 loads and FMAs per query instead of 64 and the FMA chain
// of each accumulator is as much shorter. Returns that row count, or 1 (no packing).
inline int PackedRows(int d) { return d == 4 || d == 8 ? 16 / d : 1; }

// Where UpdateQueries reads a span's K and V from: both give kt[i][16c ..] as K(i, c, sc)
// and 16 values from i of V row t as V(t, i), zero past the span's positions and past d.
// K's scale: sc = KScale(i0, c) for the group that starts at dimension i0 (every
// KGroup() dimensions); the float types have one group and ignore sc.

// Converted to f32 by GatherSpan (kt [d][kSpan], vf [n][dpad]): when many queries share
// the span, or when its K positions do not come 16 to a block.
struct StagedSpan {
  const float* kt;
  const float* vf;
  int dpad;
  int d;
  WEFT_INLINE int KGroup() const { return d; }
  WEFT_INLINE __m512 KScale(int, int) const { return _mm512_setzero_ps(); }
  WEFT_INLINE __m512 K(int i, int c, __m512) const { return _mm512_load_ps(kt + i * kSpan + 16 * c); }
  // V: a row's handle (VRowAt) and a column's (VColAt, values i .. i + 15), both taken
  // outside the loops that use them.
  struct VCol {
    int i;
  };
  WEFT_INLINE const float* VRowAt(int t) const { return vf + t * dpad; }
  WEFT_INLINE void PrefetchNextK(int, int) const {}
  WEFT_INLINE void PrefetchNextKScale(int, int) const {}
  WEFT_INLINE void PrefetchNextV(const float*) const {}
  WEFT_INLINE VCol VColAt(int i) const { return {i}; }
  WEFT_INLINE __m512 V(const float* row, VCol col) const { return _mm512_load_ps(row + col.i); }
  // PackedRows(d) > 1: StageV wrote the rows back to back (row t at vf + t d); rows t ..
  // (16 lanes, those outside m zero).
  WEFT_INLINE __m512 VPacked(int t, __mmask16 m) const { return _mm512_maskz_load_ps(m, vf + t * d); }
};

// The f32 factor of the f16 scale at p (kv_type.h, KvScaleFactor).
WEFT_INLINE float ScaleFactor(KvType T, const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  const float s = _cvtsh_ss(h);
  return T == KvType::kFp8 ? s * 256.0f : s;
}

// V row t's values [i, i + 16) as stored (quantised: code value x its group's scale).
template <KvType T>
WEFT_INLINE __m512 LoadVRow(const SpanRefs& s, int t, int i, int d) {
  const __m512 v = LoadKv(s.vrows[t], T, i, TailMask(d - i));
  if constexpr (!KvTypeQuantized(T)) {
    return v;
  } else {
    return _mm512_mul_ps(v, _mm512_set1_ps(ScaleFactor(T, s.vscales[t] + 2 * (i / s.group))));
  }
}

// Read in place from the cache (K of type T, V of type TV), converted as loaded: when few
// queries see the span (decode), staging would cost more than it saves. kFull: every run
// of the span holds 16 positions and d is a multiple of 16, so that no load needs a mask
// (masked loads cost a branch each in the score loop, and read slower from DRAM: vec_math.h).
template <KvType T, KvType TV, bool kFull>
struct CacheSpan {
  const uint8_t* kcol[kVecs];  // K of positions 16c .. 16c + 15, dimension 0
  const uint8_t* kscl[kVecs];  // quantised: their scales of group 0
  __mmask16 kmask[kVecs];      // the live ones among them
  int64_t k_dim_bytes;
  int64_t k_scale_group_bytes;
  const SpanRefs* s;
  int d;
  int group;
  // SpanRefs::next_head_k / _v (0: none), and the K dimensions that share a cache line
  // (those of a 64-byte line's first one prefetch it: kpf_dims - 1 is a mask).
  int64_t next_k;
  int64_t next_v;
  int kpf_dims;
  int64_t v_row_bytes;  // a V row's code bytes (KvRowCodeBytes)
  // The next head's K of run c, dimension i, on its way (once per line), into L1 like
  // SpreadPrefetch.
  WEFT_INLINE void PrefetchNextK(int i, int c) const {
    if (next_k == 0 || (i & (kpf_dims - 1)) != 0) return;
    __builtin_prefetch(kcol[c] + (T == KvType::kQ4 ? i >> 1 : i) * k_dim_bytes + next_k, 0, 3);
  }
  // ... and, quantised K, its scales of the group from i0 (once a group).
  WEFT_INLINE void PrefetchNextKScale(int i0, int c) const {
    if (!KvTypeQuantized(T) || next_k == 0) return;
    __builtin_prefetch(kscl[c] + (i0 / group) * k_scale_group_bytes + next_k, 0, 3);
  }
  WEFT_INLINE int KGroup() const { return KvTypeQuantized(T) ? group : d; }
  WEFT_INLINE __mmask16 KMask(int c) const { return kFull ? __mmask16(0xFFFF) : kmask[c]; }
  WEFT_INLINE __m512 KScale(int i0, int c) const {
    if constexpr (!KvTypeQuantized(T)) return _mm512_setzero_ps();
    return LoadKvScales(kscl[c] + (i0 / group) * k_scale_group_bytes, T, KMask(c));
  }
  WEFT_INLINE __m512 K(int i, int c, __m512 sc) const {
    const __m512 k = LoadKCol(kcol[c], k_dim_bytes, T, i, KMask(c));
    if constexpr (!KvTypeQuantized(T)) return k;
    return _mm512_mul_ps(k, sc);
  }
  // kFull, quantised V: every row's group scales as f32 factors, vsf[t * d / group + g]
  // (InPlace converts a run's 16 rows of adjacent f16 scales at once), so that a V load
  // broadcasts its factor from memory instead of converting an f16 scale each time.
  static constexpr bool kScaleTable = kFull && KvTypeQuantized(TV);
  alignas(64) float vsf[kScaleTable ? kSpan * (kMaxKvHeadDim / 32) : 1];
  struct VRow {
    const uint8_t* codes;
    const uint8_t* scales;  // quantised V: the row's group scales, adjacent f16
    const float* factors;   // kScaleTable: the row's of vsf
  };
  struct VCol {
    int i;
    __mmask16 m;    // the lanes below d
    int scale_off;  // quantised V: the bytes from the row's scales to those of i's group
  };
  WEFT_INLINE VRow VRowAt(int t) const {
    return {s->vrows[t], KvTypeQuantized(TV) ? s->vscales[t] : nullptr,
            kScaleTable ? vsf + t * (d / group) : nullptr};
  }
  // The next head's V row of `row` (and its scales), on its way.
  WEFT_INLINE void PrefetchNextV(VRow row) const {
    if (next_v == 0) return;
    for (int64_t b = 0; b < v_row_bytes; b += 64) __builtin_prefetch(row.codes + next_v + b, 0, 3);
    if constexpr (KvTypeQuantized(TV)) __builtin_prefetch(row.scales + next_v, 0, 3);
  }
  WEFT_INLINE VCol VColAt(int i) const {
    return {i, TailMask(d - i), KvTypeQuantized(TV) ? 2 * (i / group) : 0};
  }
  // PackedRows(d) > 1, float V types (GatherSpan stages quantised ones): rows t .. are
  // adjacent in their block (runs of 16 positions lie in one block), so 16 lanes of them
  // are one load.
  WEFT_INLINE __m512 VPacked(int t, __mmask16 m) const {
    if constexpr (KvTypeQuantized(TV)) __builtin_trap();  // never: staged
    return LoadKv(s->vrows[t], TV, 0, m);
  }
  WEFT_INLINE __m512 V(VRow row, VCol col) const {
    const __m512 v = LoadKv(row.codes, TV, col.i, kFull ? __mmask16(0xFFFF) : col.m);
    if constexpr (!KvTypeQuantized(TV)) return v;
    if constexpr (kScaleTable) return _mm512_mul_ps(v, _mm512_set1_ps(row.factors[col.scale_off / 2]));
    return _mm512_mul_ps(v, _mm512_set1_ps(ScaleFactor(TV, row.scales + col.scale_off)));
  }
};

// Positions of run c (16c ..) live in a span of n.
inline int LiveInRun(int n, int c) { return std::clamp(n - 16 * c, 0, 16); }

// Whether every run of the span lies in one block, so that K(i, c) is one load.
inline bool RunsContiguous(const SpanRefs& s, int64_t elem_bytes) {
  for (int c = 0; c < kVecs; ++c) {
    const int live = LiveInRun(s.n, c);
    if (live > 0 && !KLanesContiguous(s.kcols + 16 * c, live, elem_bytes)) return false;
  }
  return true;
}

// Stage the span's K (type T) into s.kt: kt[i][t] = value i of position t (a run of 16
// positions in one block is one vector load: the cache is dimension-major).
template <KvType T>
void StageK(const SpanRefs& s, int d) {
  constexpr int64_t kElem = T == KvType::kF32 ? 4 : KvTypeQuantized(T) ? 1 : 2;
  for (int c = 0; c < kVecs; ++c) {
    const int live = LiveInRun(s.n, c);
    float* kt = s.kt + 16 * c;
    if (live == 0) {
      for (int i = 0; i < d; ++i) _mm512_store_ps(kt + i * kSpan, _mm512_setzero_ps());
    } else if (KLanesContiguous(s.kcols + 16 * c, live, kElem)) {
      const uint8_t* col = s.kcols[16 * c];
      const __mmask16 m = TailMask(live);
      if constexpr (!KvTypeQuantized(T)) {
        for (int i = 0; i < d; ++i) _mm512_store_ps(kt + i * kSpan, LoadKv(col + i * s.k_dim_bytes, T, 0, m));
      } else {
        for (int i0 = 0; i0 < d; i0 += s.group) {
          const __m512 sc = LoadKvScales(s.kscales[16 * c] + (i0 / s.group) * s.k_scale_group_bytes, T, m);
          for (int i = i0; i < i0 + s.group; ++i) {
            _mm512_store_ps(kt + i * kSpan, _mm512_mul_ps(LoadKCol(col, s.k_dim_bytes, T, i, m), sc));
          }
        }
      }
    } else {
      GatherKLanes(T, s, 16 * c, live, 16, d, kSpan, kt);
    }
  }
}

// Stage the span's V rows (type T) into s.vf: vf[t] = V row t.
template <KvType T>
void StageV(const SpanRefs& s, int d, int dpad) {
  if (PackedRows(d) > 1) {  // rows back to back (StagedSpan::VPacked)
    for (int t = 0; t < s.n; ++t) _mm512_mask_storeu_ps(s.vf + t * d, TailMask(d), LoadVRow<T>(s, t, 0, d));
    return;
  }
  for (int t = 0; t < s.n; ++t) {
    for (int i = 0; i < dpad; i += 16) _mm512_store_ps(s.vf + t * dpad + i, LoadVRow<T>(s, t, i, d));
  }
}

void GatherSpan(KvType type, KvType v_type, SpanRefs& s, int d, int dpad, int n_queries) {
  // Packed rows of a quantised V would need a scale per row inside a vector: staged.
  s.staged = n_queries > kMaxGroup || !InPlacePair(type, v_type) || !RunsContiguous(s, KvElemBytes(type)) ||
             (PackedRows(d) > 1 && KvTypeQuantized(v_type));
  // In place, one pass should take every query (each pass loads the cache again); staged,
  // passes of 4 keep all four score vectors in registers (kernels_bench, l1b prefill
  // attention: ~5 % faster than passes of 8).
  s.pass = s.staged ? kStagedPass : kMaxGroup;
  // One pass (decode) prefetches the next span's lines as it goes; before several, they
  // go out at once.
  if (s.staged || n_queries > kMaxGroup) PrefetchNextLinesNow(s);
  if (!s.staged) return;
  switch (type) {
    case KvType::kF16: StageK<KvType::kF16>(s, d); break;
    case KvType::kBF16: StageK<KvType::kBF16>(s, d); break;
    case KvType::kQ8: StageK<KvType::kQ8>(s, d); break;
    case KvType::kFp8: StageK<KvType::kFp8>(s, d); break;
    case KvType::kQ4: StageK<KvType::kQ4>(s, d); break;
    default: StageK<KvType::kF32>(s, d); break;
  }
  switch (v_type) {
    case KvType::kF16: return StageV<KvType::kF16>(s, d, dpad);
    case KvType::kBF16: return StageV<KvType::kBF16>(s, d, dpad);
    case KvType::kQ8: return StageV<KvType::kQ8>(s, d, dpad);
    case KvType::kFp8: return StageV<KvType::kFp8>(s, d, dpad);
    case KvType::kQ4: return StageV<KvType::kQ4>(s, d, dpad);
    default: return StageV<KvType::kF32>(s, d, dpad);
  }
}

// Lanes of score vector c (positions 16c ..) among a query's first cnt positions.
inline __mmask16 LiveMask(int cnt, int c) { return cnt <= 16 * c ? __mmask16(0) : TailMask(cnt - 16 * c); }
// Lanes of score vector c among the positions [lo, cnt) a query sees (and, for a token
// tree's row, among its live ones).
inline __mmask16 LiveMask(const QueryState& st, int c) {
  const __mmask16 upto = static_cast<__mmask16>(LiveMask(st.cnt, c) & static_cast<__mmask16>(st.live >> (16 * c)));
  return st.lo == 0 ? upto : static_cast<__mmask16>(upto & ~LiveMask(st.lo, c));
}

// softcap * tanh(s / softcap), tanh(y) = 1 - 2 / (exp(2y) + 1) (Exp saturates: +-1 far out).
inline __m512 SoftCap(__m512 s, float softcap) {
  const __m512 one = _mm512_set1_ps(1.0f);
  const __m512 e = Exp(_mm512_mul_ps(s, _mm512_set1_ps(2.0f / softcap)));
  const __m512 t = _mm512_sub_ps(one, _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, one)));
  return _mm512_mul_ps(t, _mm512_set1_ps(softcap));
}

// acc_g[i0 .. i0 + 16 NV) += sum over t < cnt of p[g][t] * V row t [i0 .. i0 + 16 NV),
// t in order.
template <int G, int NV, class Src>
WEFT_INLINE void AccumulateValues(const QueryState* qs, const float* p, const Src& src, int cnt, int i0) {
  const bool first = i0 == 0;  // the pass over the rows that prefetches the next head's
  __m512 a[G][NV];
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) a[g][v] = _mm512_load_ps(qs[g].acc + i0 + 16 * v);
  }
  typename Src::VCol col[NV];
  for (int v = 0; v < NV; ++v) col[v] = src.VColAt(i0 + 16 * v);
  for (int t = 0; t < cnt; ++t) {
    const auto row = src.VRowAt(t);
    if (first) src.PrefetchNextV(row);
    __m512 vv[NV];
    for (int v = 0; v < NV; ++v) vv[v] = src.V(row, col[v]);
    for (int g = 0; g < G; ++g) {
      const __m512 pg = _mm512_set1_ps(p[g * kSpan + t]);
      for (int v = 0; v < NV; ++v) a[g][v] = _mm512_fmadd_ps(pg, vv[v], a[g][v]);
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) _mm512_store_ps(qs[g].acc + i0 + 16 * v, a[g][v]);
  }
}

// The values step when PackedRows(d) = R > 1 (dpad = 16): lanes [j d, (j + 1) d) of a
// query's register accumulate p[t] * V row t for the positions t = j (mod R) in order,
// lanes [0, d) starting from acc; at the end the R parts are added in order, ((part 0 +
// part 1) + part 2) + part 3, into acc. The same for every G and staged or in place.
// Unlike AccumulateValues it does not prefetch the next KV head's V rows: a cache of
// these models (TinyLLama-v0: 2 MiB a 1k tokens) sits in L2 / L3.
template <int G, int R, class Src>
WEFT_INLINE void AccumulatePacked(const QueryState* qs, const float* p, const Src& src, int cnt, int d) {
  __m512 a[G];
  for (int g = 0; g < G; ++g) a[g] = _mm512_load_ps(qs[g].acc);  // zero past d
  // Lane l takes p of row l / d of the R.
  const __m512i row_of_lane = _mm512_srli_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                R == 4 ? 2 : 3);
  for (int t = 0; t < cnt; t += R) {
    // Rows past cnt load as zeros (their p are zero too; the cache past them may hold anything).
    const __m512 v = src.VPacked(t, TailMask(std::min(R, cnt - t) * d));
    for (int g = 0; g < G; ++g) {
      const float* pg = p + g * kSpan + t;
      const __m128 p4 = R == 4 ? _mm_loadu_ps(pg) : _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(pg)));
      a[g] = _mm512_fmadd_ps(_mm512_permutexvar_ps(row_of_lane, _mm512_castps128_ps512(p4)), v, a[g]);
    }
  }
  for (int g = 0; g < G; ++g) {
    // Part j moved down to lanes [0, d) (lane l + j d of a[g] to lane l), then added.
    const __m512i x = _mm512_castps_si512(a[g]), z = _mm512_setzero_si512();
    __m512 sum;
    if constexpr (R == 2) {
      sum = _mm512_add_ps(a[g], _mm512_castsi512_ps(_mm512_alignr_epi32(z, x, 8)));
    } else {
      sum = _mm512_add_ps(a[g], _mm512_castsi512_ps(_mm512_alignr_epi32(z, x, 4)));
      sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_alignr_epi32(z, x, 8)));
      sum = _mm512_add_ps(sum, _mm512_castsi512_ps(_mm512_alignr_epi32(z, x, 12)));
    }
    _mm512_store_ps(qs[g].acc, _mm512_maskz_mov_ps(TailMask(d), sum));
  }
}

// Score vectors (of kVecs) and accumulator vectors one register block of G queries
// takes: all four for up to 4 queries, two for more (16 accumulators either way).
template <int G>
constexpr int kBlockVecs = G <= 4 ? 4 : 2;

// s[g][16c ..] for c in [c0, c0 + NC) into p: sum over dims i, in order, of
// q_g[i] * K[i][16c + l], then x scale. One K load serves all G queries.
template <int G, int NC, class Src>
WEFT_INLINE void Scores(const QueryState* qs, float scale, const Src& src, int d, int c0, const SpreadPrefetch& pf,
                        float* p) {
  __m512 s[G][NC];
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < NC; ++c) s[g][c] = _mm512_setzero_ps();
  }
  const int kg = src.KGroup();
  for (int i0 = 0; i0 < d; i0 += kg) {
    __m512 sc[NC];
    for (int c = 0; c < NC; ++c) sc[c] = src.KScale(i0, c0 + c);
    for (int c = 0; c < NC; ++c) src.PrefetchNextKScale(i0, c0 + c);
    for (int i = i0; i < i0 + kg; ++i) {
      pf.At(i);
      __m512 k[NC];
      for (int c = 0; c < NC; ++c) k[c] = src.K(i, c0 + c, sc[c]);
      for (int c = 0; c < NC; ++c) src.PrefetchNextK(i, c0 + c);
      for (int g = 0; g < G; ++g) {
        const __m512 qi = _mm512_set1_ps(qs[g].q[i]);
        for (int c = 0; c < NC; ++c) s[g][c] = _mm512_fmadd_ps(qi, k[c], s[g][c]);
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < NC; ++c) _mm512_store_ps(p + g * kSpan + 16 * (c0 + c), _mm512_mul_ps(s[g][c], _mm512_set1_ps(scale)));
  }
}

// G queries over one span: scores for all kSpan positions (the rows past a query's cnt are
// masked), the online-softmax step, then acc += p . V. Each query's arithmetic is the same
// whatever G, the other queries and where the span is read from (extra positions enter as
// exact zeros; staged and in-place reads give the same f32 values; register blocking only
// changes which queries share a load).
template <int G, class Src>
void UpdateQueries(const QueryState* qs, const ScoreParams sp, const Src& src, int d, int dpad,
                   const SpreadPrefetch& pf, float* p) {
  constexpr int NB = kBlockVecs<G>;
  for (int c0 = 0; c0 < kVecs; c0 += NB) Scores<G, NB>(qs, sp.scale, src, d, c0, c0 == 0 ? pf : SpreadPrefetch{}, p);
  // Soft-capping (Gemma 2) as a pass of its own, so that the score loop stays as tight
  // as without it.
  if (sp.softcap > 0.0f) {
    for (int i = 0; i < G * kSpan; i += 16) _mm512_store_ps(p + i, SoftCap(_mm512_load_ps(p + i), sp.softcap));
  }
  int max_cnt = 0;
  for (int g = 0; g < G; ++g) {
    const QueryState& st = qs[g];
    max_cnt = std::max(max_cnt, st.cnt);
    float* pg = p + g * kSpan;
    __m512 mv = _mm512_set1_ps(-__builtin_inff());
    for (int c = 0; c < kVecs; ++c) mv = _mm512_mask_max_ps(mv, LiveMask(st, c), mv, _mm512_load_ps(pg + 16 * c));
    const float smax = _mm512_reduce_max_ps(mv);
    if (smax > *st.run_max) {
      // Rescale what was accumulated under the old maximum.
      if (*st.run_sum != 0.0f) {
        const float corr = __builtin_expf(*st.run_max - smax);
        *st.run_sum *= corr;
        const __m512 cv = _mm512_set1_ps(corr);
        for (int i = 0; i < dpad; i += 16) _mm512_store_ps(st.acc + i, _mm512_mul_ps(_mm512_load_ps(st.acc + i), cv));
      }
      *st.run_max = smax;
    }
    const __m512 mx = _mm512_set1_ps(*st.run_max);
    __m512 sum = _mm512_setzero_ps();
    for (int c = 0; c < kVecs; ++c) {
      const __m512 e = _mm512_maskz_mov_ps(LiveMask(st, c), Exp(_mm512_sub_ps(_mm512_load_ps(pg + 16 * c), mx)));
      sum = _mm512_add_ps(sum, e);
      _mm512_store_ps(pg + 16 * c, e);
    }
    *st.run_sum += _mm512_reduce_add_ps(sum);
  }
  // Values: acc_g += sum over t < max_cnt of p_g[t] * v[t], 16 NB values of acc at a time.
  switch (PackedRows(d)) {
    case 4: return AccumulatePacked<G, 4>(qs, p, src, max_cnt, d);
    case 2: return AccumulatePacked<G, 2>(qs, p, src, max_cnt, d);
    default: break;
  }
  for (int i0 = 0; i0 < dpad; i0 += 16 * NB) {
    switch (std::min(NB, (dpad - i0) / 16)) {
      case 4: AccumulateValues<G, 4>(qs, p, src, max_cnt, i0); break;
      case 3: AccumulateValues<G, 3>(qs, p, src, max_cnt, i0); break;
      case 2: AccumulateValues<G, 2>(qs, p, src, max_cnt, i0); break;
      default: AccumulateValues<G, 1>(qs, p, src, max_cnt, i0); break;
    }
  }
}

template <class Src>
void UpdateQueries(const QueryState* qs, int n, const ScoreParams scale, const Src& src, int d, int dpad,
                   const SpanRefs& s, float* p) {
  const SpreadPrefetch pf = SpreadOver(s, d);
  WithPassSize(n, [&]<int G>() { UpdateQueries<G>(qs, scale, src, d, dpad, pf, p); });
}

template <KvType T, KvType TV, bool kFull>
CacheSpan<T, TV, kFull> InPlace(const SpanRefs& s, int d) {
  CacheSpan<T, TV, kFull> src;  // every member set below (vsf when used)
  for (int c = 0; c < kVecs; ++c) {
    const int live = LiveInRun(s.n, c);
    const int first = live > 0 ? 16 * c : 0;  // a dead run loads nothing (mask 0)
    src.kcol[c] = s.kcols[first];
    src.kscl[c] = s.kscales != nullptr ? s.kscales[first] : nullptr;
    src.kmask[c] = TailMask(live);
  }
  src.k_dim_bytes = s.k_dim_bytes;
  src.k_scale_group_bytes = s.k_scale_group_bytes;
  src.s = &s;
  src.d = d;
  src.group = s.group;
  src.next_k = s.next_head_k;
  src.next_v = s.next_head_v;
  src.v_row_bytes = KvRowCodeBytes(TV, d);
  if constexpr (CacheSpan<T, TV, kFull>::kScaleTable) {
    // Each run's 16 rows keep their f16 scales adjacent, [row][group] (ops.h, VScaleFromCode).
    const int per_run = 16 * (d / s.group);
    for (int c = 0; c < kVecs; ++c) {
      for (int j = 0; j < per_run; j += 16) {
        _mm512_store_ps(src.vsf + c * per_run + j, LoadKvScales(s.vscales[16 * c] + 2 * j, TV, __mmask16(0xFFFF)));
      }
    }
  }
  // kQ4: a code row of k_dim_bytes holds two dimensions.
  const int64_t line_dims = (T == KvType::kQ4 ? 128 : 64) / std::max<int64_t>(1, s.k_dim_bytes);
  src.kpf_dims = static_cast<int>(std::bit_floor(static_cast<uint64_t>(std::max<int64_t>(1, line_dims))));
  return src;
}

void UpdateQueries(const QueryState* qs, int n, const ScoreParams& scale, KvType type, KvType v_type,
                   const SpanRefs& s, int d, int dpad, float* p) {
  if (s.staged) return UpdateQueries(qs, n, scale, StagedSpan{s.kt, s.vf, dpad, d}, d, dpad, s, p);
  WithInPlacePair(type, v_type, [&]<KvType T, KvType TV>() {
    // The mask-free variant for equal K and V types only: each variant is 8 pass sizes of
    // instantiations, and this translation unit's compile time (ASan: minutes) grows with them.
    if constexpr (T == TV) {
      if (s.n == kSpan && d % 16 == 0) return UpdateQueries(qs, n, scale, InPlace<T, TV, true>(s, d), d, dpad, s, p);
    }
    UpdateQueries(qs, n, scale, InPlace<T, TV, false>(s, d), d, dpad, s, p);
  });
}

// The span kernels for RunAttentionTiles (attention_tiles.h).
struct Avx512Span {
  static constexpr int kSpan = avx512::kSpan, kMaxGroup = avx512::kMaxGroup, kLanes = 16;
  static constexpr bool kPrefetchesNextHead = true;
  static void GatherSpan(KvType k_type, KvType v_type, SpanRefs& span, int d, int dpad, int n_queries) {
    avx512::GatherSpan(k_type, v_type, span, d, dpad, n_queries);
  }
  static void UpdateQueries(const QueryState* qs, int n, const ScoreParams& scale, KvType k_type, KvType v_type,
                            const SpanRefs& span, int d, int dpad, float* p) {
    avx512::UpdateQueries(qs, n, scale, k_type, v_type, span, d, dpad, p);
  }
};

#undef WEFT_INLINE

}  // namespace

void AttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n_tiles) {
  RunAttentionTiles<Avx512Span>(batch, cache, out, tiles, n_tiles);
}

}  // namespace weft::kernels::avx512
