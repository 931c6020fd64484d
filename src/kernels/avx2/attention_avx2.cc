// AVX2 paged attention (KernelTable::attention): the tiled driver of
// kernels/attention_tiles.h over spans of kSpan = 32 KV positions. For each span the
// queries that see it, up to kMaxGroup at a time, do a small matrix product each over the
// span's K (K[dim][position]: the cache holds K dimension-major, so 8 positions of a block
// are one load) and V rows. When more than kInPlaceQueries see the span (prefill), when
// a run of 8 of its positions is not whole in one block (blocks of other sizes; a
// sequence's last span, unless its length is a multiple of 8), when head_dim % 8 is
// neither 0 nor 4 (4: not for a q4 V), or for a (K, V) type pair without an in-place
// kernel (InPlacePair), GatherSpan converts its K and V to f32 once
// (StagedSpan: kt[dim][position], vf[position][dim], zero past head_dim and past the
// span's rows); otherwise (decode, verification) the passes read the cache in place
// (CacheSpan), converting as they load:
//   scores  s[g][t] = sum over dims i, in order, of q_g[i] * K[i][t], x scale,
//           soft-capped when asked (positions past the query's own, before its window or
//           off its token tree are masked);
//   softmax the span's max raises the query's running max (rescaling its accumulator and
//           sum); p = exp(s - max);
//   values  acc_g += p_g[t] * v[t] for t in order (positions the query does not see add
//           exact zeros).
// Head dim 4 packs two V rows into a vector in the values step (AccumulatePacked).
// Quantised caches (kv_type.h: q8, fp8, q4) are read the same way: code value x scale,
// one f32 product per element, staged or in place.
// A query's arithmetic depends only on its row and the cache contents: not on the tile,
// the queries it shares a pass with, the batch, the block size or where the span is read
// from (batch invariance). Thread-safety: reentrant; scratch is thread_local.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/attention_tiles.h"
#include "kernels/avx2/avx2_kernels.h"
#include "kernels/avx2/vec_math.h"

namespace weft::kernels::avx2 {
namespace {

constexpr int kSpan = 32;  // positions per softmax step
constexpr int kVecs = kSpan / 8;
constexpr int kMaxGroup = 8;    // queries per pass over a span read in place
// At most this many queries read a span in place (passes of kMaxGroup, each converting
// the span again); more (prefill) stage it once. weft bench --verify-tokens 5 -d 3968 on
// l1b (5 tokens x 4 heads): a verification pass 12-23 % faster in place than staged;
// kernels_bench Attention l1b past0_q512: prefill as fast or faster staged.
constexpr int kInPlaceQueries = 3 * kMaxGroup;
constexpr int kStagedPass = 2;  // queries per pass over a staged span
#define WEFT_INLINE inline __attribute__((always_inline))

// Head dim 4 (TinyLLama-v0) fills half of a vector's 8 lanes: its values step packs two
// consecutive V rows into one vector (AccumulatePacked), so that a span takes 16 loads and
// FMAs per query instead of 32 and each accumulator's FMA chain is half as long.
inline bool PacksRows(int d) { return d == 4; }

// The f32 factor of the f16 scale at p (kv_type.h, KvScaleFactor).
WEFT_INLINE float ScaleFactor(KvType type, const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  const float s = _cvtsh_ss(h);
  return type == KvType::kFp8 ? s * 256.0f : s;
}

// Values i .. i + 7 of a V row as f32 code values (before any scale), zero past `left`.
WEFT_INLINE __m256 LoadKvPart(const void* p, KvType type, int i, int left) {
  if (left >= 8) return LoadKv8(p, type, i);
  alignas(32) float v[8] = {};
  for (int l = 0; l < left; ++l) v[l] = LoadKv1(p, type, i + l);
  return _mm256_load_ps(v);
}

// Values i .. i + 3 of a KV cache row of `type` as LoadKv8 converts them, lanes 4..7
// zero: a row's tail when head_dim % 8 == 4 (not kQ4: TailInPlace). Reads only the 4 values.
WEFT_INLINE __m256 LoadKv4(const void* p, KvType type, int64_t i) {
  const uint8_t* b = static_cast<const uint8_t*>(p);
  switch (type) {
    case KvType::kF32: return _mm256_zextps128_ps256(_mm_loadu_ps(reinterpret_cast<const float*>(b) + i));
    case KvType::kF16: return _mm256_cvtph_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 * i)));
    case KvType::kBF16:
      return _mm256_castsi256_ps(
          _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + 2 * i))), 16));
    default: {  // kQ8, kFp8: one byte a value
      int32_t w;
      std::memcpy(&w, b + i, 4);
      alignas(8) int8_t codes[8] = {};
      std::memcpy(codes, &w, 4);
      return LoadKv8(codes, type, 0);
    }
  }
}

