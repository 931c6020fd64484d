// WriteKv and paged Attention on every ISA and KV type, against a naive dense attention
// written here (K/V gathered per sequence into plain arrays, two-pass softmax in double).
//
// Cases: several sequences of different lengths in one flat batch; block tables in a
// shuffled order; partial last blocks; GQA (3 query heads per KV head) and MQA; decode
// (q_len = 1), chunked prefill continuing from cached KV (q_len > 1 with earlier tokens
// already in the cache) and whole prefill; head_dim with a SIMD tail.
// Sliding windows (Mistral, Gemma's local layers) and soft-capped scores (Gemma 2) too.
// Tolerance: |got - want| <= 2e-5 * max|v| (f32 accumulation of <= 200 terms; the
// dense reference reads the same rounded KV values back from the cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <cstring>

#include "base/thread_pool.h"
#include "kernels/attention_split.h"
#include "kernels/kernel_table.h"
#include "kernel_test_util.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;
using testing::RandomFloats;

struct Seq {
  int32_t seq_len;  // KV tokens after this step
  int32_t q_len;    // this step's queries (the last q_len positions)
};

struct Shape {
  int n_heads, n_kv_heads, head_dim, block_size;
  KvType type;  // a float type (the quantised ones: kv_quant_attention_test.cc)
};

float CacheValue(const void* base, KvType type, int64_t index) {
  const DType t = type == KvType::kF32 ? DType::kF32 : type == KvType::kF16 ? DType::kF16 : DType::kBF16;
  float f;
  DequantizeRow(t, static_cast<const uint8_t*>(base) + index * (type == KvType::kF32 ? 4 : 2), &f, 1);
  return f;
}

// Token trees: per sequence, the parent of each of this step's rows (-1: a root, under the
// cached prefix); an empty list keeps the sequence causal.
using TreeParents = std::vector<std::vector<int>>;

