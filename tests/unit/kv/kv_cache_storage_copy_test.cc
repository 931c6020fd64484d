#include <gtest/gtest.h>

#include <cstring>

#include "kv/kv_cache_storage.h"

namespace weft {
namespace {

TEST(KvCacheStorage, CopyBlockCopiesKAndVOfEveryLayer) {
  KvCacheShape shape;
  shape.n_layers = 3;
  shape.num_blocks = 4;
  shape.block_size = 2;
  shape.n_kv_heads = 2;
  shape.head_dim = 4;
  shape.type = kernels::KvType::kF32;
  auto storage = KvCacheStorage::Create(shape);
  ASSERT_TRUE(storage.ok());
  KvCacheStorage& s = *storage.value();
  const size_t block_floats = 2 * 2 * 4;
  for (int64_t l = 0; l < 3; ++l) {
    auto* k = static_cast<float*>(s.Layer(l).k);
    auto* v = static_cast<float*>(s.Layer(l).v);
    for (size_t i = 0; i < 4 * block_floats; ++i) {
      k[i] = static_cast<float>(l * 1000 + static_cast<int64_t>(i));
      v[i] = -static_cast<float>(l * 1000 + static_cast<int64_t>(i));
    }
  }
  s.CopyBlock(1, 3);
  for (int64_t l = 0; l < 3; ++l) {
    auto* k = static_cast<float*>(s.Layer(l).k);
    auto* v = static_cast<float*>(s.Layer(l).v);
    EXPECT_EQ(0, std::memcmp(k + 3 * block_floats, k + 1 * block_floats, block_floats * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(v + 3 * block_floats, v + 1 * block_floats, block_floats * sizeof(float)));
    EXPECT_EQ(k[2 * block_floats], static_cast<float>(l * 1000 + 2 * static_cast<int64_t>(block_floats)));
  }
}

// K and V of different types (--kv-type q8,q4): each layer's K and V regions have their
// own sizes, do not overlap one another or the next layer's, and CopyBlock copies each
// with its own block size; bytes per token add the two rows.
TEST(KvCacheStorage, MixedKAndVTypesHaveTheirOwnRegions) {
  KvCacheShape shape;
  shape.n_layers = 3;
  shape.num_blocks = 5;
  shape.block_size = 16;
  shape.n_kv_heads = 2;
  shape.head_dim = 64;
  shape.type = kernels::KvTypes(kernels::KvType::kQ8, kernels::KvType::kQ4);
  EXPECT_EQ(shape.BytesPerToken(), 3u * 2 * ((64 + 4) + (32 + 4)));
  auto storage = KvCacheStorage::Create(shape);
  ASSERT_TRUE(storage.ok());
  KvCacheStorage& s = *storage.value();
  const kernels::KvCacheView v0 = s.Layer(0);
  EXPECT_EQ(v0.k_type, kernels::KvType::kQ8);
  EXPECT_EQ(v0.v_type, kernels::KvType::kQ4);
  const int64_t kb = v0.KBlockBytes(), vb = v0.VBlockBytes();
  EXPECT_EQ(kb, 2 * 16 * (64 + 4));
  EXPECT_EQ(vb, 2 * 16 * (32 + 4));
  for (int64_t l = 0; l < 3; ++l) {
    const kernels::KvCacheView v = s.Layer(l);
    auto* k = static_cast<uint8_t*>(v.k);
    auto* vv = static_cast<uint8_t*>(v.v);
    EXPECT_EQ(vv, k + 5 * kb);  // V right after this layer's K
    if (l + 1 < 3) {
      EXPECT_EQ(static_cast<uint8_t*>(s.Layer(l + 1).k), vv + 5 * vb);
    }
    for (int64_t i = 0; i < 5 * kb; ++i) k[i] = static_cast<uint8_t>(l * 7 + i);
    for (int64_t i = 0; i < 5 * vb; ++i) vv[i] = static_cast<uint8_t>(200 - l * 5 - i);
  }
  s.CopyBlock(4, 0);
  for (int64_t l = 0; l < 3; ++l) {
    const kernels::KvCacheView v = s.Layer(l);
    auto* k = static_cast<uint8_t*>(v.k);
    auto* vv = static_cast<uint8_t*>(v.v);
    EXPECT_EQ(0, std::memcmp(k, k + 4 * kb, static_cast<size_t>(kb)));
    EXPECT_EQ(0, std::memcmp(vv, vv + 4 * vb, static_cast<size_t>(vb)));
    EXPECT_EQ(k[kb], static_cast<uint8_t>(l * 7 + kb));  // block 1 untouched
    EXPECT_EQ(vv[vb], static_cast<uint8_t>(200 - l * 5 - vb));
  }
}

}  // namespace
}  // namespace weft