// Whether V rows of `type` with head_dim d have a tail LoadKv4 reads (d % 8 == 4).
inline bool TailInPlace(KvType type, int d) { return d % 8 == 4 && type != KvType::kQ4; }

// Where UpdateQueries reads a span's K and V from: both give K[i][8c ..] as K(i, c, sc)
// and 8 values from i of V row t as V(t, i). K's scale: sc = KScale(i0, c) for the group
// that starts at dimension i0 (every KGroup() dimensions); the float types have one group
// and ignore sc.

// Converted to f32 by GatherSpan (kt [d][kSpan], vf [n][dpad]).
struct StagedSpan {
  const float* kt;
  const float* vf;
  int dpad;
  int d;
  WEFT_INLINE int KGroup() const { return d; }
  WEFT_INLINE __m256 KScale(int, int) const { return _mm256_setzero_ps(); }
  WEFT_INLINE __m256 K(int i, int c, __m256) const { return _mm256_load_ps(kt + i * kSpan + 8 * c); }
  WEFT_INLINE __m256 V(int t, int i) const { return _mm256_load_ps(vf + t * dpad + i); }
  // PacksRows(d): StageSpanOf wrote the rows back to back (row t at vf + 4 t); rows t and
  // t + 1 (rows = 2) or t alone (lanes 4 .. 7 zero).
  WEFT_INLINE __m256 VPacked(int t, int rows) const {
    return rows == 2 ? _mm256_load_ps(vf + 4 * t) : _mm256_zextps128_ps256(_mm_load_ps(vf + 4 * t));
  }
};

// Read in place from the cache (K of type T, V of type TV), converted as loaded: when few
// queries see the span, staging would cost more than it saves (each value is converted
// once either way; staging adds a store and a load per vector). Needs head_dim % 8 == 0
// (or a tail of 4 LoadKv4 reads) and the span's runs of 8 positions each whole in one
// block or past its rows (GatherSpan).
template <KvType T, KvType TV>
struct CacheSpan {
  const uint8_t* kcol[kVecs];  // K of positions 8c .. 8c + 7, dimension 0 (a run past the rows: run 0's)
  const uint8_t* kscl[kVecs];  // quantised: their scales of group 0
  const uint8_t* const* vrows;
  const uint8_t* const* vscales;
  int64_t k_dim_bytes;
  int64_t k_scale_group_bytes;
  int d;
  int group;
  WEFT_INLINE int KGroup() const { return KvTypeQuantized(T) ? group : d; }
  WEFT_INLINE __m256 KScale(int i0, int c) const {
    if constexpr (!KvTypeQuantized(T)) return _mm256_setzero_ps();
    return LoadKvScales8(kscl[c] + (i0 / group) * k_scale_group_bytes, T);
  }
  WEFT_INLINE __m256 K(int i, int c, __m256 sc) const {
    const __m256 k = LoadKCol8(kcol[c], k_dim_bytes, T, i);
    if constexpr (!KvTypeQuantized(T)) return k;
    return _mm256_mul_ps(k, sc);
  }
  WEFT_INLINE __m256 V(int t, int i) const {
    __m256 v;
    if constexpr (TV == KvType::kQ4) {
      v = LoadKv8(vrows[t], TV, i);  // no tail in place (TailInPlace)
    } else {
      v = i + 8 <= d ? LoadKv8(vrows[t], TV, i) : LoadKv4(vrows[t], TV, i);
    }
    if constexpr (!KvTypeQuantized(TV)) return v;
    return _mm256_mul_ps(v, _mm256_set1_ps(ScaleFactor(TV, vscales[t] + 2 * (i / group))));
  }
  // PacksRows(d), float V types (GatherSpan stages quantised ones): rows t and t + 1 are
  // adjacent (a run of 8 positions lies in one block), so both are one load.
  WEFT_INLINE __m256 VPacked(int t, int rows) const {
    if constexpr (KvTypeQuantized(TV)) __builtin_trap();  // never: staged
    return rows == 2 ? LoadKv8(vrows[t], TV, 0) : LoadKv4(vrows[t], TV, 0);
  }
};

