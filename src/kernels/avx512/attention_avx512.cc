// AVX-512 paged attention (KernelTable::attention): causal, GQA/MQA,
// an online softmax (running max and sum, FlashAttention-style) over the KV positions in
// spans of kSpan = 64, K/V rows gathered through the block table.
//
// Work comes in tiles (kernel_table.h, AttentionTile: consecutive tokens of a sequence x
// the heads of one KV head). For each span, the tile's K rows are converted to f32 and
// transposed once (kt[dim][position]) and its V rows converted (vf[position][dim]); then
// the queries that see the span, up to kMaxGroup at a time, do a small matrix product each:
//   scores  s[g][t] = sum over dims i, in order, of q_g[i] * kt[i][t], x scale (positions
//           past the query's own are masked);
//   softmax the span's max raises the query's running max (rescaling its accumulator and
//           sum); p = exp(s - max);
//   values  acc_g += p_g[t] * v[t] for t in order (positions past the query's own add
//           exact zeros).
// A query's arithmetic depends only on its row and the cache contents: not on the tile,
// its group, the batch, the block size or the thread split (batch invariance).
// Thread-safety: reentrant; scratch is thread_local.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>

#include "kernels/attention_tiles.h"
#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/vec_math.h"

namespace weft::kernels::avx512 {
namespace {

constexpr int kSpan = 64;     // positions per softmax step
constexpr int kVecs = kSpan / 16;
constexpr int kMaxGroup = 4;  // queries per pass over a span
#define WEFT_INLINE inline __attribute__((always_inline))

// In place: r[i] lane j <- r[j] lane i.
WEFT_INLINE void Transpose16(__m512* r) {
  __m512 t[16];
  for (int k = 0; k < 16; k += 2) {  // per 128-bit lane: [a0 b0 a1 b1], [a2 b2 a3 b3]
    t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
  }
  __m512 u[16];  // u[4k + j], 128-bit lane L: value 4L + j of rows 4k .. 4k + 3
  for (int k = 0; k < 16; k += 4) {
    const __m512d t0 = _mm512_castps_pd(t[k]), t1 = _mm512_castps_pd(t[k + 1]);
    const __m512d t2 = _mm512_castps_pd(t[k + 2]), t3 = _mm512_castps_pd(t[k + 3]);
    u[k] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
    u[k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
    u[k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
    u[k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
  }
  constexpr int kLo = _MM_SHUFFLE(1, 0, 1, 0), kHi = _MM_SHUFFLE(3, 2, 3, 2);
  constexpr int kEven = _MM_SHUFFLE(2, 0, 2, 0), kOdd = _MM_SHUFFLE(3, 1, 3, 1);
  for (int j = 0; j < 4; ++j) {
    const __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], kLo), x1 = _mm512_shuffle_f32x4(u[j], u[4 + j], kHi);
    const __m512 y0 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], kLo), y1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], kHi);
    r[j] = _mm512_shuffle_f32x4(x0, y0, kEven);
    r[4 + j] = _mm512_shuffle_f32x4(x0, y0, kOdd);
    r[8 + j] = _mm512_shuffle_f32x4(x1, y1, kEven);
    r[12 + j] = _mm512_shuffle_f32x4(x1, y1, kOdd);
  }
}

// The span's K rows (rows[t], t < n: d values of type T) -> kt [dpad][kSpan] f32, kt[i][t] =
// value i of row t; zero for t >= n. V rows -> vf [n][dpad] f32, zero past d.
template <DType T>
void GatherSpan(const uint8_t* const* krows, const uint8_t* const* vrows, int n, int d, int dpad, float* kt,
                float* vf) {
  for (int c = 0; c < kVecs; ++c) {
    for (int i = 0; i < dpad; i += 16) {
      __m512 r[16];
      for (int t = 0; t < 16; ++t) {
        r[t] = 16 * c + t < n ? LoadKv(krows[16 * c + t], T, i, TailMask(d - i)) : _mm512_setzero_ps();
      }
      Transpose16(r);
      for (int k = 0; k < 16; ++k) _mm512_store_ps(kt + (i + k) * kSpan + 16 * c, r[k]);
    }
  }
  for (int t = 0; t < n; ++t) {
    for (int i = 0; i < dpad; i += 16) _mm512_store_ps(vf + t * dpad + i, LoadKv(vrows[t], T, i, TailMask(d - i)));
  }
}

void GatherSpan(DType type, const uint8_t* const* krows, const uint8_t* const* vrows, int n, int d, int dpad,
                float* kt, float* vf) {
  switch (type) {
    case DType::kF16: return GatherSpan<DType::kF16>(krows, vrows, n, d, dpad, kt, vf);
    case DType::kBF16: return GatherSpan<DType::kBF16>(krows, vrows, n, d, dpad, kt, vf);
    default: return GatherSpan<DType::kF32>(krows, vrows, n, d, dpad, kt, vf);
  }
}

// Lanes of score vector c (positions 16c ..) among a query's first cnt positions.
inline __mmask16 LiveMask(int cnt, int c) { return cnt <= 16 * c ? __mmask16(0) : TailMask(cnt - 16 * c); }


