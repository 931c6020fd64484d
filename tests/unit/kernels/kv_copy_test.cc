// CopyKvSlots (token-tree verification's KV moves): for every KV type pair (K and V
// apart, quantised ones included), block sizes that are and are not a multiple of the
// vector width and real head shapes, copying a written slot to another slot leaves the
// cache byte for byte as writing the same K/V row straight into that slot would, and
// touches no other slot; chained copies (a later pair reading an earlier pair's
// destination) keep their order.
#include "kernels/kv_copy.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "kernel_test_util.h"

namespace weft::kernels {
namespace {

struct Cache {
  std::vector<uint8_t> k, v;
  KvCacheView view;
  Cache(KvTypes type, int64_t blocks, int bs, int heads, int hd) {
    view.k_type = type.k;
    view.v_type = type.v;
    view.num_blocks = blocks;
    view.block_size = bs;
    view.n_kv_heads = heads;
    view.head_dim = hd;
    k.assign(static_cast<size_t>(blocks * view.KBlockBytes()), 0);
    v.assign(static_cast<size_t>(blocks * view.VBlockBytes()), 0);
    view.k = k.data();
    view.v = v.data();
  }
};

TEST(KvCopy, ACopiedSlotIsTheSlotWrittenDirectly) {
  const KvType types[] = {KvType::kF32, KvType::kF16, KvType::kBF16, KvType::kQ8, KvType::kFp8, KvType::kQ4};
  struct Shape {
    int bs, heads, hd;
  };
  const Shape shapes[] = {{16, 4, 64}, {16, 8, 128}, {7, 2, 96}, {32, 1, 576}};
  using testing::IsaContexts;
  IsaContexts isas;
  const KernelContext ctx = isas.For(Isa::kScalar);
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.5f);
  for (KvType kt : types) {
    for (KvType vt : types) {
      for (const Shape& s : shapes) {
        SCOPED_TRACE(::testing::Message() << KvTypeName(KvTypes(kt, vt)) << " bs " << s.bs << " heads " << s.heads
                                          << " hd " << s.hd);
        const int64_t blocks = 6, slots = blocks * s.bs, row = int64_t{s.heads} * s.hd;
        // Every slot written with its own row; then pairs copied (the last reads the
        // destination of the one before it).
        std::vector<float> kv(static_cast<size_t>(slots * row * 2));
        for (float& x : kv) x = dist(rng);
        std::vector<int64_t> all(static_cast<size_t>(slots));
        for (int64_t i = 0; i < slots; ++i) all[static_cast<size_t>(i)] = i;
        const std::vector<int64_t> src = {3, slots - 1, 0, s.bs + 1, 2 * s.bs};
        const std::vector<int64_t> dst = {s.bs + 1, 1, slots - 2, 2 * s.bs, 5};
        // Expected: each destination holds the row of the slot its source finally came from.
        std::vector<int64_t> origin = all;
        for (size_t i = 0; i < src.size(); ++i) origin[static_cast<size_t>(dst[i])] = origin[static_cast<size_t>(src[i])];
        Cache a(KvTypes(kt, vt), blocks, s.bs, s.heads, s.hd), b(KvTypes(kt, vt), blocks, s.bs, s.heads, s.hd);
        std::vector<float> k(static_cast<size_t>(slots * row)), v(k.size()), k2(k.size()), v2(k.size());
        for (int64_t i = 0; i < slots; ++i) {
          for (int64_t j = 0; j < row; ++j) {
            k[static_cast<size_t>(i * row + j)] = kv[static_cast<size_t>(i * row + j)];
            v[static_cast<size_t>(i * row + j)] = kv[static_cast<size_t>((slots + i) * row + j)];
            const int64_t o = origin[static_cast<size_t>(i)];
            k2[static_cast<size_t>(i * row + j)] = kv[static_cast<size_t>(o * row + j)];
            v2[static_cast<size_t>(i * row + j)] = kv[static_cast<size_t>((slots + o) * row + j)];
          }
        }
        WriteKv(ctx, k.data(), v.data(), slots, all.data(), a.view);
        CopyKvSlots(a.view, src.data(), dst.data(), static_cast<int64_t>(src.size()));
        WriteKv(ctx, k2.data(), v2.data(), slots, all.data(), b.view);
        EXPECT_TRUE(a.k == b.k) << "K differs";
        EXPECT_TRUE(a.v == b.v) << "V differs";
      }
    }
  }
}

}  // namespace
}  // namespace weft::kernels