// Positions of run c (8c ..) live in a span of n.
inline int LiveInRun(int n, int c) { return std::clamp(n - 8 * c, 0, 8); }

// Whether every run of the span is whole in one block or past its rows, so that K(i, c)
// is one 8-lane load that stays inside the cache.
inline bool RunsWhole(const SpanRefs& s, int64_t elem_bytes) {
  for (int c = 0; c < kVecs; ++c) {
    const int live = LiveInRun(s.n, c);
    if (live != 0 && (live != 8 || !KLanesContiguous(s.kcols + 8 * c, live, elem_bytes))) return false;
  }
  return true;
}

// K (dimension i of position t at kcols[t] + k_dim_bytes * i; kQ4: i / 2) of `type` -> kt
// [d][kSpan] f32, zero for t >= n: 8 positions of one block are one load of the
// dimension-major cache. V rows of v_type -> vf [n][dpad], zero past d. Quantised types:
// code value x scale factor. Always inlined, so that a call with constant types (StageSpan
// below) loses the per-vector type switch of LoadKv8 / LoadKvPart.
WEFT_INLINE void StageSpanOf(KvType type, KvType v_type, const SpanRefs& s, int d, int dpad) {
  const int64_t elem = KvElemBytes(type);
  const bool quantized = KvTypeQuantized(type);
  for (int c = 0; c < kVecs; ++c) {
    const int live = LiveInRun(s.n, c);
    if (live == 8 && KLanesContiguous(s.kcols + 8 * c, live, elem)) {
      const uint8_t* col = s.kcols[8 * c];
      if (!quantized) {
        for (int i = 0; i < d; ++i) _mm256_store_ps(s.kt + i * kSpan + 8 * c, LoadKv8(col + i * s.k_dim_bytes, type, 0));
      } else {
        for (int i0 = 0; i0 < d; i0 += s.group) {
          const __m256 sc = LoadKvScales8(s.kscales[8 * c] + (i0 / s.group) * s.k_scale_group_bytes, type);
          for (int i = i0; i < i0 + s.group; ++i) {
            _mm256_store_ps(s.kt + i * kSpan + 8 * c, _mm256_mul_ps(LoadKCol8(col, s.k_dim_bytes, type, i), sc));
          }
        }
      }
    } else {
      GatherKLanes(type, s, 8 * c, live, 8, d, kSpan, s.kt + 8 * c);
    }
  }
  if (PacksRows(d)) {  // rows back to back (StagedSpan::VPacked); one scale a row
    for (int t = 0; t < s.n; ++t) {
      __m128 v = _mm256_castps256_ps128(LoadKvPart(s.vrows[t], v_type, 0, d));
      if (KvTypeQuantized(v_type)) v = _mm_mul_ps(v, _mm_set1_ps(ScaleFactor(v_type, s.vscales[t])));
      _mm_store_ps(s.vf + 4 * t, v);
    }
    return;
  }
  if (!KvTypeQuantized(v_type)) {
    for (int t = 0; t < s.n; ++t) {
      for (int i = 0; i < dpad; i += 8) _mm256_store_ps(s.vf + t * dpad + i, LoadKvPart(s.vrows[t], v_type, i, d - i));
    }
    return;
  }
  for (int t = 0; t < s.n; ++t) {
    // Values i .. i + 7 take the scale of value i's group (one division per group).
    int group_end = s.group;
    __m256 sc = _mm256_set1_ps(ScaleFactor(v_type, s.vscales[t]));
    for (int i = 0; i < dpad; i += 8) {
      if (i >= group_end) {
        const int g = i / s.group;
        group_end = (g + 1) * s.group;
        sc = _mm256_set1_ps(ScaleFactor(v_type, s.vscales[t] + 2 * g));
      }
      _mm256_store_ps(s.vf + t * dpad + i, _mm256_mul_ps(LoadKvPart(s.vrows[t], v_type, i, d - i), sc));
    }
  }
}

