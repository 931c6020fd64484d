// Per-token attention mass (kernels/attention_mass.h, heavy-hitter eviction) on every ISA
// and KV type, against a float64 reference written here: each query row and head's softmax
// over the K values as stored in the cache (read back through the documented layout, ops.h),
// summed per KV position. Cases: a flat batch with split-KV decode at depth 1300 (> one
// 1024-position chunk, so the plan splits it over the pool), a whole prefill, a chunked
// prefill continuing from cached KV, and a decode row that asks for nothing (null); GQA;
// block sizes 16 and 5 (runs across block edges); head_dim 64 and 72 (a SIMD tail);
// sliding window and soft-capped scores. Also: the attention output is the same bits with
// and without the accumulation (batch invariance of the logits), the mass is ADDED to what
// the arrays held, and each row-head's weights sum to 1.
// Tolerance: |got - want| <= 2e-5 * (1 + want) + 1e-6 * rows*heads (f32 scores and
// softmax against double; a misplaced or missing weight is O(1 / len) >> that).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "base/thread_pool.h"
#include "kernels/attention_mass.h"
#include "kernels/kernel_table.h"
#include "kernels/kv_type.h"
#include "kernel_test_util.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;
using testing::RandomFloats;

struct Seq {
  int32_t seq_len, q_len;
  bool wants_mass;
};

