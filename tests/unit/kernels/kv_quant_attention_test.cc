// The quantised KV cache types (kernels/kv_type.h: q8, fp8, q4): their codecs, WriteKv into the
// paged layout, and paged Attention on every ISA at real shapes (head_dim 64, 96, 128, GQA,
// depths up to 4096, batches of 1 to 64), against float64 references:
//  (a) over the values as stored, decoded here from the layout ops.h documents: tight
//      (f32 accumulation only); it checks the kernels' arithmetic and their reading of codes
//      and scales;
//  (b) over the original f32 K and V, with a tolerance derived from the quantisation step:
//      each stored element's error is bounded (q8: half its group's scale; fp8: 2^-4 of the
//      value, or half the subnormal step 2^-9 x scale; q4: half a step |scale|, or for the
//      values past +7.5 steps that clamp to code 15, x / scale - 7 steps), so a score moves by at most
//      delta = scale x sum_i |q_i| e_k(i), the softmax weights by a factor within
//      exp(+-2 delta), and an output by at most (exp(2 delta) - 1) max|v| + max e_v.
// Also batch invariance: a sequence's rows in a batch of many equal, bit for bit, its rows
// computed alone (the engine's batch invariance rests on it).
// The data has a different magnitude in every (token, head, group of 32), so that a
// scale read from the wrong place cannot pass.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>

#include "base/thread_pool.h"
#include "kernel_test_util.h"
#include "kernels/kernel_table.h"
#include "kernels/kv_type.h"

namespace weft::kernels {
namespace {

using testing::IsaContexts;

// ---- codecs ---------------------------------------------------------------------------

TEST(KvQuantCodecTest, Fp8E4M3KnownValues) {
  EXPECT_EQ(Fp8E4M3ToFloat(0x00), 0.0f);
  EXPECT_EQ(Fp8E4M3ToFloat(0x38), 1.0f);          // exponent 7 = bias
  EXPECT_EQ(Fp8E4M3ToFloat(0x7E), 448.0f);        // the largest finite
  EXPECT_EQ(Fp8E4M3ToFloat(0x01), 0x1p-9f);       // the smallest subnormal
  EXPECT_EQ(Fp8E4M3ToFloat(0x08), 0x1p-6f);       // the smallest normal
  EXPECT_EQ(Fp8E4M3ToFloat(0xB8), -1.0f);
  EXPECT_EQ(FloatToFp8E4M3(1000.0f), 0x7E);       // saturates
  EXPECT_EQ(FloatToFp8E4M3(-1000.0f), 0xFE);
  EXPECT_EQ(FloatToFp8E4M3(1.0625f), 0x38);       // halfway 1 .. 1.125: ties to even (1.0)
  EXPECT_EQ(FloatToFp8E4M3(1.1875f), 0x3A);       // halfway 1.125 .. 1.25: to 1.25 (even)
  EXPECT_EQ(FloatToFp8E4M3(0x1p-10f), 0x00);      // half the smallest subnormal: to even (0)
  EXPECT_EQ(FloatToFp8E4M3(0x1.8p-10f), 0x01);
}

TEST(KvQuantCodecTest, Fp8EveryCodeRoundTripsAndDecodesAsTheKernelsDo) {
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7F) == 0x7F) continue;  // NaN codes: never written
    const uint8_t code = static_cast<uint8_t>(c);
    const float v = Fp8E4M3ToFloat(code);
    if (v == 0.0f) {
      EXPECT_EQ(FloatToFp8E4M3(v) & 0x7F, 0) << c;
    } else {
      EXPECT_EQ(FloatToFp8E4M3(v), code) << c;
    }
    // The kernels' f16-pattern path: code value x 2^-8, exactly.
    EXPECT_EQ(KvCodeValue(KvType::kFp8, code) * 256.0f, v) << c;
  }
}

