#include "model/expert_cache.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "base/check.h"

namespace weft {

ExpertCache::ExpertCache(std::shared_ptr<const ModelFile> file, std::vector<std::vector<ExpertWeights>> experts,
                         int64_t capacity_bytes, kernels::PanelTypeSet panel_types)
    : file_(std::move(file)), experts_(std::move(experts)), capacity_(capacity_bytes), panel_types_(panel_types) {
  WEFT_CHECK(!experts_.empty() && capacity_ > 0, "an expert cache needs experts and a capacity");
  for (const auto& layer : experts_) n_expert_ = std::max(n_expert_, static_cast<int64_t>(layer.size()));
  for (const auto& layer : experts_) {
    // A dense layer (DeepSeek's first ones) has none.
    WEFT_CHECK(layer.empty() || static_cast<int64_t>(layer.size()) == n_expert_, "layers with different expert counts");
    for (const ExpertWeights& w : layer) total_bytes_ += w.Bytes();
  }
  slots_.resize(experts_.size() * static_cast<size_t>(n_expert_));
  prefetcher_ = std::thread([this] { PrefetchLoop(); });
}

ExpertCache::~ExpertCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  prefetch_wake_.notify_all();
  prefetcher_.join();
}

std::shared_ptr<const ResidentExpert> ExpertCache::Load(int64_t index) const {
  const ExpertWeights& src = experts_[static_cast<size_t>(index / n_expert_)][static_cast<size_t>(index % n_expert_)];
  const TensorView* in[3] = {src.w_gate, src.w_up, src.w_down};
  // Each matrix Panel16-packed where the type has panels (as binding would), else its
  // rows as in the file; 64-byte aligned pieces of one buffer.
  size_t sizes[3], offsets[3], total = 0;
  bool pack[3];
  for (int i = 0; i < 3; ++i) {
    const TensorView& t = *in[i];
    pack[i] = kernels::PanelTypeSetHas(panel_types_, t.type) && t.RowsAreBlockAligned();
    sizes[i] = pack[i] ? static_cast<size_t>(kernels::PanelGroups(t.NumRows())) * kernels::PanelGroupBytes(t.type, t.ne[0])
                       : t.nbytes;
    offsets[i] = total;
    total += (sizes[i] + 63) / 64 * 64;
  }
  auto r = std::make_shared<ResidentExpert>();
  r->pool = pool_;
  r->buffer = pool_->Take(total);
  for (int i = 0; i < 3; ++i) {
    const TensorView& t = *in[i];
    uint8_t* dst = r->buffer.data + offsets[i];
    r->views[i] = t;
    if (pack[i]) {
      kernels::PackPanel16(t.type, t.data, t.ne[0], t.NumRows(), dst);
      r->views[i].layout = TensorLayout::kPanel16;
    } else {
      std::memcpy(dst, t.data, t.nbytes);
    }
    r->views[i].data = dst;
    r->views[i].nbytes = sizes[i];
    r->bytes += static_cast<int64_t>(sizes[i]);
    file_->ReleaseMappedPages(t);  // the copy replaces the file's pages in this process
  }
  r->w = ExpertWeights{&r->views[0], &r->views[1], &r->views[2]};
  return r;
}

ExpertBufferPool::~ExpertBufferPool() {
  for (const Buffer& b : spare_) ::munmap(b.data, b.bytes);
}

ExpertBufferPool::Buffer ExpertBufferPool::Take(size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < spare_.size(); ++i) {
      if (spare_[i].bytes == bytes) {
        const Buffer b = spare_[i];
        spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(i));
        return b;
      }
    }
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  WEFT_CHECK(p != MAP_FAILED, "expert cache: out of memory for an expert of {} bytes", bytes);
  // Huge pages where the kernel gives them, as for the resident weights (fewer TLB misses
  // while decode streams the expert); advice only.
  if (bytes >= (size_t{2} << 20)) ::madvise(p, bytes, MADV_HUGEPAGE);
  return {static_cast<uint8_t*>(p), bytes};
}