// StageSpanOf with the common cache types as constants (the values are the same either
// way: only the dispatch moves out of the loops).
void StageSpan(KvType type, KvType v_type, const SpanRefs& s, int d, int dpad) {
  if (type == KvType::kF16 && v_type == KvType::kF16) return StageSpanOf(KvType::kF16, KvType::kF16, s, d, dpad);
  if (type == KvType::kQ8 && v_type == KvType::kQ8) return StageSpanOf(KvType::kQ8, KvType::kQ8, s, d, dpad);
  if (type == KvType::kFp8 && v_type == KvType::kFp8) return StageSpanOf(KvType::kFp8, KvType::kFp8, s, d, dpad);
  if (type == KvType::kQ4 && v_type == KvType::kQ4) return StageSpanOf(KvType::kQ4, KvType::kQ4, s, d, dpad);
  StageSpanOf(type, v_type, s, d, dpad);
}

void GatherSpan(KvType type, KvType v_type, SpanRefs& s, int d, int dpad, int n_queries) {
  s.staged = n_queries > kInPlaceQueries || (d % 8 != 0 && !TailInPlace(v_type, d)) || !InPlacePair(type, v_type) ||
             !RunsWhole(s, KvElemBytes(type)) || (PacksRows(d) && KvTypeQuantized(v_type));
  // In place, a pass takes as many queries as it can (each pass loads the cache again);
  // staged, passes of 2 keep all four score vectors of both queries in registers.
  s.pass = s.staged ? kStagedPass : kMaxGroup;
  // One pass (decode) prefetches the next span's lines as it goes; before several, they
  // go out at once.
  if (s.staged || n_queries > kMaxGroup) PrefetchNextLinesNow(s);
  if (s.staged) StageSpan(type, v_type, s, d, dpad);
}

// All-ones in the lanes of score vector c (positions 8c ..) among the first cnt.
inline __m256 LiveMask(int cnt, int c) {
  return _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt - 8 * c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}
// ... among [lo, cnt), and (a token tree's row) among its live positions.
inline __m256 LiveMask(const QueryState& st, int c) {
  const __m256 in = _mm256_andnot_ps(LiveMask(st.lo, c), LiveMask(st.cnt, c));
  if (st.live == ~uint64_t{0}) return in;
  const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
  const __m256i bits = _mm256_set1_epi32(static_cast<int>((st.live >> (8 * c)) & 0xFF));
  const __m256i on = _mm256_cmpeq_epi32(_mm256_and_si256(bits, bit), bit);
  return _mm256_and_ps(in, _mm256_castsi256_ps(on));
}

// softcap * tanh(s / softcap), tanh(y) = 1 - 2 / (exp(2y) + 1) (Exp clamps: +-1 far out).
inline __m256 SoftCap(__m256 s, float softcap) {
  const __m256 one = _mm256_set1_ps(1.0f);
  const __m256 e = Exp(_mm256_mul_ps(s, _mm256_set1_ps(2.0f / softcap)));
  const __m256 t = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  return _mm256_mul_ps(t, _mm256_set1_ps(softcap));
}

// Score and accumulator vectors one register block of G queries takes (16 registers:
// the accumulators, the loaded vectors and a broadcast).
template <int G>
constexpr int kBlockVecs = G <= 2 ? 4 : G <= 4 ? 2 : 1;

// s[g][8c ..] for c in [c0, c0 + NC) into p: sum over dims i, in order, of
// q_g[i] * K[i][8c + l], then x scale. One K load serves all G queries.
template <int G, int NC, class Src>
WEFT_INLINE void Scores(const QueryState* qs, float scale, const Src& src, int d, int c0, const SpreadPrefetch& pf,
                        float* p) {
  __m256 s[G][NC];
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < NC; ++c) s[g][c] = _mm256_setzero_ps();
  }
  const int kg = src.KGroup();
  for (int i0 = 0; i0 < d; i0 += kg) {
    __m256 sc[NC];
    for (int c = 0; c < NC; ++c) sc[c] = src.KScale(i0, c0 + c);
    for (int i = i0; i < i0 + kg; ++i) {
      pf.At(i);
      __m256 k[NC];
      for (int c = 0; c < NC; ++c) k[c] = src.K(i, c0 + c, sc[c]);
      for (int g = 0; g < G; ++g) {
        const __m256 qi = _mm256_broadcast_ss(qs[g].q + i);
        for (int c = 0; c < NC; ++c) s[g][c] = _mm256_fmadd_ps(qi, k[c], s[g][c]);
      }
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < NC; ++c) _mm256_store_ps(p + g * kSpan + 8 * (c0 + c), _mm256_mul_ps(s[g][c], _mm256_set1_ps(scale)));
  }
}