// K value `dim` of `slot`, KV head kvh, as stored.
double StoredK(const KvCacheView& c, int64_t slot, int kvh, int dim) {
  const auto* p = static_cast<const uint8_t*>(c.k) + c.KOffset(slot, kvh);
  if (c.KQuantized()) {
    uint16_t bits;
    std::memcpy(&bits, p + c.KScaleFromCode(slot) + (dim / c.QuantGroup()) * c.KScaleGroupBytes(), 2);
    return KvDequant(c.k_type, KvCodeAt(c.k_type, p, dim, c.KDimBytes()), bits);
  }
  const uint8_t* e = p + dim * c.KDimBytes();
  if (c.k_type == KvType::kF32) {
    float f;
    std::memcpy(&f, e, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, e, 2);
  return c.k_type == KvType::kF16 ? Fp16ToFloat(h) : Bf16ToFloat(h);
}

void RunCase(KvType type, int n_heads, int n_kv_heads, int head_dim, int block_size, int32_t window, float softcap) {
  SCOPED_TRACE(::testing::Message() << KvTypeName(type) << " heads " << n_heads << "/" << n_kv_heads << " d "
                                    << head_dim << " block " << block_size << " window " << window << " softcap "
                                    << softcap);
  const std::vector<Seq> seqs = {{1300, 1, true}, {70, 70, true}, {200, 33, true}, {40, 1, false}};
  std::mt19937 rng(11 + head_dim + block_size);
  IsaContexts ctxs;
  ThreadPool pool(2);
  const int n_seqs = static_cast<int>(seqs.size());
  int max_blocks = 0, total_blocks = 0;
  for (const Seq& s : seqs) {
    const int nb = (s.seq_len + block_size - 1) / block_size;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  const int num_blocks = total_blocks + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> table(static_cast<size_t>(n_seqs) * max_blocks, 0);
  std::vector<int64_t> slots;
  std::vector<float> k_all, v_all;
  const int64_t row = int64_t{n_kv_heads} * head_dim;
  for (int s = 0, next = 0; s < n_seqs; ++s) {
    for (int j = 0; j < (seqs[s].seq_len + block_size - 1) / block_size; ++j) table[s * max_blocks + j] = ids[next++];
    for (int64_t p = 0; p < seqs[s].seq_len; ++p) {
      slots.push_back(int64_t{table[s * max_blocks + p / block_size]} * block_size + p % block_size);
    }
  }
  k_all = RandomFloats(rng, slots.size() * row);
  v_all = RandomFloats(rng, slots.size() * row);
  std::vector<int32_t> query_start(n_seqs + 1, 0), seq_len(n_seqs);
  for (int s = 0; s < n_seqs; ++s) {
    query_start[s + 1] = query_start[s] + seqs[s].q_len;
    seq_len[s] = seqs[s].seq_len;
  }
  const int64_t n_tokens = query_start[n_seqs];
  const auto q = RandomFloats(rng, n_tokens * n_heads * head_dim, 1.5f);  // peaky enough to matter
  const size_t k_bytes = static_cast<size_t>(num_blocks) * n_kv_heads * block_size * KvRowBytes(type, head_dim);
  for (Isa isa : ctxs.isas) {
    SCOPED_TRACE(IsaName(isa));
    const KernelContext ctx = ctxs.For(isa, &pool);
    std::vector<uint8_t> kc(k_bytes, 0), vc(k_bytes, 0);
    KvCacheView cache{kc.data(), vc.data(), type, type, num_blocks, block_size, n_kv_heads, head_dim};
    WriteKv(ctx, k_all.data(), v_all.data(), static_cast<int64_t>(slots.size()), slots.data(), cache);
    AttentionBatch batch;
    batch.q = q.data();
    batch.n_tokens = n_tokens;
    batch.n_heads = n_heads;
    batch.n_seqs = n_seqs;
    batch.query_start = query_start.data();
    batch.seq_len = seq_len.data();
    batch.block_table = table.data();
    batch.max_blocks_per_seq = max_blocks;
    batch.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    batch.window = window;
    batch.softcap = softcap;
    std::vector<float> plain(q.size()), with_mass(q.size());
    Attention(ctx, batch, cache, plain.data());
    constexpr float kBase = 0.25f;  // the arrays' prior content: the mass is added to it
    std::vector<std::vector<float>> mass(n_seqs);
    std::vector<float*> ptrs(n_seqs, nullptr);
    for (int s = 0; s < n_seqs; ++s) {
      if (!seqs[s].wants_mass) continue;
      mass[s].assign(static_cast<size_t>(seqs[s].seq_len), kBase);
      ptrs[s] = mass[s].data();
    }
    batch.attn_mass = ptrs.data();
    Attention(ctx, batch, cache, with_mass.data());
    ASSERT_EQ(std::memcmp(plain.data(), with_mass.data(), plain.size() * sizeof(float)), 0)
        << "the accumulation changed the attention output";

    const int group = n_heads / n_kv_heads;
    for (int s = 0; s < n_seqs; ++s) {
      if (!seqs[s].wants_mass) continue;
      SCOPED_TRACE(::testing::Message() << "seq " << s);
      const int32_t len = seqs[s].seq_len, ql = seqs[s].q_len;
      std::vector<double> want(static_cast<size_t>(len), 0.0);
      std::vector<double> sc(static_cast<size_t>(len));
      std::vector<double> kd(static_cast<size_t>(len) * row);  // [pos][kvh][dim], as stored
      for (int64_t p = 0; p < len; ++p) {
        const int64_t slot = int64_t{table[s * max_blocks + p / block_size]} * block_size + p % block_size;
        for (int kvh = 0; kvh < n_kv_heads; ++kvh) {
          for (int d = 0; d < head_dim; ++d) kd[(p * n_kv_heads + kvh) * head_dim + d] = StoredK(cache, slot, kvh, d);
        }
      }
      for (int r = 0; r < ql; ++r) {
        const int64_t tok = query_start[s] + r;
        const int64_t n_kv = len - ql + r + 1;
        const int64_t lo = window > 0 ? std::max<int64_t>(0, n_kv - window) : 0;
        for (int h = 0; h < n_heads; ++h) {
          double mx = -INFINITY;
          for (int64_t p = lo; p < n_kv; ++p) {
            const double* k = kd.data() + (p * n_kv_heads + h / group) * head_dim;
            double dot = 0;
            for (int d = 0; d < head_dim; ++d) dot += static_cast<double>(q[(tok * n_heads + h) * head_dim + d]) * k[d];
            double x = dot * batch.scale;
            if (softcap > 0) x = softcap * std::tanh(x / softcap);
            sc[static_cast<size_t>(p)] = x;
            mx = std::max(mx, x);
          }
          double sum = 0;
          for (int64_t p = lo; p < n_kv; ++p) sum += std::exp(sc[static_cast<size_t>(p)] - mx);
          for (int64_t p = lo; p < n_kv; ++p) want[static_cast<size_t>(p)] += std::exp(sc[static_cast<size_t>(p)] - mx) / sum;
        }
      }
      const double rows_heads = double{1} * ql * n_heads;
      double total = 0, want_max = 0, want_min = INFINITY;
      for (int32_t p = 0; p < len; ++p) {
        const double got = mass[s][static_cast<size_t>(p)] - kBase;
        total += got;
        want_max = std::max(want_max, want[static_cast<size_t>(p)]);
        if (want[static_cast<size_t>(p)] > 0) want_min = std::min(want_min, want[static_cast<size_t>(p)]);
        ASSERT_NEAR(got, want[static_cast<size_t>(p)], 2e-5 * (1 + want[static_cast<size_t>(p)]) + 1e-6 * rows_heads)
            << "position " << p;
      }
      EXPECT_NEAR(total, rows_heads, 1e-4 * rows_heads);
      EXPECT_GT(want_max, 10 * want_min) << "a flat case: it would not tell positions apart";
    }
  }
}

TEST(AttentionMassTest, EveryKvTypeGqaBlock16) {
  for (KvType t : {KvType::kF32, KvType::kF16, KvType::kBF16, KvType::kQ8, KvType::kFp8, KvType::kQ4}) {
    RunCase(t, 8, 2, 64, 16, 0, 0.0f);
  }
}

TEST(AttentionMassTest, HeadDimTailOddBlocksWindowSoftcap) {
  RunCase(KvType::kF16, 6, 3, 72, 5, 0, 0.0f);
  RunCase(KvType::kF32, 4, 4, 64, 16, 100, 0.0f);
  RunCase(KvType::kQ8, 4, 1, 64, 16, 0, 30.0f);
}

}  // namespace
}  // namespace weft::kernels