TEST(KvQuantCodecTest, Fp8RoundsToTheNearestCode) {
  std::vector<float> values;
  for (int c = 0; c <= 0x7E; ++c) values.push_back(Fp8E4M3ToFloat(static_cast<uint8_t>(c)));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> expo(-12.0f, 9.0f);
  for (int n = 0; n < 20000; ++n) {
    const float x = std::exp2(expo(rng)) * (n % 2 ? -1.0f : 1.0f);
    const float got = Fp8E4M3ToFloat(FloatToFp8E4M3(x));
    float best = 448.0f;
    for (float v : values) best = std::min(best, std::fabs(std::fabs(x) - v));
    ASSERT_EQ(std::fabs(std::fabs(x) - std::fabs(got)), best) << x;
    ASSERT_EQ(std::signbit(got) || got == 0.0f, std::signbit(x) || got == 0.0f) << x;
  }
}

// The per-element error bound of a stored value (see the file comment), plus the f32
// rounding of the quantiser's x / scale and of the decoder's code x scale (a few units in
// the last place of values up to 448 x scale).
double ElementBound(KvType t, double x, double scale) {
  if (t == KvType::kF16) return std::fabs(x) * 0x1p-11 + 0x1p-25;  // round to nearest f16 (subnormals: 2^-25)
  const double f32_rounding = 0x1p-22 * (std::fabs(x) + 448.0 * scale);
  if (t == KvType::kQ8) return 0.5 * scale + f32_rounding;
  if (t == KvType::kQ4) {
    const double steps = scale != 0.0 ? x / scale : 0.0;  // the scale is negative half the time
    return (steps > 7.5 ? steps - 7.0 : 0.5) * std::fabs(scale) + 0x1p-22 * (std::fabs(x) + 8.0 * std::fabs(scale));
  }
  return std::max(std::fabs(x) * 0x1p-4, scale * 0x1p-10) + f32_rounding;
}

TEST(KvQuantCodecTest, QuantizeKvRowStaysWithinHalfAStep) {
  std::mt19937 rng(7);
  for (KvType t : {KvType::kQ8, KvType::kFp8, KvType::kQ4}) {
    for (int n : {128, 96, 64, 40, 8, 4}) {
      const int group = KvQuantGroup(n);
      std::vector<float> x(n);
      std::vector<uint8_t> codes(n);
      std::vector<uint16_t> scales(n / group * 3);
      for (int rep = 0; rep < 200; ++rep) {
        std::normal_distribution<float> nd(0.0f, std::exp2(static_cast<float>(rep % 13) - 6.0f));
        for (float& f : x) f = nd(rng);
        if (rep % 7 == 0) x[rep % n] = 0.0f;
        QuantizeKvRow(t, x.data(), n, codes.data(), scales.data(), 3);  // strided scales
        for (int i = 0; i < n; ++i) {
          const uint16_t s = scales[(i / group) * 3];
          const double got = KvDequant(t, KvCodeAt(t, codes.data(), i, 1), s);
          ASSERT_LE(std::fabs(got - x[i]), ElementBound(t, x[i], Fp16ToFloat(s)))
              << KvTypeName(t) << " n " << n << " i " << i << " x " << x[i];
        }
      }
    }
  }
}