// window > 0: each query sees its last `window` positions; softcap > 0: soft-capped scores;
// trees: AttentionBatch::tree_mask from these parents (and the reference masks the same).
void RunCase(const Shape& sh, const std::vector<Seq>& seqs, uint32_t seed, int32_t window = 0, float softcap = 0,
             const TreeParents& trees = {}) {
  SCOPED_TRACE(::testing::Message() << KvTypeName(sh.type) << " heads " << sh.n_heads << "/" << sh.n_kv_heads
                                    << " head_dim " << sh.head_dim << " block " << sh.block_size << " window "
                                    << window << " softcap " << softcap);
  std::mt19937 rng(seed);
  IsaContexts ctxs;
  ThreadPool pool(2);
  const int n_seqs = static_cast<int>(seqs.size());
  int max_blocks = 0, total_blocks = 0;
  for (const Seq& s : seqs) {
    const int nb = (s.seq_len + sh.block_size - 1) / sh.block_size;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  const int num_blocks = total_blocks + 5;  // some blocks unused
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);  // tables point all over the pool
  std::vector<int32_t> table(static_cast<size_t>(n_seqs) * max_blocks, -1);
  for (int s = 0, next = 0; s < n_seqs; ++s) {
    for (int j = 0; j < (seqs[s].seq_len + sh.block_size - 1) / sh.block_size; ++j) table[s * max_blocks + j] = ids[next++];
  }
  const int64_t row = static_cast<int64_t>(sh.n_kv_heads) * sh.head_dim;
  const size_t eb = sh.type == KvType::kF32 ? 4 : 2;
  const size_t cache_bytes = static_cast<size_t>(num_blocks) * sh.block_size * row * eb;

  // All KV of every sequence (the earlier steps' and this step's), random.
  std::vector<std::vector<float>> k_all(n_seqs), v_all(n_seqs);
  for (int s = 0; s < n_seqs; ++s) {
    k_all[s] = RandomFloats(rng, seqs[s].seq_len * row);
    v_all[s] = RandomFloats(rng, seqs[s].seq_len * row);
  }
  std::vector<int32_t> query_start(n_seqs + 1, 0), seq_len(n_seqs);
  for (int s = 0; s < n_seqs; ++s) {
    query_start[s + 1] = query_start[s] + seqs[s].q_len;
    seq_len[s] = seqs[s].seq_len;
  }
  const int64_t n_tokens = query_start[n_seqs];
  const auto q = RandomFloats(rng, n_tokens * sh.n_heads * sh.head_dim);
  std::vector<uint64_t> tree_mask(static_cast<size_t>(n_tokens), 0);  // 0: causal
  for (int s = 0; s < static_cast<int>(trees.size()); ++s) {
    if (trees[s].empty()) continue;
    ASSERT_EQ(static_cast<int>(trees[s].size()), seqs[s].q_len);
    for (int i = 0; i < seqs[s].q_len; ++i) {
      const int parent = trees[s][static_cast<size_t>(i)];
      ASSERT_LT(parent, i);
      tree_mask[query_start[s] + i] = (parent >= 0 ? tree_mask[query_start[s] + parent] : 0) | (uint64_t{1} << i);
    }
  }
  auto slot_of = [&](int s, int64_t pos) {
    return static_cast<int64_t>(table[s * max_blocks + pos / sh.block_size]) * sh.block_size + pos % sh.block_size;
  };
  // The documented cache layout: K [num_blocks, n_kv_heads, head_dim, block_size],
  // V [num_blocks, n_kv_heads, block_size, head_dim].
  auto k_elem_of = [&](int64_t slot, int kvh, int dim) {
    return ((slot / sh.block_size * sh.n_kv_heads + kvh) * sh.head_dim + dim) * sh.block_size + slot % sh.block_size;
  };
  auto v_elem_of = [&](int64_t slot, int kvh, int dim) {
    return ((slot / sh.block_size * sh.n_kv_heads + kvh) * sh.block_size + slot % sh.block_size) * sh.head_dim + dim;
  };

  std::vector<float> ref_out;
  for (Isa isa : ctxs.isas) {
    SCOPED_TRACE(IsaName(isa));
    const KernelContext ctx = ctxs.For(isa, &pool);
    std::vector<uint8_t> kc(cache_bytes, 0xFF), vc(cache_bytes, 0xFF);  // NaN-filled
    KvCacheView cache{kc.data(), vc.data(), sh.type, sh.type, num_blocks, sh.block_size, sh.n_kv_heads, sh.head_dim};
    // Earlier steps: one WriteKv per sequence for its cached prefix.
    for (int s = 0; s < n_seqs; ++s) {
      const int64_t cached = seqs[s].seq_len - seqs[s].q_len;
      std::vector<int64_t> slots(cached);
      for (int64_t p = 0; p < cached; ++p) slots[p] = slot_of(s, p);
      WriteKv(ctx, k_all[s].data(), v_all[s].data(), cached, slots.data(), cache);
    }
    // This step: one flat WriteKv for every sequence's new tokens, plus a padding token.
    std::vector<float> k_new, v_new;
    std::vector<int64_t> slots;
    for (int s = 0; s < n_seqs; ++s) {
      for (int64_t p = seqs[s].seq_len - seqs[s].q_len; p < seqs[s].seq_len; ++p) {
        k_new.insert(k_new.end(), k_all[s].begin() + p * row, k_all[s].begin() + (p + 1) * row);
        v_new.insert(v_new.end(), v_all[s].begin() + p * row, v_all[s].begin() + (p + 1) * row);
        slots.push_back(slot_of(s, p));
      }
    }
    k_new.resize(k_new.size() + row, 1e30f);
    v_new.resize(v_new.size() + row, 1e30f);
    slots.push_back(-1);  // skipped
    WriteKv(ctx, k_new.data(), v_new.data(), static_cast<int64_t>(slots.size()), slots.data(), cache);

    // The cache holds exactly the converted values.
    for (int s = 0; s < n_seqs; ++s) {
      for (int64_t p = 0; p < seqs[s].seq_len; ++p) {
        for (int64_t i = 0; i < row; ++i) {
          const KvType t = sh.type;
          auto stored = [t](float f) {
            if (t == KvType::kF16) return Fp16ToFloat(FloatToFp16(f));
            if (t == KvType::kBF16) return Bf16ToFloat(FloatToBf16(f));
            return f;
          };
          const int kvh = static_cast<int>(i / sh.head_dim), dim = static_cast<int>(i % sh.head_dim);
          ASSERT_EQ(CacheValue(kc.data(), t, k_elem_of(slot_of(s, p), kvh, dim)), stored(k_all[s][p * row + i]))
              << "K: seq " << s << " pos " << p;
          ASSERT_EQ(CacheValue(vc.data(), t, v_elem_of(slot_of(s, p), kvh, dim)), stored(v_all[s][p * row + i]))
              << "V: seq " << s << " pos " << p;
        }
      }
    }

    AttentionBatch batch;
    batch.q = q.data();
    batch.n_tokens = n_tokens;
    batch.n_heads = sh.n_heads;
    batch.n_seqs = n_seqs;
    batch.query_start = query_start.data();
    batch.seq_len = seq_len.data();
    batch.block_table = table.data();
    batch.max_blocks_per_seq = max_blocks;
    batch.scale = 1.0f / std::sqrt(static_cast<float>(sh.head_dim));
    batch.window = window;
    batch.softcap = softcap;
    if (!trees.empty()) batch.tree_mask = tree_mask.data();
    std::vector<float> out(q.size(), NAN);
    Attention(ctx, batch, cache, out.data());

    // Naive dense attention over the values as stored.
    const int group = sh.n_heads / sh.n_kv_heads;
    double vmax = 0;
    for (auto& v : v_all) for (float f : v) vmax = std::max(vmax, static_cast<double>(std::fabs(f)));
    for (int s = 0; s < n_seqs; ++s) {
      for (int i = 0; i < seqs[s].q_len; ++i) {
        const int64_t tok = query_start[s] + i;
        const int64_t pos = seqs[s].seq_len - seqs[s].q_len + i;
        const int64_t step_start = seqs[s].seq_len - seqs[s].q_len;
        const uint64_t tm = tree_mask[tok];
        auto visible = [&](int64_t p) { return tm == 0 || p < step_start || ((tm >> (p - step_start)) & 1) != 0; };
        for (int h = 0; h < sh.n_heads; ++h) {
          const int kvh = h / group;
          const int64_t first = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
          std::vector<double> sc(pos + 1, 0.0);
          double mx = -INFINITY;
          for (int64_t p = first; p <= pos; ++p) {
            if (!visible(p)) continue;
            double dot = 0;
            for (int d = 0; d < sh.head_dim; ++d) {
              dot += static_cast<double>(q[(tok * sh.n_heads + h) * sh.head_dim + d]) *
                     CacheValue(kc.data(), sh.type, k_elem_of(slot_of(s, p), kvh, d));
            }
            sc[p] = dot * batch.scale;
            if (softcap > 0) sc[p] = softcap * std::tanh(sc[p] / softcap);
            mx = std::max(mx, sc[p]);
          }
          double sum = 0;
          for (int64_t p = first; p <= pos; ++p) sum += (sc[p] = visible(p) ? std::exp(sc[p] - mx) : 0.0);
          for (int d = 0; d < sh.head_dim; ++d) {
            double acc = 0;
            for (int64_t p = first; p <= pos; ++p) {
              if (!visible(p)) continue;
              acc += sc[p] * CacheValue(vc.data(), sh.type, v_elem_of(slot_of(s, p), kvh, d));
            }
            ASSERT_NEAR(out[(tok * sh.n_heads + h) * sh.head_dim + d], acc / sum, 2e-5 * vmax)
                << "seq " << s << " query " << i << " head " << h << " dim " << d;
          }
        }
      }
    }
    // Every ISA also agrees with the scalar table's result.
    if (isa == Isa::kScalar) {
      ref_out = out;
    } else {
      for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], ref_out[i], 2e-5 * vmax);
    }
  }
}

