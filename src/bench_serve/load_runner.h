// RunPass: one benchmark pass — sends prepared request bodies to the server on its own
// worker threads (one kept-alive connection each, `concurrency` of them) at the times of
// a Poisson schedule, and collects every sent request's timings.
//
// Workers take requests in order; a worker waits for its request's due time, so when
// every connection is busy a request goes out late (send_s > scheduled_s) and its
// latencies are measured from when it was sent.
// Stopping: once `stop` is set no new request is sent and in-flight ones are aborted
// (within about a second, ErrorClass::kCancelled); RunPass then returns what it has.
// Progress: `progress(done, total)` is called on the calling thread about every 100 ms
// and once at the end (so a ProgressBar, which wants one thread, can draw it).
// Thread-safety: RunPass blocks its caller; `stop` may be set from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "bench_serve/http_client.h"
#include "bench_serve/request_result.h"

namespace weft::bench_serve {

struct PassOptions {
  double rate = 0;       // requests/s, Poisson; kInfiniteRate = all due at once
  int concurrency = 1;   // requests in flight at most
  uint64_t seed = 1;     // the arrival schedule's
  std::string path;      // "/v1/completions" or "/v1/chat/completions"
};

struct PassResult {
  std::vector<RequestResult> requests;  // every request sent, by workload index
  double duration_s = 0;                // start of the pass -> last request's end
  double cpu_user_s = 0, cpu_sys_s = 0;  // this process's CPU time during the pass
  bool stopped = false;                  // `stop` was set before every request was done
};

PassResult RunPass(const std::vector<std::string>& bodies, const PassOptions& pass, const ClientOptions& client,
                   const std::atomic<bool>& stop, const std::function<void(int done, int total)>& progress);

}  // namespace weft::bench_serve
