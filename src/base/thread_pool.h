// ThreadPool: persistent compute workers for data-parallel loops (kernels, loaders).
//
// ParallelFor splits [begin, end) into chunks and runs them on all threads, the calling
// thread included, returning when every chunk is done. No allocation per call.
// Thread-safety: ParallelFor may be called from any thread; concurrent calls are
// serialised. A call from inside a running chunk runs serially on that thread (no
// deadlock). The pool must outlive its calls.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace weft {

class ThreadPool {
 public:
  // num_threads counts the caller; <= 0 means one per physical core, divided among the
  // processes an mpirun job runs on this host (OMPI_COMM_WORLD_LOCAL_SIZE).
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // fn(chunk_begin, chunk_end) over disjoint chunks of at least `grain` items
  // (the last may be shorter) that together cover [begin, end).
  template <typename Fn>
  void ParallelFor(int64_t begin, int64_t end, int64_t grain, Fn&& fn) {
    using Callable = std::remove_reference_t<Fn>;  // Fn is T& for a named (lvalue) callable
    Run(begin, end, grain, const_cast<void*>(static_cast<const void*>(&fn)),
        [](void* ctx, int64_t b, int64_t e) { (*static_cast<Callable*>(ctx))(b, e); });
  }

 private:
  using Invoker = void (*)(void* ctx, int64_t begin, int64_t end);
  struct Job {
    Invoker invoke = nullptr;
    void* ctx = nullptr;
    int64_t begin = 0, end = 0, chunk = 1, num_chunks = 0;
  };

  void Run(int64_t begin, int64_t end, int64_t grain, void* ctx, Invoker invoke);
  void WorkerLoop();
  // Claims and runs chunks of `job` (of generation `gen`) until none are left.
  void RunChunks(const Job& job, uint64_t gen);

  std::vector<std::thread> workers_;
  std::mutex dispatch_mu_;  // one ParallelFor at a time

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::atomic<uint64_t> generation_{0};
  bool stop_ = false;  // guarded by mu_
  Job job_;            // written under mu_ before generation_ is bumped
  // (generation & 0xffffffff) << 32 | next chunk: a chunk is claimed by a CAS that also
  // checks the generation, so a worker that wakes late never takes a chunk of a newer
  // job with an older job's parameters, and the caller never waits for a worker that
  // has not started: it waits only for chunks claimed and not yet done.
  std::atomic<uint64_t> claim_{0};
  std::atomic<int64_t> done_chunks_{0};
};

}  // namespace weft