const std::vector<Seq> kMixed = {
    {1, 1},    // first token of a new sequence
    {37, 1},   // decode, partial last block
    {80, 5},   // chunked prefill continuing from 75 cached tokens
    {16, 16},  // whole prefill filling exactly one block
    {50, 23},  // chunk crossing blocks
};

TEST(AttentionTest, GqaF16) { RunCase({6, 2, 64, 16, KvType::kF16}, kMixed, 1); }

// Token trees (speculative decoding): each tree row sees the cached prefix and its own
// ancestors only. Trees of 1..64 rows beside causal sequences (decode, chunked prefill) in
// one batch; a tree crossing a block and a span boundary (the prefix of 60 ends inside
// the first 64-position span); a 64-row tree of two chains and a wide top-2 tree.
TEST(AttentionTest, TokenTrees) {
  // Top-2 branching, SpecInfer-like: node i's parent (i - 1) / 2.
  std::vector<int> wide(31);
  for (int i = 0; i < 31; ++i) wide[static_cast<size_t>(i)] = i == 0 ? -1 : (i - 1) / 2;
  std::vector<int> two_chains(64);  // two roots, each a chain of 32, interleaved
  for (int i = 0; i < 64; ++i) two_chains[static_cast<size_t>(i)] = i < 2 ? -1 : i - 2;
  const std::vector<Seq> seqs = {{37, 1}, {60 + 31, 31}, {80, 5}, {3 + 64, 64}, {12 + 5, 5}, {1, 1}};
  const TreeParents trees = {{}, wide, {}, two_chains, {-1, 0, 0, 1, 2}, {-1}};
  RunCase({6, 2, 64, 16, KvType::kF16}, seqs, 21, 0, 0, trees);
  RunCase({4, 1, 40, 5, KvType::kF32}, seqs, 22, 0, 0, trees);
  RunCase({6, 3, 64, 24, KvType::kBF16}, seqs, 23, 0, 30.0f, trees);
  // A long prefix (split over KV chunks) under a tree.
  RunCase({6, 2, 64, 16, KvType::kF16}, {{2500 + 7, 7}}, 24, 0, 0, {{-1, 0, 0, 1, 1, 2, 5}});
}