// acc_g[i0 .. i0 + 16 NV) += sum over t < cnt of p[g][t] * vf[t][0 .. 16 NV), t in order
// (vf already offset by i0; row stride dpad).
template <int G, int NV>
WEFT_INLINE void AccumulateValues(const QueryState* qs, const float* p, const float* vf, int cnt, int dpad, int i0) {
  __m512 a[G][NV];
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) a[g][v] = _mm512_load_ps(qs[g].acc + i0 + 16 * v);
  }
  for (int t = 0; t < cnt; ++t) {
    __m512 vv[NV];
    for (int v = 0; v < NV; ++v) vv[v] = _mm512_load_ps(vf + t * dpad + 16 * v);
    for (int g = 0; g < G; ++g) {
      const __m512 pg = _mm512_set1_ps(p[g * kSpan + t]);
      for (int v = 0; v < NV; ++v) a[g][v] = _mm512_fmadd_ps(pg, vv[v], a[g][v]);
    }
  }
  for (int g = 0; g < G; ++g) {
    for (int v = 0; v < NV; ++v) _mm512_store_ps(qs[g].acc + i0 + 16 * v, a[g][v]);
  }
}

// G queries over one span (kt, vf from GatherSpan): scores for all kSpan positions (the
// rows past a query's cnt are masked), the online-softmax step, then acc += p . V. Each
// query's arithmetic is the same whatever G and the other queries (extra positions enter
// as exact zeros).
template <int G>
void UpdateQueries(const QueryState* qs, float scale, const float* kt, const float* vf, int d, int dpad, float* p) {
  // Scores: s[g][c] lane l = sum over i of q_g[i] * kt[i][16c + l], in order of i.
  __m512 s[G][kVecs];
  for (int g = 0; g < G; ++g) {
    for (int c = 0; c < kVecs; ++c) s[g][c] = _mm512_setzero_ps();
  }
  for (int i = 0; i < d; ++i) {
    __m512 k[kVecs];
    for (int c = 0; c < kVecs; ++c) k[c] = _mm512_load_ps(kt + i * kSpan + 16 * c);
    for (int g = 0; g < G; ++g) {
      const __m512 qi = _mm512_set1_ps(qs[g].q[i]);
      for (int c = 0; c < kVecs; ++c) s[g][c] = _mm512_fmadd_ps(qi, k[c], s[g][c]);
    }
  }
  int max_cnt = 0;
  for (int g = 0; g < G; ++g) {
    const QueryState& st = qs[g];
    max_cnt = std::max(max_cnt, st.cnt);
    __m512 mv = _mm512_set1_ps(-__builtin_inff());
    for (int c = 0; c < kVecs; ++c) {
      s[g][c] = _mm512_mul_ps(s[g][c], _mm512_set1_ps(scale));
      mv = _mm512_mask_max_ps(mv, LiveMask(st.cnt, c), mv, s[g][c]);
    }
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
      const __m512 e = _mm512_maskz_mov_ps(LiveMask(st.cnt, c), Exp(_mm512_sub_ps(s[g][c], mx)));
      sum = _mm512_add_ps(sum, e);
      _mm512_store_ps(p + g * kSpan + 16 * c, e);
    }
    *st.run_sum += _mm512_reduce_add_ps(sum);
  }
  // Values: acc_g += sum over t < max_cnt of p_g[t] * v[t], 64 values of acc at a time.
  for (int i0 = 0; i0 < dpad; i0 += 64) {
    switch (std::min(4, (dpad - i0) / 16)) {
      case 4: AccumulateValues<G, 4>(qs, p, vf + i0, max_cnt, dpad, i0); break;
      case 3: AccumulateValues<G, 3>(qs, p, vf + i0, max_cnt, dpad, i0); break;
      case 2: AccumulateValues<G, 2>(qs, p, vf + i0, max_cnt, dpad, i0); break;
      default: AccumulateValues<G, 1>(qs, p, vf + i0, max_cnt, dpad, i0); break;
    }
  }
}

void UpdateQueries(const QueryState* qs, int n, float scale, const float* kt, const float* vf, int d, int dpad,
                   float* p) {
  switch (n) {
    case 4: return UpdateQueries<4>(qs, scale, kt, vf, d, dpad, p);
    case 3: return UpdateQueries<3>(qs, scale, kt, vf, d, dpad, p);
    case 2: return UpdateQueries<2>(qs, scale, kt, vf, d, dpad, p);
    default: return UpdateQueries<1>(qs, scale, kt, vf, d, dpad, p);
  }
}

// The span kernels for RunAttentionTiles (attention_tiles.h).
struct Avx512Span {
  static constexpr int kSpan = avx512::kSpan, kMaxGroup = avx512::kMaxGroup, kLanes = 16;
  static void GatherSpan(DType type, const uint8_t* const* krows, const uint8_t* const* vrows, int n, int d,
                         int dpad, float* kt, float* vf) {
    avx512::GatherSpan(type, krows, vrows, n, d, dpad, kt, vf);
  }
  static void UpdateQueries(const QueryState* qs, int n, float scale, const float* kt, const float* vf, int d,
                            int dpad, float* p) {
    avx512::UpdateQueries(qs, n, scale, kt, vf, d, dpad, p);
  }
};

#undef WEFT_INLINE

}  // namespace

void AttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n_tiles) {
  RunAttentionTiles<Avx512Span>(batch, cache, out, tiles, n_tiles);
}

}  // namespace weft::kernels::avx512