// q4: the value of largest magnitude lands on code 0 (-8 steps) exactly, the others round
// to the nearest step, the opposite extreme clamps to code 15 (+7 steps), pairs pack low
// nibble first, and a zero group stays zero.
TEST(KvQuantCodecTest, Q4KnownValues) {
  float x[32] = {};
  x[0] = -4.0f;   // the extreme: scale = -4 / -8 = 0.5
  x[1] = 4.0f;    // +8 steps: clamps to +7 (3.5)
  x[2] = 1.2f;    // 2.4 steps: 2 (1.0)
  x[3] = -0.26f;  // -0.52 steps: -1 (-0.5)
  x[4] = 0.25f;   // 0.5 steps: ties to even, 0
  uint8_t codes[16];
  uint16_t scale;
  QuantizeKvRow(KvType::kQ4, x, 32, codes, &scale, 1);
  EXPECT_EQ(Fp16ToFloat(scale), 0.5f);
  EXPECT_EQ(codes[0], 0xF0);  // x[0] -> 0 (low nibble), x[1] -> 15 (high)
  EXPECT_EQ(codes[0] & 15, 0);
  EXPECT_EQ(codes[0] >> 4, 15);
  EXPECT_EQ(KvDequant(KvType::kQ4, KvCodeAt(KvType::kQ4, codes, 0, 1), scale), -4.0f);
  EXPECT_EQ(KvDequant(KvType::kQ4, KvCodeAt(KvType::kQ4, codes, 1, 1), scale), 3.5f);
  EXPECT_EQ(KvDequant(KvType::kQ4, KvCodeAt(KvType::kQ4, codes, 2, 1), scale), 1.0f);
  EXPECT_EQ(KvDequant(KvType::kQ4, KvCodeAt(KvType::kQ4, codes, 3, 1), scale), -0.5f);
  EXPECT_EQ(KvDequant(KvType::kQ4, KvCodeAt(KvType::kQ4, codes, 4, 1), scale), 0.0f);
  for (int i = 5; i < 32; ++i) EXPECT_EQ(KvCodeAt(KvType::kQ4, codes, i, 1), 8) << i;
  // A positive extreme gives a negative scale.
  x[0] = 8.0f;
  QuantizeKvRow(KvType::kQ4, x, 32, codes, &scale, 1);
  EXPECT_EQ(Fp16ToFloat(scale), -1.0f);
  EXPECT_EQ(KvDequant(KvType::kQ4, KvCodeAt(KvType::kQ4, codes, 0, 1), scale), 8.0f);
  float zero[8] = {};
  QuantizeKvRow(KvType::kQ4, zero, 8, codes, &scale, 1);
  EXPECT_EQ(Fp16ToFloat(scale), 0.0f);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(KvDequant(KvType::kQ4, KvCodeAt(KvType::kQ4, codes, i, 1), scale), 0.0f);
}

TEST(KvQuantCodecTest, NamesParse) {
  EXPECT_EQ(KvTypeFromName("Q8"), KvType::kQ8);
  EXPECT_EQ(KvTypeFromName("q8_0"), KvType::kQ8);
  EXPECT_EQ(KvTypeFromName("fp8"), KvType::kFp8);
  EXPECT_EQ(KvTypeFromName("bf16"), KvType::kBF16);
  EXPECT_EQ(KvTypeFromName("q4"), KvType::kQ4);
  EXPECT_EQ(KvTypeFromName("Q4_0"), KvType::kQ4);
  EXPECT_FALSE(KvTypeFromName("q4_1").has_value());
  EXPECT_EQ(KvRowBytes(KvType::kQ8, 128), 128 + 8);
  EXPECT_EQ(KvRowBytes(KvType::kQ4, 128), 64 + 8);  // 4.5 bits a value
  EXPECT_EQ(KvRowBytes(KvType::kQ4, 8), 4 + 2);
  EXPECT_EQ(KvRowBytes(KvType::kF16, 128), 256);
  EXPECT_EQ(KvRowBytes(KvType::kFp8, 8), 8 + 2);
}

// ---- attention ------------------------------------------------------------------------

struct Seq {
  int32_t seq_len;  // KV tokens after this step
  int32_t q_len;    // this step's queries (the last q_len positions)
};

struct Shape {
  int n_heads, n_kv_heads, head_dim, block_size;
};