// acc_g[i0 .. i0 + 8 NV) += sum over t < cnt of p[g][t] * V row t [i0 ..], t in order.
template <int G, int NV, class Src>
WEFT_INLINE void AccumulateValues(const QueryState* qs, const float* p, const Src& src, int cnt, int i0) {
  __m256 a[G][NV];
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) a[g][v] = _mm256_load_ps(qs[g].acc + i0 + 8 * v);
  }
  for (int t = 0; t < cnt; ++t) {
    __m256 vv[NV];
    for (int v = 0; v < NV; ++v) vv[v] = src.V(t, i0 + 8 * v);
    for (int g = 0; g < G; ++g) {
      const __m256 pg = _mm256_broadcast_ss(p + g * kSpan + t);
      for (int v = 0; v < NV; ++v) a[g][v] = _mm256_fmadd_ps(pg, vv[v], a[g][v]);
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) _mm256_store_ps(qs[g].acc + i0 + 8 * v, a[g][v]);
  }
}

// The values step when PacksRows(d) (dpad = 8): lanes [0, 4) of a query's register
// accumulate p[t] * V row t for the even positions in order, starting from acc, lanes
// [4, 8) the odd ones from zero; then acc = even part + odd part. The same for every G and
// staged or in place.
template <int G, class Src>
WEFT_INLINE void AccumulatePacked(const QueryState* qs, const float* p, const Src& src, int cnt) {
  __m256 a[G];
  for (int g = 0; g < G; ++g) a[g] = _mm256_load_ps(qs[g].acc);  // zero past 4
  const __m256i row_of_lane = _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1);
  for (int t = 0; t < cnt; t += 2) {
    // A row past cnt loads as zeros (its p is zero too; the cache past it may hold anything).
    const __m256 v = src.VPacked(t, std::min(2, cnt - t));
    for (int g = 0; g < G; ++g) {
      const __m128 p2 = _mm_castpd_ps(_mm_load_sd(reinterpret_cast<const double*>(p + g * kSpan + t)));
      a[g] = _mm256_fmadd_ps(_mm256_permutevar8x32_ps(_mm256_castps128_ps256(p2), row_of_lane), v, a[g]);
    }
  }
  for (int g = 0; g < G; ++g) {
    const __m256 sum = _mm256_add_ps(a[g], _mm256_permute2f128_ps(a[g], a[g], 0x81));  // odd part to lanes [0, 4)
    _mm256_store_ps(qs[g].acc, _mm256_blend_ps(sum, _mm256_setzero_ps(), 0xF0));
  }
}

