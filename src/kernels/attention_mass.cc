#include "kernels/attention_mass.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/check.h"
#include "base/half.h"
#include "base/thread_pool.h"
#include "kernels/kernel_table.h"
#include "kernels/kv_type.h"

namespace weft::kernels {
namespace {

// K of positions [0, len) of sequence s, KV head kvh, as f32 [d][len] (dimension-major,
// row stride len) in kt.
void GatherK(const KernelTable& t, const AttentionBatch& b, const KvCacheView& c, int s, int64_t len, int kvh,
             float* kt) {
  const int d = c.head_dim, bs = c.block_size;
  const int32_t* table = b.block_table + static_cast<int64_t>(s) * b.max_blocks_per_seq;
  const auto* base = static_cast<const uint8_t*>(c.k);
  const DType float_type = c.k_type == KvType::kF32 ? DType::kF32 : c.k_type == KvType::kF16 ? DType::kF16 : DType::kBF16;
  for (int64_t j = 0; j * bs < len; ++j) {
    const int64_t first = j * bs;
    const int n = static_cast<int>(std::min<int64_t>(bs, len - first));
    const int64_t slot0 = int64_t{table[j]} * bs;
    const uint8_t* k0 = base + c.KOffset(slot0, kvh);  // dimension 0 of the block's first position
    if (!c.KQuantized()) {
      for (int i = 0; i < d; ++i) t.dequantize_row(float_type, k0 + i * c.KDimBytes(), kt + i * len + first, n);
      continue;
    }
    for (int p = 0; p < n; ++p) {
      const uint8_t* kp = k0 + p * c.KElemBytes();
      const uint8_t* sc = kp + c.KScaleFromCode(slot0 + p);
      for (int i = 0; i < d; ++i) {
        uint16_t bits;
        std::memcpy(&bits, sc + (i / c.QuantGroup()) * c.KScaleGroupBytes(), 2);
        kt[i * len + first + p] = KvDequant(c.k_type, KvCodeAt(c.k_type, kp, i, c.KDimBytes()), bits);
      }
    }
  }
}

void MassOfSequence(const KernelTable& t, const AttentionBatch& b, const KvCacheView& c, int s) {
  float* mass = b.attn_mass[s];
  const int d = c.head_dim;
  const int group = b.n_heads / c.n_kv_heads;
  const int64_t q_begin = b.query_start[s], q_len = b.query_start[s + 1] - q_begin;
  const int64_t len = b.seq_len[s];
  if (q_len == 0) return;
  thread_local std::vector<float> kt, row;
  kt.resize(static_cast<size_t>(d * len));
  row.resize(static_cast<size_t>(len));
  for (int kvh = 0; kvh < c.n_kv_heads; ++kvh) {
    GatherK(t, b, c, s, len, kvh, kt.data());
    for (int64_t r = 0; r < q_len; ++r) {
      const int64_t n_kv = len - q_len + r + 1;  // positions row r sees: [lo, n_kv)
      const int64_t lo = b.window > 0 ? std::max<int64_t>(0, n_kv - b.window) : 0;
      const int64_t n = n_kv - lo;
      for (int h = kvh * group; h < (kvh + 1) * group; ++h) {
        const float* q = b.q + ((q_begin + r) * b.n_heads + h) * d;
        t.attention_scores(q, kt.data() + lo, len, n, d, b.scale, row.data());
        if (b.softcap > 0.0f) {
          for (int64_t i = 0; i < n; ++i) row[i] = b.softcap * std::tanh(row[i] / b.softcap);
        }
        t.softmax(row.data(), n);
        t.add(mass + lo, row.data(), mass + lo, n);
      }
    }
  }
}

}  // namespace

void AccumulateAttentionMass(const KernelContext& ctx, const AttentionBatch& batch, const KvCacheView& cache) {
  if (batch.attn_mass == nullptr) return;
  WEFT_CHECK(ctx.table != nullptr && ctx.table->attention_scores != nullptr, "AccumulateAttentionMass: no kernel");
  thread_local std::vector<int> seqs;
  seqs.clear();
  for (int s = 0; s < batch.n_seqs; ++s) {
    if (batch.attn_mass[s] == nullptr) continue;
    WEFT_CHECK(batch.tree_mask == nullptr, "AccumulateAttentionMass: sequence {} asks for attention mass in a "
                                           "step with token trees (speculative decoding), which it does not support", s);
    seqs.push_back(s);
  }
  const KernelTable& t = *ctx.table;
  // The pool's threads have thread_locals of their own: they read this thread's list.
  const int* list = seqs.data();
  auto run = [&t, &batch, &cache, list](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) MassOfSequence(t, batch, cache, list[i]);
  };
  const auto n = static_cast<int64_t>(seqs.size());
  if (ctx.pool == nullptr || n <= 1) {
    run(0, n);
  } else {
    ctx.pool->ParallelFor(0, n, 1, [&run](int64_t b, int64_t e) { run(b, e); });
  }
}

}  // namespace weft::kernels