// A chain-shaped tree (every row's parent the row before) is causal attention.
TEST(AttentionTest, ChainTreeIsCausal) {
  RunCase({6, 2, 64, 16, KvType::kF16}, {{80, 9}}, 25, 0, 0, {{-1, 0, 1, 2, 3, 4, 5, 6, 7}});
}

// Windows shorter than a span, across spans and blocks, and longer than every sequence
// (the same as none); with decode, chunked prefill and whole prefill in one batch.
TEST(AttentionTest, SlidingWindow) {
  for (int32_t window : {1, 7, 16, 40, 70, 1000}) {
    RunCase({6, 2, 64, 16, KvType::kF16}, kMixed, 9, window);
    RunCase({6, 2, 40, 5, KvType::kF32}, kMixed, 10, window);
  }
  RunCase({4, 2, 40, 16, KvType::kBF16}, {{2100, 45}, {1025, 1}}, 11, 600);  // windows across KV chunks
}

TEST(AttentionTest, SoftCappedScores) {
  RunCase({6, 2, 64, 16, KvType::kF16}, kMixed, 12, 0, 50.0f);
  RunCase({6, 2, 64, 16, KvType::kF16}, kMixed, 13, 0, 0.5f);  // a cap the scores reach: tanh saturates
  RunCase({6, 3, 64, 24, KvType::kBF16}, kMixed, 14, 20, 30.0f);  // with a window (Gemma 2's local layers)
}
TEST(AttentionTest, GqaF32OddBlockSize) { RunCase({6, 2, 40, 5, KvType::kF32}, kMixed, 2); }
// 24 tokens per block: some of a span's 16-position runs lie in one block (one vector
// load of K), others straddle two (gathered one value at a time).
TEST(AttentionTest, GqaBf16BlocksOf24) { RunCase({6, 3, 64, 24, KvType::kBF16}, kMixed, 6); }
TEST(AttentionTest, MqaBf16) { RunCase({4, 1, 72, 16, KvType::kBF16}, kMixed, 3); }
// DeepSeek's latent attention: every head reads one 576-wide KV row (latent 512 + rope 64),
// 16 query heads per KV head (V2-Lite; V3 has 128), over decode, prefill and long contexts.
TEST(AttentionTest, LatentRowsMqa576) {
  RunCase({16, 1, 576, 16, KvType::kF16}, kMixed, 15);
  RunCase({16, 1, 576, 16, KvType::kF16}, {{1100, 1}, {64, 8}}, 16);  // past a KV chunk; sized for ASan
}
TEST(AttentionTest, MhaF16LongBlocks) { RunCase({2, 2, 128, 64, KvType::kF16}, {{200, 3}, {130, 130}}, 4); }
TEST(AttentionTest, SingleDecodeToken) { RunCase({8, 8, 64, 16, KvType::kF16}, {{123, 1}}, 5); }
// Past kKvChunk positions: states of several chunks folded, in one tile (the prefill) and
// across the pieces of split tiles (a lone decode token: 2 tiles for a 2-thread pool).
TEST(AttentionTest, LongDecodeSplitIntoChunks) { RunCase({6, 2, 64, 16, KvType::kF16}, {{2500, 1}}, 7); }
TEST(AttentionTest, LongPrefillOverChunks) { RunCase({4, 2, 40, 16, KvType::kBF16}, {{2100, 45}, {1025, 1}}, 8); }

