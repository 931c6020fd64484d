// KvCacheStorage: the memory of the paged KV cache, allocated once: for every layer, K
// as [num_blocks, n_kv_heads, head_dim, block_size] and V as [num_blocks, n_kv_heads,
// block_size, head_dim], of F16 (default), BF16, F32, or the quantised Q8 / FP8 / Q4 with
// their scales (kernels/ops.h, KvCacheView; kernels/kv_type.h); K and V may be of
// different types, so the K and V regions of a layer may differ in size.
// It owns bytes only; which block belongs to which sequence is the KV manager's business
// (kv/), and the kernels read and write it through block tables (kernels/ops.h).
// The memory is advised huge pages (2 MiB) unless WEFT_KV_HUGE_PAGES=0: attention reads a
// KV head's few KiB of each block at strides of the block, a new 4 KiB page per slab with
// small pages (the gain is not yet measured on a quiet machine: BENCHMARKS.md).
// Thread-safety: the object is immutable after construction; the bytes are written only
// by the engine thread's forward pass.
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "kernels/ops.h"
#include "tensor/dtype.h"
#include "weft/status.h"

namespace weft {

struct KvCacheShape {
  int64_t n_layers = 0;
  int64_t num_blocks = 0;
  int block_size = 16;  // tokens per block
  int n_kv_heads = 0;
  int head_dim = 0;
  kernels::KvTypes type;  // of K and of V

  // Bytes of K plus V for all layers, and for one token (of all layers, scales included).
  uint64_t TotalBytes() const;
  uint64_t BytesPerToken() const;
};

class KvCacheStorage {
 public:
  // ResourceExhausted when the memory cannot be allocated; InvalidArgument for a bad shape.
  static StatusOr<std::unique_ptr<KvCacheStorage>> Create(const KvCacheShape& shape);
  ~KvCacheStorage();
  KvCacheStorage(const KvCacheStorage&) = delete;
  KvCacheStorage& operator=(const KvCacheStorage&) = delete;

  const KvCacheShape& shape() const { return shape_; }
  // The cache of one layer, as the kernels take it.
  kernels::KvCacheView Layer(int64_t layer) const;
  // Copies block `src` to block `dst` in every layer's K and V (copy-on-write of a shared
  // block, KvCacheManager's BlockCopy list). Engine thread only, before the forward pass.
  void CopyBlock(int32_t src, int32_t dst);
  // Copies slot src[i] to slot dst[i] (in order) in every layer's K and V (token trees:
  // an accepted branch's K/V moved to the slots after the prefix; kernels/kv_copy.h).
  // Engine thread only, between forward passes.
  void CopySlots(std::span<const int64_t> src, std::span<const int64_t> dst);

 private:
  explicit KvCacheStorage(const KvCacheShape& shape) : shape_(shape) {}
  KvCacheShape shape_;
  uint64_t k_layer_bytes_ = 0;  // K of one layer
  uint64_t v_layer_bytes_ = 0;  // V of one layer
  uint8_t* memory_ = nullptr;   // [n_layers][K k_layer_bytes_, V v_layer_bytes_], inside mapping_
  uint8_t* mapping_ = nullptr;  // the anonymous mapping (2 MiB more when aligned for huge pages)
  uint64_t mapped_bytes_ = 0;
};

}  // namespace weft
