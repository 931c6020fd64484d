// AVX2 paged attention (KernelTable::attention): the tiled driver of
// kernels/attention_tiles.h over spans of kSpan = 32 KV positions, with these span kernels:
//   GatherSpan     K converted to f32 (kt[dim][position]; the cache holds K
//                  dimension-major, so 8 positions of a block are one load), V rows
//                  converted (vf[position][dim]); zero past head_dim and (K) past the
//                  span's rows;
//   UpdateQueries  up to kMaxGroup = 2 queries share each K and V load:
//                  s[g][t] = sum over dims i, in order, of q_g[i] * kt[i][t], x scale,
//                  soft-capped when asked; the online-softmax step (positions past the
//                  query's own, or before its window, masked);
//                  acc_g += p_g[t] * v[t] for t in order (extra positions add exact zeros).
// Quantised caches (kv_type.h: q8, fp8, q4) are staged the same way: code value x scale.
// A query's arithmetic depends only on its row and the cache contents (batch invariance).
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
constexpr int kMaxGroup = 2;

// The f32 factor of the f16 scale at p (kv_type.h, KvScaleFactor).
__attribute__((always_inline)) inline float ScaleFactor(KvType type, const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  const float s = _cvtsh_ss(h);
  return type == KvType::kFp8 ? s * 256.0f : s;
}

// Values i .. i + 7 of a V row as f32 code values (before any scale), zero past `left`.
__attribute__((always_inline)) inline __m256 LoadKvPart(const void* p, KvType type, int i, int left) {
  if (left >= 8) return LoadKv8(p, type, i);
  alignas(32) float v[8] = {};
  for (int l = 0; l < left; ++l) v[l] = LoadKv1(p, type, i + l);
  return _mm256_load_ps(v);
}