void ExpertBufferPool::Give(Buffer b) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    size_t same = 0;
    for (const Buffer& s : spare_) same += s.bytes == b.bytes ? 1 : 0;
    if (same < kSpare) {
      spare_.push_back(b);
      return;
    }
  }
  ::munmap(b.data, b.bytes);
}

void ExpertCache::Insert(int64_t index, std::shared_ptr<const ResidentExpert> r) {
  Slot& s = slots_[static_cast<size_t>(index)];
  resident_bytes_ += r->bytes;
  s.resident = std::move(r);
  lru_.push_front(index);
  s.lru = lru_.begin();
  // Evict until the rest fits (never the one just inserted). A forward pass walks the
  // layers in a cycle, so the expert needed furthest in the future is one of the layer
  // just computed (`layer`), then the one before, ...: evict from the layer whose next use
  // is furthest away, the least recently used of that layer first. Plain LRU would evict
  // exactly what the next layers need whenever the cache is smaller than one token's
  // experts (every use a miss). The cycle's position is the layer the forward pass asked
  // for last (a prefetch of the next layer must not evict that layer's other experts).
  const int64_t n_layer = static_cast<int64_t>(experts_.size());
  const int64_t layer = current_layer_;
  while (resident_bytes_ > capacity_ && lru_.size() > 1) {
    auto victim = lru_.end();
    int64_t furthest = -1;
    for (auto it = std::prev(lru_.end());; --it) {  // oldest first: ties go to the oldest
      if (*it != index) {
        const int64_t distance = ((*it / n_expert_) - layer - 1 + n_layer) % n_layer;
        if (distance > furthest) {
          furthest = distance;
          victim = it;
        }
      }
      if (it == lru_.begin()) break;
    }
    Slot& v = slots_[static_cast<size_t>(*victim)];
    lru_.erase(victim);
    resident_bytes_ -= v.resident->bytes;
    v.resident.reset();
  }
}

std::shared_ptr<const ResidentExpert> ExpertCache::GetOrLoad(int64_t index, bool prefetch) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!prefetch) current_layer_ = index / n_expert_;
  Slot& s = slots_[static_cast<size_t>(index)];
  loaded_.wait(lock, [&] { return !s.loading; });
  if (s.resident) {
    if (!prefetch) {
      ++hits_;
      lru_.splice(lru_.begin(), lru_, s.lru);  // now the most recently used
    }
    return s.resident;
  }
  s.loading = true;
  lock.unlock();
  std::shared_ptr<const ResidentExpert> r = Load(index);
  lock.lock();
  s.loading = false;
  prefetch ? ++prefetches_ : ++misses_;
  bytes_read_ += r->bytes;
  Insert(index, r);
  loaded_.notify_all();
  return r;
}

std::shared_ptr<const ResidentExpert> ExpertCache::Get(int64_t layer, int64_t e) {
  return GetOrLoad(Index(layer, e), /*prefetch=*/false);
}

void ExpertCache::Prefetch(int64_t layer, int64_t e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t index = Index(layer, e);
    const Slot& s = slots_[static_cast<size_t>(index)];
    if (s.resident || s.loading) return;
    if (std::find(prefetch_queue_.begin(), prefetch_queue_.end(), index) != prefetch_queue_.end()) return;
    prefetch_queue_.push_back(index);
  }
  prefetch_wake_.notify_one();
}

void ExpertCache::PrefetchLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    prefetch_wake_.wait(lock, [&] { return stop_ || !prefetch_queue_.empty(); });
    if (stop_) return;
    const int64_t index = prefetch_queue_.front();
    prefetch_queue_.pop_front();
    lock.unlock();
    GetOrLoad(index, /*prefetch=*/true);
    lock.lock();
  }
}

ExpertCacheStats ExpertCache::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  ExpertCacheStats s;
  s.capacity_bytes = capacity_;
  s.resident_bytes = resident_bytes_;
  s.total_bytes = total_bytes_;
  s.hits = hits_;
  s.misses = misses_;
  s.bytes_read = bytes_read_;
  s.prefetches = prefetches_;
  return s;
}

}  // namespace weft
