#include "model/expert_cache.h"

#include <algorithm>
#include <utility>

#include "base/check.h"

namespace weft {
namespace {

int64_t ExpertBytes(const ExpertWeights& w) {
  return static_cast<int64_t>(w.w_gate->nbytes + w.w_up->nbytes + w.w_down->nbytes);
}

}  // namespace

ExpertCache::ExpertCache(std::shared_ptr<const ModelFile> file, std::vector<std::vector<ExpertWeights>> experts,
                         int64_t capacity_bytes, bool pack_panels)
    : file_(std::move(file)), experts_(std::move(experts)), capacity_(capacity_bytes), pack_panels_(pack_panels) {
  WEFT_CHECK(!experts_.empty() && capacity_ > 0, "an expert cache needs experts and a capacity");
  n_expert_ = static_cast<int64_t>(experts_[0].size());
  for (const auto& layer : experts_) {
    WEFT_CHECK(static_cast<int64_t>(layer.size()) == n_expert_, "layers with different expert counts");
    for (const ExpertWeights& w : layer) total_bytes_ += ExpertBytes(w);
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
  auto r = std::make_shared<ResidentExpert>();
  r->packed.reserve(3);  // out[] points into these: no reallocation
  r->copies.reserve(3);
  const TensorView* out[3] = {nullptr, nullptr, nullptr};
  const TensorView* in[3] = {src.w_gate, src.w_up, src.w_down};
  for (int i = 0; i < 3; ++i) {
    const TensorView& t = *in[i];
    if (pack_panels_ && kernels::PanelLayoutSupports(t.type) && t.RowsAreBlockAligned()) {
      r->packed.push_back(kernels::PackTensor(t));
      out[i] = &r->packed.back().view;
      r->bytes += static_cast<int64_t>(r->packed.back().view.nbytes);
    } else {
      r->copies.emplace_back(t.data, t.data + t.nbytes);
      auto view = std::make_unique<TensorView>(t);
      view->data = r->copies.back().data();
      r->bytes += static_cast<int64_t>(t.nbytes);
      out[i] = view.get();
      r->views.push_back(std::move(view));
    }
    file_->ReleaseMappedPages(t);  // the copy replaces the file's pages in this process
  }
  r->w = ExpertWeights{out[0], out[1], out[2]};
  return r;
}

void ExpertCache::Insert(int64_t index, std::shared_ptr<const ResidentExpert> r) {
  Slot& s = slots_[static_cast<size_t>(index)];
  resident_bytes_ += r->bytes;
  s.resident = std::move(r);
  lru_.push_front(index);
  s.lru = lru_.begin();
  // Drop the least recently used until the rest fits (never the one just inserted).
  while (resident_bytes_ > capacity_ && lru_.size() > 1) {
    const int64_t victim = lru_.back();
    lru_.pop_back();
    Slot& v = slots_[static_cast<size_t>(victim)];
    resident_bytes_ -= v.resident->bytes;
    v.resident.reset();
  }
}

std::shared_ptr<const ResidentExpert> ExpertCache::GetOrLoad(int64_t index, bool prefetch) {
  std::unique_lock<std::mutex> lock(mu_);
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