// K (dimension i of position t at kcols[t] + k_dim_bytes * i; kQ4: i / 2) of `type` -> kt
// [d][kSpan] f32, zero for t >= n: 8 positions of one block are one load of the
// dimension-major cache. V rows of v_type -> vf [n][dpad], zero past d. Quantised types:
// code value x scale factor. Always inlined, so that a call with constant types (GatherSpan
// below) loses the per-vector type switch of LoadKv8 / LoadKvPart.
__attribute__((always_inline)) inline void GatherSpanOf(KvType type, KvType v_type, const SpanRefs& s, int d,
                                                        int dpad) {
  const int64_t elem = KvElemBytes(type);
  const bool quantized = KvTypeQuantized(type);
  for (int c = 0; c < kVecs; ++c) {
    const int live = std::clamp(s.n - 8 * c, 0, 8);
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

// GatherSpanOf with the common cache types as constants (the values are the same either
// way: only the dispatch moves out of the loops). At depth the staging is most of decode
// attention's time (BENCHMARKS.md, "Decode at depth").
void GatherSpan(KvType type, KvType v_type, const SpanRefs& s, int d, int dpad) {
  if (type == KvType::kF16 && v_type == KvType::kF16) return GatherSpanOf(KvType::kF16, KvType::kF16, s, d, dpad);
  if (type == KvType::kQ8 && v_type == KvType::kQ8) return GatherSpanOf(KvType::kQ8, KvType::kQ8, s, d, dpad);
  if (type == KvType::kFp8 && v_type == KvType::kFp8) return GatherSpanOf(KvType::kFp8, KvType::kFp8, s, d, dpad);
  if (type == KvType::kQ4 && v_type == KvType::kQ4) return GatherSpanOf(KvType::kQ4, KvType::kQ4, s, d, dpad);
  GatherSpanOf(type, v_type, s, d, dpad);
}

// All-ones in the lanes of score vector c (positions 8c ..) among the first cnt.
inline __m256 LiveMask(int cnt, int c) {
  return _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32(cnt - 8 * c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
}
// ... among the positions [lo, cnt) a query sees.
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

// acc_g[i0 .. i0 + 8 NV) += sum over t < cnt of p[g][t] * vf[t][i0 ..], t in order.
template <int G, int NV>
void AccumulateValues(const QueryState* qs, const float* p, const float* vf, int cnt, int dpad, int i0) {
  __m256 a[G][NV];
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) a[g][v] = _mm256_load_ps(qs[g].acc + i0 + 8 * v);
  }
  for (int t = 0; t < cnt; ++t) {
    __m256 vv[NV];
    for (int v = 0; v < NV; ++v) vv[v] = _mm256_load_ps(vf + t * dpad + i0 + 8 * v);
    for (int g = 0; g < G; ++g) {
      const __m256 pg = _mm256_broadcast_ss(p + g * kSpan + t);
      for (int v = 0; v < NV; ++v) a[g][v] = _mm256_fmadd_ps(pg, vv[v], a[g][v]);
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) _mm256_store_ps(qs[g].acc + i0 + 8 * v, a[g][v]);
  }
}

template <int G>
void UpdateQueries(const QueryState* qs, const ScoreParams& sp, const float* kt, const float* vf, int d, int dpad,
                   float* p) {
  __m256 s[G][kVecs];
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < kVecs; ++c) s[g][c] = _mm256_setzero_ps();
  }
  for (int i = 0; i < d; ++i) {
    __m256 k[kVecs];
    for (int c = 0; c < kVecs; ++c) k[c] = _mm256_load_ps(kt + i * kSpan + 8 * c);
    for (int g = 0; g < G; ++g) {
      const __m256 qi = _mm256_broadcast_ss(qs[g].q + i);
      for (int c = 0; c < kVecs; ++c) s[g][c] = _mm256_fmadd_ps(qi, k[c], s[g][c]);
    }
  }
  int max_cnt = 0;
  const __m256 neg_inf = _mm256_set1_ps(-__builtin_inff());
  for (int g = 0; g < G; ++g) {
    const QueryState& st = qs[g];
    max_cnt = std::max(max_cnt, st.cnt);
    __m256 mv = neg_inf;
    for (int c = 0; c < kVecs; ++c) {
      s[g][c] = _mm256_mul_ps(s[g][c], _mm256_set1_ps(sp.scale));
      if (sp.softcap > 0.0f) s[g][c] = SoftCap(s[g][c], sp.softcap);
      mv = _mm256_max_ps(mv, _mm256_blendv_ps(neg_inf, s[g][c], LiveMask(st, c)));
    }
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
      const __m256 e = _mm256_and_ps(LiveMask(st, c), Exp(_mm256_sub_ps(s[g][c], mx)));
      sum = _mm256_add_ps(sum, e);
      _mm256_store_ps(p + g * kSpan + 8 * c, e);
    }
    *st.run_sum += Hsum(sum);
  }
  for (int i0 = 0; i0 < dpad; i0 += 32) {
    switch (std::min(4, (dpad - i0) / 8)) {
      case 4: AccumulateValues<G, 4>(qs, p, vf, max_cnt, dpad, i0); break;
      case 3: AccumulateValues<G, 3>(qs, p, vf, max_cnt, dpad, i0); break;
      case 2: AccumulateValues<G, 2>(qs, p, vf, max_cnt, dpad, i0); break;
      default: AccumulateValues<G, 1>(qs, p, vf, max_cnt, dpad, i0); break;
    }
  }
}

// The span kernels for RunAttentionTiles (attention_tiles.h).
struct Avx2Span {
  static constexpr int kSpan = avx2::kSpan, kMaxGroup = avx2::kMaxGroup, kLanes = 8;
  // Always staged: 8-wide loads leave the in-place reads little to save.
  static void GatherSpan(KvType k_type, KvType v_type, SpanRefs& span, int d, int dpad, int /*n_queries*/) {
    avx2::GatherSpan(k_type, v_type, span, d, dpad);
    span.staged = true;
  }
  static void UpdateQueries(const QueryState* qs, int n, const ScoreParams& scale, KvType /*k_type*/,
                            KvType /*v_type*/, const SpanRefs& span, int d, int dpad, float* p) {
    if (n == 2) return avx2::UpdateQueries<2>(qs, scale, span.kt, span.vf, d, dpad, p);
    avx2::UpdateQueries<1>(qs, scale, span.kt, span.vf, d, dpad, p);
  }
};

}  // namespace

void AttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n_tiles) {
  RunAttentionTiles<Avx2Span>(batch, cache, out, tiles, n_tiles);
}

}  // namespace weft::kernels::avx2
