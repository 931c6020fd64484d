#include "kv/kv_cache_storage.h"

#include <fmt/format.h>

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "base/check.h"
#include "kernels/kv_copy.h"

namespace weft {
namespace {

bool HugePagesWanted() {
  static const bool wanted = [] {
    const char* v = std::getenv("WEFT_KV_HUGE_PAGES");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return wanted;
}

}  // namespace

uint64_t KvCacheShape::BytesPerToken() const {
  return static_cast<uint64_t>(n_layers) * static_cast<uint64_t>(n_kv_heads) *
         static_cast<uint64_t>(kernels::KvRowBytes(type, head_dim));
}

uint64_t KvCacheShape::TotalBytes() const {
  return BytesPerToken() * static_cast<uint64_t>(num_blocks) * static_cast<uint64_t>(block_size);
}

StatusOr<std::unique_ptr<KvCacheStorage>> KvCacheStorage::Create(const KvCacheShape& shape) {
  if (shape.n_layers <= 0 || shape.num_blocks <= 0 || shape.block_size <= 0 || shape.n_kv_heads <= 0 ||
      shape.head_dim <= 0 || shape.head_dim > kernels::kMaxKvHeadDim) {
    return InvalidArgumentError(fmt::format("bad KV cache shape: {} layers, {} blocks of {} tokens, {} x {} per token",
                                            shape.n_layers, shape.num_blocks, shape.block_size, shape.n_kv_heads,
                                            shape.head_dim));
  }
  auto storage = std::unique_ptr<KvCacheStorage>(new KvCacheStorage(shape));
  const uint64_t total = shape.TotalBytes();
  const uint64_t slots = static_cast<uint64_t>(shape.num_blocks) * static_cast<uint64_t>(shape.block_size) *
                         static_cast<uint64_t>(shape.n_kv_heads);
  storage->k_layer_bytes_ = slots * static_cast<uint64_t>(kernels::KvRowBytes(shape.type.k, shape.head_dim));
  storage->v_layer_bytes_ = slots * static_cast<uint64_t>(kernels::KvRowBytes(shape.type.v, shape.head_dim));
  // Anonymous pages: zero (finite) until written, and not resident until first used, so
  // a large cache costs no start-up time and only the memory the blocks in use touch.
  // Advised huge pages (2 MiB, aligned): decode attention reads each KV head's slab of
  // every block, a few KiB at 16+ KiB strides, a new page per slab with 4 KiB pages
  // (kv_cache_storage.h). WEFT_KV_HUGE_PAGES=0 leaves the pages small.
  constexpr uint64_t kHuge = uint64_t{2} << 20;
  const bool huge = HugePagesWanted() && total >= kHuge;
  const uint64_t mapped = huge ? total + kHuge : total;
  void* p = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return ResourceExhaustedError(fmt::format("cannot allocate {} bytes for the KV cache; give less with "
                                              "--kv-cache-mem",
                                              total));
  }
  storage->mapping_ = static_cast<uint8_t*>(p);
  storage->mapped_bytes_ = mapped;
  storage->memory_ = storage->mapping_;
  if (huge) {
    const uintptr_t a = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) / kHuge * kHuge;
    storage->memory_ = reinterpret_cast<uint8_t*>(a);
    ::madvise(storage->memory_, total, MADV_HUGEPAGE);  // advice only: failure is harmless
  }
  return storage;
}

KvCacheStorage::~KvCacheStorage() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapped_bytes_);
}

kernels::KvCacheView KvCacheStorage::Layer(int64_t layer) const {
  WEFT_CHECK(layer >= 0 && layer < shape_.n_layers, "layer {} of {}", layer, shape_.n_layers);
  uint8_t* base = memory_ + static_cast<uint64_t>(layer) * (k_layer_bytes_ + v_layer_bytes_);
  kernels::KvCacheView v;
  v.k = base;
  v.v = base + k_layer_bytes_;
  v.k_type = shape_.type.k;
  v.v_type = shape_.type.v;
  v.num_blocks = shape_.num_blocks;
  v.block_size = shape_.block_size;
  v.n_kv_heads = shape_.n_kv_heads;
  v.head_dim = shape_.head_dim;
  return v;
}

void KvCacheStorage::CopyBlock(int32_t src, int32_t dst) {
  WEFT_CHECK(src >= 0 && src < shape_.num_blocks && dst >= 0 && dst < shape_.num_blocks, "copy block {} -> {} of {}",
             src, dst, shape_.num_blocks);
  if (src == dst) return;
  const uint64_t k_block = k_layer_bytes_ / static_cast<uint64_t>(shape_.num_blocks);
  const uint64_t v_block = v_layer_bytes_ / static_cast<uint64_t>(shape_.num_blocks);
  for (uint64_t layer = 0; layer < static_cast<uint64_t>(shape_.n_layers); ++layer) {
    uint8_t* k = memory_ + layer * (k_layer_bytes_ + v_layer_bytes_);
    uint8_t* v = k + k_layer_bytes_;
    std::memcpy(k + static_cast<uint64_t>(dst) * k_block, k + static_cast<uint64_t>(src) * k_block, k_block);
    std::memcpy(v + static_cast<uint64_t>(dst) * v_block, v + static_cast<uint64_t>(src) * v_block, v_block);
  }
}

void KvCacheStorage::CopySlots(std::span<const int64_t> src, std::span<const int64_t> dst) {
  WEFT_CHECK(src.size() == dst.size(), "CopySlots: {} sources, {} destinations", src.size(), dst.size());
  if (src.empty()) return;
  for (int64_t layer = 0; layer < shape_.n_layers; ++layer) {
    kernels::CopyKvSlots(Layer(layer), src.data(), dst.data(), static_cast<int64_t>(src.size()));
  }
}

}  // namespace weft
