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

}  // namespace
}  // namespace weft