// The cache layout of ops.h, decoded here on its own: a (block, KV head) slab holds K codes
// [head_dim][block_size], K scales [groups][block_size]; V codes [block_size][head_dim], V
// scales [block_size][groups].
// q4: code rows hold two dimensions each (c = head_dim / 2 rows of K, V rows of c bytes),
// the even dimension in the low nibble. K and V have their own types, so their own slabs.
struct Layout {
  Shape sh;
  int groups;
  KvType kt, vt;
  // Also F16 (mixed with a quantised type): 2 bytes a value, no scales.
  static int CodeRows(KvType t, int hd) { return t == KvType::kQ4 ? hd / 2 : hd; }
  int64_t Slab(KvType t) const {
    if (t == KvType::kF16) return int64_t{sh.block_size} * sh.head_dim * 2;
    return int64_t{sh.block_size} * (CodeRows(t, sh.head_dim) + 2 * groups);
  }
  static double F16At(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return Fp16ToFloat(h);
  }
  int64_t SlabOf(KvType t, int64_t slot, int kvh) const { return (slot / sh.block_size * sh.n_kv_heads + kvh) * Slab(t); }
  static uint8_t Pick(uint8_t byte, KvType t, int i) {
    if (t != KvType::kQ4) return byte;
    return (i % 2) ? static_cast<uint8_t>(byte >> 4) : static_cast<uint8_t>(byte & 15);
  }
  double KScale(const uint8_t* k, int64_t slot, int kvh, int i) const {
    if (kt == KvType::kF16) return 0;
    const int64_t in = slot % sh.block_size, base = SlabOf(kt, slot, kvh);
    uint16_t s;
    std::memcpy(&s, k + base + int64_t{sh.block_size} * CodeRows(kt, sh.head_dim) + (int64_t{i / (sh.head_dim / groups)} * sh.block_size + in) * 2, 2);
    return Fp16ToFloat(s);
  }
  double K(const uint8_t* k, int64_t slot, int kvh, int i) const {
    const int64_t in = slot % sh.block_size, base = SlabOf(kt, slot, kvh);
    if (kt == KvType::kF16) return F16At(k + base + (int64_t{i} * sh.block_size + in) * 2);
    const int row = kt == KvType::kQ4 ? i / 2 : i;
    const uint8_t code = Pick(k[base + int64_t{row} * sh.block_size + in], kt, i);
    return KvCodeValue(kt, code) * static_cast<float>(KScaleFactorOf(kt, KScale(k, slot, kvh, i)));
  }
  double VScale(const uint8_t* v, int64_t slot, int kvh, int i) const {
    if (vt == KvType::kF16) return 0;
    const int64_t in = slot % sh.block_size, base = SlabOf(vt, slot, kvh);
    uint16_t s;
    std::memcpy(&s, v + base + int64_t{sh.block_size} * CodeRows(vt, sh.head_dim) + (in * groups + i / (sh.head_dim / groups)) * 2, 2);
    return Fp16ToFloat(s);
  }
  double V(const uint8_t* v, int64_t slot, int kvh, int i) const {
    const int64_t in = slot % sh.block_size, base = SlabOf(vt, slot, kvh);
    if (vt == KvType::kF16) return F16At(v + base + (in * sh.head_dim + i) * 2);
    const int cr = CodeRows(vt, sh.head_dim);
    const uint8_t code = Pick(v[base + in * cr + (vt == KvType::kQ4 ? i / 2 : i)], vt, i);
    return KvCodeValue(vt, code) * static_cast<float>(KScaleFactorOf(vt, VScale(v, slot, kvh, i)));
  }
  // KvScaleFactor from the decoded f16 scale (exact: the scale is an f16 value).
  static double KScaleFactorOf(KvType t, double scale) { return t == KvType::kFp8 ? scale * 256.0 : scale; }
};

// Random K or V rows [n, n_kv_heads * head_dim] with a magnitude of its own (2^-3 .. 2^3)
// per token, head and group of 32.
std::vector<float> VariedRows(std::mt19937& rng, int64_t n, int n_kv_heads, int head_dim) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> e(-3, 3);
  std::vector<float> x(static_cast<size_t>(n * n_kv_heads * head_dim));
  for (size_t i = 0; i < x.size(); i += 32) {
    const float m = std::exp2(static_cast<float>(e(rng)));
    for (size_t j = i; j < std::min(x.size(), i + 32); ++j) x[j] = nd(rng) * m;
  }
  return x;
}

struct CaseResult {
  std::vector<float> out;
};

