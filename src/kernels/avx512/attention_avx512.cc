// AVX-512 paged attention (KernelTable::attention): causal, GQA/MQA, an online softmax
// (running max and sum, FlashAttention-style) over the KV positions in spans of
// kSpan(head_dim) positions (64 for head_dim <= 64), K/V rows gathered through the block
// table.
//
// The (token, head) pairs [pair_begin, pair_end) are taken in tiles: the heads of one
// token that share a KV head (GQA). For each span, the tile's K and V rows are converted
// to f32 once (zero-padded to a multiple of 16 values), then for each query of the tile:
//   scores  16 dot products at a time (16 accumulators, one horizontal-sum tree), x scale;
//   softmax the span's max raises the running max (rescaling the accumulator and sum);
//           p = exp(s - max) for the span's positions;
//   values  acc += sum_t p[t] * v[t], with the accumulator in registers (two interleaved
//           sets over the positions, added at the end of the span).
// Each query's arithmetic depends only on its own row and the cache contents: not on the
// tile, the batch, the block size or the thread split (batch invariance).
// Thread-safety: reentrant; scratch is thread_local.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <vector>

#include "kernels/avx512/avx512_kernels.h"
#include "kernels/avx512/vec_math.h"

namespace weft::kernels::avx512 {
namespace {

constexpr int kChunk = 16;   // positions per score vector
constexpr int kMaxSpan = 64;  // positions per softmax step
#define WEFT_INLINE inline __attribute__((always_inline))

// Lane t of the result = the sum of v[t]'s 16 lanes.
WEFT_INLINE __m512 SumEach16(const __m512* v) {
  __m512 x[8], y[4];
  // x[i], per 128-bit lane: [a0 + a2, b0 + b2, a1 + a3, b1 + b3] (a = v[2i], b = v[2i + 1]).
  for (int i = 0; i < 8; ++i) {
    x[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  // y[i], per 128-bit lane: the lane's sums of v[4i], v[4i + 1], v[4i + 2], v[4i + 3].
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(x[2 * i]), b = _mm512_castps_pd(x[2 * i + 1]);
    y[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  constexpr int kEven = _MM_SHUFFLE(2, 0, 2, 0), kOdd = _MM_SHUFFLE(3, 1, 3, 1);
  // z0: [v0..3 over lanes 0-1, v0..3 over lanes 2-3, v4..7 over 0-1, v4..7 over 2-3]; z1: v8..15.
  const __m512 z0 = _mm512_add_ps(_mm512_shuffle_f32x4(y[0], y[1], kEven), _mm512_shuffle_f32x4(y[0], y[1], kOdd));
  const __m512 z1 = _mm512_add_ps(_mm512_shuffle_f32x4(y[2], y[3], kEven), _mm512_shuffle_f32x4(y[2], y[3], kOdd));
  return _mm512_add_ps(_mm512_shuffle_f32x4(z0, z1, kEven), _mm512_shuffle_f32x4(z0, z1, kOdd));
}

// Lane t = dot(q, kf row t) for the 16 rows of kf (row stride dpad; zero past d).
// DV (here and below): dpad / 16 when known at compile time (1 .. 8), else 0.
template <int DV>
WEFT_INLINE __m512 Scores16(const float* q, const float* kf, int d, int dpad_rt) {
  const int dpad = DV > 0 ? 16 * DV : dpad_rt;
  __m512 a[kChunk];
  for (auto& v : a) v = _mm512_setzero_ps();
  for (int i = 0; i < dpad; i += 16) {
    const __m512 qv = _mm512_maskz_loadu_ps(TailMask(d - i), q + i);
    for (int t = 0; t < kChunk; ++t) a[t] = _mm512_fmadd_ps(qv, _mm512_load_ps(kf + t * dpad + i), a[t]);
  }
  return SumEach16(a);
}

// acc[i0 .. i0 + 16 NV) += sum_{t < cnt} p[t] * vf[t][i0 ..].
template <int NV>
WEFT_INLINE void AccumulateValues(float* acc, const float* p, const float* vf, int cnt, int dpad, int i0) {
  __m512 a[NV], b[NV];
  for (int v = 0; v < NV; ++v) {
    a[v] = _mm512_load_ps(acc + i0 + 16 * v);
    b[v] = _mm512_setzero_ps();
  }
  int t = 0;
  for (; t + 2 <= cnt; t += 2) {
    const __m512 p0 = _mm512_set1_ps(p[t]), p1 = _mm512_set1_ps(p[t + 1]);
    const float* r0 = vf + t * dpad + i0;
    const float* r1 = r0 + dpad;
    for (int v = 0; v < NV; ++v) {
      a[v] = _mm512_fmadd_ps(p0, _mm512_load_ps(r0 + 16 * v), a[v]);
      b[v] = _mm512_fmadd_ps(p1, _mm512_load_ps(r1 + 16 * v), b[v]);
    }
  }
  if (t < cnt) {
    const __m512 p0 = _mm512_set1_ps(p[t]);
    for (int v = 0; v < NV; ++v) a[v] = _mm512_fmadd_ps(p0, _mm512_load_ps(vf + t * dpad + i0 + 16 * v), a[v]);
  }
  for (int v = 0; v < NV; ++v) _mm512_store_ps(acc + i0 + 16 * v, _mm512_add_ps(a[v], b[v]));
}

template <int DV>
WEFT_INLINE void AccumulateValues(float* acc, const float* p, const float* vf, int cnt, int dpad_rt) {
  const int dpad = DV > 0 ? 16 * DV : dpad_rt;
  for (int i0 = 0; i0 < dpad; i0 += 64) {
    switch (std::min(4, (dpad - i0) / 16)) {
      case 4: AccumulateValues<4>(acc, p, vf, cnt, dpad, i0); break;
      case 3: AccumulateValues<3>(acc, p, vf, cnt, dpad, i0); break;
      case 2: AccumulateValues<2>(acc, p, vf, cnt, dpad, i0); break;
      default: AccumulateValues<1>(acc, p, vf, cnt, dpad, i0); break;
    }
  }
}

// The span's cnt KV rows (rows[t]: d values of type T) -> dst [cnt][dpad] f32, zero past
// d; rows cnt .. round_up(cnt, 16) - 1 zero too when zero_rest (they meet the scores).
template <DType T>
void GatherRows(const uint8_t* const* rows, int cnt, int d, int dpad, float* dst, bool zero_rest) {
  for (int t = 0; t < cnt; ++t) {
    for (int i = 0; i < dpad; i += 16) _mm512_store_ps(dst + t * dpad + i, LoadKv(rows[t], T, i, TailMask(d - i)));
  }
  if (zero_rest) {
    for (int t = cnt; t % kChunk != 0; ++t) {
      for (int i = 0; i < dpad; i += 16) _mm512_store_ps(dst + t * dpad + i, _mm512_setzero_ps());
    }
  }
}

void GatherRows(DType type, const uint8_t* const* rows, int cnt, int d, int dpad, float* dst, bool zero_rest) {
  switch (type) {
    case DType::kF16: return GatherRows<DType::kF16>(rows, cnt, d, dpad, dst, zero_rest);
    case DType::kBF16: return GatherRows<DType::kBF16>(rows, cnt, d, dpad, dst, zero_rest);
    default: return GatherRows<DType::kF32>(rows, cnt, d, dpad, dst, zero_rest);
  }
}

// Positions per span: the span's K and V rows as f32 take at most 32 KB (L1).
int SpanFor(int dpad) { return std::clamp(4096 / dpad / kChunk * kChunk, kChunk, kMaxSpan); }

struct alignas(64) Lane16 {
  float f[16];
};

struct AttentionScratch {
  std::vector<Lane16> kf, vf, acc;  // [span][dpad], [span][dpad], [tile][dpad]
  std::vector<float> run_max, run_sum;  // [tile]
  void Reserve(int dpad, int span, int tile) {
    const size_t lanes = static_cast<size_t>(span) * dpad / 16;
    if (kf.size() < lanes) kf.resize(lanes), vf.resize(lanes);
    if (acc.size() < static_cast<size_t>(tile) * dpad / 16) acc.resize(static_cast<size_t>(tile) * dpad / 16);
    if (run_max.size() < static_cast<size_t>(tile)) run_max.resize(tile), run_sum.resize(tile);
  }
};

// One query over a span of cnt positions (kf / vf rows 0 .. cnt - 1): the online-softmax
// step on its accumulator acc[dpad], running max and sum. p: kMaxSpan floats of scratch.
template <int DV>
void UpdateQuery(const float* q, float scale, const float* kf, const float* vf, int cnt, int d, int dpad_rt, float* acc,
                 float& run_max, float& run_sum, float* p) {
  const int dpad = DV > 0 ? 16 * DV : dpad_rt;
  const int vecs = (cnt + kChunk - 1) / kChunk;
  __m512 sv[kMaxSpan / kChunk];
  __m512 mv = _mm512_set1_ps(-__builtin_inff());
  for (int c = 0; c < vecs; ++c) {
    sv[c] = _mm512_mul_ps(Scores16<DV>(q, kf + c * kChunk * dpad, d, dpad), _mm512_set1_ps(scale));
    mv = _mm512_mask_max_ps(mv, TailMask(cnt - c * kChunk), mv, sv[c]);
  }
  const float smax = _mm512_reduce_max_ps(mv);
  if (smax > run_max) {
    // Rescale what was accumulated under the old maximum.
    if (run_sum != 0.0f) {
      const float corr = __builtin_expf(run_max - smax);
      run_sum *= corr;
      const __m512 cv = _mm512_set1_ps(corr);
      for (int i = 0; i < dpad; i += 16) _mm512_store_ps(acc + i, _mm512_mul_ps(_mm512_load_ps(acc + i), cv));
    }
    run_max = smax;
  }
  const __m512 mx = _mm512_set1_ps(run_max);
  __m512 sum = _mm512_setzero_ps();
  for (int c = 0; c < vecs; ++c) {
    const __m512 e = _mm512_maskz_mov_ps(TailMask(cnt - c * kChunk), Exp(_mm512_sub_ps(sv[c], mx)));
    sum = _mm512_add_ps(sum, e);
    _mm512_store_ps(p + c * kChunk, e);
  }
  run_sum += _mm512_reduce_add_ps(sum);
  AccumulateValues<DV>(acc, p, vf, cnt, dpad);
}

using UpdateFn = void (*)(const float*, float, const float*, const float*, int, int, int, float*, float&, float&,
                         float*);
UpdateFn UpdateFor(int dpad) {
  switch (dpad / 16) {
    case 1: return UpdateQuery<1>;
    case 2: return UpdateQuery<2>;
    case 3: return UpdateQuery<3>;
    case 4: return UpdateQuery<4>;
    case 5: return UpdateQuery<5>;
    case 6: return UpdateQuery<6>;
    case 7: return UpdateQuery<7>;
    case 8: return UpdateQuery<8>;
    default: return UpdateQuery<0>;
  }
}

#undef WEFT_INLINE

}  // namespace

void AttentionTiles(const AttentionBatch& batch, const KvCacheView& cache, float* out, const AttentionTile* tiles,
                    int64_t n_tiles) {
  const int d = cache.head_dim;
  const int dpad = (d + 15) / 16 * 16;
  const int span = SpanFor(dpad);
  const int group = batch.n_heads / cache.n_kv_heads;
  const int64_t elem = cache.type == DType::kF32 ? 4 : 2;
  const int64_t token_stride = static_cast<int64_t>(cache.n_kv_heads) * d * elem;  // bytes per slot
  const int64_t block_stride = token_stride * cache.block_size;
  const UpdateFn update = UpdateFor(dpad);
  thread_local AttentionScratch S;
  float* kf = nullptr;
  float* vf = nullptr;
  alignas(64) float p[kMaxSpan];
  const uint8_t* krows[kMaxSpan];
  const uint8_t* vrows[kMaxSpan];
  for (int64_t ti = 0; ti < n_tiles; ++ti) {
    const AttentionTile& tile = tiles[ti];
    const int heads = tile.head_end - tile.head_begin;
    const int nq = (tile.tok_end - tile.tok_begin) * heads;  // query i: token tok_begin + i / heads
    S.Reserve(dpad, span, nq);
    kf = S.kf[0].f;
    vf = S.vf[0].f;
    // KV positions seen by the tile's first token: one more for each later token.
    const int32_t q_start = batch.query_start[tile.seq];
    const int32_t q_len = batch.query_start[tile.seq + 1] - q_start;
    const int64_t first_kv = batch.seq_len[tile.seq] - q_len + (tile.tok_begin - q_start) + 1;
    const int64_t last_kv = first_kv + (tile.tok_end - 1 - tile.tok_begin);
    const int32_t* table = batch.block_table + static_cast<int64_t>(tile.seq) * batch.max_blocks_per_seq;
    const int64_t head_off = static_cast<int64_t>(tile.head_begin / group) * d * elem;
    const uint8_t* kbase = static_cast<const uint8_t*>(cache.k) + head_off;
    const uint8_t* vbase = static_cast<const uint8_t*>(cache.v) + head_off;

    for (int i = 0; i < nq; ++i) {
      float* acc = S.acc[0].f + i * dpad;
      for (int c = 0; c < dpad; c += 16) _mm512_store_ps(acc + c, _mm512_setzero_ps());
      S.run_max[i] = -__builtin_inff();
      S.run_sum[i] = 0.0f;
    }
    for (int64_t start = 0; start < last_kv; start += span) {
      const int rows = static_cast<int>(std::min<int64_t>(span, last_kv - start));
      // The span's rows, block by block (one division per span).
      for (int t = 0, j = static_cast<int>(start / cache.block_size), in = static_cast<int>(start % cache.block_size);
           t < rows; ++j, in = 0) {
        const int64_t boff = table[j] * block_stride;
        for (; in < cache.block_size && t < rows; ++in, ++t) {
          krows[t] = kbase + boff + in * token_stride;
          vrows[t] = vbase + boff + in * token_stride;
        }
      }
      GatherRows(cache.type, krows, rows, d, dpad, kf, true);
      GatherRows(cache.type, vrows, rows, d, dpad, vf, false);
      for (int32_t tok = tile.tok_begin; tok < tile.tok_end; ++tok) {
        const int64_t n_kv = first_kv + (tok - tile.tok_begin);
        if (n_kv <= start) continue;
        const int cnt = static_cast<int>(std::min<int64_t>(span, n_kv - start));
        for (int h = tile.head_begin; h < tile.head_end; ++h) {
          const int i = (tok - tile.tok_begin) * heads + (h - tile.head_begin);
          const float* q = batch.q + (tok * batch.n_heads + h) * d;
          update(q, batch.scale, kf, vf, cnt, d, dpad, S.acc[0].f + i * dpad, S.run_max[i], S.run_sum[i], p);
        }
      }
    }
    for (int32_t tok = tile.tok_begin; tok < tile.tok_end; ++tok) {
      for (int h = tile.head_begin; h < tile.head_end; ++h) {
        const int i = (tok - tile.tok_begin) * heads + (h - tile.head_begin);
        const float* acc = S.acc[0].f + i * dpad;
        float* o = out + (tok * batch.n_heads + h) * d;
        const __m512 inv = _mm512_set1_ps(1.0f / S.run_sum[i]);
        for (int c = 0; c < d; c += 16) {
          _mm512_mask_storeu_ps(o + c, TailMask(d - c), _mm512_mul_ps(_mm512_load_ps(acc + c), inv));
        }
      }
    }
  }
}

void AttentionPairs(const AttentionBatch& batch, const KvCacheView& cache, float* out, int64_t pair_begin,
                    int64_t pair_end) {
  const int group = batch.n_heads / cache.n_kv_heads;
  int seq = 0;
  for (int64_t pair = pair_begin; pair < pair_end;) {
    const auto tok = static_cast<int32_t>(pair / batch.n_heads);
    const int head = static_cast<int>(pair % batch.n_heads);
    // This token's heads from `head` to the end of its KV head's group (or of the range).
    const int heads = static_cast<int>(std::min<int64_t>(group - head % group, pair_end - pair));
    while (batch.query_start[seq + 1] <= tok) ++seq;
    const AttentionTile tile{seq, tok, tok + 1, head, head + heads};
    AttentionTiles(batch, cache, out, &tile, 1);
    pair += heads;
  }
}

}  // namespace weft::kernels::avx512
