#include "base/thread_pool.h"

#include <algorithm>
#include <cstdlib>

#include "base/cpu_info.h"

namespace weft {
namespace {
thread_local bool t_inside_pool_chunk = false;

// Waiting threads spin briefly (back-to-back ParallelFor calls, one per op in a decode
// step, then need no futex wake-up), then yield the core for a while (when the machine
// is oversubscribed, the thread we wait for may be queued behind us on this very core),
// then sleep on a condition variable.
constexpr int kSpinIterations = 2000;
constexpr int kYieldIterations = 200;

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Spins, then yields, until done() or the budget runs out; true when done.
template <typename Done>
bool SpinThenYield(Done&& done) {
  for (int i = 0; i < kSpinIterations; ++i) {
    if (done()) return true;
    CpuRelax();
  }
  for (int i = 0; i < kYieldIterations; ++i) {
    if (done()) return true;
    std::this_thread::yield();
  }
  return done();
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) {
    // The processes that one mpirun job starts on this host (tensor parallelism) share
    // its cores.
    int local_ranks = 1;
    if (const char* env = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE")) local_ranks = std::max(1, std::atoi(env));
    num_threads = std::max(1, PhysicalCoreCount() / local_ranks);
  }
  workers_.reserve(static_cast<size_t>(num_threads - 1));
  for (int i = 0; i + 1 < num_threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    generation_.fetch_add(1, std::memory_order_release);
  }
  work_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunChunks(const Job& job, uint64_t gen) {
  const bool was_inside = t_inside_pool_chunk;
  t_inside_pool_chunk = true;
  const uint64_t tag = (gen & 0xffffffffu) << 32;
  for (;;) {
    uint64_t v = claim_.load(std::memory_order_acquire);
    do {
      if ((v & ~uint64_t{0xffffffffu}) != tag || static_cast<int64_t>(v & 0xffffffffu) >= job.num_chunks) {
        t_inside_pool_chunk = was_inside;
        return;
      }
    } while (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire));
    const auto c = static_cast<int64_t>(v & 0xffffffffu);
    const int64_t b = job.begin + c * job.chunk;
    job.invoke(job.ctx, b, std::min(job.end, b + job.chunk));
    if (done_chunks_.fetch_add(1, std::memory_order_acq_rel) + 1 == job.num_chunks) {
      std::lock_guard<std::mutex> lock(mu_);  // the caller may be asleep in Run
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::Run(int64_t begin, int64_t end, int64_t grain, void* ctx, Invoker invoke) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t n = end - begin;
  if (workers_.empty() || t_inside_pool_chunk || n <= grain) {
    invoke(ctx, begin, end);
    return;
  }
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  // Up to 4 chunks per thread balances uneven chunks (and a thread that loses its core)
  // without much atomic traffic.
  int64_t max_chunks = static_cast<int64_t>(num_threads()) * 4;
  int64_t num_chunks = std::min<int64_t>((n + grain - 1) / grain, max_chunks);
  int64_t chunk = (n + num_chunks - 1) / num_chunks;
  num_chunks = (n + chunk - 1) / chunk;
  Job job{invoke, ctx, begin, end, chunk, num_chunks};
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    gen = generation_.load(std::memory_order_relaxed) + 1;
    done_chunks_.store(0, std::memory_order_relaxed);
    claim_.store((gen & 0xffffffffu) << 32, std::memory_order_release);
    generation_.store(gen, std::memory_order_release);
  }
  work_cv_.notify_all();
  RunChunks(job, gen);
  // Chunks other threads claimed may still run: spin, yield, then sleep.
  if (!SpinThenYield([&] { return done_chunks_.load(std::memory_order_acquire) == num_chunks; })) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return done_chunks_.load(std::memory_order_acquire) == num_chunks; });
  }
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    SpinThenYield([&] { return generation_.load(std::memory_order_acquire) != seen; });
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_) return;
      seen = generation_.load(std::memory_order_acquire);
      job = job_;
    }
    RunChunks(job, seen);
  }
}

}  // namespace weft
