// ExpertCache: the experts of a mixture-of-experts model kept on disk (in the mapped model
// file) with at most `capacity_bytes` of them resident in memory, for models larger than
// the RAM one wants to give them (EdgeMoE's expert offloading; `--expert-cache-mem`).
//
// Every (layer, expert) starts in the file. Get(layer, e) returns the expert ready for the
// kernels: from the cache when resident (a hit), else read from the file into memory
// this cache owns (Panel16-packed where the type has panels, else a copy of its rows),
// after which the file's pages are released from this process (a miss; its bytes count
// as read). When the resident bytes would pass the capacity, experts are dropped: those
// of the layer whose next use is furthest away in the forward pass's cycle over the layers
// (the layer just computed), the least recently used first (Belady's choice for a cyclic
// walk; plain LRU would miss on every use once the cache is smaller than one token's
// experts). A returned handle keeps its expert alive while the caller uses
// it, so an expert dropped mid-use is freed when the caller lets go: resident memory may
// pass the capacity by the experts of the layer being computed.
//
// Prefetch(layer, e) loads an expert ahead of use on the cache's own background thread
// (the forward pass asks for the experts the next layer used in the previous step).
//
// Outputs are identical with any capacity: the resident copy holds exactly what binding
// the file would have produced.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kernels/panel_layout.h"
#include "loader/model_file.h"
#include "model/llama_weights.h"
#include "model/moe_stats.h"

namespace weft {

// Anonymous memory for experts, recycled: a dropped expert's buffer serves the next load
// of the same size (no page faults, no allocator growth), and a buffer the pool does not
// keep is unmapped, so the resident set follows the cache. Thread-safe.
class ExpertBufferPool {
 public:
  struct Buffer {
    uint8_t* data = nullptr;
    size_t bytes = 0;
  };
  ~ExpertBufferPool();
  Buffer Take(size_t bytes);
  void Give(Buffer b);  // keeps at most kSpare buffers per size, unmaps the others

 private:
  static constexpr size_t kSpare = 2;
  std::mutex mu_;
  std::vector<Buffer> spare_;  // guarded by mu_
};

// One expert resident in memory: its three matrices in one pooled buffer.
struct ResidentExpert {
  ExpertWeights w;
  int64_t bytes = 0;
  TensorView views[3];
  ExpertBufferPool::Buffer buffer;
  std::shared_ptr<ExpertBufferPool> pool;  // the buffer goes back there
  ResidentExpert() = default;
  ResidentExpert(const ResidentExpert&) = delete;
  ResidentExpert& operator=(const ResidentExpert&) = delete;
  ~ResidentExpert() {
    if (pool && buffer.data != nullptr) pool->Give(buffer);
  }
};

class ExpertCache {
 public:
  // experts[layer][e]: views into `file` (kRows); capacity_bytes > 0. `panel_types`: pack
  // matrices of these types into Panel16, as binding would.
  ExpertCache(std::shared_ptr<const ModelFile> file, std::vector<std::vector<ExpertWeights>> experts,
              int64_t capacity_bytes, kernels::PanelTypeSet panel_types);
  ~ExpertCache();
  ExpertCache(const ExpertCache&) = delete;
  ExpertCache& operator=(const ExpertCache&) = delete;

  std::shared_ptr<const ResidentExpert> Get(int64_t layer, int64_t e);
  void Prefetch(int64_t layer, int64_t e);
  ExpertCacheStats Stats() const;

 private:
  struct Slot {
    std::shared_ptr<const ResidentExpert> resident;  // null: on disk
    std::list<int64_t>::iterator lru;                // valid when resident
    bool loading = false;                            // a thread is reading it
  };
  int64_t Index(int64_t layer, int64_t e) const { return layer * n_expert_ + e; }
  std::shared_ptr<const ResidentExpert> Load(int64_t index) const;  // no lock held
  // With mu_ held: makes `index` resident (the most recently used), evicting others.
  void Insert(int64_t index, std::shared_ptr<const ResidentExpert> r);
  std::shared_ptr<const ResidentExpert> GetOrLoad(int64_t index, bool prefetch);
  void PrefetchLoop();

  std::shared_ptr<const ModelFile> file_;
  std::shared_ptr<ExpertBufferPool> pool_ = std::make_shared<ExpertBufferPool>();
  std::vector<std::vector<ExpertWeights>> experts_;
  int64_t n_expert_ = 0;
  int64_t capacity_ = 0;
  kernels::PanelTypeSet panel_types_ = 0;
  int64_t total_bytes_ = 0;

  mutable std::mutex mu_;
  std::condition_variable loaded_;  // a Slot's loading ended
  std::vector<Slot> slots_;         // guarded by mu_
  std::list<int64_t> lru_;          // guarded by mu_; front = most recent
  int64_t resident_bytes_ = 0;      // guarded by mu_
  int64_t current_layer_ = 0;       // guarded by mu_: the layer of the last Get
  int64_t hits_ = 0, misses_ = 0, bytes_read_ = 0, prefetches_ = 0;  // guarded by mu_

  std::condition_variable prefetch_wake_;
  std::deque<int64_t> prefetch_queue_;  // guarded by mu_
  bool stop_ = false;                   // guarded by mu_
  std::thread prefetcher_;
};

}  // namespace weft