// G queries over one span: scores for all kSpan positions (those a query does not see
// are masked), the online-softmax step, then acc += p . V. Each query's arithmetic is the
// same whatever G, the other queries and where the span is read from (extra positions
// enter as exact zeros; staged and in-place reads give the same f32 values; register
// blocking only changes which queries share a load).
template <int G, class Src>
void UpdateQueries(const QueryState* qs, const ScoreParams sp, const Src& src, int d, int dpad,
                   const SpreadPrefetch& pf, float* p) {
  constexpr int NB = kBlockVecs<G>;
  for (int c0 = 0; c0 < kVecs; c0 += NB) Scores<G, NB>(qs, sp.scale, src, d, c0, c0 == 0 ? pf : SpreadPrefetch{}, p);
  // Soft-capping (Gemma 2) as a pass of its own, so that the score loop stays as tight
  // as without it.
  if (sp.softcap > 0.0f) {
    for (int i = 0; i < G * kSpan; i += 8) _mm256_store_ps(p + i, SoftCap(_mm256_load_ps(p + i), sp.softcap));
  }
  int max_cnt = 0;
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  for (int g = 0; g < G; ++g) {
    const QueryState& st = qs[g];
    max_cnt = std::max(max_cnt, st.cnt);
    float* pg = p + g * kSpan;
    __m256 mv = neg_inf;
    for (int c = 0; c < kVecs; ++c) mv = _mm256_max_ps(mv, _mm256_blendv_ps(neg_inf, _mm256_load_ps(pg + 8 * c), LiveMask(st, c)));
    const float smax = Hmax(mv);
    if (smax > *st.run_max) {
      // Rescale what was accumulated under the old maximum.
      if (*st.run_sum != 0.0f) {
        const float corr = __builtin_expf(*st.run_max - smax);
        *st.run_sum *= corr;
        const __m256 cv = _mm256_set1_ps(corr);
        for (int i = 0; i < dpad; i += 8) _mm256_store_ps(st.acc + i, _mm256_mul_ps(_mm256_load_ps(st.acc + i), cv));
      }
      *st.run_max = smax;
    }
    const __m256 mx = _mm256_set1_ps(*st.run_max);
    __m256 sum = _mm256_setzero_ps();
    for (int c = 0; c < kVecs; ++c) {
      const __m256 e = _mm256_and_ps(LiveMask(st, c), Exp(_mm256_sub_ps(_mm256_load_ps(pg + 8 * c), mx)));
      sum = _mm256_add_ps(sum, e);
      _mm256_store_ps(pg + 8 * c, e);
    }
    *st.run_sum += Hsum(sum);
  }
  // Values: acc_g += sum over t < max_cnt of p_g[t] * v[t], 8 NB values of acc at a time.
  if (PacksRows(d)) return AccumulatePacked<G>(qs, p, src, max_cnt);
  for (int i0 = 0; i0 < dpad; i0 += 8 * NB) {
    switch (std::min(NB, (dpad - i0) / 8)) {
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

template <KvType T, KvType TV>
CacheSpan<T, TV> InPlace(const SpanRefs& s, int d) {
  CacheSpan<T, TV> src{};
  for (int c = 0; c < kVecs; ++c) {
    const int first = LiveInRun(s.n, c) > 0 ? 8 * c : 0;  // a run past the rows loads run 0 (masked)
    src.kcol[c] = s.kcols[first];
    src.kscl[c] = s.kscales != nullptr ? s.kscales[first] : nullptr;
  }
  src.vrows = s.vrows;
  src.vscales = s.vscales;
  src.k_dim_bytes = s.k_dim_bytes;
  src.k_scale_group_bytes = s.k_scale_group_bytes;
  src.d = d;
  src.group = s.group;
  return src;
}

void UpdateQueries(const QueryState* qs, int n, const ScoreParams& scale, KvType type, KvType v_type,
                   const SpanRefs& s, int d, int dpad, float* p) {
  if (s.staged) return UpdateQueries(qs, n, scale, StagedSpan{s.kt, s.vf, dpad, d}, d, dpad, s, p);
  WithInPlacePair(type, v_type, [&]<KvType T, KvType TV>() {
    UpdateQueries(qs, n, scale, InPlace<T, TV>(s, d), d, dpad, s, p);
  });
}

// The span kernels for RunAttentionTiles (attention_tiles.h).
struct Avx2Span {
  static constexpr int kSpan = avx2::kSpan, kMaxGroup = avx2::kMaxGroup, kLanes = 8;
  static constexpr bool kPrefetchesNextHead = false;  // the driver lists the lines
  static void GatherSpan(KvType k_type, KvType v_type, SpanRefs& span, int d, int dpad, int n_queries) {
    avx2::GatherSpan(k_type, v_type, span, d, dpad, n_queries);
  }
  static void UpdateQueries(const QueryState* qs, int n, const ScoreParams& scale, KvType k_type, KvType v_type,
                            const SpanRefs& span, int d, int dpad, float* p) {
    avx2::UpdateQueries(qs, n, scale, k_type, v_type, span, d, dpad, p);
  }
};

#undef WEFT_INLINE

}  // namespace

void AttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n_tiles) {
  RunAttentionTiles<Avx2Span>(batch, cache, out, tiles, n_tiles);
}

}  // namespace weft::kernels::avx2
