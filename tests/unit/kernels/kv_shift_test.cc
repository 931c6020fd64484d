// RotateCachedK (kernels/kv_shift.h), the re-rotation behind the attention-sinks window:
// K written at position p and then rotated by -delta must equal K written at p - delta,
// for every KV type (within two roundings to the type: the stored one and the rotated
// one, against one), both RoPE styles, partial rotary dims, linear / YaRN scaling and
// per-pair frequency factors, at real head shapes (8 KV heads x 128, 64, 96) and
// positions up to a few thousand apart; the dims past rope_dim and V must not change at all.
#include "kernels/kv_shift.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "base/half.h"
#include "kernel_test_util.h"

namespace weft::kernels {
namespace {

struct Cache {
  std::vector<uint8_t> k, v;
  KvCacheView view;
  Cache(KvType type, int64_t blocks, int bs, int heads, int hd) {
    view.k_type = type;
    view.v_type = type;
    view.num_blocks = blocks;
    view.block_size = bs;
    view.n_kv_heads = heads;
    view.head_dim = hd;
    k.assign(static_cast<size_t>(blocks * view.KBlockBytes()), 0);
    v.assign(static_cast<size_t>(blocks * view.VBlockBytes()), 0);
    view.k = k.data();
    view.v = v.data();
  }
  // The stored K value of (slot, head, dim) as the kernels read it.
  float K(int64_t slot, int h, int i) const {
    const uint8_t* p = k.data() + view.KOffset(slot, h);
    if (view.KQuantized()) {
      uint16_t bits;
      std::memcpy(&bits, p + view.KScaleFromCode(slot) + (i / view.QuantGroup()) * view.KScaleGroupBytes(), 2);
      return KvDequant(view.k_type, KvCodeAt(view.k_type, p, i, view.KDimBytes()), bits);
    }
    p += i * view.KDimBytes();
    if (view.k_type == KvType::kF32) {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    uint16_t hbits;
    std::memcpy(&hbits, p, 2);
    return view.k_type == KvType::kF16 ? Fp16ToFloat(hbits) : Bf16ToFloat(hbits);
  }
};

// Bound on |rotated - direct| relative to the row's largest magnitude.
float Tolerance(KvType t) {
  switch (t) {
    case KvType::kF32: return 2e-5f;
    case KvType::kF16: return 2.5e-3f;   // two roundings of 2^-11 relative
    case KvType::kBF16: return 2e-2f;    // 2^-8
    case KvType::kQ8: return 2.5f / 127; // two quantisations, half a step each, plus the rotation's spread
    case KvType::kFp8: return 0.14f;     // 3 mantissa bits: 2^-4 relative, twice
    case KvType::kQ4: return 2.5f / 8;   // as q8 with a step of max|x| / 8 (one step at worst, the clamped +8)
  }
  return 0;
}

struct RopeCase {
  const char* name;
  RopeParams p;
};

std::vector<RopeCase> RopeCases(int hd, const std::vector<float>& factors) {
  std::vector<RopeCase> c;
  RopeParams base;
  base.rope_dim = hd;
  base.theta = 10000.0f;
  c.push_back({"interleaved", base});
  RopeParams neox = base;
  neox.style = RopeStyle::kNeox;
  neox.theta = 500000.0f;
  c.push_back({"neox", neox});
  RopeParams partial = neox;
  partial.rope_dim = hd / 2;
  c.push_back({"neox partial", partial});
  RopeParams linear = base;
  linear.scaling = RopeScaling::kLinear;
  linear.factor = 2.0f;
  c.push_back({"linear x2", linear});
  RopeParams yarn = neox;
  yarn.scaling = RopeScaling::kYarn;
  yarn.factor = 4.0f;
  yarn.original_context = 4096;
  c.push_back({"yarn x4", yarn});
  RopeParams ff = base;
  ff.freq_factors = factors.data();
  c.push_back({"freq factors", ff});
  return c;
}

TEST(RotateCachedK, EqualsKWrittenAtTheShiftedPosition) {
  using testing::IsaContexts;
  IsaContexts ctxs;
  const KernelContext ctx = ctxs.For(Isa::kScalar);
  std::mt19937 rng(11);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int bs = 16, heads = 8;
  for (int hd : {128, 64, 96}) {
    std::vector<float> factors(static_cast<size_t>(hd / 2));
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + static_cast<float>(i % 7);
    for (const RopeCase& rc : RopeCases(hd, factors)) {
      for (KvType type : {KvType::kF32, KvType::kF16, KvType::kBF16, KvType::kQ8, KvType::kFp8, KvType::kQ4}) {
        SCOPED_TRACE(::testing::Message() << "hd " << hd << " " << rc.name << " " << KvTypeName(type));
        const int n = 13;  // a partly filled block
        for (auto [p0, delta] : {std::pair{5000, 4000}, std::pair{40, 16}, std::pair{2047, 1999}}) {
          std::vector<float> k(static_cast<size_t>(n * heads * hd)), v(k.size());
          for (float& x : k) x = nd(rng);
          for (float& x : v) x = nd(rng);
          std::vector<int32_t> pos(static_cast<size_t>(n)), shifted(pos.size());
          for (int t = 0; t < n; ++t) {
            pos[static_cast<size_t>(t)] = p0 + t;
            shifted[static_cast<size_t>(t)] = p0 + t - delta;
          }
          std::vector<float> k_at_p = k, k_at_shifted = k;
          Rope(ctx, k_at_p.data(), n, heads, hd, pos.data(), rc.p);
          Rope(ctx, k_at_shifted.data(), n, heads, hd, shifted.data(), rc.p);
          Cache rotated(type, 3, bs, heads, hd), direct(type, 3, bs, heads, hd);
          std::vector<int64_t> slots(static_cast<size_t>(n));
          for (int t = 0; t < n; ++t) slots[static_cast<size_t>(t)] = 1 * bs + t;  // block 1
          WriteKv(ctx, k_at_p.data(), v.data(), n, slots.data(), rotated.view);
          WriteKv(ctx, k_at_shifted.data(), v.data(), n, slots.data(), direct.view);
          const std::vector<uint8_t> v_before = rotated.v;
          const Cache unrotated = rotated;
          RotateCachedK(ctx, rotated.view, 1, n, delta, rc.p);
          EXPECT_EQ(rotated.v, v_before);
          double worst = 0;
          for (int t = 0; t < n; ++t) {
            for (int h = 0; h < heads; ++h) {
              float amax = 0;
              for (int i = 0; i < hd; ++i) amax = std::max(amax, std::fabs(direct.K(bs + t, h, i)));
              for (int i = 0; i < hd; ++i) {
                const float got = rotated.K(bs + t, h, i), want = direct.K(bs + t, h, i);
                if (i >= rc.p.rope_dim && !rotated.view.KQuantized()) {
                  EXPECT_EQ(got, unrotated.K(bs + t, h, i)) << "dim past rope_dim changed";
                }
                worst = std::max(worst, static_cast<double>(std::fabs(got - want) / amax));
              }
            }
          }
          // Plus float angles: RoPE's own angle at position p is off by up to ~p * 2^-24
          // (in the stored K as in the reference), and so is the rotation's.
          const double angle_error = 3e-7 * (p0 + n + delta);
          EXPECT_LE(worst, Tolerance(type) + angle_error) << "p " << p0 << " delta " << delta;
        }
      }
    }
  }
}

TEST(RotateCachedK, ComposesWithItself) {
  using testing::IsaContexts;
  // Rotating by -16 ten times equals rotating by -160 once (F32: rounding only).
  IsaContexts ctxs;
  const KernelContext ctx = ctxs.For(Isa::kScalar);
  const int bs = 16, heads = 2, hd = 64;
  RopeParams p;
  p.rope_dim = hd;
  std::vector<float> k(static_cast<size_t>(bs * heads * hd)), v(k.size(), 0.0f);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (float& x : k) x = nd(rng);
  std::vector<int32_t> pos(bs);
  for (int t = 0; t < bs; ++t) pos[static_cast<size_t>(t)] = 1000 + t;
  Rope(ctx, k.data(), bs, heads, hd, pos.data(), p);
  std::vector<int64_t> slots(bs);
  for (int t = 0; t < bs; ++t) slots[static_cast<size_t>(t)] = t;
  Cache a(KvType::kF32, 1, bs, heads, hd), b(KvType::kF32, 1, bs, heads, hd);
  WriteKv(ctx, k.data(), v.data(), bs, slots.data(), a.view);
  WriteKv(ctx, k.data(), v.data(), bs, slots.data(), b.view);
  for (int i = 0; i < 10; ++i) RotateCachedK(ctx, a.view, 0, bs, 16, p);
  RotateCachedK(ctx, b.view, 0, bs, 160, p);
  for (int t = 0; t < bs; ++t) {
    for (int h = 0; h < heads; ++h) {
      for (int i = 0; i < hd; ++i) EXPECT_NEAR(a.K(t, h, i), b.K(t, h, i), 1e-4f);
    }
  }
}

}  // namespace
}  // namespace weft::kernels
