// Paged attention with an online softmax (FlashAttention-style running max / sum), as a
// template over an ISA's vector primitives. Included by the SIMD TUs only; internal
// linkage, so each TU gets its own copy compiled with its own flags.
//
// Prims must provide (d = head_dim, kv rows in the cache type `type`):
//   static float Dot(const float* q, const void* k_row, DType type, int d);
//   static void Axpy(float p, const void* v_row, DType type, float* acc, int d);  // acc += p*v
//   static void ScaleRow(float* acc, float s, int d);
//   static float ExpSub(float* s, int n, float m);  // s[i] = exp(s[i] - m); returns the sum
#pragma once

#include <cstdint>

#include "kernels/ops.h"

namespace weft::kernels {
namespace {

constexpr int kMaxHeadDim = 512;
constexpr int kMaxBlockSize = 1024;

template <typename Prims>
void OnlineAttention(const AttentionBatch& batch, const KvCacheView& cache, float* out, int64_t pair_begin,
                     int64_t pair_end) {
  const int d = cache.head_dim;
  const int group = batch.n_heads / cache.n_kv_heads;
  const int64_t elem = cache.type == DType::kF32 ? 4 : 2;
  const int64_t token_stride = static_cast<int64_t>(cache.n_kv_heads) * d * elem;  // bytes per slot
  const int64_t block_stride = token_stride * cache.block_size;
  alignas(64) float acc[kMaxHeadDim];
  alignas(64) float s[kMaxBlockSize];
  int seq = 0;
  for (int64_t pair = pair_begin; pair < pair_end; ++pair) {
    const int64_t tok = pair / batch.n_heads;
    const int head = static_cast<int>(pair % batch.n_heads);
    // Pairs come in increasing order, so the sequence search only moves forward
    // (restarting when a chunk begins).
    if (pair == pair_begin) seq = 0;
    while (batch.query_start[seq + 1] <= tok) ++seq;
    const int32_t q_len = batch.query_start[seq + 1] - batch.query_start[seq];
    const int64_t pos = batch.seq_len[seq] - q_len + (tok - batch.query_start[seq]);
    const int64_t n_kv = pos + 1;
    const float* q = batch.q + (tok * batch.n_heads + head) * d;
    const int32_t* table = batch.block_table + static_cast<int64_t>(seq) * batch.max_blocks_per_seq;
    const int64_t head_off = static_cast<int64_t>(head / group) * d * elem;
    const uint8_t* kbase = static_cast<const uint8_t*>(cache.k) + head_off;
    const uint8_t* vbase = static_cast<const uint8_t*>(cache.v) + head_off;

    for (int i = 0; i < d; ++i) acc[i] = 0.0f;
    float run_max = -__builtin_inff();
    float run_sum = 0.0f;
    for (int64_t start = 0, j = 0; start < n_kv; start += cache.block_size, ++j) {
      const int cnt = static_cast<int>(n_kv - start < cache.block_size ? n_kv - start : cache.block_size);
      const int64_t boff = static_cast<int64_t>(table[j]) * block_stride;
      float bmax = -__builtin_inff();
      for (int t = 0; t < cnt; ++t) {
        s[t] = batch.scale * Prims::Dot(q, kbase + boff + t * token_stride, cache.type, d);
        bmax = s[t] > bmax ? s[t] : bmax;
      }
      if (bmax > run_max) {
        // Rescale what was accumulated under the old maximum.
        if (run_sum != 0.0f) {
          const float corr = __builtin_expf(run_max - bmax);
          run_sum *= corr;
          Prims::ScaleRow(acc, corr, d);
        }
        run_max = bmax;
      }
      run_sum += Prims::ExpSub(s, cnt, run_max);
      for (int t = 0; t < cnt; ++t) Prims::Axpy(s[t], vbase + boff + t * token_stride, cache.type, acc, d);
    }
    float* o = out + (tok * batch.n_heads + head) * d;
    const float inv = 1.0f / run_sum;
    for (int i = 0; i < d; ++i) o[i] = acc[i] * inv;
  }
}

}  // namespace
}  // namespace weft::kernels
