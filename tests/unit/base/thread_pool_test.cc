#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "base/cpu_info.h"

namespace weft {
namespace {

TEST(ThreadPool, DefaultIsOneThreadPerPhysicalCore) {
  ThreadPool pool;
  EXPECT_EQ(pool.num_threads(), PhysicalCoreCount());
  ThreadPool three(3);
  EXPECT_EQ(three.num_threads(), 3);
}

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  ThreadPool pool(4);
  for (int64_t n : {0, 1, 5, 64, 1000, 4097}) {
    for (int64_t grain : {1, 7, 256}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n) + 10);
      pool.ParallelFor(10, 10 + n, grain, [&](int64_t b, int64_t e) {
        EXPECT_LE(b, e);
        for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i - 10)]++;
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n=" << n << " i=" << i;
    }
  }
}

TEST(ThreadPool, ChunksRespectGrainAndUseSeveralThreads) {
  ThreadPool pool(2);
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::vector<int64_t> sizes;
  pool.ParallelFor(0, 10000, 100, [&](int64_t b, int64_t e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      threads.insert(std::this_thread::get_id());
      sizes.push_back(e - b);
    }
    // Hold each chunk until a second thread has taken one (or 10 s pass), so the check
    // below does not depend on how fast the worker wakes on a loaded machine. A pool
    // that never uses its worker fails after the timeout.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (threads.size() >= 2) break;
      }
      std::this_thread::yield();
    }
  });
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  EXPECT_EQ(total, 10000);
  for (int64_t s : sizes) EXPECT_GE(s, 100);
  EXPECT_EQ(threads.size(), 2u);
}

TEST(ThreadPool, NestedCallRunsInlineWithoutDeadlock) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.ParallelFor(0, 8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      pool.ParallelFor(0, 100, 1, [&](int64_t ib, int64_t ie) { sum += ie - ib; });
    }
  });
  EXPECT_EQ(sum.load(), 800);
}

TEST(ThreadPool, ConcurrentCallersAreSerialised) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int rep = 0; rep < 200; ++rep) {
        pool.ParallelFor(0, 1000, 10, [&](int64_t b, int64_t e) { sum += e - b; });
      }
    });
  }
  for (auto& c : callers) c.join();
  EXPECT_EQ(sum.load(), 4 * 200 * 1000);
}

TEST(ThreadPool, AcceptsNamedAndConstCallables) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  auto add = [&](int64_t b, int64_t e) { sum += e - b; };
  pool.ParallelFor(0, 100, 1, add);
  const auto& const_add = add;
  pool.ParallelFor(0, 100, 1, const_add);
  EXPECT_EQ(sum.load(), 200);
}

TEST(ThreadPool, ManyBackToBackCalls) {
  ThreadPool pool(2);
  int64_t total = 0;
  for (int rep = 0; rep < 20000; ++rep) {
    std::atomic<int64_t> s{0};
    pool.ParallelFor(0, 16, 1, [&](int64_t b, int64_t e) { s += e - b; });
    total += s.load();
  }
  EXPECT_EQ(total, 20000 * 16);
}

}  // namespace
}  // namespace weft