// Runs one flat batch on every ISA with `threads` compute threads, checks (a) and (b) above
// and, for the sequences in `alone`, batch invariance.
void RunCase(KvTypes types, const Shape& sh, const std::vector<Seq>& seqs, uint32_t seed, int threads,
             const std::vector<int>& alone) {
  SCOPED_TRACE(::testing::Message() << KvTypeName(types) << " heads " << sh.n_heads << "/" << sh.n_kv_heads
                                    << " head_dim " << sh.head_dim << " block " << sh.block_size << " batch "
                                    << seqs.size() << " threads " << threads);
  std::mt19937 rng(seed);
  IsaContexts ctxs;
  ThreadPool pool(threads);
  const int n_seqs = static_cast<int>(seqs.size());
  int max_blocks = 0, total_blocks = 0;
  for (const Seq& s : seqs) {
    const int nb = (s.seq_len + sh.block_size - 1) / sh.block_size;
    max_blocks = std::max(max_blocks, nb);
    total_blocks += nb;
  }
  const int num_blocks = total_blocks + 3;
  std::vector<int32_t> ids(num_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::shuffle(ids.begin(), ids.end(), rng);
  std::vector<int32_t> table(static_cast<size_t>(n_seqs) * max_blocks, -1);
  for (int s = 0, next = 0; s < n_seqs; ++s) {
    for (int j = 0; j < (seqs[s].seq_len + sh.block_size - 1) / sh.block_size; ++j) table[s * max_blocks + j] = ids[next++];
  }
  const int64_t row = int64_t{sh.n_kv_heads} * sh.head_dim;
  std::vector<std::vector<float>> k_all(n_seqs), v_all(n_seqs);
  for (int s = 0; s < n_seqs; ++s) {
    k_all[s] = VariedRows(rng, seqs[s].seq_len, sh.n_kv_heads, sh.head_dim);
    v_all[s] = VariedRows(rng, seqs[s].seq_len, sh.n_kv_heads, sh.head_dim);
  }
  std::vector<int32_t> query_start(n_seqs + 1, 0), seq_len(n_seqs);
  for (int s = 0; s < n_seqs; ++s) {
    query_start[s + 1] = query_start[s] + seqs[s].q_len;
    seq_len[s] = seqs[s].seq_len;
  }
  const int64_t n_tokens = query_start[n_seqs];
  const auto q = testing::RandomFloats(rng, static_cast<size_t>(n_tokens * sh.n_heads * sh.head_dim));
  auto slot_of = [&](int s, int64_t pos) {
    return int64_t{table[s * max_blocks + pos / sh.block_size]} * sh.block_size + pos % sh.block_size;
  };
  const int groups = sh.head_dim / KvQuantGroup(sh.head_dim);
  const Layout lay{sh, groups, types.k, types.v};

  for (Isa isa : ctxs.isas) {
    SCOPED_TRACE(IsaName(isa));
    const KernelContext ctx = ctxs.For(isa, &pool);
    KvCacheView cache{nullptr, nullptr, types.k, types.v, num_blocks, sh.block_size, sh.n_kv_heads, sh.head_dim};
    ASSERT_EQ(cache.KHeadBytes(), lay.Slab(types.k));
    ASSERT_EQ(cache.VHeadBytes(), lay.Slab(types.v));
    std::vector<uint8_t> kc(static_cast<size_t>(num_blocks * cache.KBlockBytes()), 0xFF),
        vc(static_cast<size_t>(num_blocks * cache.VBlockBytes()), 0xFF);
    cache.k = kc.data();
    cache.v = vc.data();
    // Earlier steps per sequence, then this step's tokens in one flat write (+ a skipped one).
    for (int s = 0; s < n_seqs; ++s) {
      const int64_t cached = seqs[s].seq_len - seqs[s].q_len;
      std::vector<int64_t> slots(static_cast<size_t>(cached));
      for (int64_t p = 0; p < cached; ++p) slots[p] = slot_of(s, p);
      WriteKv(ctx, k_all[s].data(), v_all[s].data(), cached, slots.data(), cache);
    }
    {
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
      slots.push_back(-1);
      WriteKv(ctx, k_new.data(), v_new.data(), static_cast<int64_t>(slots.size()), slots.data(), cache);
    }
    // Every stored element within its bound of the original; the stored values and the
    // bounds, decoded once, for the references below.
    std::vector<std::vector<double>> k_st(n_seqs), v_st(n_seqs), k_err(n_seqs), v_err(n_seqs);
    for (int s = 0; s < n_seqs; ++s) {
      const size_t n = static_cast<size_t>(seqs[s].seq_len * row);
      k_st[s].resize(n), v_st[s].resize(n), k_err[s].resize(n), v_err[s].resize(n);
      for (int64_t p = 0; p < seqs[s].seq_len; ++p) {
        for (int64_t i = 0; i < row; ++i) {
          const int kvh = static_cast<int>(i / sh.head_dim), dim = static_cast<int>(i % sh.head_dim);
          const int64_t slot = slot_of(s, p), e = p * row + i;
          const double k0 = k_all[s][e], v0 = v_all[s][e];
          k_st[s][e] = lay.K(kc.data(), slot, kvh, dim);
          v_st[s][e] = lay.V(vc.data(), slot, kvh, dim);
          k_err[s][e] = ElementBound(types.k, k0, lay.KScale(kc.data(), slot, kvh, dim));
          v_err[s][e] = ElementBound(types.v, v0, lay.VScale(vc.data(), slot, kvh, dim));
          ASSERT_LE(std::fabs(k_st[s][e] - k0), k_err[s][e]) << "K seq " << s << " pos " << p << " elem " << i;
          ASSERT_LE(std::fabs(v_st[s][e] - v0), v_err[s][e]) << "V seq " << s << " pos " << p << " elem " << i;
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
    std::vector<float> out(q.size(), NAN);
    Attention(ctx, batch, cache, out.data());

    const int group = sh.n_heads / sh.n_kv_heads;
    std::vector<double> sc_stored, sc_orig;
    double worst_a = 0, worst_b = 0;  // the largest error as a fraction of its tolerance
    for (int s = 0; s < n_seqs; ++s) {
      for (int i = 0; i < seqs[s].q_len; ++i) {
        const int64_t tok = query_start[s] + i;
        const int64_t pos = seqs[s].seq_len - seqs[s].q_len + i;
        for (int h = 0; h < sh.n_heads; ++h) {
          const int kvh = h / group;
          const float* qv = q.data() + (tok * sh.n_heads + h) * sh.head_dim;
          sc_stored.assign(pos + 1, 0.0);
          sc_orig.assign(pos + 1, 0.0);
          double mx_s = -INFINITY, mx_o = -INFINITY, delta = 0, ev = 0, vmax_o = 0, vmax_s = 0;
          for (int64_t p = 0; p <= pos; ++p) {
            double dot_s = 0, dot_o = 0, dk = 0;
            const int64_t e0 = p * row + int64_t{kvh} * sh.head_dim;
            for (int d = 0; d < sh.head_dim; ++d) {
              dot_s += qv[d] * k_st[s][e0 + d];
              dot_o += qv[d] * static_cast<double>(k_all[s][e0 + d]);
              dk += std::fabs(qv[d]) * k_err[s][e0 + d];
              ev = std::max(ev, v_err[s][e0 + d]);
              vmax_o = std::max(vmax_o, std::fabs(static_cast<double>(v_all[s][e0 + d])));
              vmax_s = std::max(vmax_s, std::fabs(v_st[s][e0 + d]));
            }
            sc_stored[p] = dot_s * batch.scale;
            sc_orig[p] = dot_o * batch.scale;
            delta = std::max(delta, dk * batch.scale);
            mx_s = std::max(mx_s, sc_stored[p]);
            mx_o = std::max(mx_o, sc_orig[p]);
          }
          double sum_s = 0, sum_o = 0;
          for (int64_t p = 0; p <= pos; ++p) {
            sum_s += (sc_stored[p] = std::exp(sc_stored[p] - mx_s));
            sum_o += (sc_orig[p] = std::exp(sc_orig[p] - mx_o));
          }
          const double tol_a = 2e-5 * vmax_s;
          const double tol_b = std::expm1(2 * delta) * vmax_o + ev + tol_a;
          for (int d = 0; d < sh.head_dim; ++d) {
            double acc_s = 0, acc_o = 0;
            for (int64_t p = 0; p <= pos; ++p) {
              const int64_t e = p * row + int64_t{kvh} * sh.head_dim + d;
              acc_s += sc_stored[p] * v_st[s][e];
              acc_o += sc_orig[p] * v_all[s][e];
            }
            const double got = out[(tok * sh.n_heads + h) * sh.head_dim + d];
            const double err_a = std::fabs(got - acc_s / sum_s), err_b = std::fabs(got - acc_o / sum_o);
            worst_a = std::max(worst_a, err_a / tol_a);
            worst_b = std::max(worst_b, err_b / tol_b);
            ASSERT_LE(err_a, tol_a) << "vs stored: seq " << s << " query " << i << " head " << h << " dim " << d;
            ASSERT_LE(err_b, tol_b) << "vs original: seq " << s << " query " << i << " head " << h << " dim " << d
                                    << " (delta " << delta << ")";
          }
        }
      }
    }
    ::testing::Test::RecordProperty(fmt::format("{}_{}_worst_fraction_of_tolerance", IsaName(isa), KvTypeName(types)),
                   fmt::format("{:.3g} / {:.3g}", worst_a, worst_b));

    // Batch invariance: sequence s alone (its block table row, its queries) gives the same bits.
    for (int s : alone) {
      const int32_t qs1[2] = {0, seqs[s].q_len};
      AttentionBatch one = batch;
      one.q = q.data() + int64_t{query_start[s]} * sh.n_heads * sh.head_dim;
      one.n_tokens = seqs[s].q_len;
      one.n_seqs = 1;
      one.query_start = qs1;
      one.seq_len = &seq_len[s];
      one.block_table = table.data() + int64_t{s} * max_blocks;
      std::vector<float> solo(static_cast<size_t>(seqs[s].q_len) * sh.n_heads * sh.head_dim, NAN);
      Attention(ctx, one, cache, solo.data());
      ASSERT_EQ(0, std::memcmp(solo.data(), out.data() + int64_t{query_start[s]} * sh.n_heads * sh.head_dim,
                               solo.size() * sizeof(float)))
          << "sequence " << s << " alone differs from its rows in the batch";
    }
  }
}

constexpr KvType kQuantTypes[] = {KvType::kQ8, KvType::kFp8, KvType::kQ4};

// Llama-3.2-1B's attention shape (32 heads / 8 KV heads, head_dim 64): 64 decoding
// sequences of 1 .. 400 positions, blocks of 16.
TEST(KvQuantAttentionTest, DecodeBatchOf64HeadDim64) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> len(1, 400);
  std::vector<Seq> seqs;
  for (int i = 0; i < 64; ++i) seqs.push_back({len(rng), 1});
  for (KvType t : kQuantTypes) RunCase(t, {32, 8, 64, 16}, seqs, 2, 4, {0, 17, 63});
}

// One sequence decoding at depth 4096 (split over KV chunks), head_dim 64 and 128.
TEST(KvQuantAttentionTest, DecodeAtDepth4096) {
  for (KvType t : kQuantTypes) {
    RunCase(t, {32, 8, 64, 16}, {{4096, 1}}, 3, 4, {});
    RunCase(t, {16, 4, 128, 16}, {{4096, 1}}, 4, 2, {});
  }
}

// Prefill chunks at depth (staged spans), next to decodes, head_dim 128, a batch of 8.
TEST(KvQuantAttentionTest, PrefillChunksAtDepthHeadDim128) {
  const std::vector<Seq> seqs = {{1100, 24}, {1, 1}, {300, 300}, {1030, 1}, {77, 40}, {16, 16}, {900, 3}, {33, 1}};
  for (KvType t : kQuantTypes) RunCase(t, {8, 2, 128, 16}, seqs, 5, 3, {0, 2, 6});
}

// head_dim 96 (three groups a row) at GQA 7:1 and 3:1, lengths on both sides of block
// boundaries (15, 16, 17, 31, 32, 33, 63, 64, 65 ...), prefill and decode mixed, batch of 12.
TEST(KvQuantAttentionTest, HeadDim96AcrossBlockBoundaries) {
  const std::vector<Seq> seqs = {{15, 1}, {16, 1}, {17, 2}, {31, 31}, {32, 1}, {33, 9},
                                 {63, 1}, {64, 64}, {65, 1}, {127, 5}, {129, 1}, {1025, 1}};
  for (KvType t : kQuantTypes) {
    RunCase(t, {14, 2, 96, 16}, seqs, 9, 3, {0, 5, 11});
    RunCase(t, {12, 4, 96, 16}, seqs, 10, 2, {3, 7});
  }
}

// K and V of different types (--kv-type K,V): the pairs with in-place AVX-512 and AVX2
// kernels (q8/q4, fp8/q4, f16/q4, f16/q8) and pairs that are always staged (q4/q8, q8/fp8);
// decode batch at depth, prefill chunks, head_dim 64 / 96 / 128.
TEST(KvQuantAttentionTest, MixedKAndVTypes) {
  const std::vector<Seq> seqs = {{1100, 24}, {1, 1}, {300, 40}, {1030, 1}, {77, 40}, {17, 1}, {900, 3}, {33, 1}};
  const KvTypes pairs[] = {{KvType::kQ8, KvType::kQ4},  {KvType::kFp8, KvType::kQ4}, {KvType::kF16, KvType::kQ4},
                           {KvType::kF16, KvType::kQ8}, {KvType::kQ4, KvType::kQ8},  {KvType::kQ8, KvType::kFp8}};
  // Every pair over short sequences across block boundaries (decode and a prefill chunk);
  // the long sequences and head dim 96 for one pair read in place (q8,q4) and one staged
  // (q4,q8), depth 4096 for the first (the sweep is sized for the sanitizer builds).
  const std::vector<Seq> short_seqs = {{1030, 1}, {1, 1}, {77, 40}, {17, 1}, {33, 1}};
  uint32_t seed = 20;
  for (const KvTypes& t : pairs) {
    const bool full = (t.k == KvType::kQ8 && t.v == KvType::kQ4) || (t.k == KvType::kQ4 && t.v == KvType::kQ8);
    if (full) {
      RunCase(t, {32, 8, 64, 16}, seqs, seed++, 4, {0, 3, 7});
    } else {
      RunCase(t, {32, 8, 64, 16}, short_seqs, seed++, 4, {0, 2, 4});
      continue;
    }
    RunCase(t, {14, 2, 96, 16}, seqs, seed++, 2, {1, 5});
    if (t.k == KvType::kQ8) RunCase(t, {16, 4, 128, 16}, {{4096, 1}, {2, 1}}, seed++, 3, {1});
  }
}

// Head dims that are not a multiple of 32 (one scale per row): the tiny trained models'
// (8: stories260K, 4: TinyLLama-v0), and 80 with blocks of 24 (runs across blocks).
TEST(KvQuantAttentionTest, OddHeadDimsAndBlockSizes) {
  const std::vector<Seq> seqs = {{200, 1}, {50, 23}, {80, 5}, {1, 1}};
  for (KvType t : kQuantTypes) {
    RunCase(t, {8, 4, 8, 16}, seqs, 6, 2, {1});
    RunCase(t, {16, 16, 4, 16}, seqs, 7, 2, {0});
    RunCase(t, {6, 2, 80, 24}, seqs, 8, 2, {2});
  }
}

}  // namespace
}  // namespace weft::kernels
