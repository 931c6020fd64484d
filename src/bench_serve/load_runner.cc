#include "bench_serve/load_runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "bench_serve/arrivals.h"

namespace weft::bench_serve {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; }

// Sleeps until `t` or until `stop` is set; returns false when stopped.
bool SleepUntil(Clock::time_point t, const std::atomic<bool>& stop) {
  while (Clock::now() < t) {
    if (stop.load(std::memory_order_relaxed)) return false;
    std::this_thread::sleep_until(std::min(t, Clock::now() + std::chrono::milliseconds(20)));
  }
  return !stop.load(std::memory_order_relaxed);
}

}  // namespace

PassResult RunPass(const std::vector<std::string>& bodies, const PassOptions& pass, const ClientOptions& client,
                   const std::atomic<bool>& stop, const std::function<void(int done, int total)>& progress) {
  InitHttpClients();
  const int n = static_cast<int>(bodies.size());
  const std::vector<double> due = PoissonArrivals(n, pass.rate, pass.seed);
  std::vector<RequestResult> results(bodies.size());
  std::vector<char> sent(bodies.size(), 0);
  std::atomic<int> next{0};
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, workers_left = std::max(1, std::min(pass.concurrency, n));

  rusage ru0{};
  getrusage(RUSAGE_SELF, &ru0);
  const auto start = Clock::now();
  auto since_start = [&](Clock::time_point t) { return std::chrono::duration<double>(t - start).count(); };
  std::vector<std::thread> workers;
  const int num_workers = workers_left;
  for (int w = 0; w < num_workers; ++w) {
    workers.emplace_back([&] {
      StreamingClient c(client);
      for (;;) {
        const int i = next.fetch_add(1);
        if (i >= n) break;
        const auto when = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(due[static_cast<size_t>(i)]));
        if (!SleepUntil(when, stop)) break;
        const double send_s = since_start(Clock::now());
        RequestResult r = c.Send(pass.path, bodies[static_cast<size_t>(i)], stop);
        r.index = i;
        r.scheduled_s = due[static_cast<size_t>(i)];
        r.send_s = send_s;
        std::lock_guard<std::mutex> lock(mu);
        results[static_cast<size_t>(i)] = std::move(r);
        sent[static_cast<size_t>(i)] = 1;
        ++done;
        cv.notify_all();
      }
      std::lock_guard<std::mutex> lock(mu);
      --workers_left;
      cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    while (workers_left > 0) {
      cv.wait_for(lock, std::chrono::milliseconds(100));
      const int d = done;
      lock.unlock();
      if (progress) progress(d, n);
      lock.lock();
    }
  }
  for (auto& t : workers) t.join();
  const auto end = Clock::now();
  rusage ru1{};
  getrusage(RUSAGE_SELF, &ru1);

  PassResult out;
  out.duration_s = since_start(end);
  out.cpu_user_s = Seconds(ru1.ru_utime) - Seconds(ru0.ru_utime);
  out.cpu_sys_s = Seconds(ru1.ru_stime) - Seconds(ru0.ru_stime);
  for (size_t i = 0; i < results.size(); ++i) {
    if (!sent[i]) continue;
    if (results[i].error == ErrorClass::kCancelled) out.stopped = true;
    out.requests.push_back(std::move(results[i]));
  }
  if (static_cast<int>(out.requests.size()) < n) out.stopped = true;
  if (progress) progress(done, n);
  return out;
}

}  // namespace weft::bench_serve
