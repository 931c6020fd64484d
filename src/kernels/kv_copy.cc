#include "kernels/kv_copy.h"

#include <cstring>

#include "base/check.h"

namespace weft::kernels {

void CopyKvSlots(const KvCacheView& cache, const int64_t* src, const int64_t* dst, int64_t n) {
  const int64_t slots = cache.num_blocks * cache.block_size;
  const int64_t keb = cache.KElemBytes();
  const int64_t k_units = KvRowCodeBytes(cache.k_type, cache.head_dim) / keb;
  const int64_t k_dim_bytes = cache.KDimBytes();
  const int groups = cache.head_dim / cache.QuantGroup();
  auto* k = static_cast<uint8_t*>(cache.k);
  auto* v = static_cast<uint8_t*>(cache.v);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t a = src[i], b = dst[i];
    WEFT_CHECK(a >= 0 && a < slots && b >= 0 && b < slots, "CopyKvSlots: slot {} -> {} of {}", a, b, slots);
    if (a == b) continue;
    for (int h = 0; h < cache.n_kv_heads; ++h) {
      // K is dimension-major: code unit j of a slot is k_dim_bytes * j from its first.
      const uint8_t* ks = k + cache.KOffset(a, h);
      uint8_t* kd = k + cache.KOffset(b, h);
      for (int64_t j = 0; j < k_units; ++j) std::memcpy(kd + j * k_dim_bytes, ks + j * k_dim_bytes, keb);
      if (cache.KQuantized()) {
        const uint8_t* ss = ks + cache.KScaleFromCode(a);
        uint8_t* sd = kd + cache.KScaleFromCode(b);
        for (int g = 0; g < groups; ++g) std::memcpy(sd + g * cache.KScaleGroupBytes(), ss + g * cache.KScaleGroupBytes(), 2);
      }
      // V is position-major: one row, then (quantised) its adjacent scales.
      const uint8_t* vs = v + cache.VOffset(a, h);
      uint8_t* vd = v + cache.VOffset(b, h);
      std::memcpy(vd, vs, static_cast<size_t>(cache.VRowBytes()));
      if (cache.VQuantized()) std::memcpy(vd + cache.VScaleFromCode(b), vs + cache.VScaleFromCode(a), 2 * static_cast<size_t>(groups));
    }
  }
}

}  // namespace weft::kernels