// The tiny trained models' head dims (TinyLLama-v0's 4 over 16 KV heads, stories260K's 8
// at GQA 2): the values step packs V rows into one vector (AVX-512: 4 or 2 rows, AVX2:
// 2 rows at head dim 4). Blocks of 5: a vector's rows across blocks (staged).
TEST(AttentionTest, HeadDims4And8) {
  RunCase({16, 16, 4, 16, KvType::kF16}, kMixed, 21);
  RunCase({8, 4, 8, 16, KvType::kBF16}, kMixed, 22);
  RunCase({8, 4, 8, 5, KvType::kF32}, {{200, 1}, {130, 7}, {66, 66}}, 23);
  RunCase({16, 16, 4, 16, KvType::kF16}, {{1500, 1}, {700, 5}}, 24);
}

// KernelTable::attention promises that a query's result does not depend on the tile it
// comes in (the engine's batch invariance rests on it): the tiles Attention cuts (many
// tokens x a KV head's heads, sharing spans; pieces of split tiles when there are few)
// against one whole tile per query, bit for bit.
struct InvarianceCase {
  int32_t q_len, seq_len;
  bool expect_split;  // whether Attention's plan splits tiles for a 2-thread pool
  int32_t window = 0;
  float softcap = 0.0f;
  KvType type = KvType::kF16;
  int heads = 6, kv_heads = 2, dim = 40;
  KvType v_type = KvType::kF32;  // V's type when `mixed` (K: type)
  bool mixed = false;
  int block = 16;
};

