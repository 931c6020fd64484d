#include "kernels/kv_shift.h"

#include <cmath>
#include <cstring>

#include "base/check.h"
#include "base/half.h"

namespace weft::kernels {

namespace {

float ReadElem(KvType t, const uint8_t* p) {
  switch (t) {
    case KvType::kF32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case KvType::kF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return Fp16ToFloat(h);
    }
    case KvType::kBF16: {
      uint16_t h;
      std::memcpy(&h, p, 2);
      return Bf16ToFloat(h);
    }
    default: break;
  }
  WEFT_CHECK(false, "ReadElem of a quantised type");
  return 0;
}

void WriteElem(KvType t, float x, uint8_t* p) {
  if (t == KvType::kF32) {
    std::memcpy(p, &x, 4);
  } else {
    const uint16_t h = t == KvType::kF16 ? FloatToFp16(x) : FloatToBf16(x);
    std::memcpy(p, &h, 2);
  }
}

// cos/sin of the rotation by -delta, exactly as Rope computes them for that position
// (rotating unit pairs (1, 0)), with YaRN's magnitude factor divided out.
void RotationAngles(const KernelContext& ctx, int head_dim, int32_t delta, const RopeParams& rope, float* c,
                    float* s) {
  const int half = rope.rope_dim / 2;
  const bool neox = rope.style == RopeStyle::kNeox;
  float probe[kMaxKvHeadDim] = {};
  for (int i = 0; i < half; ++i) probe[neox ? i : 2 * i] = 1.0f;
  const int32_t pos = -delta;
  Rope(ctx, probe, 1, 1, head_dim, &pos, rope);
  for (int i = 0; i < half; ++i) {
    const float ci = probe[neox ? i : 2 * i], si = probe[neox ? i + half : 2 * i + 1];
    const float norm = std::sqrt(ci * ci + si * si);  // YaRN's attn_factor (1 otherwise)
    c[i] = ci / norm;
    s[i] = si / norm;
  }
}

void RotateBlock(const KvCacheView& cache, int32_t block, int n_tokens, const RopeParams& rope, const float* c,
                 const float* s) {
  const int hd = cache.head_dim, half = rope.rope_dim / 2;
  const bool neox = rope.style == RopeStyle::kNeox;
  WEFT_CHECK(block >= 0 && block < cache.num_blocks && n_tokens >= 0 && n_tokens <= cache.block_size,
             "RotateCachedK: block {} of {}, {} tokens of {}", block, cache.num_blocks, n_tokens, cache.block_size);
  auto* base = static_cast<uint8_t*>(cache.k);
  const int64_t dim_bytes = cache.KDimBytes();
  const int group = cache.QuantGroup();
  float row[kMaxKvHeadDim];
  uint8_t codes[kMaxKvHeadDim];
  uint16_t scales[kMaxKvHeadDim];
  for (int h = 0; h < cache.n_kv_heads; ++h) {
    for (int t = 0; t < n_tokens; ++t) {
      const int64_t slot = int64_t{block} * cache.block_size + t;
      uint8_t* k = base + cache.KOffset(slot, h);
      uint8_t* sc = cache.KQuantized() ? k + cache.KScaleFromCode(slot) : nullptr;
      for (int i = 0; i < hd; ++i) {
        if (sc != nullptr) {
          uint16_t bits;
          std::memcpy(&bits, sc + (i / group) * cache.KScaleGroupBytes(), 2);
          row[i] = KvDequant(cache.k_type, KvCodeAt(cache.k_type, k, i, dim_bytes), bits);
        } else {
          row[i] = ReadElem(cache.k_type, k + i * dim_bytes);
        }
      }
      for (int i = 0; i < half; ++i) {
        const int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
        const float x0 = row[a], x1 = row[b];
        row[a] = x0 * c[i] - x1 * s[i];
        row[b] = x0 * s[i] + x1 * c[i];
      }
      if (sc != nullptr) {
        QuantizeKvRow(cache.k_type, row, hd, codes, scales, 1);
        for (int64_t j = 0; j < KvRowCodeBytes(cache.k_type, hd); ++j) k[j * dim_bytes] = codes[j];  // code bytes to rows
        for (int g = 0; g < hd / group; ++g) std::memcpy(sc + g * cache.KScaleGroupBytes(), &scales[g], 2);
      } else {
        for (int i = 0; i < hd; ++i) WriteElem(cache.k_type, row[i], k + i * dim_bytes);
      }
    }
  }
}

void CheckRope(const KvCacheView& cache, const RopeParams& rope) {
  WEFT_CHECK(cache.head_dim > 0 && cache.head_dim <= kMaxKvHeadDim && rope.rope_dim > 0 && rope.rope_dim % 2 == 0 &&
                 rope.rope_dim <= cache.head_dim,
             "RotateCachedK: rope_dim {} head_dim {}", rope.rope_dim, cache.head_dim);
}

}  // namespace

void RotateCachedK(const KernelContext& ctx, const KvCacheView& cache, int32_t block, int n_tokens, int32_t delta,
                   const RopeParams& rope) {
  const KvShift one{block, n_tokens, delta};
  RotateCachedK(ctx, cache, std::span<const KvShift>(&one, 1), rope);
}

void RotateCachedK(const KernelContext& ctx, const KvCacheView& cache, std::span<const KvShift> shifts,
                   const RopeParams& rope) {
  CheckRope(cache, rope);
  float c[kMaxKvHeadDim / 2], s[kMaxKvHeadDim / 2];
  int32_t angles_for = 0;  // delta 0 rotates nothing
  for (const KvShift& sh : shifts) {
    if (sh.n_tokens == 0 || sh.delta == 0) continue;
    if (sh.delta != angles_for) {
      RotationAngles(ctx, cache.head_dim, sh.delta, rope, c, s);
      angles_for = sh.delta;
    }
    RotateBlock(cache, sh.block, sh.n_tokens, rope, c, s);
  }
}

}  // namespace weft::kernels