void CheckQueryResultDoesNotDependOnItsTile(const InvarianceCase& c) {
  SCOPED_TRACE(::testing::Message() << c.q_len << " queries over " << c.seq_len << " positions, window " << c.window
                                    << ", softcap " << c.softcap << ", " << KvTypeName(c.type) << ","
                                    << KvTypeName(c.mixed ? c.v_type : c.type) << ", heads " << c.heads << "/"
                                    << c.kv_heads << " x " << c.dim << ", blocks of " << c.block);
  const int kHeads = c.heads, kKvHeads = c.kv_heads, kDim = c.dim, kBlock = c.block;
  const KvType v_type = c.mixed ? c.v_type : c.type;
  const int32_t q_len = c.q_len, seq_len = c.seq_len;
  const int blocks = (seq_len + kBlock - 1) / kBlock;
  std::mt19937 rng(11);
  const int64_t row = int64_t{kKvHeads} * kDim;
  const auto k = RandomFloats(rng, seq_len * row), v = RandomFloats(rng, seq_len * row);
  auto q = RandomFloats(rng, int64_t{q_len} * kHeads * kDim);
  for (float& f : q) f *= 4.0f;  // peaked softmaxes: chunks' maxima differ
  std::vector<int32_t> table(blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  std::vector<int64_t> slots(seq_len);
  for (int64_t p = 0; p < seq_len; ++p) slots[p] = int64_t{table[p / kBlock]} * kBlock + p % kBlock;
  const int32_t query_start[2] = {0, q_len};
  AttentionBatch batch;
  batch.q = q.data();
  batch.n_tokens = q_len;
  batch.n_heads = kHeads;
  batch.n_seqs = 1;
  batch.query_start = query_start;
  batch.seq_len = &seq_len;
  batch.block_table = table.data();
  batch.max_blocks_per_seq = blocks;
  batch.scale = 0.15f;
  batch.window = c.window;
  batch.softcap = c.softcap;
  IsaContexts ctxs;
  ThreadPool pool(2);
  for (Isa isa : ctxs.isas) {
    SCOPED_TRACE(IsaName(isa));
    KvCacheView cache{nullptr, nullptr, c.type, v_type, blocks, kBlock, kKvHeads, kDim};
    std::vector<uint8_t> kc(static_cast<size_t>(blocks * cache.KBlockBytes())), vc(static_cast<size_t>(blocks * cache.VBlockBytes()));
    cache.k = kc.data();
    cache.v = vc.data();
    WriteKv(ctxs.For(isa), k.data(), v.data(), seq_len, slots.data(), cache);
    const bool splits = GetKernelTable(isa)->attention_takes_pieces && c.expect_split;
    EXPECT_EQ(splits, !PlanAttention(ctxs.For(isa, &pool), batch, cache).split.empty());
    std::vector<float> tiled(q.size(), NAN), alone(q.size(), NAN);
    Attention(ctxs.For(isa, &pool), batch, cache, tiled.data());
    for (int32_t tok = 0; tok < q_len; ++tok) {
      for (int h = 0; h < kHeads; ++h) {
        const AttentionTile one{0, tok, tok + 1, h, h + 1};
        GetKernelTable(isa)->attention(batch, cache, alone.data(), &one, 1);
      }
    }
    ASSERT_EQ(0, std::memcmp(tiled.data(), alone.data(), tiled.size() * sizeof(float)));
  }
}

TEST(AttentionTest, QueryResultDoesNotDependOnItsTile) {
  CheckQueryResultDoesNotDependOnItsTile({70, 150, false});   // 80 cached positions, then a 70-token chunk
  CheckQueryResultDoesNotDependOnItsTile({70, 1100, false});   // the same across kKvChunk boundaries
  CheckQueryResultDoesNotDependOnItsTile({1, 2500, true});    // a decode token: 2 tiles, split in 2 pieces each
  CheckQueryResultDoesNotDependOnItsTile({3, 2100, true});    // pieces of a tile of several tokens
  // Sliding windows: whole chunks outside a query's window (pieces that see nothing of it)
  // and windows that start inside a span; soft-capped scores.
  CheckQueryResultDoesNotDependOnItsTile({1, 2500, true, 700});
  CheckQueryResultDoesNotDependOnItsTile({3, 2100, true, 1030, 30.0f});
  CheckQueryResultDoesNotDependOnItsTile({70, 1100, false, 37});
  CheckQueryResultDoesNotDependOnItsTile({70, 150, false, 0, 20.0f});
  // Quantised caches: staged spans (many queries) and in-place reads (one) give the same
  // values (head_dim 40: one scale per row, a SIMD tail).
  for (KvType t : {KvType::kQ8, KvType::kFp8, KvType::kQ4, KvType::kBF16, KvType::kF32}) {
    CheckQueryResultDoesNotDependOnItsTile({70, 1100, false, 0, 0.0f, t});
    CheckQueryResultDoesNotDependOnItsTile({1, 2500, true, 0, 0.0f, t});
    CheckQueryResultDoesNotDependOnItsTile({3, 2100, true, 1030, 30.0f, t});
  }
  // Real head shapes: decode passes of a whole GQA group read in place (4 and 8 queries,
  // head_dim 64 and 128) against the same queries one at a time and in staged tiles
  // (verification: 5 tokens x the group). A decode token's tiles take several KV heads
  // each (split in pieces: 3 chunks cannot feed 2 threads otherwise).
  for (KvType t : {KvType::kF16, KvType::kQ8, KvType::kQ4}) {
    CheckQueryResultDoesNotDependOnItsTile({1, 2500, true, 0, 0.0f, t, 32, 8, 64});
    CheckQueryResultDoesNotDependOnItsTile({5, 1000, false, 0, 0.0f, t, 32, 8, 64});
    CheckQueryResultDoesNotDependOnItsTile({1, 1500, true, 0, 0.0f, t, 16, 2, 128});
  }
  // Head dims with a tail of 4 (TinyLLama-v0's 4; 12): V rows read in place to their last
  // value (AVX2) or staged (kQ4), against staged tiles and passes of other sizes.
  for (KvType t : {KvType::kF16, KvType::kBF16, KvType::kF32, KvType::kQ8, KvType::kFp8, KvType::kQ4}) {
    CheckQueryResultDoesNotDependOnItsTile({5, 700, false, 0, 0.0f, t, 16, 16, 4});
    CheckQueryResultDoesNotDependOnItsTile({70, 300, false, 0, 0.0f, t, 8, 2, 12});
    CheckQueryResultDoesNotDependOnItsTile({1, 1200, true, 0, 0.0f, t, 8, 2, 12});
  }
  // Head dims 4 and 8 (the values step packs V rows into a vector: AVX-512 4 or 2,
  // AVX2 2 at head dim 4): staged spans (70 tokens) and in place (1 and 5 tokens) against
  // one query at a time in place; blocks of 5 (a vector's rows across blocks: staged either
  // way) against passes of other sizes.
  for (KvType t : {KvType::kF16, KvType::kBF16, KvType::kF32, KvType::kQ8, KvType::kFp8, KvType::kQ4}) {
    CheckQueryResultDoesNotDependOnItsTile({70, 300, false, 0, 0.0f, t, 16, 16, 4});
    CheckQueryResultDoesNotDependOnItsTile({70, 300, false, 0, 0.0f, t, 8, 4, 8});
    CheckQueryResultDoesNotDependOnItsTile({5, 700, false, 0, 0.0f, t, 8, 4, 8});
    CheckQueryResultDoesNotDependOnItsTile({1, 1200, true, 0, 0.0f, t, 8, 4, 8});
  }
  CheckQueryResultDoesNotDependOnItsTile({70, 300, false, 0, 0.0f, KvType::kF16, 8, 4, 8, KvType::kF16, false, 5});
  CheckQueryResultDoesNotDependOnItsTile({70, 300, false, 0, 0.0f, KvType::kF16, 16, 16, 4, KvType::kF16, false, 5});
  // K and V of different types (the in-place pairs, and q4/q8, staged), head_dims 64 and
  // 12 (a V tail); blocks of 24 (runs of 8 positions that cross a block: K gathered one
  // value at a time, against vector loads in place for the query alone).
  const std::pair<KvType, KvType> pairs[] = {{KvType::kQ8, KvType::kQ4},  {KvType::kFp8, KvType::kQ4},
                                             {KvType::kF16, KvType::kQ4}, {KvType::kF16, KvType::kQ8},
                                             {KvType::kQ4, KvType::kQ8}};
  for (const auto& [k, v] : pairs) {
    CheckQueryResultDoesNotDependOnItsTile({5, 1000, false, 0, 0.0f, k, 32, 8, 64, v, true});
    CheckQueryResultDoesNotDependOnItsTile({70, 300, false, 0, 0.0f, k, 8, 2, 12, v, true});
  }
  for (KvType t : {KvType::kF16, KvType::kQ8}) {
    CheckQueryResultDoesNotDependOnItsTile({70, 1100, false, 0, 0.0f, t, 32, 8, 64, t, false, 24});
    CheckQueryResultDoesNotDependOnItsTile({1, 1100, true, 0, 0.0f, t, 32, 8, 64, t, false, 24});
  }
}

// How PlanAttention cuts one sequence's decode token (32 heads over 8 KV heads) for a
// 2-thread pool: as many KV heads per tile as still leave 4 pieces of work (a tile reads
// its heads' slabs of each block one after the other: the block front to back).
TEST(AttentionTest, DecodePlanTakesManyKvHeadsPerTile) {
  struct Want {
    int32_t seq_len;
    int tiles, kv_heads_per_tile;
    bool split;
  };
  for (const Want& w : {Want{4096, 4, 8, true}, Want{2500, 6, 4, true}, Want{1500, 4, 4, true},
                        Want{500, 4, 2, false}, Want{16, 4, 2, false}}) {
    SCOPED_TRACE(w.seq_len);
    const int blocks = (w.seq_len + 15) / 16;
    std::vector<int32_t> table(blocks);
    std::iota(table.begin(), table.end(), 0);
    std::vector<float> q(32 * 64, 0.5f);
    const int32_t query_start[2] = {0, 1};
    AttentionBatch batch;
    batch.q = q.data();
    batch.n_tokens = 1;
    batch.n_heads = 32;
    batch.n_seqs = 1;
    batch.query_start = query_start;
    batch.seq_len = &w.seq_len;
    batch.block_table = table.data();
    batch.max_blocks_per_seq = blocks;
    const KvCacheView cache{nullptr, nullptr, KvType::kF16, KvType::kF16, blocks, 16, 8, 64};
    IsaContexts ctxs;
    ThreadPool pool(2);
    for (Isa isa : ctxs.isas) {
      if (!GetKernelTable(isa)->attention_takes_pieces) continue;
      SCOPED_TRACE(IsaName(isa));
      const AttentionPlan plan = PlanAttention(ctxs.For(isa, &pool), batch, cache);
      EXPECT_EQ(static_cast<size_t>(w.tiles), plan.tiles.size());
      EXPECT_EQ(w.split, !plan.split.empty());
      for (const AttentionTile& t : plan.tiles) EXPECT_EQ(w.kv_heads_per_tile * 4, t.head_end - t.head_begin);
    }
    // One thread: one tile of every head.
    const AttentionPlan alone = PlanAttention(ctxs.For(ctxs.isas.back()), batch, cache);
    ASSERT_EQ(1u, alone.tiles.size());
    EXPECT_EQ(32, alone.tiles[0].head_end - alone.tiles[0].head_begin);
  }
}

}  // namespace
}  // namespace weft::kernels
